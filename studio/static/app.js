// music-composer studio: the page. Plain JavaScript, no build step, nothing fetched from outside this server.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { models: [], examples: [], uploads: [], attributes: [], selected: null, tab: null, temperature: 0.5 };

// Every action's form: fields are [kind, name, label, options]. `needs` is the capability a model must list.
const TEMPERATURE = ["range", "temperature", "temperature", { min: 0, max: 2, step: 0.05 }];
const SEED = ["number", "seed", "seed (empty: a new one)", { min: 0, placeholder: "random" }];
const CHORDS = (label) => ["text", "chords", label, { placeholder: "C G Am F", when: (m) => m.chords }];
const ACTIONS = {
  sample: { label: "Sample", needs: "sample", fields: [["number", "count", "how many", { min: 1, max: 32, value: 4 }],
    CHORDS("chords, one per half bar"), TEMPERATURE, SEED] },
  interpolate: { label: "Interpolate", needs: "interpolate", fields: [
    ["midi", "a", "from (A)", { pick: 0 }], ["midi", "b", "to (B)", { pick: 1 }],
    ["number", "count", "points, A and B included", { min: 2, max: 16, value: 5 }], CHORDS("chords (empty: A's)"),
    TEMPERATURE, SEED] },
  variations: { label: "Variations", needs: "variations", fields: [
    ["midi", "song", "song", { pick: 0 }], ["number", "count", "variations", { min: 1, max: 8, value: 3 }], TEMPERATURE, SEED] },
  attribute: { label: "Attributes", needs: "attribute", fields: [
    ["midi", "song", "song", { pick: 0 }], ["attribute", "attribute", "attribute"],
    ["range", "amount", "amount of its vector", { min: -3, max: 3, step: 0.1, value: 1 }],
    ["text", "examples", "examples folder (empty: the bundled melodies)", { placeholder: "bundled melodies" }], TEMPERATURE, SEED] },
  personalise: { label: "Personalise", needs: "encode", fields: [
    ["midis", "songs", "your songs (ctrl-click for several)"], ["text", "name", "name (the run is personalised/NAME)", { value: "mine" }],
    ["number", "steps", "training steps", { min: 1, max: 5000, value: 300 }], SEED] },
  clips: { label: "Audio clips", needs: "clips", fields: [
    ["number", "count", "clips", { min: 1, max: 8, value: 2 }],
    ["number", "seconds", "seconds each", { min: 0.25, max: 60, step: 0.25, value: 5 }],
    ["range", "choice_temperature", "variety (choice temperature)", { min: 0.25, max: 3, step: 0.05, value: 1 }],
    ["number", "generation_noise", "generation noise (empty: the model's)", { min: 0, max: 10, step: 0.1, placeholder: "default" }],
    ["text", "music", "music it learnt from (folder)", { value: "input_music_dataset" }],
    ["text", "cache", "frame cache (folder)", { value: "train_data" }], SEED] },
};

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error("the studio does not answer (was it stopped?)");
  }
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function showError(message) {
  $("#error-text").textContent = message;
  $("#error").hidden = false;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const fmt = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(3));

// ------------------------------------------------------------------------------------------------ models
async function loadState() {
  const s = await api("/api/state");
  Object.assign(state, { models: s.models, examples: s.examples, uploads: s.uploads, attributes: s.attributes,
                         temperature: s.default_temperature });
  $("#workspace").textContent = `workspace ${s.workspace} · commands below run from this folder`;
  renderModels();
  if (state.selected) {
    const again = state.models.find((m) => m.id === state.selected.id);
    if (again) select(again, false);
  }
}

function renderModels() {
  const list = $("#models");
  list.replaceChildren();
  $("#no-models").hidden = state.models.length > 0;
  for (const m of state.models) {
    const usable = m.kind !== "unusable";
    const metric = Object.entries(m.metrics).find(([k]) => k !== "step");
    const li = el("li", { class: `${usable ? "" : "unusable"} ${state.selected && state.selected.id === m.id ? "selected" : ""}`,
                          "data-model": m.id, onclick: () => usable && select(m) },
      el("div", { class: "model-id" }, m.id),
      el("div", { class: "model-sub" },
        el("span", { class: `badge ${m.kind === "audio" ? "audio" : usable ? "" : "bad"}` }, usable ? m.family : "unusable"),
        m.personalised ? el("span", { class: "badge mine" }, "personalised") : null,
        m.chords ? el("span", { class: "badge mine" }, "chords") : null,
        usable ? `${m.config} · step ${m.step ?? "?"}` : m.problem),
      metric ? el("div", { class: "model-sub" }, `${metric[0]} ${fmt(metric[1])}`) : null);
    list.append(li);
  }
}

function select(model, fresh = true) {
  state.selected = model;
  renderModels();
  $("#placeholder").hidden = true;
  $("#model").hidden = false;
  $("#model-name").textContent = model.id;
  $("#model-info").textContent = `${model.family} · ${model.config}${model.description ? ` (${model.description})` : ""} · step ${model.step ?? "?"}`;
  const metrics = Object.entries(model.metrics).filter(([k]) => k !== "step");
  $("#metrics").replaceChildren(...(metrics.length
    ? [el("span", { class: "muted" }, `held out at step ${model.metrics.step}:`),
       ...metrics.map(([k, v]) => el("span", {}, `${k.replace("val/", "")} `, el("b", {}, fmt(v))))]
    : [el("span", { class: "muted" }, "no held-out metrics logged yet")]));
  const tabs = Object.keys(ACTIONS).filter((a) => model.capabilities.includes(ACTIONS[a].needs));
  if (fresh || !tabs.includes(state.tab)) state.tab = tabs[0] || null;
  $("#tabs").replaceChildren(...tabs.map((a) => el("button", { type: "button", "data-tab": a, class: a === state.tab ? "active" : "",
    onclick: () => { state.tab = a; select(model, false); } }, ACTIONS[a].label)));
  if (fresh || !$("#form").dataset.tab || $("#form").dataset.tab !== state.tab) renderForm();
  if (fresh) loadCurves();
}

// ------------------------------------------------------------------------------------------------ curves
let curveRows = [];
async function loadCurves() {
  if (!state.selected) return;
  try {
    curveRows = (await api(`/api/metrics?model=${encodeURIComponent(state.selected.id)}`)).rows;
  } catch (e) { curveRows = []; }
  const names = [...new Set(curveRows.flatMap((r) => Object.keys(r)).filter((k) => /^(train|val)\//.test(k))
                                                          .map((k) => k.replace(/^(train|val)\//, "")))];
  const pick = $("#curve-key");
  const current = pick.value;
  pick.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  pick.value = names.includes(current) ? current : (names.find((n) => n === "loss") || names[0] || "");
  drawCurves();
}

function drawCurves() {
  const key = $("#curve-key").value;
  const series = [["train/" + key, "#3559e0", "training"], ["val/" + key, "#e07b00", "held out"]]
    .map(([name, colour, label]) => ({ colour, label, points: curveRows.filter((r) => name in r).map((r) => [r.step, r[name]]) }))
    .filter((s) => s.points.length);
  const box = $("#curves");
  if (!series.length) { box.replaceChildren(el("p", { class: "muted empty" }, "no training curves logged (metrics.jsonl) yet")); return; }
  const all = series.flatMap((s) => s.points);
  const [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const W = Math.max(box.clientWidth, 320), H = 190, L = 56, R = 12, T = 10, B = 28;
  const sx = (x) => L + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (i / 4) * (y1 - y0);
    add("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#eef0f4" });
    add("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end", "font-size": 11, fill: "#667085" }, fmt(y));
  }
  add("text", { x: L, y: H - 8, "font-size": 11, fill: "#667085" }, `step ${x0}`);
  add("text", { x: W - R, y: H - 8, "font-size": 11, fill: "#667085", "text-anchor": "end" }, `step ${x1}`);
  series.forEach((s, k) => {
    add("polyline", { points: s.points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "), fill: "none", stroke: s.colour,
                      "stroke-width": 2, "vector-effect": "non-scaling-stroke" });
    if (s.points.length <= 30) for (const p of s.points) add("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: s.colour });
    add("text", { x: W / 2 + (k - 0.5) * 110, y: H - 8, "font-size": 11, fill: s.colour, "text-anchor": "middle" }, `— ${s.label}`);
  });
  box.replaceChildren(svg);
}

// ------------------------------------------------------------------------------------------------ forms
function midiChoices() {
  const shortName = (ref) => ref.replace(/^example:/, "bundled: ").replace(/^studio\/uploads\/[0-9a-f]{8}-/, "uploaded: ");
  return [...state.uploads, ...state.examples].map((ref) => el("option", { value: ref }, shortName(ref)));
}

function field([kind, name, label, o = {}]) {
  if (o.when && !o.when(state.selected)) return null;
  if (kind === "midis") {
    const choice = el("select", { name, multiple: "", size: 6, "data-midi": "", "data-list": "" }, midiChoices());
    if (choice.options.length) choice.options[0].selected = true;
    return el("label", { class: "wide" }, label, el("div", { class: "pick" }, choice,
      el("button", { type: "button", onclick: () => upload(choice) }, "Upload MIDI…")));
  }
  if (kind === "midi") {
    const choice = el("select", { name, "data-midi": "" }, midiChoices());
    const options = choice.options;
    if (options.length) choice.selectedIndex = Math.min(state.uploads.length + (o.pick || 0), options.length - 1);
    return el("label", { class: "wide" }, label, el("div", { class: "pick" }, choice,
      el("button", { type: "button", onclick: () => upload(choice) }, "Upload MIDI…")));
  }
  if (kind === "attribute") {
    return el("label", {}, label, el("select", { name }, state.attributes.map((a) => el("option", { value: a }, a.replaceAll("_", " ")))));
  }
  if (kind === "range") {
    const value = name === "temperature" ? state.temperature : o.value;
    const shown = el("span", { class: "range-value" }, fmt(value));
    const input = el("input", { type: "range", name, min: o.min, max: o.max, step: o.step, value,
                                oninput: () => { shown.textContent = fmt(Number(input.value)); } });
    return el("label", {}, el("span", {}, `${label} `, shown), input);
  }
  return el("label", {}, label, el("input", { type: kind, name, min: o.min, max: o.max, step: o.step, value: o.value,
                                              placeholder: o.placeholder }));
}

function renderForm() {
  const form = $("#form");
  const action = state.tab;
  form.dataset.tab = action || "";
  if (!action) { form.replaceChildren(el("p", { class: "muted" }, "This model can do none of the studio's actions.")); return; }
  form.replaceChildren(...ACTIONS[action].fields.map(field).filter(Boolean),
    el("div", { class: "form-foot" }, el("button", { type: "submit", class: "primary", id: "run" }, ACTIONS[action].label),
      el("span", { class: "muted" }, "runs in the background; results appear below with the command that does the same")));
  form.onsubmit = (event) => { event.preventDefault(); submit(action, form); };
}

function upload(choice) {
  const input = $("#upload-file");
  input.value = "";
  input.onchange = async () => {
    const file = input.files[0];
    if (!file) return;
    try {
      const made = await api(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
      if (!state.uploads.includes(made.ref)) state.uploads.unshift(made.ref);
      for (const select of document.querySelectorAll("select[data-midi]")) {
        const keep = [...select.selectedOptions].map((o) => o.value);
        select.replaceChildren(...midiChoices());
        for (const o of select.options) o.selected = select === choice ? (o.value === made.ref || (select.multiple && keep.includes(o.value))) : keep.includes(o.value);
      }
    } catch (e) { showError(e.message); }
  };
  input.click();
}

async function submit(action, form) {
  const params = { model: state.selected.id };
  for (const input of form.querySelectorAll("[name]")) {
    if (input.dataset.list !== undefined) params[input.name] = [...input.selectedOptions].map((o) => o.value);
    else if (input.value !== "") params[input.name] = input.value;
  }
  try {
    const job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify({ action, params }) });
    $("#error").hidden = true;
    track(job);
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------------------------------------------ jobs
function track(job) {
  $("#results-title").hidden = false;
  const card = el("div", { class: "job", "data-job": job.id });
  $("#jobs").prepend(card);
  const poll = async () => {
    try { job = await api(`/api/jobs/${encodeURIComponent(job.id)}`); } catch (e) { job.status = "failed"; job.error = e.message; }
    renderJob(card, job);
    if (job.status === "queued" || job.status === "running") setTimeout(poll, 400);
    else if (job.status === "done" && job.result.model) loadState().catch((e) => showError(e.message));  // a new model
  };
  renderJob(card, job);
  setTimeout(poll, 300);
}

function renderJob(card, job) {
  const active = job.status === "queued" || job.status === "running";
  const copy = el("button", { type: "button", class: "quiet", onclick: () => navigator.clipboard && navigator.clipboard.writeText(job.command) }, "copy");
  const parts = [
    el("div", { class: "job-head" },
      el("span", { class: "job-title" }, ACTIONS[job.action] ? ACTIONS[job.action].label : job.action,
        el("span", { class: "muted" }, `job ${job.id.split("-")[0]}`)),
      el("span", { class: `status ${job.status}` }, job.status)),
    el("div", { class: "command" }, el("span", { class: "prompt mono" }, "$"), el("code", {}, job.command), copy)];
  if (active) {
    const share = job.total ? Math.round((100 * job.done) / job.total) : 0;
    parts.push(el("div", { class: "progress" }, el("div", { class: "bar" }, el("div", { style: `width:${share}%` })),
      el("span", {}, job.stage),
      el("button", { type: "button", class: "quiet", "data-cancel": "", onclick: () => api(`/api/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" }).catch((e) => showError(e.message)) }, "Cancel")));
  }
  if (job.status === "cancelled") parts.push(el("p", { class: "muted" }, job.stage));
  if (job.error) parts.push(el("p", { class: "job-error" }, job.error));
  if (job.result) {
    if (job.result.lines && job.result.lines.length) parts.push(el("pre", { class: "lines" }, job.result.lines.join("\n")));
    if (job.result.items.length) parts.push(el("div", { class: "items" }, job.result.items.map(renderItem)));
    if (job.result.model) parts.push(el("p", {}, el("button", { type: "button", class: "primary", "data-open": job.result.model,
      onclick: () => loadState().then(() => { const m = state.models.find((x) => x.id === job.result.model); if (m) select(m); }) },
      `Open ${job.result.model}`), el("span", { class: "muted" }, "  sample from it like any model")));
  }
  card.replaceChildren(...parts);
}

function renderItem(item) {
  const url = (path) => `/files/${path.split("/").map(encodeURIComponent).join("/")}`;
  const links = [["midi", "MIDI"], ["wav", "WAV"], ["png", "PNG"]].filter(([k]) => item[k])
    .map(([k, label]) => el("a", { href: url(item[k]), download: item[k].split("/").pop() }, `download ${label}`));
  return el("div", { class: "item" }, el("div", { class: "item-title" }, item.title),
    item.png ? el("img", { src: url(item.png), alt: `piano roll or spectrogram of ${item.title}` }) : null,
    item.wav ? el("audio", { controls: "", preload: "metadata", src: url(item.wav) }) : null,
    el("div", { class: "downloads" }, links));
}

// ------------------------------------------------------------------------------------------------ start
$("#error-close").onclick = () => { $("#error").hidden = true; };
$("#refresh").onclick = () => loadState().catch((e) => showError(e.message));
$("#curve-key").onchange = drawCurves;
loadState().catch((e) => showError(e.message));
setInterval(() => { if (state.selected && !document.hidden) loadCurves(); }, 5000);
