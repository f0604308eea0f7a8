/**
 * SuperpositionExplorer: a toy model with n features in a 2-d hidden space. Moving a slider asks
 * Python to retrain it (about a second); the feature directions W_i are drawn as arrows.
 * @typedef {{
 *   n_features: number, sparsity: number, importance_decay: number, steps: number, seed: number,
 *   W: DataView,               // float32 bytes [n_features, 2]: feature directions
 *   importance: DataView,      // float32 bytes [n_features]
 *   dimensionality: DataView,  // float32 bytes [n_features]: D_i, dimensions per feature
 *   arrangement: string, loss: number, train_seconds: number,
 *   status: string,            // "training" | "done" | "idle" | an error message
 * }} Model
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

// The sparsity slider moves along log10(feature density), density = 1 - sparsity, from 1 to 0.001.
const toSparsity = (v) => 1 - 10 ** v;
const toSlider = (s) => Math.log10(Math.max(1e-3, 1 - s));

function render({ model, el }) {
  const root = h("div", "cw-root cw-sp");
  const form = h("div", "cw-sp-form");
  const field = (label, input, out) => { const l = h("label", "cw-sp-field"); l.append(h("span", "cw-muted", label), input, out); form.append(l); return input; };
  const sparsityOut = h("span", "cw-sp-sparsity-value"), decayOut = h("span", "cw-sp-decay-value");
  const sparsity = field("Sparsity S (feature density 1 - S, log scale)", h("input", "cw-sp-slider cw-sp-sparsity"), sparsityOut);
  sparsity.type = "range"; sparsity.min = "-3"; sparsity.max = "0"; sparsity.step = "0.05";
  const decay = field("Importance decay (I_i = decay^i)", h("input", "cw-sp-slider cw-sp-decay"), decayOut);
  decay.type = "range"; decay.min = "0.5"; decay.max = "1"; decay.step = "0.01";
  const status = h("span", "cw-muted cw-sp-status");
  status.setAttribute("role", "status");
  form.append(status);
  const row = h("div", "cw-row");
  const canvas = h("canvas", "cw-sp-canvas");
  canvas.setAttribute("role", "img");
  const side = h("div", "cw-sp-side");
  const arrangement = h("div", "cw-title cw-sp-arrangement");
  const info = h("div", "cw-info cw-sp-info");
  const table = h("table", "cw-sp-table");
  table.id = uniqueId("sp-table");
  canvas.setAttribute("aria-describedby", table.id);
  side.append(arrangement, info, table);
  row.append(canvas, side);
  const legend = h("div", "cw-muted", "Each arrow is one feature's direction W_i in the 2-d hidden space (the circle has radius 1); the more important the feature, the more its arrow stands out from the page (dark blue on a light page, yellow on a dark one). D_i: dimensions the feature gets (1 alone, 1/2 antipodal pair, 2/5 pentagon, 0 dropped).");
  root.append(form, row, legend); el.appendChild(root);

  const commit = (k, v) => { model.set(k, v); model.save_changes(); status.textContent = "training…"; };
  const showValues = () => {
    const s = toSparsity(Number(sparsity.value));
    sparsityOut.textContent = `S = ${fmt(s, 3)} (density ${fmt(1 - s, 3)})`;
    decayOut.textContent = fmt(Number(decay.value), 2);
  };
  sparsity.addEventListener("input", showValues);
  decay.addEventListener("input", showValues);
  // Retrain on release ("change"), not on every pixel of a drag.
  sparsity.addEventListener("change", () => commit("sparsity", Math.min(0.999, Math.max(0, toSparsity(Number(sparsity.value))))));
  decay.addEventListener("change", () => commit("importance_decay", Number(decay.value)));

  function controls() {
    if (document.activeElement !== sparsity) sparsity.value = String(toSlider(model.get("sparsity")));
    if (document.activeElement !== decay) decay.value = String(model.get("importance_decay"));
    sparsityOut.textContent = `S = ${fmt(model.get("sparsity"), 3)} (density ${fmt(1 - model.get("sparsity"), 3)})`;
    decayOut.textContent = fmt(model.get("importance_decay"), 2);
  }
  function draw() {
    const W = readArray(model.get("W"), "float32"), imp = readArray(model.get("importance"), "float32");
    const D = readArray(model.get("dimensionality"), "float32");
    const n = Math.min(imp.length, Math.floor(W.length / 2));
    const size = 320, c = size / 2;
    canvas.width = size; canvas.height = size;
    const ctx = canvas.getContext("2d"), th = theme(root);
    ctx.clearRect(0, 0, size, size);
    let r = 1; for (let i = 0; i < n; i++) r = Math.max(r, Math.hypot(W[2 * i], W[2 * i + 1]));
    const scale = (c - 24) / r;
    ctx.strokeStyle = th.grid; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.arc(c, c, scale, 0, 2 * Math.PI); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, c); ctx.lineTo(size, c); ctx.moveTo(c, 0); ctx.lineTo(c, size); ctx.stroke();
    let top = -Infinity, low = Infinity;
    for (let i = 0; i < n; i++) { top = Math.max(top, imp[i]); low = Math.min(low, imp[i]); }
    // the most important feature stands out most from the page: the dark end of cividis on a light
    // page, the bright end on a dark one; the least important sits near the middle (all equal: most)
    const shade = (v) => {
      const rel = top > low ? (v - low) / (top - low) : 1;
      return sequential(th.dark ? 0.4 + 0.6 * rel : 0.6 - 0.6 * rel);
    };
    table.replaceChildren();
    const head = h("tr"); for (const t of ["feature", "importance", "|W_i|", "D_i"]) head.append(h("th", null, t)); table.append(head);
    for (let i = n - 1; i >= 0; i--) {  // least important first, so the important arrows are on top
      const x = W[2 * i], y = W[2 * i + 1], col = shade(imp[i]);
      const ex = c + x * scale, ey = c - y * scale;
      ctx.strokeStyle = css(col); ctx.fillStyle = css(col); ctx.lineWidth = 3;
      ctx.beginPath(); ctx.moveTo(c, c); ctx.lineTo(ex, ey); ctx.stroke();
      const a = Math.atan2(ey - c, ex - c), len = Math.hypot(ex - c, ey - c);
      if (len > 8) {
        ctx.beginPath(); ctx.moveTo(ex, ey);
        ctx.lineTo(ex - 10 * Math.cos(a - 0.4), ey - 10 * Math.sin(a - 0.4));
        ctx.lineTo(ex - 10 * Math.cos(a + 0.4), ey - 10 * Math.sin(a + 0.4)); ctx.fill();
      }
      ctx.fillStyle = th.fg; ctx.font = "12px sans-serif";
      ctx.fillText(String(i), ex + 6 * Math.cos(a) - 3, ey + 6 * Math.sin(a) + 4);
    }
    for (let i = 0; i < n; i++) {
      const tr = h("tr"), sw = h("span", "cw-sp-swatch");
      sw.style.background = css(shade(imp[i]));
      const td = h("td"); td.append(sw, h("span", null, String(i)));
      tr.append(td, h("td", null, fmt(imp[i], 3)), h("td", null, fmt(Math.hypot(W[2 * i], W[2 * i + 1]), 2)), h("td", null, fmt(D[i], 2)));
      table.append(tr);
    }
    arrangement.textContent = model.get("arrangement");
    let shown = 0; for (let i = 0; i < n; i++) if (Math.hypot(W[2 * i], W[2 * i + 1]) > 0.5) shown++;
    canvas.setAttribute("aria-label", `${n} feature directions in a 2-d hidden space: ${model.get("arrangement")}; ` +
      `${shown} of ${n} have length above 0.5 (represented), the others are near 0. The table lists each one.`);
    info.textContent = `loss ${fmt(model.get("loss"), 4)} · trained in ${fmt(model.get("train_seconds"), 2)} s (${model.get("steps")} steps)`;
  }
  const onStatus = () => { status.textContent = model.get("status"); };
  const cev = "change:sparsity change:importance_decay";
  const dev = "change:W change:importance change:dimensionality change:arrangement change:loss change:train_seconds";
  model.on(cev, controls); model.on(dev, draw); model.on("change:status", onStatus);
  const stopWatching = onThemeChange(draw);
  controls(); draw(); onStatus();
  return () => { model.off(cev, controls); model.off(dev, draw); model.off("change:status", onStatus); stopWatching(); root.remove(); };
}

export default { render };
