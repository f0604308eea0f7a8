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
// Colour scales that colour-blind readers can read (tests/widgets/test_colour_scales.py simulates
// protanopia, deuteranopia and tritanopia on them and checks that neighbouring steps stay apart).
// Sequential, t in [0, 1]: cividis (Nuñez, Anderton & Renslow 2018), dark blue to yellow through
// grey, made for colour-vision deficiency and even in lightness, so it reads the same on a light or
// a dark page. Diverging, t in [-1, 1]: ColorBrewer's RdBu, red negative, white 0, blue positive.
// Categorical: Okabe & Ito (2008).
const SEQUENTIAL = [[0, 32, 81], [17, 54, 108], [60, 77, 110], [98, 100, 111], [127, 124, 117], [154, 148, 120], [187, 175, 113], [226, 203, 92], [253, 234, 69]];
const DIVERGING = [[178, 24, 43], [214, 96, 77], [244, 165, 130], [253, 219, 199], [247, 247, 247], [209, 229, 240], [146, 197, 222], [67, 147, 195], [33, 102, 172]];
const CATEGORICAL = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#999999", "#f0e442"];
function ramp(stops, x) {  // linear between evenly spaced stops, x in [0, 1]
  x = Math.max(0, Math.min(1, Number.isFinite(x) ? x : 0)) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  return stops[i].map((a, j) => a + (stops[i + 1][j] - a) * f);
}
const sequential = (t) => ramp(SEQUENTIAL, t);
const diverging = (t) => ramp(DIVERGING, ((Number.isFinite(t) ? t : 0) + 1) / 2);
const css = (c) => `rgb(${c[0] | 0},${c[1] | 0},${c[2] | 0})`;
// Text on a coloured cell: black or white, whichever contrasts more (WCAG relative luminance; with
// pure black and white the worse of the two is still 4.58:1 on any background colour).
function inkOn(c) {
  const lin = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const lum = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  return 1.05 / (lum + 0.05) > (lum + 0.05) / 0.05 ? "#fff" : "#000";
}
const fmt = (x, d = 3) => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(d)) : String(x));
// The theme's colours for what is drawn on a canvas: JupyterLab's CSS variables (light or dark
// theme), else VS Code's, else the text colour the page gives the widget (a save_html page).
function theme(el) {
  const style = getComputedStyle(el), v = (...names) => names.map((n) => style.getPropertyValue(n).trim()).find(Boolean);
  const fg = v("--jp-ui-font-color1", "--vscode-editor-foreground") || style.color || "#111";
  const light = document.body.dataset.jpThemeLight;  // set by JupyterLab and Notebook 7
  return {
    fg, muted: v("--jp-ui-font-color2", "--vscode-descriptionForeground") || fg,
    axis: v("--jp-border-color1", "--vscode-editorWidget-border") || "#999",
    grid: v("--jp-border-color2", "--vscode-editorWidget-border") || "#e0e0e0",
    dark: light !== undefined ? light === "false" : lightText(fg),
  };
}
function lightText(colour) {  // is this CSS colour light (so the page behind it is dark)?
  const probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = "#000"; probe.fillStyle = colour;  // the canvas normalises any CSS colour to #rrggbb
  const hex = /^#([0-9a-f]{6})$/i.exec(probe.fillStyle);
  if (!hex) return false;
  const n = parseInt(hex[1], 16);
  return 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255) > 140;
}
// Calls `redraw` when JupyterLab switches between themes; returns what stops listening.
function onThemeChange(redraw) {
  const watch = new MutationObserver(() => requestAnimationFrame(redraw));
  watch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  return () => watch.disconnect();
}
// Keyboard: where an arrow key (or Home/End) moves index i among n items laid out `cols` per row
// (1 for a column, n for a row); null for any other key.
function arrowMove(key, i, n, cols = n) {
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols, Home: 0, End: n - 1 }[key];
  return to === undefined ? null : Math.max(0, Math.min(n - 1, to));
}
// One tab stop for a group of items: the current one is focusable, the others are reached with
// the arrow keys (WAI-ARIA's "roving tabindex").
function rovingFocus(items, current) {
  items.forEach((e, i) => { e.tabIndex = i === current ? 0 : -1; });
}
let ids = 0;
const uniqueId = (stem) => `cw-${stem}-${++ids}-${Math.random().toString(36).slice(2, 7)}`;
// ---- end shared helpers ----
