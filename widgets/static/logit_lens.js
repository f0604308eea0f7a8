/**
 * LogitLens: for every layer (rows) and position (columns), the top next-token prediction read
 * from the residual stream through the unembedding, shaded by its probability.
 * @typedef {{
 *   tokens: string[],             // input tokens, one per position
 *   top_tokens: string[][],       // [layers][pos] top predicted token
 *   top_probs: DataView,          // float32 bytes [layers, pos]
 *   correct_ranks: DataView,      // int32 bytes [layers, pos], rank of the actual next token (-1: none); empty if unknown
 *   shape: number[],              // [layers, pos]
 *   layer_labels: string[],
 *   hovered_cell: number[],       // [layer, pos], [-1, -1] until hovered; synced back to Python
 * }} Model
 */
// ---- shared helpers: identical in every widget module (tests/widgets checks they match) ----
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

function render({ model, el }) {
  const root = h("div", "cw-root cw-ll");
  const legend = h("div", "cw-muted", "Rows: layers (residual stream after each block, final LayerNorm applied). Columns: positions. Cell: top next-token prediction, shaded by its probability. Hover for the rank of the actual next token.");
  const scroller = h("div", "cw-ll-scroll"), grid = h("div", "cw-ll-grid"), info = h("div", "cw-info");
  scroller.append(grid); root.append(legend, scroller, info); el.appendChild(root);
  let cells = [];
  function build() {
    const [L, P] = model.get("shape"), tokens = model.get("tokens"), top = model.get("top_tokens");
    const probs = readArray(model.get("top_probs"), "float32"), labels = model.get("layer_labels");
    grid.style.gridTemplateColumns = `max-content repeat(${P}, minmax(44px, 72px))`;
    grid.replaceChildren(); cells = [];
    grid.append(h("div", "cw-ll-corner", "input →"));
    tokens.forEach((t) => grid.append(tokenEl(t, "cw-ll-in")));
    for (let l = L - 1; l >= 0; l--) {
      grid.append(h("div", "cw-ll-layer", labels[l] ?? String(l)));
      for (let p = 0; p < P; p++) {
        const c = colour(probs[l * P + p]);
        const cell = tokenEl(top[l][p], "cw-ll-cell");
        cell.style.background = css(c); cell.style.color = inkOn(c);
        cell.dataset.layer = String(l); cell.dataset.pos = String(p);
        cell.addEventListener("mouseenter", () => { model.set("hovered_cell", [l, p]); model.save_changes(); show(); });
        grid.append(cell); cells[l * P + p] = cell;
      }
    }
    show();
  }
  function show() {
    const [l, p] = model.get("hovered_cell"), [L, P] = model.get("shape");
    cells.forEach((c) => c.classList.remove("cw-hovered"));
    if (l < 0 || p < 0 || l >= L || p >= P) { info.textContent = "Hover a cell."; return; }
    cells[l * P + p].classList.add("cw-hovered");
    const tokens = model.get("tokens"), probs = readArray(model.get("top_probs"), "float32");
    const ranks = readArray(model.get("correct_ranks"), "int32");
    let text = `${model.get("layer_labels")[l]}, position ${p} (input “${iso(tokens[p])}”): top “${iso(model.get("top_tokens")[l][p])}” p=${fmt(probs[l * P + p])}`;
    if (ranks.length) {
      const r = ranks[l * P + p];
      text += r < 0 ? "; no next token here" : `; actual next token “${iso(tokens[p + 1])}” has rank ${r}${r === 0 ? " (top)" : ""}`;
    }
    info.textContent = text;
  }
  const ev = "change:tokens change:top_tokens change:top_probs change:correct_ranks change:shape change:layer_labels";
  model.on(ev, build); model.on("change:hovered_cell", show);
  build();
  return () => { model.off(ev, build); model.off("change:hovered_cell", show); root.remove(); };
}

export default { render };
