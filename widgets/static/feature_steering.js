/**
 * FeatureSteering: generate from a prompt with and without adding strength * unit direction to
 * the residual stream at one layer, side by side, tokens coloured by the direction's activation.
 * @typedef {{
 *   prompt: string, direction_names: string[], direction: string,
 *   layer: number, n_layers: number, strength: number, max_strength: number,
 *   temperature: number, n_tokens: number,
 *   prompt_tokens: string[], unsteered_tokens: string[], steered_tokens: string[],
 *   unsteered_acts: DataView, steered_acts: DataView,   // float32 bytes: prompt + continuation
 *   status: string,
 * }} Model
 * Custom message to Python: {type: "generate"}.
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

function render({ model, el }) {
  const root = h("div", "cw-root cw-fs");
  const form = h("div", "cw-fs-form");
  const field = (label, input) => { const l = h("label", "cw-fs-field"); l.append(h("span", "cw-muted", label), input); form.append(l); return input; };
  const prompt = field("Prompt", h("textarea", "cw-fs-prompt"));
  prompt.rows = 2;
  const dir = field("Direction", h("select", "cw-fs-direction"));
  const layer = field("Layer", h("select", "cw-fs-layer"));
  const strength = field("Strength", h("input", "cw-fs-strength"));
  strength.type = "range"; strength.step = "any";
  const strengthOut = h("span", "cw-fs-strength-value");
  strength.parentElement.append(strengthOut);
  const temp = field("Temperature", h("input", "cw-fs-temperature"));
  temp.type = "number"; temp.min = "0"; temp.step = "0.1";
  const ntok = field("Tokens", h("input", "cw-fs-ntokens"));
  ntok.type = "number"; ntok.min = "1"; ntok.max = "200";
  const gen = h("button", "cw-fs-generate", "Generate"); gen.type = "button";
  const status = h("span", "cw-muted cw-fs-status");
  status.setAttribute("role", "status");
  form.append(gen, status);
  const cols = h("div", "cw-fs-cols");
  const mkCol = (t) => {
    const c = h("div", "cw-fs-col"), title = h("div", "cw-title", t), body = h("div", "cw-fs-text"), note = h("div", "cw-summary");
    c.append(title, body, note); cols.append(c); return [title, body, note];
  };
  const [, unBody, unNote] = mkCol("Unsteered");
  const [stTitle, stBody, stNote] = mkCol("Steered");
  const legend = h("div", "cw-muted", "Token colour: activation of the direction (residual stream · unit direction at the layer, measured without steering); red negative, blue positive. Hover a token for its value.");
  root.append(form, cols, legend); el.appendChild(root);

  const commit = (k, v) => { model.set(k, v); model.save_changes(); };
  prompt.addEventListener("change", () => commit("prompt", prompt.value));
  prompt.addEventListener("input", () => commit("prompt", prompt.value));
  dir.addEventListener("change", () => commit("direction", dir.value));
  layer.addEventListener("change", () => commit("layer", Number(layer.value)));
  strength.addEventListener("input", () => { strengthOut.textContent = fmt(Number(strength.value), 2); commit("strength", Number(strength.value)); });
  temp.addEventListener("change", () => commit("temperature", Math.max(0, Number(temp.value) || 0)));
  ntok.addEventListener("change", () => commit("n_tokens", Math.max(1, Math.round(Number(ntok.value) || 1))));
  gen.addEventListener("click", () => { model.send({ type: "generate" }); status.textContent = "generating…"; });

  function controls() {
    if (document.activeElement !== prompt) prompt.value = model.get("prompt");
    dir.replaceChildren();
    for (const n of model.get("direction_names")) { const o = h("option", null, showToken(n)); o.value = n; dir.append(o); }
    dir.value = model.get("direction");
    layer.replaceChildren();
    for (let l = 0; l < model.get("n_layers"); l++) { const o = h("option", null, String(l)); o.value = String(l); layer.append(o); }
    layer.value = String(model.get("layer"));
    const m = model.get("max_strength");
    strength.min = String(-m); strength.max = String(m); strength.value = String(model.get("strength"));
    strengthOut.textContent = fmt(model.get("strength"), 2);
    temp.value = String(model.get("temperature")); ntok.value = String(model.get("n_tokens"));
    stTitle.textContent = `Steered: + ${fmt(model.get("strength"), 2)} × “${iso(model.get("direction"))}” at layer ${model.get("layer")}`;
  }
  function text(body, note, gen, actsKey) {
    const pt = model.get("prompt_tokens"), acts = readArray(model.get(actsKey), "float32"), all = [...pt, ...gen];
    let m = 0; for (const a of acts) m = Math.max(m, Math.abs(a));
    body.replaceChildren();
    all.forEach((t, i) => {
      const sp = tokenEl(t, i < pt.length ? "cw-fs-prompt-tok" : "cw-fs-gen-tok");
      if (i < acts.length) {
        const c = diverging(acts[i] / (m || 1));
        sp.style.background = css(c); sp.style.color = inkOn(c);
        sp.title = `activation ${fmt(acts[i], 3)}`;
      }
      body.append(sp);
    });
    // the colours in words: where the direction is most and least active
    const n = Math.min(acts.length, all.length);
    if (!gen.length || !n) { note.textContent = ""; return; }
    let lo = 0, hi = 0;
    for (let i = 1; i < n; i++) { if (acts[i] < acts[lo]) lo = i; if (acts[i] > acts[hi]) hi = i; }
    note.textContent = `${gen.length} tokens generated. Activation highest at “${iso(all[hi])}” (${fmt(acts[hi], 2)}), lowest at “${iso(all[lo])}” (${fmt(acts[lo], 2)}).`;
  }
  const texts = () => {
    text(unBody, unNote, model.get("unsteered_tokens"), "unsteered_acts");
    text(stBody, stNote, model.get("steered_tokens"), "steered_acts");
  };
  const onStatus = () => { status.textContent = model.get("status"); gen.disabled = model.get("status") === "generating"; };
  const cev = "change:prompt change:direction_names change:direction change:layer change:n_layers change:strength change:max_strength change:temperature change:n_tokens";
  const tev = "change:prompt_tokens change:unsteered_tokens change:steered_tokens change:unsteered_acts change:steered_acts";
  model.on(cev, controls); model.on(tev, texts); model.on("change:status", onStatus);
  controls(); texts(); onStatus();
  return () => { model.off(cev, controls); model.off(tev, texts); model.off("change:status", onStatus); root.remove(); };
}

export default { render };
