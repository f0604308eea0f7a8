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
  const legend = h("div", "cw-muted", "Rows: layers (residual stream after each block, final LayerNorm applied). Columns: positions. Cell: top next-token prediction, shaded by its probability (dark blue low, yellow high). Hover a cell, or Tab to the grid and use the arrow keys, for the rank of the actual next token.");
  const summary = h("div", "cw-summary");
  summary.id = uniqueId("ll-summary");
  const scroller = h("div", "cw-ll-scroll"), grid = h("div", "cw-ll-grid"), info = h("div", "cw-info");
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-label", "Logit lens: layers by positions (arrow keys move)");
  grid.setAttribute("aria-describedby", summary.id);
  info.setAttribute("aria-live", "polite");
  scroller.append(grid); root.append(legend, summary, scroller, info); el.appendChild(root);
  let cells = [];
  const cellText = (l, p) => {  // what a cell says in words: the info line and its text alternative
    const [, P] = model.get("shape"), tokens = model.get("tokens");
    const probs = readArray(model.get("top_probs"), "float32"), ranks = readArray(model.get("correct_ranks"), "int32");
    let text = `${model.get("layer_labels")[l]}, position ${p} (input “${iso(tokens[p])}”): top “${iso(model.get("top_tokens")[l][p])}” p=${fmt(probs[l * P + p])}`;
    if (ranks.length) {
      const r = ranks[l * P + p];
      text += r < 0 ? "; no next token here" : `; actual next token “${iso(tokens[p + 1])}” has rank ${r}${r === 0 ? " (top)" : ""}`;
    }
    return text;
  };
  function describe(L, P, probs, labels) {
    const ranks = readArray(model.get("correct_ranks"), "int32");
    const mean = (l) => { let s = 0; for (let p = 0; p < P; p++) s += probs[l * P + p]; return s / Math.max(1, P); };
    let text = `Mean probability of the top prediction, by layer: ${labels.map((lab, l) => `${lab} ${fmt(mean(l), 2)}`).join(", ")}.`;
    if (ranks.length && L) {
      let hit = 0, n = 0;
      for (let p = 0; p < P; p++) { const r = ranks[(L - 1) * P + p]; if (r >= 0) { n++; if (r === 0) hit++; } }
      text += ` In the last row (${labels[L - 1]}), the actual next token is the top prediction at ${hit} of ${n} positions.`;
    }
    return text;
  }
  function build() {
    const [L, P] = model.get("shape"), tokens = model.get("tokens"), top = model.get("top_tokens");
    const probs = readArray(model.get("top_probs"), "float32"), labels = model.get("layer_labels");
    summary.textContent = describe(L, P, probs, labels);
    grid.style.gridTemplateColumns = `max-content repeat(${P}, minmax(44px, 72px))`;
    grid.replaceChildren(); cells = [];
    grid.append(h("div", "cw-ll-corner", "input →"));
    tokens.forEach((t) => grid.append(tokenEl(t, "cw-ll-in")));
    for (let l = L - 1; l >= 0; l--) {
      grid.append(h("div", "cw-ll-layer", labels[l] ?? String(l)));
      for (let p = 0; p < P; p++) {
        const c = sequential(probs[l * P + p]);
        const cell = tokenEl(top[l][p], "cw-ll-cell");
        cell.style.background = css(c); cell.style.color = inkOn(c);
        cell.dataset.layer = String(l); cell.dataset.pos = String(p);
        cell.setAttribute("aria-label", cellText(l, p));
        const pick = () => { model.set("hovered_cell", [l, p]); model.save_changes(); show(); };
        cell.addEventListener("mouseenter", pick);
        cell.addEventListener("focus", pick);
        cell.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
        grid.append(cell); cells[l * P + p] = cell;
      }
    }
    const [hl, hp] = model.get("hovered_cell");
    rovingFocus(cells, hl >= 0 && hp >= 0 && hl < L && hp < P ? hl * P + hp : (L - 1) * P);
    show();
  }
  // Arrow keys move over the grid as it is drawn: up is the next layer (rows run from the last
  // layer at the top to the embedding at the bottom), left and right move along the positions.
  grid.addEventListener("keydown", (e) => {
    const i = cells.indexOf(document.activeElement);
    if (i < 0) return;
    const [L, P] = model.get("shape"), l = Math.floor(i / P), p = i % P;
    let to = null;
    if (e.key === "ArrowUp") to = Math.min(L - 1, l + 1) * P + p;
    else if (e.key === "ArrowDown") to = Math.max(0, l - 1) * P + p;
    else if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") to = l * P + arrowMove(e.key, p, P);
    if (to === null) return;
    e.preventDefault();
    rovingFocus(cells, to); cells[to].focus();
  });
  function show() {
    const [l, p] = model.get("hovered_cell"), [L, P] = model.get("shape");
    cells.forEach((c) => c.classList.remove("cw-hovered"));
    if (l < 0 || p < 0 || l >= L || p >= P) { info.textContent = "Hover a cell, or Tab to the grid and use the arrow keys."; return; }
    cells[l * P + p].classList.add("cw-hovered");
    info.textContent = cellText(l, p);
  }
  const ev = "change:tokens change:top_tokens change:top_probs change:correct_ranks change:shape change:layer_labels";
  model.on(ev, build); model.on("change:hovered_cell", show);
  build();
  return () => { model.off(ev, build); model.off("change:hovered_cell", show); root.remove(); };
}

export default { render };
