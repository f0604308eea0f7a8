/**
 * InductionView: induction and previous-token scores of every head, the selected head's pattern
 * with the induction stripe marked, and the per-position loss over both repeats.
 * @typedef {{
 *   tokens: string[],               // BOS + r + r when built by from_model
 *   induction_scores: DataView,     // float32 bytes [layers, heads]
 *   prev_token_scores: DataView,    // float32 bytes [layers, heads]
 *   patterns: DataView,             // float16 bytes [layers, heads, pos, pos]
 *   loss_per_pos: DataView,         // float32 bytes [pos - 1]: loss of predicting token i+1 at i
 *   repeat_loss: number[],          // [first, second]: mean loss over each repeat, or [] (computed in Python)
 *   shape: number[],                // [layers, heads, pos]
 *   seq_len: number,                // length of one repeat (0: not a repeated sequence)
 *   selected_layer: number, selected_head: number,   // synced both ways
 * }} Model
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

const CELL = 38;

// A layers x heads map of scores; `sel` is the selected head (solid outline), `cursor` the head the
// keyboard is on (dashed outline, when the map has focus).
function heatmap(canvas, scores, L, H, sel, cursor, th) {
  canvas.width = H * CELL + 40; canvas.height = L * CELL + 20;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  const outline = (l, hd, dash) => {  // white under black shows on every colour of the scale
    for (const [colr, width] of [["#fff", 4], ["#000", 2]]) {
      ctx.setLineDash(dash); ctx.strokeStyle = colr; ctx.lineWidth = width;
      ctx.strokeRect(42 + hd * CELL, 22 + l * CELL, CELL - 6, CELL - 6);
    }
    ctx.setLineDash([]);
  };
  for (let l = 0; l < L; l++) {
    ctx.fillStyle = th.fg; ctx.fillText(`L${l}`, 18, 20 + l * CELL + CELL / 2);
    for (let hd = 0; hd < H; hd++) {
      const v = scores[l * H + hd], c = sequential(v);
      ctx.fillStyle = css(c); ctx.fillRect(40 + hd * CELL, 20 + l * CELL, CELL - 2, CELL - 2);
      ctx.fillStyle = inkOn(c); ctx.fillText(v.toFixed(2), 40 + hd * CELL + CELL / 2 - 1, 20 + l * CELL + CELL / 2 - 1);
    }
  }
  outline(sel[0], sel[1], []);
  if (cursor && (cursor[0] !== sel[0] || cursor[1] !== sel[1])) outline(cursor[0], cursor[1], [4, 3]);
  ctx.fillStyle = th.fg;
  for (let hd = 0; hd < H; hd++) ctx.fillText(`H${hd}`, 40 + hd * CELL + CELL / 2, 10);
}

// The best head of a layers x heads map, in words.
function best(scores, L, H) {
  let i = 0; for (let j = 1; j < L * H; j++) if (scores[j] > scores[i]) i = j;
  return `L${Math.floor(i / H)}H${i % H} (${fmt(scores[i], 2)})`;
}

function render({ model, el }) {
  const root = h("div", "cw-root cw-iv");
  const top = h("div", "cw-row");
  const mk = (title) => {
    const box = h("div", "cw-iv-box"), c = h("canvas");
    // each map is one tab stop: arrow keys move over the heads, Enter or Space selects one
    c.tabIndex = 0; c.setAttribute("role", "application"); c.setAttribute("aria-roledescription", "map of heads");
    box.append(h("div", "cw-title", title), c); top.append(box); return c;
  };
  const indC = mk("Induction score"), prevC = mk("Previous-token score");
  const summary = h("div", "cw-summary");
  const bottom = h("div", "cw-row");
  const patBox = h("div", "cw-iv-box"), patTitle = h("div", "cw-title"), patC = h("canvas", "cw-iv-pattern");
  patBox.append(patTitle, patC);
  const lossBox = h("div", "cw-iv-box"), lossTitle = h("div", "cw-title", "Loss per position"), lossC = h("canvas"), lossInfo = h("div", "cw-info");
  patC.setAttribute("role", "img"); lossC.setAttribute("role", "img");
  lossBox.append(lossTitle, lossC, lossInfo);
  bottom.append(patBox, lossBox);
  const info = h("div", "cw-info", "Click a head in either map (or Tab to a map, move with the arrow keys and press Enter) to see its pattern.");
  info.setAttribute("aria-live", "polite");
  root.append(summary, top, info, bottom); el.appendChild(root);
  let D, cursor = null;  // cursor: [layer, head] the keyboard is on
  function decode() {
    const [L, H, P] = model.get("shape");
    D = { L, H, P, ind: readArray(model.get("induction_scores"), "float32"), prev: readArray(model.get("prev_token_scores"), "float32"),
      pat: readArray(model.get("patterns"), "float16"), loss: readArray(model.get("loss_per_pos"), "float32") };
  }
  function draw() {
    const { L, H, P } = D, sel = [model.get("selected_layer"), model.get("selected_head")], th = theme(root);
    heatmap(indC, D.ind, L, H, sel, document.activeElement === indC ? cursor : null, th);
    heatmap(prevC, D.prev, L, H, sel, document.activeElement === prevC ? cursor : null, th);
    summary.textContent = `${L} layers × ${H} heads. Highest induction score: ${best(D.ind, L, H)}; highest previous-token score: ${best(D.prev, L, H)}.`;
    const [l, hd] = sel, n = model.get("seq_len");
    for (const [c, what, scores] of [[indC, "Induction", D.ind], [prevC, "Previous-token", D.prev]]) {
      c.setAttribute("aria-label", `${what} score of every head, highest ${best(scores, L, H)}; selected L${l}H${hd} ${fmt(scores[l * H + hd], 2)}. Arrow keys move, Enter selects.`);
    }
    patTitle.textContent = `L${l}H${hd} pattern (rows: query, columns: key)${n ? "; dashed: induction stripe" : ""}`;
    const S = 300; patC.width = S; patC.height = S;
    const off = document.createElement("canvas"); off.width = P; off.height = P;
    const octx = off.getContext("2d"), img = octx.createImageData(P, P), base = (l * H + hd) * P * P;
    for (let i = 0; i < P * P; i++) { const c = sequential(D.pat[base + i]); img.data.set([c[0], c[1], c[2], 255], i * 4); }
    octx.putImageData(img, 0, 0);
    const ctx = patC.getContext("2d"); ctx.imageSmoothingEnabled = false; ctx.drawImage(off, 0, 0, S, S);
    if (n) {  // query i in the second repeat looks at key i - n + 1 (the token after its earlier copy)
      const s = S / P; ctx.setLineDash([4, 3]);
      for (const [colr, width] of [["#fff", 3], ["#000", 1.5]]) {
        ctx.strokeStyle = colr; ctx.lineWidth = width; ctx.beginPath();
        ctx.moveTo(2 * s, (n + 1) * s); ctx.lineTo((P - n + 1) * s, P * s); ctx.stroke();
      }
      ctx.setLineDash([]);
    }
    info.textContent = `Selected L${l}H${hd}: induction ${fmt(D.ind[l * H + hd])}, previous-token ${fmt(D.prev[l * H + hd])}`;
    patC.setAttribute("aria-label", `Attention pattern of L${l}H${hd} over ${P} positions; induction score ${fmt(D.ind[l * H + hd], 2)}, previous-token score ${fmt(D.prev[l * H + hd], 2)}`);
    drawLoss();
  }
  function drawLoss() {
    const W = 380, Hh = 220, pad = 34, loss = D.loss, n = model.get("seq_len");
    lossC.width = W; lossC.height = Hh;
    const ctx = lossC.getContext("2d"), th = theme(root); ctx.clearRect(0, 0, W, Hh);
    const max = Math.max(1e-6, ...loss);
    const x = (i) => pad + (i / Math.max(1, loss.length - 1)) * (W - pad - 8), y = (v) => Hh - pad + 10 - (v / max) * (Hh - pad - 10);
    ctx.strokeStyle = th.axis; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(pad, 8); ctx.lineTo(pad, Hh - pad + 10); ctx.lineTo(W - 8, Hh - pad + 10); ctx.stroke();
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = th.fg;
    ctx.fillText(fmt(max, 2), 2, 14); ctx.fillText("0", 20, Hh - pad + 10); ctx.fillText("position", W / 2 - 20, Hh - 6);
    if (n) {
      ctx.fillStyle = "rgba(0,158,115,0.14)"; ctx.fillRect(x(n - 0.5), 8, W - 8 - x(n - 0.5), Hh - pad + 2);
      ctx.fillStyle = th.fg; ctx.fillText("first repeat", pad + 6, Hh - pad - 2); ctx.fillText("second repeat", x(n) + 6, Hh - pad - 2);
    }
    ctx.strokeStyle = th.dark ? CATEGORICAL[5] : CATEGORICAL[0]; ctx.lineWidth = 1.5; ctx.beginPath();
    loss.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v)))); ctx.stroke();
    const [first, second] = model.get("repeat_loss");
    if (n && second !== undefined) {
      lossInfo.textContent = `mean loss: first repeat ${fmt(first)}, second repeat ${fmt(second)}`;
    } else lossInfo.textContent = `mean loss ${fmt(loss.reduce((s, v) => s + v, 0) / Math.max(1, loss.length))}`;
    lossC.setAttribute("aria-label", `Loss at each of ${loss.length} positions, up to ${fmt(max, 2)}; ${lossInfo.textContent}`);
  }
  for (const c of [indC, prevC]) {
    c.addEventListener("click", (e) => {
      const r = c.getBoundingClientRect();
      const hd = Math.floor((e.clientX - r.left - 40) / CELL), l = Math.floor((e.clientY - r.top - 20) / CELL);
      if (l < 0 || hd < 0 || l >= D.L || hd >= D.H) return;
      cursor = [l, hd];
      model.set("selected_layer", l); model.set("selected_head", hd); model.save_changes();
    });
    c.addEventListener("focus", () => { cursor = [model.get("selected_layer"), model.get("selected_head")]; draw(); });
    c.addEventListener("blur", () => draw());
    c.addEventListener("keydown", (e) => {
      const [l, hd] = cursor ?? [model.get("selected_layer"), model.get("selected_head")];
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        model.set("selected_layer", l); model.set("selected_head", hd); model.save_changes();
        return;
      }
      const to = arrowMove(e.key, l * D.H + hd, D.L * D.H, D.H);
      if (to === null) return;
      e.preventDefault();
      cursor = [Math.floor(to / D.H), to % D.H];
      draw();
      info.textContent = `L${cursor[0]}H${cursor[1]}: induction ${fmt(D.ind[to])}, previous-token ${fmt(D.prev[to])} (Enter selects)`;
    });
  }
  const onData = () => { decode(); draw(); };
  const ev = "change:induction_scores change:prev_token_scores change:patterns change:loss_per_pos change:repeat_loss change:shape change:seq_len";
  model.on(ev, onData); model.on("change:selected_layer change:selected_head", draw);
  const stopWatching = onThemeChange(draw);
  onData();
  return () => { model.off(ev, onData); model.off("change:selected_layer change:selected_head", draw); stopWatching(); root.remove(); };
}

export default { render };
