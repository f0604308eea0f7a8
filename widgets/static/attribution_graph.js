/**
 * AttributionGraph: an attribution graph drawn in SVG, rows from the token embeddings (bottom)
 * through the layers to the logits (top), columns by token position. Hover a node for its
 * details, click (or Enter) to pin its strongest paths, shift-click (or Space) to select nodes and
 * group them as a named supernode, and run an intervention on a supernode through Python.
 * @typedef {{
 *   prompt_tokens: string[],
 *   metadata: {prompt: string, title: string, replacement_score?: number, completeness_score?: number},
 *   row_labels: string[],            // bottom to top: "Emb", "L0", ..., "Logit"
 *   nodes: {id: string, kind: "embedding" | "feature" | "error" | "logit", feature_type: string,
 *           layer: string, row: number, ctx_idx: number, feature: number | null,
 *           activation: number | null, influence: number | null, token_prob: number | null,
 *           is_target_logit: boolean, label: string, token: string, size: number,
 *           top_contexts: string[], top_logits: [string, number | null][]}[],
 *   link_index: DataView,            // int32 bytes [n_links, 2]: source, target (indices into nodes)
 *   link_weight: DataView,           // float32 bytes [n_links]
 *   hovered_node: string,            // synced back to Python ("" none)
 *   pinned_node: string,             // synced both ways ("" none)
 *   pinned_path: string[],           // the node ids lit for pinned_node, computed here
 *   selected_nodes: string[],        // synced both ways
 *   supernodes: {[name: string]: string[]},  // synced both ways
 *   intervention_modes: string[], can_intervene: boolean,
 *   baseline_logits: [string, number][],
 *   intervention_result: {supernode?: string, mode?: string, node_ids?: string[],
 *                         before?: [string, number][], after?: [string, number][]},
 *   intervention_status: string,     // "idle", "running", "done" or "error: ..."
 * }} Model
 * Custom message to Python: {type: "intervene", supernode: string, mode: string}.
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

// Edge colours: the two mid ends of the diverging scale (blue positive, red negative), light
// enough to show on a dark page; negative edges are dashed too, so colour is never the only cue.
// (tests/widgets/test_attribution_graph_widget.py checks them under simulated colour blindness.)
const EDGE_RGB = [DIVERGING[7], DIVERGING[1]];
const NEG_DASH = "5 3";
// node fills: Okabe & Ito's green, sky blue, grey and orange; each kind has its own shape too
const KIND_FILL = { embedding: CATEGORICAL[2], feature: CATEGORICAL[5], error: CATEGORICAL[6], logit: CATEGORICAL[4] };
const KIND_TEXT = { embedding: "token embedding", feature: "feature", error: "MLP reconstruction error", logit: "logit" };
const SVGNS = "http://www.w3.org/2000/svg";
const ROW_H = 66, SLOT = 26, COL_MIN = 64, LEFT = 50, TOP = 52, BOTTOM = 40;
const PATH_FRACTION = 0.5, PATH_MAX_PER_NODE = 3;  // the pin rule (see widgets/attribution_graph.py)

function s(tag, cls, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  if (cls) e.setAttribute("class", cls);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
const radius = (n) => 4 + 7 * Math.sqrt(Math.max(0, Math.min(1, n.size ?? 0.3)));
function shape(kind, r) {
  if (kind === "embedding") return s("rect", "cw-ag-shape", { x: -r, y: -r, width: 2 * r, height: 2 * r });
  if (kind === "error") { const d = 1.25 * r; return s("polygon", "cw-ag-shape", { points: `0,${-d} ${d},0 0,${d} ${-d},0` }); }
  if (kind === "logit") return s("polygon", "cw-ag-shape", { points: `0,${-1.3 * r} ${1.2 * r},${0.9 * r} ${-1.2 * r},${0.9 * r}` });
  return s("circle", "cw-ag-shape", { r });
}
const clip = (text, n) => (text.length > n ? text.slice(0, Math.max(1, n - 1)) + "…" : text);
const num = (x, d = 3) => (x === null || x === undefined ? "—" : fmt(x, d));

// Where every node goes: rows bottom to top, columns as wide as their most crowded cell.
function layout(nodes, R, P) {
  const cells = new Map();
  nodes.forEach((n, i) => {
    const key = n.row * P + n.ctx_idx;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(i);
  });
  const perCol = new Array(P).fill(1);
  for (const [key, list] of cells) {
    perCol[key % P] = Math.max(perCol[key % P], list.length);
    list.sort((a, b) => (nodes[b].size ?? 0) - (nodes[a].size ?? 0) || a - b);
  }
  const colW = perCol.map((m) => Math.max(COL_MIN, m * SLOT + 12)), colX = [];
  let x = LEFT;
  for (const w of colW) { colX.push(x); x += w; }
  const rowY = (r) => TOP + (R - 1 - r) * ROW_H + ROW_H / 2;
  const xy = new Array(nodes.length);
  for (const [key, list] of cells) {
    const p = key % P, r = Math.floor(key / P), m = list.length;
    list.forEach((i, k) => { xy[i] = [colX[p] + colW[p] / 2 + (k - (m - 1) / 2) * SLOT, rowY(r)]; });
  }
  return { xy, colX, colW, rowY, width: x + 90, height: TOP + R * ROW_H + BOTTOM };  // room on the right for labels
}

function render({ model, el }) {
  const started = performance.now();
  const root = h("div", "cw-root cw-ag");
  const header = h("div", "cw-title"), scores = h("div", "cw-muted cw-ag-scores");
  const summary = h("div", "cw-summary");
  summary.id = uniqueId("ag-summary");
  const help = h("div", "cw-muted cw-ag-help",
    "Hover a node for its details. Click a node to pin its strongest paths (click again to unpin); shift-click nodes to select them for a supernode. " +
    "Keyboard: Tab to the graph, arrow keys move (up is towards the logits), Enter pins, Space selects, Escape unpins.");
  // Four stacked layers: axes and supernode boxes; every edge (faded as one layer, without
  // repainting it, while a node is hovered or pinned); the lit edges, redrawn on hover; the nodes.
  const scroll = h("div", "cw-ag-scroll"), stage = h("div", "cw-ag-stage");
  const back = s("svg", "cw-ag-layer cw-ag-back"), edgeSvg = s("svg", "cw-ag-layer cw-ag-edgelayer");
  const hiSvg = s("svg", "cw-ag-layer cw-ag-hilayer"), svg = s("svg", "cw-ag-layer cw-ag-svg");
  for (const layer of [back, edgeSvg, hiSvg]) layer.setAttribute("aria-hidden", "true");
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-roledescription", "attribution graph");
  svg.setAttribute("aria-describedby", summary.id);
  const tip = h("div", "cw-ag-tip");
  tip.setAttribute("role", "tooltip");
  tip.id = uniqueId("ag-tip");
  tip.hidden = true;
  stage.append(back, edgeSvg, hiSvg, svg, tip);
  scroll.append(stage);
  const info = h("div", "cw-info cw-ag-info");
  info.setAttribute("aria-live", "polite");
  const legend = h("div", "cw-muted cw-ag-legend");

  // supernodes: the selection, a name, Group; the groups with a remove button each
  const groupBar = h("div", "cw-ag-bar");
  const nameIn = h("input", "cw-ag-name");
  nameIn.type = "text"; nameIn.placeholder = "supernode name";
  nameIn.setAttribute("aria-label", "Name of the new supernode");
  const groupBtn = h("button", "cw-ag-group", "Group selected"); groupBtn.type = "button";
  const clearBtn = h("button", "cw-ag-clear", "Clear selection"); clearBtn.type = "button";
  const selNote = h("span", "cw-muted cw-ag-selnote");
  selNote.setAttribute("role", "status");
  groupBar.append(h("span", "cw-ag-barlabel", "Supernodes:"), nameIn, groupBtn, clearBtn, selNote);
  const groupList = h("div", "cw-ag-groups");

  // interventions: supernode, mode, Run; the logits before and after
  const ivBar = h("div", "cw-ag-bar");
  const ivSuper = h("select", "cw-ag-iv-super"), ivMode = h("select", "cw-ag-iv-mode");
  ivSuper.setAttribute("aria-label", "Supernode to intervene on");
  ivMode.setAttribute("aria-label", "Intervention mode");
  const ivRun = h("button", "cw-ag-iv-run", "Run intervention"); ivRun.type = "button";
  const ivStatus = h("span", "cw-muted cw-ag-iv-status");
  ivStatus.setAttribute("role", "status");
  ivBar.append(h("span", "cw-ag-barlabel", "Intervention:"), ivSuper, ivMode, ivRun, ivStatus);
  const ivWhy = h("div", "cw-muted cw-ag-iv-why");
  ivRun.setAttribute("aria-describedby", (ivWhy.id = uniqueId("ag-why")));
  const results = h("div", "cw-ag-results");

  root.append(header, scores, summary, help, scroll, info, legend, groupBar, groupList, ivBar, ivWhy, results);
  el.appendChild(root);

  let nodes = [], L = null, ids = new Map(), nodeEls = [], edgeEls = [], rows = [], xy = [];
  let inE = [], outE = [], src, dst, wts, maxW = 1;
  let hoverIdx = -1, pinIdx = -1, lit = [], pathNodes = new Set(), pathEdges = new Set();
  const gSuper = s("g", "cw-ag-supers"), gEdges = s("g", "cw-ag-edges"), gNodes = s("g", "cw-ag-nodes"), gAxes = s("g", "cw-ag-axes");
  const gHi = s("g", "cw-ag-hi");
  back.append(gAxes, gSuper); edgeSvg.append(gEdges); hiSvg.append(gHi); svg.append(gNodes);

  // ---- drawing ---------------------------------------------------------------------------------
  function build() {
    const t0 = performance.now();
    nodes = model.get("nodes");
    const tokens = model.get("prompt_tokens"), rowLabels = model.get("row_labels");
    const R = rowLabels.length, P = tokens.length;
    ids = new Map(nodes.map((n, i) => [n.id, i]));
    const ij = readArray(model.get("link_index"), "int32");
    wts = readArray(model.get("link_weight"), "float32");
    const E = wts.length;
    src = new Int32Array(E); dst = new Int32Array(E);
    for (let e = 0; e < E; e++) { src[e] = ij[2 * e]; dst[e] = ij[2 * e + 1]; }
    maxW = 0; for (let e = 0; e < E; e++) maxW = Math.max(maxW, Math.abs(wts[e]));
    maxW = maxW || 1;
    inE = nodes.map(() => []); outE = nodes.map(() => []);
    for (let e = 0; e < E; e++) { outE[src[e]].push(e); inE[dst[e]].push(e); }
    const byW = (a, b) => Math.abs(wts[b]) - Math.abs(wts[a]);
    inE.forEach((l) => l.sort(byW)); outE.forEach((l) => l.sort(byW));

    L = layout(nodes, R, P);
    xy = L.xy; hoverIdx = -1; lit = []; pathNodes = new Set(); pathEdges = new Set(); tip.hidden = true;
    for (const layer of [back, edgeSvg, hiSvg, svg]) {
      layer.setAttribute("width", L.width); layer.setAttribute("height", L.height);
      layer.setAttribute("viewBox", `0 0 ${L.width} ${L.height}`);
    }
    stage.style.width = `${L.width}px`; stage.style.height = `${L.height}px`;
    svg.setAttribute("aria-label", `Attribution graph: ${nodes.length} nodes and ${E} edges, ${R} rows from token embeddings (bottom) to logits (top), ${P} positions`);

    // axes: a band per row with its label, a token label per column
    gAxes.replaceChildren();
    for (let r = 0; r < R; r++) {
      const y = L.rowY(r);
      gAxes.append(s("line", "cw-ag-grid", { x1: LEFT - 6, x2: L.width - 8, y1: y, y2: y }));
      const t = s("text", "cw-ag-rowlabel", { x: 6, y: y + 4 });
      t.textContent = rowLabels[r];
      gAxes.append(t);
    }
    tokens.forEach((tok, p) => {
      const cx = L.colX[p] + L.colW[p] / 2, y = L.height - BOTTOM + 14;
      const t = s("text", "cw-ag-collabel", { x: cx, y, "text-anchor": "middle" });
      t.textContent = clip(showToken(tok), Math.max(3, Math.floor(L.colW[p] / 7.5)));
      const title = s("title"); title.textContent = `position ${p}: ${showToken(tok)}`;
      t.append(title);
      const pn = s("text", "cw-ag-posnum", { x: cx, y: y + 14, "text-anchor": "middle" });
      pn.textContent = String(p);
      gAxes.append(t, pn);
      if (p > 0) gAxes.append(s("line", "cw-ag-sep", { x1: L.colX[p], x2: L.colX[p], y1: TOP - 6, y2: L.height - BOTTOM }));
    });

    // edges, weakest first so that the strong ones are drawn on top
    gEdges.replaceChildren();
    edgeEls = new Array(E);
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => Math.abs(wts[a]) - Math.abs(wts[b]));
    const frag = document.createDocumentFragment();
    for (const e of order) {
      const [x1, y1] = xy[src[e]], [x2, y2] = xy[dst[e]], ym = (y1 + y2) / 2, a = Math.abs(wts[e]) / maxW;
      const p = s("path", "cw-ag-edge", {
        d: `M${x1.toFixed(1)} ${y1.toFixed(1)}C${x1.toFixed(1)} ${ym.toFixed(1)} ${x2.toFixed(1)} ${ym.toFixed(1)} ${x2.toFixed(1)} ${y2.toFixed(1)}`,
        stroke: css(EDGE_RGB[wts[e] >= 0 ? 0 : 1]), "stroke-width": (0.6 + 3.4 * a).toFixed(2),
        "stroke-opacity": (0.25 + 0.6 * a).toFixed(2), fill: "none",
      });
      if (wts[e] < 0) p.setAttribute("stroke-dasharray", NEG_DASH);
      p.dataset.index = String(e);
      frag.append(p); edgeEls[e] = p;
    }
    gEdges.append(frag);

    // nodes, and the rows they sit in (for the arrow keys)
    gNodes.replaceChildren();
    nodeEls = [];
    rows = Array.from({ length: R }, () => []);
    const nfrag = document.createDocumentFragment();
    nodes.forEach((n, i) => {
      const r = radius(n), [x, y] = xy[i];
      const g = s("g", `cw-ag-node cw-ag-${n.kind}` + (n.is_target_logit ? " cw-ag-target" : ""), { transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
      g.dataset.id = n.id; g.dataset.index = String(i);
      g.setAttribute("role", "button");
      g.setAttribute("aria-label", nodeText(n, tokens));
      g.setAttribute("aria-pressed", "false");
      g.append(s("circle", "cw-ag-ring", { r: r + 6 }), s("circle", "cw-ag-selring", { r: r + 4 }));
      const sh = shape(n.kind, r);
      sh.setAttribute("fill", KIND_FILL[n.kind]);
      g.append(sh);
      if (n.kind === "logit") {
        const t = s("text", "cw-ag-logitlabel", { x: 4, y: -r - 8, transform: "rotate(-35)" });
        t.textContent = clip(showToken(n.token), 10);
        g.append(t);
      }
      nfrag.append(g); nodeEls.push(g);
      rows[n.row].push(i);
    });
    gNodes.append(nfrag);
    rows.forEach((list) => list.sort((a, b) => xy[a][0] - xy[b][0] || a - b));
    const first = rows.find((r) => r.length);
    rovingFocus(nodeEls, first ? first[0] : 0);

    summary.textContent = describe(tokens, E);
    const meta = model.get("metadata") || {};
    header.replaceChildren(`Attribution graph${meta.title ? " " + iso(meta.title) : ""}: `,
      h("span", "cw-ag-prompt", clip(meta.prompt || tokens.join(""), 400)));
    const sc = [];
    if (meta.replacement_score !== undefined && meta.replacement_score !== null) sc.push(`replacement score ${fmt(meta.replacement_score, 3)}`);
    if (meta.completeness_score !== undefined && meta.completeness_score !== null) sc.push(`completeness score ${fmt(meta.completeness_score, 3)}`);
    scores.textContent = sc.join(" · ");
    drawSupernodes(); drawSelection();
    pinIdx = -1; syncPin(false);
    root.dataset.drawMs = (performance.now() - t0).toFixed(1);
  }

  function nodeText(n, tokens = model.get("prompt_tokens")) {
    const where = `${model.get("row_labels")[n.row]}, position ${n.ctx_idx} “${iso(tokens[n.ctx_idx])}”`;
    let t = `${n.label} (${KIND_TEXT[n.kind]}${n.feature !== null && n.kind === "feature" ? " " + n.feature : ""}; ${where})`;
    if (n.kind === "logit") t += `: p ${num(n.token_prob)}`;
    else t += `: activation ${num(n.activation)}, influence ${num(n.influence)}`;
    return t;
  }

  function describe(tokens, E) {
    const count = { embedding: 0, feature: 0, error: 0, logit: 0 };
    for (const n of nodes) count[n.kind]++;
    let pos = 0; for (let e = 0; e < E; e++) if (wts[e] >= 0) pos++;
    let text = `${nodes.length} nodes (${count.embedding} token embeddings, ${count.feature} features, ${count.error} error nodes, ${count.logit} logits) and ${E} edges (${pos} positive, ${E - pos} negative).`;
    const base = model.get("baseline_logits");
    if (base.length) text += ` Top logit “${iso(base[0][0])}” (p ${fmt(base[0][1], 3)}).`;
    if (E) {
      let best = 0; for (let e = 1; e < E; e++) if (Math.abs(wts[e]) > Math.abs(wts[best])) best = e;
      text += ` Strongest edge: ${nodes[src[best]].label} → ${nodes[dst[best]].label} (${fmt(wts[best], 3)}).`;
    }
    return text;
  }

  function drawSupernodes() {
    gSuper.replaceChildren();
    const groups = model.get("supernodes") || {};
    for (const [name, members] of Object.entries(groups)) {
      const idx = members.map((m) => ids.get(m)).filter((i) => i !== undefined);
      if (!idx.length) continue;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const i of idx) {
        const [x, y] = xy[i], r = radius(nodes[i]) + 8;
        x0 = Math.min(x0, x - r); y0 = Math.min(y0, y - r); x1 = Math.max(x1, x + r); y1 = Math.max(y1, y + r);
      }
      const g = s("g", "cw-ag-super");
      g.dataset.name = name;
      g.append(s("rect", "cw-ag-superbox", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 6 }));
      const t = s("text", "cw-ag-superlabel", { x: x0 + 4, y: y0 - 4 });
      t.textContent = clip(name, 28) + ` (${idx.length})`;
      const title = s("title"); title.textContent = `supernode ${name}: ${idx.length} nodes`;
      g.append(t, title);
      gSuper.append(g);
    }
    groupList.replaceChildren();
    for (const [name, members] of Object.entries(groups)) {
      const chip = h("span", "cw-ag-chip");
      chip.dataset.name = name;
      chip.append(h("span", "cw-ag-chipname", name), h("span", "cw-muted", ` ${members.length} node${members.length === 1 ? "" : "s"}`));
      const x = h("button", "cw-ag-ungroup", "×"); x.type = "button";
      x.setAttribute("aria-label", `Ungroup supernode ${name}`);
      x.addEventListener("click", () => {
        const next = { ...model.get("supernodes") }; delete next[name];
        commit("supernodes", next);
      });
      chip.append(x);
      groupList.append(chip);
    }
    if (!Object.keys(groups).length) groupList.append(h("span", "cw-muted", "No supernodes yet: select nodes, type a name and press Group selected."));
    controls();
  }

  function drawSelection() {
    const sel = new Set(model.get("selected_nodes"));
    nodeEls.forEach((g) => g.classList.toggle("cw-ag-selected", sel.has(g.dataset.id)));
    selNote.textContent = sel.size ? `${sel.size} node${sel.size === 1 ? "" : "s"} selected` : "Shift-click nodes (or Space) to select them.";
    groupBtn.disabled = sel.size === 0;
    clearBtn.disabled = sel.size === 0;
  }

  // ---- hover, pin ------------------------------------------------------------------------------
  // Lit: the pinned node's paths (class cw-ag-path), the hovered node and its edges (cw-ag-lit).
  // Lit edges are copies drawn in their own layer over the faded layer of all edges, so a hover
  // repaints a node's few edges, not all of them.
  function relight() {
    for (const e of lit) e.classList.remove("cw-ag-lit");
    lit = [];
    const copies = document.createDocumentFragment();
    const copy = (e, cls) => { const c = edgeEls[e].cloneNode(); c.setAttribute("class", `cw-ag-edge ${cls}`); copies.append(c); };
    for (const e of pathEdges) copy(e, "cw-ag-path");
    if (hoverIdx >= 0) {
      const add = (g) => { g.classList.add("cw-ag-lit"); lit.push(g); };
      add(nodeEls[hoverIdx]);
      for (const e of inE[hoverIdx]) { copy(e, "cw-ag-lit"); add(nodeEls[src[e]]); }
      for (const e of outE[hoverIdx]) { copy(e, "cw-ag-lit"); add(nodeEls[dst[e]]); }
    }
    gHi.replaceChildren(copies);
    const dim = hoverIdx >= 0 || pinIdx >= 0;
    svg.classList.toggle("cw-ag-dim", dim);
    edgeSvg.classList.toggle("cw-ag-faded", dim);
  }

  let pendingHover = null;
  function hover(i) {
    if (i === hoverIdx) return;
    const t0 = performance.now();
    hoverIdx = i;
    relight();
    showTip(i);
    info.textContent = i >= 0 ? nodeText(nodes[i]) : pinIdx >= 0 ? pinText() : "";
    root.dataset.hoverMs = (performance.now() - t0).toFixed(2);
    const id = i >= 0 ? nodes[i].id : "";
    if (pendingHover === null) requestAnimationFrame(() => {
      if (pendingHover !== model.get("hovered_node")) commit("hovered_node", pendingHover);
      pendingHover = null;
    });
    pendingHover = id;
  }

  function showTip(i) {
    if (i < 0) { tip.hidden = true; tip.replaceChildren(); return; }
    const n = nodes[i], tokens = model.get("prompt_tokens");
    tip.replaceChildren();
    tip.append(h("div", "cw-ag-tip-title", n.label));
    const kind = KIND_TEXT[n.kind] + (n.kind === "feature" && n.feature !== null ? ` #${n.feature}` : "");
    tip.append(h("div", "cw-muted", `${kind} · ${model.get("row_labels")[n.row]} · position ${n.ctx_idx} “${iso(tokens[n.ctx_idx])}”`));
    const vals = n.kind === "logit"
      ? `token “${iso(n.token)}” · p ${num(n.token_prob)}${n.is_target_logit ? " · target" : ""}`
      : `activation ${num(n.activation)} · influence ${num(n.influence)}`;
    tip.append(h("div", "cw-ag-tip-vals", vals));
    if (n.top_contexts.length) {
      tip.append(h("div", "cw-ag-tip-head", "Top activating contexts"));
      const ul = h("ul", "cw-ag-tip-ctx");
      for (const c of n.top_contexts.slice(0, 5)) ul.append(h("li", null, clip(c, 160)));
      tip.append(ul);
    }
    if (n.top_logits.length) {
      tip.append(h("div", "cw-ag-tip-head", "Logits it promotes"));
      const row = h("div", "cw-ag-tip-logits");
      for (const [tok, v] of n.top_logits.slice(0, 8)) {
        const t = tokenEl(clip(tok, 40));
        if (v !== null && v !== undefined) t.append(document.createTextNode(` ${fmt(v, 2)}`));
        row.append(t);
      }
      tip.append(row);
    }
    const strongest = (list, end) => list.slice(0, 3).map((e) => `${clip(nodes[end[e]].label, 40)} (${fmt(wts[e], 2)})`).join("; ");
    if (inE[i].length) tip.append(h("div", "cw-ag-tip-edges", `${inE[i].length} inputs, strongest: ${strongest(inE[i], src)}`));
    if (outE[i].length) tip.append(h("div", "cw-ag-tip-edges", `${outE[i].length} outputs, strongest: ${strongest(outE[i], dst)}`));
    tip.hidden = false;
    const [x, y] = xy[i], right = x + 18 + 380 > L.width;
    tip.style.left = `${Math.max(0, right ? x - 18 - 380 : x + 18)}px`;
    tip.style.top = `${Math.max(0, y - 20)}px`;
  }

  // The pin rule: from each node on the path, its edges with |w| >= PATH_FRACTION of its largest,
  // at most PATH_MAX_PER_NODE, followed down to the sources and up to the logits.
  function trace(pin) {
    const nodesOn = new Set([pin]), edgesOn = new Set();
    for (const [adj, end] of [[inE, src], [outE, dst]]) {
      const stack = [pin], seen = new Set([pin]);
      while (stack.length) {
        const v = stack.pop(), list = adj[v];
        if (!list.length) continue;
        const top = Math.abs(wts[list[0]]);
        for (const e of list.slice(0, PATH_MAX_PER_NODE)) {
          if (Math.abs(wts[e]) < PATH_FRACTION * top) break;
          edgesOn.add(e); nodesOn.add(end[e]);
          if (!seen.has(end[e])) { seen.add(end[e]); stack.push(end[e]); }
        }
      }
    }
    return { nodesOn, edgesOn };
  }

  function pinText() {
    const n = nodes[pinIdx], on = [...pathNodes].map((i) => nodes[i]);
    const toks = on.filter((m) => m.kind === "embedding").sort((a, b) => a.ctx_idx - b.ctx_idx).map((m) => `“${iso(m.token)}”`);
    const outs = on.filter((m) => m.kind === "logit").map((m) => `“${iso(m.token)}”`);
    return `Pinned ${n.label}: ${pathNodes.size} nodes and ${pathEdges.size} edges on its strongest paths` +
      (toks.length ? `, from the tokens ${toks.join(", ")}` : "") + (outs.length ? ` to the logits ${outs.join(", ")}` : "") + ".";
  }

  // Draw the pinned node's paths from model state; send the path back when it changed.
  function syncPin(send = true) {
    for (const i of pathNodes) nodeEls[i]?.classList.remove("cw-ag-path");
    nodeEls.forEach((g) => { g.classList.remove("cw-ag-pinned"); g.setAttribute("aria-pressed", "false"); });
    const pid = model.get("pinned_node");
    pinIdx = pid && ids.has(pid) ? ids.get(pid) : -1;
    pathNodes = new Set(); pathEdges = new Set();
    if (pinIdx >= 0) {
      ({ nodesOn: pathNodes, edgesOn: pathEdges } = trace(pinIdx));
      for (const i of pathNodes) nodeEls[i].classList.add("cw-ag-path");
      nodeEls[pinIdx].classList.add("cw-ag-pinned");
      nodeEls[pinIdx].setAttribute("aria-pressed", "true");
    }
    relight();
    info.textContent = pinIdx >= 0 ? pinText() : hoverIdx >= 0 ? nodeText(nodes[hoverIdx]) : "";
    const path = pinIdx >= 0 ? [...pathNodes].sort((a, b) => nodes[a].row - nodes[b].row || a - b).map((i) => nodes[i].id) : [];
    const old = model.get("pinned_path") || [];
    if (send && (old.length !== path.length || old.some((v, k) => v !== path[k]))) commit("pinned_path", path);
  }

  function togglePin(i) {
    const id = nodes[i].id, next = model.get("pinned_node") === id ? "" : id;
    model.set("pinned_node", next);  // the change event draws the path and sets pinned_path
    model.save_changes();
  }

  function toggleSelect(i) {
    const id = nodes[i].id, sel = model.get("selected_nodes");
    commit("selected_nodes", sel.includes(id) ? sel.filter((x) => x !== id) : [...sel, id]);
  }

  function commit(k, v) { model.set(k, v); model.save_changes(); }

  // ---- events ----------------------------------------------------------------------------------
  const nodeOf = (target) => { const g = target?.closest?.(".cw-ag-node"); return g && svg.contains(g) ? Number(g.dataset.index) : -1; };
  svg.addEventListener("mouseover", (e) => { const i = nodeOf(e.target); if (i >= 0) hover(i); });
  svg.addEventListener("mouseout", (e) => {
    const from = nodeOf(e.target), to = nodeOf(e.relatedTarget);
    if (from >= 0 && to !== from) hover(nodeEls.includes(document.activeElement) ? Number(document.activeElement.dataset.index) : -1);
  });
  svg.addEventListener("click", (e) => {
    const i = nodeOf(e.target);
    if (i < 0) return;
    if (e.shiftKey) toggleSelect(i); else togglePin(i);
  });
  svg.addEventListener("focusin", (e) => { const i = nodeOf(e.target); if (i >= 0) { rovingFocus(nodeEls, i); hover(i); } });
  svg.addEventListener("focusout", (e) => { if (nodeOf(e.relatedTarget) < 0) hover(-1); });
  svg.addEventListener("keydown", (e) => {
    const i = nodeOf(document.activeElement);
    if (i < 0) return;
    let to = null;
    if (e.key === "Enter") { e.preventDefault(); togglePin(i); return; }
    if (e.key === " ") { e.preventDefault(); toggleSelect(i); return; }
    if (e.key === "Escape") { if (model.get("pinned_node")) commit("pinned_node", ""); hover(-1); return; }
    const r = nodes[i].row, k = rows[r].indexOf(i);
    if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") to = rows[r][arrowMove(e.key, k, rows[r].length)];
    else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
      const step = e.key === "ArrowUp" ? 1 : -1;  // up the drawing: towards the logits
      for (let rr = r + step; rr >= 0 && rr < rows.length; rr += step) {
        if (!rows[rr].length) continue;
        to = rows[rr].reduce((best, j) => (Math.abs(xy[j][0] - xy[i][0]) < Math.abs(xy[best][0] - xy[i][0]) ? j : best));
        break;
      }
    } else return;
    e.preventDefault();
    if (to === null || to === undefined || to === i) return;
    rovingFocus(nodeEls, to); nodeEls[to].focus();
  });
  svg.addEventListener("mouseleave", () => { if (!nodeEls.includes(document.activeElement)) hover(-1); });

  groupBtn.addEventListener("click", () => {
    const name = nameIn.value.trim(), sel = model.get("selected_nodes");
    if (!sel.length) { selNote.textContent = "Select nodes first: shift-click them, or press Space on them."; return; }
    if (!name) { selNote.textContent = "Type a name for the supernode first."; nameIn.focus(); return; }
    const next = {};
    for (const [k, v] of Object.entries(model.get("supernodes") || {})) {
      if (k === name) continue;
      const rest = v.filter((x) => !sel.includes(x));
      if (rest.length) next[k] = rest;
    }
    next[name] = [...sel];
    model.set("supernodes", next);
    model.set("selected_nodes", []);
    model.save_changes();
    nameIn.value = "";
    ivSuper.value = name;
  });
  clearBtn.addEventListener("click", () => commit("selected_nodes", []));
  ivRun.addEventListener("click", () => {
    if (ivRun.disabled) return;
    model.send({ type: "intervene", supernode: ivSuper.value, mode: ivMode.value });
    ivStatus.textContent = "running…";
  });

  // ---- interventions ---------------------------------------------------------------------------
  const offline = model.widget_manager === null;  // a saved page (save_html, the course site)
  function controls() {
    const groups = Object.keys(model.get("supernodes") || {}), keep = ivSuper.value;
    ivSuper.replaceChildren();
    for (const g of groups) { const o = h("option", null, g); o.value = g; ivSuper.append(o); }
    if (groups.includes(keep)) ivSuper.value = keep;
    const modes = model.get("intervention_modes"), keepMode = ivMode.value;
    ivMode.replaceChildren();
    for (const m of modes) { const o = h("option", null, m); o.value = m; ivMode.append(o); }
    if (modes.includes(keepMode)) ivMode.value = keepMode;
    const status = model.get("intervention_status");
    let why = "";
    if (offline) why = "This saved page has no Python kernel: interventions run in the notebook.";
    else if (!model.get("can_intervene")) why = "Interventions need a Python callback: AttributionGraph(graph, on_intervene=fn), where fn(name, node_ids, mode) returns the new top (token, probability) pairs.";
    else if (!groups.length) why = "Group nodes into a supernode first (select them, name the group, press Group selected).";
    ivWhy.textContent = why;
    ivRun.disabled = Boolean(why) || status === "running";
    ivSuper.disabled = ivMode.disabled = Boolean(why);
    ivStatus.textContent = status === "idle" ? "" : status;
  }

  function bars(title, list, before) {
    const col = h("div", "cw-ag-col");
    col.append(h("div", "cw-title", title));
    const prior = new Map((before || []).map(([t, p]) => [t, p]));
    const table = h("div", "cw-ag-logits");
    for (const [tok, p] of list.slice(0, 10)) {
      const row = h("div", "cw-ag-logit");
      const bar = h("span", "cw-ag-bar-fill");
      bar.style.width = `${Math.round(100 * Math.max(0, Math.min(1, p)))}%`;
      const track = h("span", "cw-ag-bar-track"); track.append(bar);
      let text = fmt(p, 3);
      if (before && prior.has(tok)) { const d = p - prior.get(tok); text += ` (${d >= 0 ? "+" : "−"}${fmt(Math.abs(d), 3)})`; }
      else if (before) text += " (new)";
      row.append(tokenEl(clip(tok, 40)), track, h("span", "cw-ag-p", text));
      table.append(row);
    }
    if (!list.length) table.append(h("span", "cw-muted", "none"));
    col.append(table);
    return col;
  }
  function drawResult() {
    const res = model.get("intervention_result") || {}, base = model.get("baseline_logits");
    results.replaceChildren();
    results.append(bars("Top logits before", res.before || base));
    if (res.after) {
      results.append(bars(`After: ${res.mode} “${iso(res.supernode)}” (${(res.node_ids || []).length} nodes)`, res.after, res.before || base));
    }
    controls();
  }

  // ---- legend ----------------------------------------------------------------------------------
  function drawLegend() {
    legend.replaceChildren();
    const item = (draw, text) => {
      const icon = s("svg", "cw-ag-icon", { width: 30, height: 18, viewBox: "-15 -9 30 18" });
      icon.setAttribute("aria-hidden", "true");
      icon.append(draw());
      const span = h("span", "cw-ag-legend-item"); span.append(icon, document.createTextNode(text));
      legend.append(span);
    };
    for (const kind of ["embedding", "feature", "error", "logit"]) {
      item(() => { const sh = shape(kind, 6); sh.setAttribute("fill", KIND_FILL[kind]); sh.setAttribute("class", "cw-ag-shape"); return sh; }, KIND_TEXT[kind]);
    }
    const line = (rgb, dash) => () => {
      const l = s("line", null, { x1: -13, x2: 13, y1: 0, y2: 0, stroke: css(rgb), "stroke-width": 3 });
      if (dash) l.setAttribute("stroke-dasharray", dash);
      return l;
    };
    item(line(EDGE_RGB[0], null), "positive edge (solid, blue)");
    item(line(EDGE_RGB[1], NEG_DASH), "negative edge (dashed, red)");
    legend.append(h("span", "cw-ag-legend-item", "Node size: influence on the logits; edge width: |weight|; edges run up from source to target."));
  }

  const dataEv = "change:nodes change:link_index change:link_weight change:prompt_tokens change:row_labels change:metadata";
  const onSuper = () => drawSupernodes(), onSel = () => drawSelection(), onPin = () => syncPin(true);
  const onRes = () => drawResult(), onCtl = () => controls();
  const onData = () => { build(); drawResult(); };
  model.on(dataEv, onData);
  model.on("change:supernodes", onSuper);
  model.on("change:selected_nodes", onSel);
  model.on("change:pinned_node", onPin);
  model.on("change:intervention_result change:baseline_logits", onRes);
  model.on("change:intervention_status change:can_intervene change:intervention_modes", onCtl);
  drawLegend(); build(); drawResult(); syncPin(!offline);
  // time from render() to its first frame on screen, for the performance figures of the tests
  requestAnimationFrame(() => setTimeout(() => { root.dataset.firstFrameMs = (performance.now() - started).toFixed(1); }, 0));
  return () => {
    model.off(dataEv, onData); model.off("change:supernodes", onSuper); model.off("change:selected_nodes", onSel);
    model.off("change:pinned_node", onPin); model.off("change:intervention_result change:baseline_logits", onRes);
    model.off("change:intervention_status change:can_intervene change:intervention_modes", onCtl);
    root.remove();
  };
}

export default { render };
