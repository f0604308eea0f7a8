/**
 * TrainingCurves: live loss/accuracy curves that grow as Python appends points, with event
 * markers and Pause/Stop buttons that a running training loop obeys.
 * @typedef {{
 *   title: string, log_x: boolean, log_y: boolean,
 *   series: string[],          // column names, in order
 *   data: DataView,            // float64 bytes [n_points, 1 + len(series)] snapshot: step, values (NaN: missing)
 *   n_points: number,          // rows in the snapshot
 *   events: [number, string][],// (step, label) markers
 *   paused: boolean, should_stop: boolean,   // set by the buttons, read by Python
 *   status: string,            // "idle" | "running" | "paused" | "stopped" | "done"
 * }} Model
 * Custom messages from Python: {type: "points", start, series, rows: [[step, v0, v1...]]} (null: missing)
 */
// (the shared helpers of _shared.js are prepended to this module by widgets/_base.py)

// accuracies and shares (fractions in [0, 1]) go on the linear plot, everything else on the loss plot
const isAcc = (name) => /acc|share/i.test(name);

function render({ model, el }) {
  const root = h("div", "cw-root cw-tc");
  const title = h("div", "cw-title");
  const bar = h("div", "cw-row cw-tc-bar");
  const pause = h("button", "cw-tc-pause", "Pause"), stop = h("button", "cw-tc-stop", "Stop"), status = h("span", "cw-muted cw-tc-status");
  status.setAttribute("role", "status");
  pause.type = stop.type = "button";
  bar.append(pause, stop, status);
  const plots = h("div", "cw-row"), lossC = h("canvas"), accC = h("canvas");
  for (const c of [lossC, accC]) c.setAttribute("role", "img");
  plots.append(lossC, accC);
  const legend = h("div", "cw-tc-legend");
  root.append(title, bar, plots, legend); el.appendChild(root);
  let steps = [], cols = new Map(), frame = 0;

  function fromSnapshot() {
    const names = model.get("series"), n = model.get("n_points"), d = readArray(model.get("data"), "float64");
    const w = names.length + 1;
    steps = []; cols = new Map(names.map((s) => [s, []]));
    for (let i = 0; i < n && (i + 1) * w <= d.length; i++) {
      steps.push(d[i * w]);
      names.forEach((s, j) => cols.get(s).push(d[i * w + 1 + j]));
    }
    schedule();
  }
  function onMsg(msg) {
    if (!msg || msg.type !== "points") return;
    msg.rows.forEach((row, i) => {
      if (msg.start + i < steps.length) return;  // already in the snapshot
      steps.push(row[0]);
      for (const s of msg.series) if (!cols.has(s)) cols.set(s, new Array(steps.length - 1).fill(NaN));
      for (const [s, arr] of cols) { const j = msg.series.indexOf(s); arr.push(j >= 0 && row[j + 1] != null ? row[j + 1] : NaN); }
    });
    schedule();
  }
  function schedule() { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); }); }

  function panel(canvas, names, logY, label) {
    const W = 460, H = 280, L = 56, R = 24, T = 12, B = 36;
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d"), th = theme(root);
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif";
    const logX = model.get("log_x");
    const tx = (s) => (logX ? Math.log10(Math.max(s, 1)) : s), ty = (v) => (logY ? Math.log10(v) : v);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    steps.forEach((s) => { if (logX && s <= 0) return; x0 = Math.min(x0, tx(s)); x1 = Math.max(x1, tx(s)); });
    for (const n of names) for (const v of cols.get(n)) if (Number.isFinite(v) && (!logY || v > 0)) { y0 = Math.min(y0, ty(v)); y1 = Math.max(y1, ty(v)); }
    if (label.startsWith("accuracy") && !logY) { y0 = Math.min(0, y0); y1 = Math.max(1, y1); }
    if (!Number.isFinite(x0)) { x0 = 0; x1 = 1; } if (x1 === x0) x1 = x0 + 1;
    if (!Number.isFinite(y0)) { y0 = 0; y1 = 1; } if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), py = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
    ctx.strokeStyle = th.axis; ctx.strokeRect(L, T, W - L - R, H - B - T);
    ctx.fillStyle = th.fg; ctx.textAlign = "center";
    const ticks = (a, b, log) => {
      const out = [];
      if (log) { for (let e = Math.ceil(a); e <= Math.floor(b); e++) out.push(e); if (out.length < 2) out.push(a, b); }
      else { const st = Math.pow(10, Math.floor(Math.log10((b - a) / 4 || 1))); for (let v = Math.ceil(a / st) * st; v <= b + 1e-12; v += st * (((b - a) / st) > 8 ? 2 : 1)) out.push(v); }
      return out;
    };
    const lab = (v, log) => (log ? (Number.isInteger(v) ? `1e${v}` : fmt(10 ** v, 2)) : fmt(v, 2));
    for (const x of ticks(x0, x1, logX)) { ctx.fillText(lab(x, logX), px(x), H - B + 14); }
    ctx.fillText(`step${logX ? " (log)" : ""}`, (L + W) / 2, H - 6);
    ctx.textAlign = "right";
    for (const y of ticks(y0, y1, logY)) { ctx.fillText(lab(y, logY), L - 4, py(y) + 4); ctx.strokeStyle = th.grid; ctx.beginPath(); ctx.moveTo(L + 1, py(y)); ctx.lineTo(W - R - 1, py(y)); ctx.stroke(); }
    ctx.save(); ctx.translate(12, (T + H - B) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText(label + (logY ? " (log)" : ""), 0, 0); ctx.restore();
    for (const [s, text] of model.get("events")) {
      const x = px(tx(s)); if (x < L || x > W - R) continue;
      ctx.strokeStyle = th.axis; ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, H - B); ctx.stroke(); ctx.setLineDash([]);
      ctx.save(); ctx.translate(x + 3, T + 4); ctx.rotate(Math.PI / 2); ctx.textAlign = "left"; ctx.fillStyle = th.muted; ctx.fillText(showToken(text), 0, 0); ctx.restore();
    }
    ctx.save(); ctx.beginPath(); ctx.rect(L, T, W - L - R, H - B - T); ctx.clip();
    for (const n of names) {
      const arr = cols.get(n), colr = CATEGORICAL[[...cols.keys()].indexOf(n) % CATEGORICAL.length];
      ctx.strokeStyle = colr; ctx.lineWidth = 1.6; ctx.setLineDash(/test|val/i.test(n) ? [6, 3] : []); ctx.beginPath();
      let on = false;
      arr.forEach((v, i) => {
        if (!Number.isFinite(v)) return;  // missing here (a series logged less often): join its points across the gap
        if ((logY && v <= 0) || (logX && steps[i] <= 0)) { on = false; return; }
        const X = px(tx(steps[i])), Y = py(ty(v));
        if (on) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); on = true;
      });
      ctx.stroke();
    }
    ctx.restore();
    // the plot in words, for readers who cannot see it
    const last = (arr) => { for (let j = arr.length - 1; j >= 0; j--) if (Number.isFinite(arr[j])) return [arr[j], steps[j]]; return [NaN, NaN]; };
    const lines = names.map((n) => {
      const arr = cols.get(n), [v, s] = last(arr), acc = label.startsWith("accuracy");
      const extreme = arr.reduce((m, x) => (!Number.isFinite(x) ? m : !Number.isFinite(m) ? x : acc ? Math.max(m, x) : Math.min(m, x)), NaN);
      return `${n} ${fmt(v, 4)} at step ${s} (${acc ? "highest" : "lowest"} ${fmt(extreme, 4)})`;
    });
    const marks = model.get("events").map(([s, text]) => `“${showToken(text)}” at step ${s}`);
    canvas.setAttribute("aria-label", `${label} over ${steps.length} points${logY ? ", log scale" : ""}: ${lines.join("; ") || "no data yet"}` +
      (marks.length ? `. Events: ${marks.join(", ")}` : ""));
  }
  function draw() {
    title.textContent = model.get("title");
    const names = [...cols.keys()], acc = names.filter(isAcc), loss = names.filter((n) => !isAcc(n));
    panel(lossC, loss, model.get("log_y"), "loss");
    accC.style.display = acc.length ? "" : "none";
    if (acc.length) panel(accC, acc, false, acc.some((n) => /share/i.test(n)) ? "accuracy, share" : "accuracy");
    legend.replaceChildren();
    names.forEach((n, i) => {
      const item = h("span", "cw-tc-item"), sw = h("span", "cw-tc-swatch");
      sw.style.background = CATEGORICAL[i % CATEGORICAL.length];
      const arr = cols.get(n); let last = NaN; for (let j = arr.length - 1; j >= 0; j--) if (Number.isFinite(arr[j])) { last = arr[j]; break; }
      item.append(sw, h("span", "cw-tc-name", n), h("span", "cw-muted", ` ${fmt(last, 4)}`));
      legend.append(item);
    });
    showStatus();
  }
  function showStatus() {
    const st = model.get("status"), paused = model.get("paused");
    pause.textContent = paused ? "Resume" : "Pause";
    pause.disabled = stop.disabled = model.get("should_stop") || st === "done" || st === "stopped";
    status.textContent = `${st}${model.get("should_stop") && st === "running" ? " (stopping…)" : ""} · ${steps.length} points${steps.length ? ", last step " + steps[steps.length - 1] : ""}`;
  }
  pause.addEventListener("click", () => { model.set("paused", !model.get("paused")); model.save_changes(); showStatus(); });
  stop.addEventListener("click", () => { model.set("should_stop", true); model.set("paused", false); model.save_changes(); showStatus(); });
  const ev = "change:data change:n_points change:series";
  model.on(ev, fromSnapshot); model.on("msg:custom", onMsg);
  model.on("change:title change:log_x change:log_y change:events", schedule);
  model.on("change:status change:paused change:should_stop", showStatus);
  const stopWatching = onThemeChange(schedule);
  fromSnapshot();
  return () => {
    stopWatching();
    model.off(ev, fromSnapshot); model.off("msg:custom", onMsg);
    model.off("change:title change:log_x change:log_y change:events", schedule);
    model.off("change:status change:paused change:should_stop", showStatus);
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  };
}

export default { render };
