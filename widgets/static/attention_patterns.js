/**
 * AttentionPatterns: a grid of per-head thumbnails and one large selected head.
 * @typedef {{
 *   tokens: string[],            // one string per position
 *   patterns: DataView,          // float16/float32 bytes, see `storage`
 *   shape: number[],             // [heads, query, key]
 *   dtype: "float16" | "float32",
 *   storage: "full" | "causal",  // causal: only the lower triangle (k <= q), row by row
 *   head_labels: string[],
 *   selected_head: number,       // synced both ways
 *   hovered_token: number,       // -1 until a token is hovered; synced back to Python
 * }} Model
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

function decode(model) {
  const [H, Q, K] = model.get("shape");
  const data = readArray(model.get("patterns"), model.get("dtype"));
  const causal = model.get("storage") === "causal";
  const tri = (Q * (Q + 1)) / 2;
  const at = causal
    ? (hd, q, k) => (k > q ? 0 : data[hd * tri + (q * (q + 1)) / 2 + k])
    : (hd, q, k) => data[(hd * Q + q) * K + k];
  return { H, Q, K, at };
}

// One offscreen canvas per head at one pixel per (query, key) cell; thumbnails and the large
// view are scaled copies of it, so hovering never recomputes pixels.
function headImage(P, hd) {
  const c = document.createElement("canvas");
  c.width = P.K; c.height = P.Q;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(P.K, P.Q);
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(sequential(i / 255).map(Math.round), i * 3);
  for (let q = 0; q < P.Q; q++) {
    for (let k = 0; k < P.K; k++) {
      const v = Math.max(0, Math.min(255, Math.round(P.at(hd, q, k) * 255)));
      const o = (q * P.K + k) * 4;
      img.data[o] = lut[v * 3]; img.data[o + 1] = lut[v * 3 + 1]; img.data[o + 2] = lut[v * 3 + 2]; img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

// A head's pattern in words, for the summary and the canvas's text alternative: where each query
// puts its largest weight (first position, previous, itself, elsewhere).
function describe(P, hd, label) {
  const counts = { first: 0, previous: 0, self: 0, other: 0 };
  let sum = 0;
  for (let q = 0; q < P.Q; q++) {
    let top = 0; for (let k = 1; k < P.K; k++) if (P.at(hd, q, k) > P.at(hd, q, top)) top = k;
    sum += P.at(hd, q, top);
    counts[top === 0 ? "first" : top === q - 1 ? "previous" : top === q ? "self" : "other"]++;
  }
  const parts = [["first", "the first position"], ["previous", "the previous position"], ["self", "itself"], ["other", "another position"]]
    .filter(([key]) => counts[key]).map(([key, words]) => `${words} for ${counts[key]}`);
  return `${label}: each query's largest weight goes to ${parts.join(", ")} of ${P.Q} queries; ` +
    `the largest weight averages ${fmt(sum / Math.max(1, P.Q), 2)}.`;
}

function render({ model, el }) {
  const root = h("div", "cw-root cw-attn");
  el.appendChild(root);
  let P, images = [], thumbs = [], toSpans = [], fromSpans = [];
  const header = h("div", "cw-title");
  const summary = h("div", "cw-summary");
  summary.id = uniqueId("attn-summary");
  const grid = h("div", "cw-attn-grid");
  grid.setAttribute("role", "group");
  grid.setAttribute("aria-label", "Heads (arrow keys move, Enter shows the head)");
  const main = h("div", "cw-row");
  const wrap = h("div", "cw-attn-big");
  const big = h("canvas"), overlay = h("canvas", "cw-attn-overlay");
  big.setAttribute("aria-hidden", "true");
  // the pattern is one tab stop: arrow keys move over (query, key) cells as the mouse does
  overlay.tabIndex = 0;
  overlay.setAttribute("role", "application");
  overlay.setAttribute("aria-roledescription", "attention pattern");
  overlay.setAttribute("aria-describedby", summary.id);
  wrap.append(big, overlay);
  const info = h("div", "cw-info");
  info.setAttribute("aria-live", "polite");
  const side = h("div", "cw-attn-side");
  const toLabel = h("div", "cw-muted"), toStrip = h("div", "cw-strip");
  const fromLabel = h("div", "cw-muted"), fromStrip = h("div", "cw-strip");
  side.append(info, toLabel, toStrip, fromLabel, fromStrip);
  main.append(wrap, side);
  root.append(header, summary, grid, main);
  const size = () => Math.min(480, Math.max(200, 4 * (P ? P.K : 1)));

  function build() {
    P = decode(model);
    const tokens = model.get("tokens"), labels = model.get("head_labels");
    images = []; for (let i = 0; i < P.H; i++) images.push(headImage(P, i));
    grid.replaceChildren(); thumbs = [];
    images.forEach((img, i) => {
      const cell = h("button", "cw-attn-thumb");
      cell.type = "button";
      cell.dataset.head = String(i);
      const c = h("canvas"); c.width = 72; c.height = 72;
      c.setAttribute("aria-hidden", "true");
      const ctx = c.getContext("2d"); ctx.imageSmoothingEnabled = P.K > 72;
      ctx.drawImage(img, 0, 0, 72, 72);
      cell.append(c, h("div", "cw-attn-label", labels[i] ?? `head ${i}`));
      cell.addEventListener("click", () => { model.set("selected_head", i); model.save_changes(); });
      grid.append(cell); thumbs.push(cell);
    });
    rovingFocus(thumbs, model.get("selected_head"));
    const s = size();
    for (const c of [big, overlay]) { c.width = s; c.height = s; c.style.width = c.style.height = s + "px"; }
    toStrip.replaceChildren(); fromStrip.replaceChildren(); toSpans = []; fromSpans = [];
    tokens.forEach((t, i) => {
      for (const [strip, arr] of [[toStrip, toSpans], [fromStrip, fromSpans]]) {
        const sp = tokenEl(t); sp.dataset.pos = String(i);
        sp.addEventListener("mouseenter", () => setHover(i));
        strip.append(sp); arr.push(sp);
      }
    });
    drawSelected(); drawHover();
  }
  function drawSelected() {
    const sel = model.get("selected_head"), labels = model.get("head_labels"), label = labels[sel] ?? "head " + sel;
    thumbs.forEach((t, i) => { t.classList.toggle("cw-selected", i === sel); t.setAttribute("aria-pressed", String(i === sel)); });
    if (!thumbs.includes(document.activeElement)) rovingFocus(thumbs, sel);
    header.textContent = `${label} (${P.Q} query × ${P.K} key positions). Rows: query (attending), columns: key (attended to).`;
    summary.textContent = describe(P, sel, label);
    overlay.setAttribute("aria-label", `Attention pattern of ${label}: up and down move the query, left and right the key`);
    const ctx = big.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, big.width, big.height);
    if (images[sel]) ctx.drawImage(images[sel], 0, 0, big.width, big.height);
    drawHover();
  }
  let pending = null;
  function setHover(i) {
    if (i === model.get("hovered_token") && pending === null) return;
    pending = i;
    requestAnimationFrame(() => {
      if (pending === null) return;
      model.set("hovered_token", pending); model.save_changes(); pending = null;
    });
    drawHover(i);
  }
  let keyHover = -1;
  function drawHover(i = model.get("hovered_token")) {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    const tokens = model.get("tokens"), sel = model.get("selected_head");
    if (i < 0 || i >= P.Q) {
      info.textContent = "Hover a token or the pattern, or focus the pattern (Tab) and use the arrow keys.";
      toLabel.textContent = "What the hovered token attends to"; fromLabel.textContent = "What attends to the hovered token";
      toSpans.concat(fromSpans).forEach((s) => { s.style.background = ""; s.style.color = ""; s.classList.remove("cw-hovered"); });
      return;
    }
    const cw = overlay.width / P.K, ch = overlay.height / P.Q;
    // white under black: the marks show on every colour of the scale; solid row, dashed column
    const mark = (x, y, w, hh, dash) => {
      for (const [colr, width] of [["#fff", 3.5], ["#000", 1.5]]) {
        ctx.setLineDash(dash); ctx.strokeStyle = colr; ctx.lineWidth = width; ctx.strokeRect(x, y, w, hh);
      }
      ctx.setLineDash([]);
    };
    mark(0, i * ch, overlay.width, ch, []);
    mark(i * cw, 0, cw, overlay.height, [5, 3]);
    if (keyHover >= 0) mark(keyHover * cw - 2, i * ch - 2, cw + 4, ch + 4, []);
    toLabel.textContent = `What “${iso(tokens[i])}” (position ${i}) attends to, as the query (solid outline, a row):`;
    fromLabel.textContent = `What attends to “${iso(tokens[i])}” (position ${i}), as the key (dashed outline, a column):`;
    for (let k = 0; k < P.K; k++) {
      const a = sequential(P.at(sel, i, k)), b = sequential(k < P.Q ? P.at(sel, k, i) : 0);
      toSpans[k].style.background = css(a); toSpans[k].style.color = inkOn(a);
      fromSpans[k].style.background = css(b); fromSpans[k].style.color = inkOn(b);
      toSpans[k].classList.toggle("cw-hovered", k === i); fromSpans[k].classList.toggle("cw-hovered", k === i);
      toSpans[k].title = fromSpans[k].title = "";
    }
    let top = 0; for (let k = 1; k < P.K; k++) if (P.at(sel, i, k) > P.at(sel, i, top)) top = k;
    const k = keyHover >= 0 ? keyHover : top;
    info.textContent = `query ${i} “${iso(tokens[i])}” → key ${k} “${iso(tokens[k])}”: ${fmt(P.at(sel, i, k))}` +
      (keyHover >= 0 ? "" : "  (its largest weight)");
  }
  overlay.addEventListener("mousemove", (e) => {
    const r = overlay.getBoundingClientRect();
    const q = Math.floor(((e.clientY - r.top) / r.height) * P.Q), k = Math.floor(((e.clientX - r.left) / r.width) * P.K);
    if (q < 0 || q >= P.Q || k < 0 || k >= P.K) return;
    keyHover = k; setHover(q);
  });
  overlay.addEventListener("mouseleave", () => { if (document.activeElement !== overlay) { keyHover = -1; drawHover(); } });
  overlay.addEventListener("keydown", (e) => {
    const q = pending ?? Math.max(0, model.get("hovered_token")), k = keyHover >= 0 ? keyHover : q;
    let nq = q, nk = k;
    if (e.key === "ArrowUp" || e.key === "ArrowDown") nq = arrowMove(e.key, q, P.Q, 1);
    else if (e.key === "Escape") { keyHover = -1; drawHover(); return; }
    else { const m = arrowMove(e.key, k, P.K, P.K); if (m === null) return; nk = m; }
    e.preventDefault();
    keyHover = nk; setHover(nq); drawHover(nq);
  });
  overlay.addEventListener("focus", () => { if (keyHover < 0) { keyHover = Math.max(0, model.get("hovered_token")); setHover(keyHover); } });
  grid.addEventListener("keydown", (e) => {
    const i = thumbs.indexOf(document.activeElement);
    if (i < 0) return;
    const perRow = thumbs.filter((t) => t.offsetTop === thumbs[0].offsetTop).length || 1;
    const to = arrowMove(e.key, i, thumbs.length, perRow);
    if (to === null) return;  // Enter and Space press the focused head's button
    e.preventDefault();
    rovingFocus(thumbs, to); thumbs[to].focus();
  });
  const onData = () => build();
  const onSel = () => drawSelected();
  const onHov = () => drawHover();
  model.on("change:patterns change:tokens change:shape change:head_labels", onData);
  model.on("change:selected_head", onSel);
  model.on("change:hovered_token", onHov);
  build();
  return () => {
    model.off("change:patterns change:tokens change:shape change:head_labels", onData);
    model.off("change:selected_head", onSel);
    model.off("change:hovered_token", onHov);
    root.remove();
  };
}

export default { render };
