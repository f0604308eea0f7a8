/**
 * TokenView: tokens coloured by one value each; hovering shows the value and top-k predictions.
 * @typedef {{
 *   tokens: string[],
 *   values: DataView,                 // float32 bytes, one per token
 *   cmap: "sequential" | "diverging",
 *   vmin: number, vmax: number,       // colour range
 *   value_label: string,
 *   top_k: [string, number][][],      // per position: (next-token string, probability); may be []
 *   hovered_token: number,            // -1 until hovered; synced back to Python
 * }} Model
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

function render({ model, el }) {
  const root = h("div", "cw-root cw-tv");
  const strip = h("div", "cw-tv-tokens"), info = h("div", "cw-tv-info");
  const legend = h("div", "cw-muted"), summary = h("div", "cw-summary");
  summary.id = uniqueId("tv-summary");
  strip.setAttribute("role", "group");
  strip.setAttribute("aria-describedby", summary.id);
  info.setAttribute("aria-live", "polite");
  root.append(legend, summary, strip, info);
  el.appendChild(root);
  let spans = [];
  function paint() {
    const tokens = model.get("tokens"), vals = readArray(model.get("values"), "float32");
    const lo = model.get("vmin"), hi = model.get("vmax"), div = model.get("cmap") === "diverging";
    const label = model.get("value_label");
    legend.textContent = `${label}: colour from ${fmt(lo)} to ${fmt(hi)}${div ? " (red negative, white zero, blue positive)" : " (dark blue low, yellow high)"}. Hover a token, or Tab to the tokens and use the arrow keys.`;
    strip.setAttribute("aria-label", `Tokens coloured by ${label} (arrow keys move)`);
    strip.replaceChildren(); spans = [];
    tokens.forEach((t, i) => {
      const v = vals[i];
      const x = div ? v / (Math.max(Math.abs(lo), Math.abs(hi)) || 1) : (v - lo) / (hi - lo || 1);
      const c = div ? diverging(x) : sequential(x);
      const sp = tokenEl(t);
      sp.style.background = css(c); sp.style.color = inkOn(c);
      sp.dataset.pos = String(i);
      sp.setAttribute("aria-label", `position ${i} “${iso(t)}”: ${label} ${fmt(v, 4)}`);
      const pick = () => { model.set("hovered_token", i); model.save_changes(); show(i); };
      sp.addEventListener("mouseenter", pick);
      sp.addEventListener("focus", pick);
      strip.append(sp); spans.push(sp);
    });
    let low = 0, high = 0;
    for (let i = 1; i < vals.length; i++) { if (vals[i] < vals[low]) low = i; if (vals[i] > vals[high]) high = i; }
    summary.textContent = tokens.length
      ? `${tokens.length} tokens; ${label} is lowest at position ${low} “${iso(tokens[low])}” (${fmt(vals[low], 3)}) and highest at position ${high} “${iso(tokens[high])}” (${fmt(vals[high], 3)}).`
      : "No tokens.";
    const hov = model.get("hovered_token");
    rovingFocus(spans, hov >= 0 && hov < spans.length ? hov : 0);
    show(hov);
  }
  strip.addEventListener("keydown", (e) => {
    const i = spans.indexOf(document.activeElement);
    if (i < 0) return;
    const key = { ArrowUp: "ArrowLeft", ArrowDown: "ArrowRight" }[e.key] ?? e.key;
    const to = arrowMove(key, i, spans.length);
    if (to === null) return;
    e.preventDefault();
    rovingFocus(spans, to); spans[to].focus();
  });
  function show(i) {
    spans.forEach((s, j) => s.classList.toggle("cw-hovered", j === i));
    info.replaceChildren();
    if (i < 0 || i >= spans.length) return;
    const tokens = model.get("tokens"), vals = readArray(model.get("values"), "float32");
    info.append(h("div", "cw-info", `position ${i}  “${iso(tokens[i])}”  ${model.get("value_label")} = ${fmt(vals[i], 4)}`));
    const top = (model.get("top_k") || [])[i];
    if (top && top.length) {
      const table = h("table", "cw-tv-topk");
      const head = h("tr"); head.append(h("th", null, "next token"), h("th", null, "prob"));
      table.append(head);
      for (const [tok, p] of top) {
        const tr = h("tr"), td = h("td");
        td.append(tokenEl(tok));
        const bar = h("td", "cw-tv-prob", fmt(p, 3));
        bar.style.background = `linear-gradient(90deg, var(--jp-brand-color3, #9ecae1) ${Math.round(p * 100)}%, transparent 0)`;
        tr.append(td, bar); table.append(tr);
      }
      info.append(table);
    }
  }
  const onData = () => paint(), onHov = () => show(model.get("hovered_token"));
  const ev = "change:tokens change:values change:cmap change:vmin change:vmax change:top_k change:value_label";
  model.on(ev, onData); model.on("change:hovered_token", onHov);
  paint();
  return () => { model.off(ev, onData); model.off("change:hovered_token", onHov); root.remove(); };
}

export default { render };
