// The page of `stylize serve`: plain JavaScript over the HTTP API (docs/api/openapi.yaml), nothing else.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { photo: null, examples: new Set(), job: null, source: null, points: [], defaults: null };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.error ?? `${response.status} ${response.statusText}`);
  return body;
}

function kind() { return document.querySelector("input[name=kind]:checked").value; }
function activeFieldset() { return document.querySelector(`fieldset[data-kind=${kind()}]`); }

function showKind() {
  for (const fieldset of document.querySelectorAll("fieldset[data-kind]")) fieldset.hidden = fieldset.dataset.kind !== kind();
}

// The controls show the library's defaults (GET /api/defaults).
async function loadDefaults() {
  state.defaults = await api("/api/defaults");
  const fieldset = document.querySelector("fieldset[data-kind=transfer]");
  for (const [name, value] of Object.entries(state.defaults.transfer)) {
    const input = fieldset.querySelector(`[name="${name}"]`);
    if (input) input.value = value;
  }
}

async function loadExamples() {
  const examples = await api("/api/examples");
  const list = $("#examples");
  list.replaceChildren();
  for (const example of examples) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "option");
    button.setAttribute("aria-selected", "false");
    button.dataset.name = example.name;
    const image = document.createElement("img");
    image.src = example.url;
    image.alt = example.name;
    const caption = document.createElement("span");
    caption.textContent = example.name;
    button.append(image, caption);
    button.addEventListener("click", () => {
      const selected = !state.examples.has(example.name);
      selected ? state.examples.add(example.name) : state.examples.delete(example.name);
      button.setAttribute("aria-selected", String(selected));
    });
    list.append(button);
  }
  // A first style picked, so that a photo and Start are all it takes.
  const first = list.querySelector("button[data-name=starry-night]") ?? list.querySelector("button");
  first?.click();
}

async function loadModels() {
  const models = await api("/api/models");
  const fill = (select, items, describe) => {
    select.replaceChildren(...items.map((item) => new Option(describe(item), item.name)));
  };
  fill($("#style-models"), models.style, (m) => m.name);
  fill($("#upscalers"), models.upscalers, (m) => `${m.name} (x${m.scale}, ${m.loss} loss)`);
}

function setPhoto(file) {
  if (!file) return;
  state.photo = file;
  const thumb = $("#content-thumb");
  thumb.src = URL.createObjectURL(file);
  thumb.hidden = false;
  $("#drop-text").hidden = true;
}

function setupDrop() {
  const drop = $("#drop");
  $("#content").addEventListener("change", (event) => setPhoto(event.target.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    setPhoto(event.dataTransfer.files[0]);
  });
}

// POST /api/jobs: the photo, the styles, and the active fieldset's settings, named like the command line's options.
async function submit(event) {
  event.preventDefault();
  const error = $("#form-error");
  error.textContent = "";
  if (!state.photo) { error.textContent = "Choose a photo first."; return; }
  const form = new FormData();
  form.append("kind", kind());
  form.append("content", state.photo, "photo");
  const fieldset = activeFieldset();
  for (const input of fieldset.querySelectorAll("input[name], select[name]")) {
    if (input.type === "checkbox") { if (input.checked) form.append(input.name, "on"); }
    else if (input.value !== "") form.append(input.name, input.value);
  }
  if (kind() === "transfer") {
    for (const file of $("#style-files").files) form.append("style", file, "style");
    for (const name of state.examples) form.append("style", name);
  }
  const modelFile = { apply: $("#model-file"), upscale: $("#upscaler-file") }[kind()]?.files[0];
  if (modelFile) {
    form.delete("model");
    form.append("model", modelFile, "model");
  }
  $("#start").disabled = true;
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    watch(job.id);
    refresh();
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    $("#start").disabled = false;
  }
}

// One job on the stage: its image, progress and losses, live from GET /api/jobs/{id}/events.
function watch(id) {
  state.source?.close();
  state.job = id;
  state.points = [];
  drawPlot();
  $("#job-view").hidden = false;
  $("#download").hidden = true;
  $("#cancel").hidden = false;
  $("#live").removeAttribute("src");
  const source = new EventSource(`/api/jobs/${id}/events`);
  state.source = source;
  source.addEventListener("state", (event) => showState(JSON.parse(event.data)));
  source.addEventListener("status", (event) => { $("#job-status").textContent = JSON.parse(event.data).status; });
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    setProgress(p.done, p.total, "running");
    if (p.loss === undefined) return;  // an upscale's tiles: nothing to plot
    state.points.push(p);
    drawPlot();
  });
  source.addEventListener("preview", (event) => {
    $("#live").src = `/api/jobs/${id}/preview?at=${JSON.parse(event.data).done}`;
  });
  source.addEventListener("end", (event) => {
    const end = JSON.parse(event.data);
    source.close();
    finished(id, end.status, end.error);
    refresh();
  });
}

function showState(job) {
  $("#job-title").textContent = describe(job);
  $("#losses").hidden = job.kind !== "transfer";  // only a painting has losses to plot
  setProgress(job.progress.done, job.progress.total, job.status + (job.position ? ` (${ordinal(job.position)} in the queue)` : ""));
  if (job.result) $("#live").src = `/api/jobs/${job.id}/result`;
  else if (job.preview) $("#live").src = `/api/jobs/${job.id}/preview?at=${job.progress.done}`;
  if (["done", "failed", "cancelled"].includes(job.status)) finished(job.id, job.status, job.error);
}

function finished(id, status, error) {
  $("#job-status").textContent = status + (error ? `: ${error}` : "");
  $("#cancel").hidden = true;
  if (status === "done" || status === "cancelled") {
    const url = `/api/jobs/${id}/result`;
    $("#live").src = `${url}?final=1`;
    const link = $("#download");
    link.href = url;
    link.setAttribute("download", `stylize-${id.slice(0, 8)}.png`);
    link.hidden = false;
  }
}

function setProgress(done, total, status) {
  const bar = $("#job-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  $("#job-status").textContent = `${status} · ${done} / ${total}`;
}

function describe(job) {
  const settings = job.settings ?? {};
  if (job.kind === "transfer") return `Painting, ${settings.size ?? state.defaults?.transfer.size} px`;
  if (job.kind === "apply") return `Applying ${settings.model ?? "an uploaded model"}`;
  const averaged = settings["self-ensemble"] === "on" ? ", averaged over eight turns" : "";
  return `Upscaling with ${settings.model ?? "x" + (settings.scale ?? 4)}${averaged}`;
}

function ordinal(n) { return n + (n === 1 ? "st" : n === 2 ? "nd" : n === 3 ? "rd" : "th"); }

// The losses on a log scale, against the iteration.
function drawPlot() {
  const canvas = $("#plot");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const points = state.points.filter((p) => p.loss > 0);
  if (points.length < 2) return;
  const series = [["loss", "#1d1b19"], ["content", "#2f5d8a"], ["style", "#c4622d"]];
  const values = points.flatMap((p) => series.map(([key]) => p[key])).filter((v) => v > 0).map(Math.log10);
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const first = points[0].done, last = points[points.length - 1].done;
  const left = 56, right = 8, top = 10, bottom = 18;
  const x = (done) => left + (canvas.width - left - right) * (done - first) / Math.max(last - first, 1);
  const y = (value) => canvas.height - bottom - (canvas.height - top - bottom) * (Math.log10(value) - low) / Math.max(high - low, 1e-9);
  context.fillStyle = "#6d665c";
  context.font = "11px system-ui, sans-serif";
  context.fillText(Number(10 ** high).toPrecision(2), 4, top + 8);
  context.fillText(Number(10 ** low).toPrecision(2), 4, canvas.height - bottom);
  context.fillText(`iteration ${first}`, left, canvas.height - 4);
  const end = `${last}`;
  context.fillText(end, canvas.width - right - context.measureText(end).width, canvas.height - 4);
  for (const [key, colour] of series) {
    context.strokeStyle = colour;
    context.lineWidth = 2;
    context.beginPath();
    let drawing = false;
    for (const p of points) {
      if (!(p[key] > 0)) { drawing = false; continue; }  // a zero term (the content's, from the photo) has no log
      drawing ? context.lineTo(x(p.done), y(p[key])) : context.moveTo(x(p.done), y(p[key]));
      drawing = true;
    }
    context.stroke();
  }
}

// The queue and the gallery, from GET /api/jobs.
async function refresh() {
  let jobs;
  try { jobs = await api("/api/jobs"); } catch { return; }
  const waiting = jobs.filter((j) => j.status === "queued" || j.status === "running").reverse();
  $("#queue").replaceChildren(...waiting.map((job) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = describe(job);
    const badge = document.createElement("span");
    badge.className = `badge ${job.status}`;
    badge.textContent = job.status === "queued" ? `#${job.position} waiting` : `${job.progress.done}/${job.progress.total}`;
    item.append(name, badge);
    item.addEventListener("click", () => watch(job.id));
    return item;
  }));
  $("#queue-empty").hidden = waiting.length > 0;
  const results = jobs.filter((j) => j.result);
  $("#gallery").replaceChildren(...results.map((job) => {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.loading = "lazy";
    image.src = `/api/jobs/${job.id}/result`;
    image.alt = describe(job);
    const caption = document.createElement("figcaption");
    caption.textContent = `${describe(job)} · ${job.status} · ${new Date(job.created).toLocaleString()}`;
    figure.append(image, caption);
    figure.addEventListener("click", () => watch(job.id));
    return figure;
  }));
  const failed = jobs.filter((j) => j.status === "failed").length;
  $("#gallery-empty").hidden = results.length > 0;
  $("#gallery-empty").textContent = failed ? `${failed} job(s) failed; finished images appear here.` : "Finished images appear here.";
}

async function cancel() {
  if (!state.job) return;
  try { await api(`/api/jobs/${state.job}`, { method: "DELETE" }); } catch (failure) { $("#job-status").textContent = failure.message; }
  refresh();
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const radio of document.querySelectorAll("input[name=kind]")) radio.addEventListener("change", showKind);
  setupDrop();
  $("#job-form").addEventListener("submit", submit);
  $("#cancel").addEventListener("click", cancel);
  showKind();
  try {
    await Promise.all([loadDefaults(), loadExamples(), loadModels()]);
  } catch (failure) {
    $("#form-error").textContent = failure.message;
  }
  await refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 2000);
});
