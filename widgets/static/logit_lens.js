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
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

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
