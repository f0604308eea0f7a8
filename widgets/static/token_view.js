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
  const legend = h("div", "cw-muted");
  root.append(legend, strip, info);
  el.appendChild(root);
  let spans = [];
  function paint() {
    const tokens = model.get("tokens"), vals = readArray(model.get("values"), "float32");
    const lo = model.get("vmin"), hi = model.get("vmax"), div = model.get("cmap") === "diverging";
    legend.textContent = `${model.get("value_label")}: colour from ${fmt(lo)} to ${fmt(hi)}${div ? " (red negative, blue positive)" : ""}. Hover a token.`;
    strip.replaceChildren(); spans = [];
    tokens.forEach((t, i) => {
      const v = vals[i];
      const x = div ? v / (Math.max(Math.abs(lo), Math.abs(hi)) || 1) : (v - lo) / (hi - lo || 1);
      const c = colour(x);
      const sp = tokenEl(t);
      sp.style.background = css(c); sp.style.color = inkOn(c);
      sp.dataset.pos = String(i);
      sp.addEventListener("mouseenter", () => { model.set("hovered_token", i); model.save_changes(); show(i); });
      strip.append(sp); spans.push(sp);
    });
    show(model.get("hovered_token"));
  }
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
        bar.style.background = `linear-gradient(90deg, #9ecae1 ${Math.round(p * 100)}%, transparent 0)`;
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
