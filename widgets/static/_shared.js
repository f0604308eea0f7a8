// Helpers shared by every widget module. anywidget loads each module from one string and
// cannot import a neighbour file, so widgets/_base.py prepends this file to each module's source.
// ---- shared helpers: prepended to every widget module ----
// Tokens are shown with textContent only, and invisible characters are made visible.
const VISIBLE = new Map([
  [" ", "·"], ["\n", "↵"], ["\t", "⇥"], ["\r", "␍"], ["\u00a0", "⍽"],
  ["\u200b", "[ZWSP]"], ["\u200c", "[ZWNJ]"], ["\u200d", "[ZWJ]"], ["\u2060", "[WJ]"],
  ["\ufeff", "[BOM]"], ["\u00ad", "[SHY]"], ["\u200e", "[LRM]"], ["\u200f", "[RLM]"],
  ["\u202a", "[LRE]"], ["\u202b", "[RLE]"], ["\u202c", "[PDF]"], ["\u202d", "[LRO]"],
  ["\u202e", "[RLO]"], ["\u2066", "[LRI]"], ["\u2067", "[RLI]"], ["\u2068", "[FSI]"],
  ["\u2069", "[PDI]"],
]);
function showToken(s) {
  if (s === "" || s == null) return "∅";
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    const ctrl = cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
    out += VISIBLE.get(ch) ?? (ctrl ? `[U+${cp.toString(16).toUpperCase().padStart(4, "0")}]` : ch);
  }
  return out;
}
// a token inside a sentence: isolated so right-to-left text cannot reorder the sentence
const iso = (s) => "\u2068" + showToken(s) + "\u2069";
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
function tokenEl(s, cls) {
  const e = h("span", "cw-tok" + (cls ? " " + cls : ""), showToken(s));
  if (s === "" || s == null) e.classList.add("cw-empty");
  return e;
}
function bytesOf(v) {
  if (v instanceof DataView || ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(0);
}
function readArray(v, dtype) {
  const size = { float32: 4, float16: 2, float64: 8, int32: 4 }[dtype];
  let b = bytesOf(v);
  if (b.byteOffset % size) b = b.slice();
  const n = Math.floor(b.byteLength / size);
  if (dtype === "float32") return new Float32Array(b.buffer, b.byteOffset, n);
  if (dtype === "float64") return new Float64Array(b.buffer, b.byteOffset, n);
  if (dtype === "int32") return new Int32Array(b.buffer, b.byteOffset, n);
  if (typeof Float16Array !== "undefined") return new Float32Array(new Float16Array(b.buffer, b.byteOffset, n));
  const u = new Uint16Array(b.buffer, b.byteOffset, n), out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = u[i], s = x & 0x8000 ? -1 : 1, e = (x >> 10) & 31, f = x & 1023;
    out[i] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}
// t in [0, 1] (sequential: white to blue) or [-1, 1] (diverging: red, white, blue)
function colour(t) {
  t = Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0));
  const a = Math.abs(t), to = t >= 0 ? [8, 69, 148] : [178, 24, 43];
  return [255 - a * (255 - to[0]), 255 - a * (255 - to[1]), 255 - a * (255 - to[2])];
}
const css = (c) => `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})`;
const inkOn = (c) => (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140 ? "#fff" : "#111");
const fmt = (x, d = 3) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(d)) : String(x));
// ---- end shared helpers ----
