// backprop studio: the page behind `backprop serve`. Plain JavaScript, no libraries: every number
// shown comes from the server's engine (the API in /openapi.json); this file only draws and asks.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with these attributes (and text). */
function svgElement(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/** POSTs `body` (an object as JSON, or a Blob as is) and returns the response, or throws its one-line error. */
async function post(path, body) {
  const isBlob = body instanceof Blob;
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": isBlob ? (body.type || "application/octet-stream") : "application/json" },
    body: isBlob ? body : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response;
}

async function getJSON(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

async function errorMessage(response) {
  try { return (await response.json()).error.message; } catch { return `${response.status} ${response.statusText}`; }
}

/** A number as the sheet shows it: up to 9 significant digits. */
const show = (x) => (Number.isInteger(x) ? String(x) : Number(x.toPrecision(9)).toString());

// ─── Tabs ────────────────────────────────────────────────────────────────────────────────────
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      other.setAttribute("aria-selected", String(other === tab));
      $(other.dataset.tab).hidden = other !== tab;
    }
    if (tab.dataset.tab === "part2") loadCheckpoints();
    if (tab.dataset.tab === "part3") { loadModels(); loadRuns(); }
  });
}

// ─── Part 1: the 2-2-2 network ───────────────────────────────────────────────────────────────
const COURSE_RATES = [0.1, 0.2, 0.5, 0.8, 1, 2];
const part1 = {
  start: null,      // the setting in the form: inputs, targets, weights, biases, lr
  runs: null,       // the server's rows for [η, the course's rates]
  horizon: 100,     // iterations fetched
  step: 0,          // the iteration shown
  selected: 5,      // the weight whose gradient is explained (1…8)
  timer: null,      // the play timer
  request: 0,       // the latest request's number: older answers are dropped
};

/** The form's setting, or throws naming the field that is not a number. */
function readStart() {
  const value = (id) => {
    const text = $(id).value.trim();
    const x = Number(text);
    if (text === "" || !Number.isFinite(x)) throw new Error(`${id.slice(3)}: "${text}" is not a number`);
    return x;
  };
  const lr = value("in-lr");
  if (!(lr > 0)) throw new Error(`η: ${lr} is not positive; expected a learning rate above 0`);
  return {
    inputs: [value("in-i1"), value("in-i2")],
    targets: [value("in-t1"), value("in-t2")],
    weights: [1, 2, 3, 4, 5, 6, 7, 8].map((k) => value(`in-w${k}`)),
    biases: [value("in-bh"), value("in-bo")],
    lr,
  };
}

/** The rates drawn: the page's η first, then the course's six. */
const ratesOf = (start) => [start.lr, ...COURSE_RATES.filter((r) => r !== start.lr)];

async function recompute() {
  let start;
  try { start = readStart(); } catch (error) { $("start-error").textContent = error.message; return; }
  part1.start = start;
  part1.step = 0;
  part1.horizon = 100;
  await fetchRows();
}

async function fetchRows() {
  const number = ++part1.request;
  const body = { ...part1.start, lr: ratesOf(part1.start), iterations: part1.horizon };
  try {
    const answer = await (await post("/api/sheet", body)).json();
    if (number !== part1.request) return;
    part1.runs = answer.runs;
    $("start-error").textContent = "";
    drawPart1();
  } catch (error) {
    if (number === part1.request) $("start-error").textContent = error.message;
  }
}

/** The row shown: iteration `step` at the page's η. */
const currentRow = () => part1.runs[0].rows[part1.step];

async function setStep(step) {
  if (!part1.runs) return;
  part1.step = Math.max(0, step);
  if (part1.step >= part1.horizon && part1.horizon < 5000) {
    part1.horizon = Math.min(5000, part1.horizon * 2);
    await fetchRows();
    return;
  }
  part1.step = Math.min(part1.step, part1.horizon - 1);
  drawPart1();
}

function drawPart1() {
  const row = currentRow();
  $("iteration").textContent = String(part1.step);
  $("e-tot").textContent = show(row.E_tot);
  drawNetwork(row);
  drawLossChart();
  explainSelected();
}

/** The diagram: inputs, hidden and output units with their values, eight weighted edges. */
function drawNetwork(row) {
  const svg = $("network");
  svg.replaceChildren();
  const x = { i: 70, h: 300, o: 530 }, y = [95, 235];
  const units = [
    ["i1", x.i, y[0], row.i1, ""], ["i2", x.i, y[1], row.i2, ""],
    ["h1", x.h, y[0], row.a_h1, `h1 = ${show(row.h1)}`], ["h2", x.h, y[1], row.a_h2, `h2 = ${show(row.h2)}`],
    ["o1", x.o, y[0], row.a_o1, `o1 = ${show(row.o1)}`], ["o2", x.o, y[1], row.a_o2, `o2 = ${show(row.o2)}`],
  ];
  const at = Object.fromEntries(units.map(([name, ux, uy]) => [name, [ux, uy]]));
  // w1: i1→h1, w2: i2→h1, w3: i1→h2, w4: i2→h2, w5: h1→o1, w6: h2→o1, w7: h1→o2, w8: h2→o2.
  const edges = [["i1", "h1"], ["i2", "h1"], ["i1", "h2"], ["i2", "h2"], ["h1", "o1"], ["h2", "o1"], ["h1", "o2"], ["h2", "o2"]];
  edges.forEach(([from, to], index) => {
    const k = index + 1;
    const [x1, y1] = at[from], [x2, y2] = at[to];
    const group = svgElement("g", { class: "edge" + (k === part1.selected ? " selected" : ""), "data-weight": k, id: `edge-w${k}` });
    group.append(svgElement("line", { x1, y1, x2, y2, stroke: "#8a94a3", "stroke-width": 2 }));
    // Labels sit a third of the way along, on alternate sides, so crossing edges stay readable.
    const t = from.endsWith("1") === to.endsWith("1") ? 0.3 : 0.62;
    const lx = x1 + (x2 - x1) * t, ly = y1 + (y2 - y1) * t - 6;
    group.append(svgElement("rect", { x: lx - 42, y: ly - 13, width: 84, height: 18, fill: "#fff", opacity: 0.85 }));
    group.append(svgElement("text", { x: lx, y: ly, "text-anchor": "middle", "font-size": 12 }, `w${k} = ${show(row[`w${k}`])}`));
    group.addEventListener("click", () => { part1.selected = k; drawPart1(); });
    svg.append(group);
  });
  for (const [name, ux, uy, value, note] of units) {
    svg.append(svgElement("circle", { cx: ux, cy: uy, r: 30, fill: name[0] === "i" ? "#e7f5ff" : "#fff", stroke: "#1d2430", "stroke-width": 1.5 }));
    svg.append(svgElement("text", { x: ux, y: uy - 4, "text-anchor": "middle", "font-size": 13, "font-weight": 600 }, name[0] === "i" ? name : `a_${name}`));
    svg.append(svgElement("text", { x: ux, y: uy + 13, "text-anchor": "middle", "font-size": 11 }, show(value)));
    // Pre-activations above the top row and below the bottom one, clear of the edges' labels.
    const noteY = uy === y[0] ? uy - 40 : uy + 48;
    if (note) svg.append(svgElement("text", { x: ux, y: noteY, "text-anchor": "middle", "font-size": 11, fill: "#5c6675" }, note));
  }
  svg.append(svgElement("text", { x: x.o + 36, y: y[0] + 4, "font-size": 11 }, `t1 = ${show(row.t1)}`));
  svg.append(svgElement("text", { x: x.o + 36, y: y[1] + 4, "font-size": 11 }, `t2 = ${show(row.t2)}`));
  svg.append(svgElement("text", { x: 310, y: 318, "text-anchor": "middle", "font-size": 13 },
    `E1 = ${show(row.E1)}   E2 = ${show(row.E2)}   E_tot = ${show(row.E_tot)}`));
}

/** E_tot by iteration on a log scale: the course's rates faint, the page's η bold up to the step. */
function drawLossChart() {
  const svg = $("loss-chart");
  svg.replaceChildren();
  const left = 58, right = 445, top = 22, bottom = 260;
  const runs = part1.runs;
  const values = runs.flatMap((run) => run.rows.map((r) => r.E_tot)).filter((v) => v > 0);
  const low = Math.log10(Math.min(...values)), high = Math.log10(Math.max(...values));
  const span = Math.max(high - low, 1e-9), last = part1.horizon - 1;
  const px = (k) => left + (right - left) * (k / Math.max(last, 1));
  const py = (v) => bottom - (bottom - top) * ((Math.log10(Math.max(v, 1e-300)) - low) / span);
  svg.append(svgElement("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#1d2430" }));
  svg.append(svgElement("line", { x1: left, y1: top, x2: left, y2: bottom, stroke: "#1d2430" }));
  svg.append(svgElement("text", { x: (left + right) / 2, y: 292, "text-anchor": "middle", "font-size": 12 }, "iteration"));
  svg.append(svgElement("text", { x: 12, y: 14, "font-size": 12 }, "E_tot (log scale)"));
  for (const [k, anchor] of [[0, "start"], [last, "end"]]) {
    svg.append(svgElement("text", { x: px(k), y: bottom + 15, "text-anchor": anchor, "font-size": 11 }, String(k)));
  }
  for (const v of [Math.pow(10, high), Math.pow(10, low)]) {
    svg.append(svgElement("text", { x: left - 4, y: py(v) + 4, "text-anchor": "end", "font-size": 10 }, v.toPrecision(2)));
  }
  const colours = ["#d9480f", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#495057"];
  runs.forEach((run, index) => {
    const shown = index === 0 ? run.rows.slice(0, part1.step + 1) : run.rows;
    const points = shown.map((r, k) => `${px(k).toFixed(1)},${py(r.E_tot).toFixed(1)}`).join(" ");
    svg.append(svgElement("polyline", {
      points, fill: "none", stroke: colours[index % colours.length],
      "stroke-width": index === 0 ? 2.5 : 1.2, opacity: index === 0 ? 1 : 0.55, class: index === 0 ? "current" : "rate",
    }));
    svg.append(svgElement("text", { x: right - 4, y: top + 12 + 13 * index, "text-anchor": "end", "font-size": 11,
      fill: colours[index % colours.length] }, index === 0 ? `η = ${show(run.lr)} (this page)` : `η = ${show(run.lr)}`));
  });
  const row = currentRow();
  svg.append(svgElement("circle", { cx: px(part1.step), cy: py(row.E_tot), r: 4, fill: colours[0] }));
}

/** The selected weight's gradient three ways, from the engine's worked explanation. */
async function explainSelected() {
  const number = part1.request, step = part1.step, k = part1.selected;
  try {
    const body = { ...part1.start, lr: part1.start.lr, iterations: step + 1 };
    const answer = await (await post("/api/explain", body)).json();
    if (number !== part1.request || step !== part1.step || k !== part1.selected) return;
    const gradient = answer.sections.flatMap((s) => s.steps).find((s) => s.name === `∂E/∂w${k}`);
    const box = $("gradient");
    box.replaceChildren();
    const title = document.createElement("p");
    title.id = "gradient-title";
    title.innerHTML = `<strong>∂E_tot/∂w${k}</strong> at iteration ${step}, by the chain rule:`;
    const formula = document.createElement("p");
    formula.className = "formula"; formula.id = "gradient-formula"; formula.textContent = `= ${gradient.formula}`;
    const numbers = document.createElement("p");
    numbers.className = "formula"; numbers.id = "gradient-numbers"; numbers.textContent = `= ${gradient.substituted}`;
    const value = document.createElement("p");
    value.className = "value"; value.id = "gradient-value"; value.textContent = `= ${show(gradient.value)}`;
    const update = document.createElement("p");
    update.textContent = `Next: w${k} ← w${k} − η·∂E/∂w${k} = ${show(answer.weights[k - 1])} − ${show(part1.start.lr)}·${show(gradient.value)}`;
    box.append(title, formula, numbers, value, update);
  } catch (error) {
    $("gradient").textContent = error.message;
  }
}

function stopPlaying() {
  clearInterval(part1.timer);
  part1.timer = null;
  $("play").textContent = "▶ Play";
}

$("start").addEventListener("input", () => { stopPlaying(); recompute(); });
$("start").addEventListener("submit", (event) => event.preventDefault());
$("step-forward").addEventListener("click", () => { stopPlaying(); setStep(part1.step + 1); });
$("step-back").addEventListener("click", () => { stopPlaying(); setStep(part1.step - 1); });
$("reset").addEventListener("click", () => { stopPlaying(); setStep(0); });
$("play").addEventListener("click", () => {
  if (part1.timer) { stopPlaying(); return; }
  $("play").textContent = "⏸ Pause";
  part1.timer = setInterval(() => setStep(part1.step + 1), 120);
});

$("download").addEventListener("click", async () => {
  try {
    const body = { ...part1.start, lr: ratesOf(part1.start), iterations: 68 };
    const blob = await (await post("/api/workbook", body)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "backprop.xlsx";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    $("start-error").textContent = error.message;
  }
});

// A learner's workbook: checked cell by cell, each slip named, the wrong cells drawn.
async function checkWorkbook(file) {
  const result = $("check-result");
  result.textContent = `Checking ${file.name}…`;
  const name = encodeURIComponent(file.name);
  try {
    const report = await (await post(`/api/check?name=${name}`, file)).json();
    const picture = await (await post(`/api/check/picture?name=${name}`, file)).blob();
    result.replaceChildren();
    const verdict = document.createElement("p");
    verdict.id = "check-verdict";
    verdict.className = `verdict-${report.verdict}`;
    const cells = report.tables.reduce((n, t) => n + (t.wrong_cells || 0), 0);
    verdict.textContent = report.verdict === "correct"
      ? `${report.file}: every checked cell is right.`
      : `${report.file}: ${report.findings.length} slip${report.findings.length === 1 ? "" : "s"}, ${cells} cell${cells === 1 ? "" : "s"} wrong.`;
    const list = document.createElement("ul");
    list.id = "check-findings";
    for (const finding of report.findings) {
      const item = document.createElement("li");
      item.dataset.cell = finding.first_cell;
      item.textContent = `${finding.first_cell} (${finding.slip}): ${finding.message}`;
      list.append(item);
    }
    const image = document.createElement("img");
    image.id = "check-picture";
    image.alt = "The table's cells: right, where a slip is, wrong because of one";
    image.src = URL.createObjectURL(picture);
    result.append(verdict, list, image);
  } catch (error) {
    result.textContent = error.message;
    result.className = "error";
  }
}

$("check-file").addEventListener("change", (event) => { if (event.target.files[0]) checkWorkbook(event.target.files[0]); });
const drop = $("check-drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) checkWorkbook(event.dataTransfer.files[0]);
});

// ─── Part 2: draw a digit ────────────────────────────────────────────────────────────────────
const pad = $("pad"), ink = pad.getContext("2d");
// `generation` counts clears: an answer for a drawing since cleared is dropped.
const digit = { drawing: false, last: null, pending: false, again: false, againDetails: false, inked: false, generation: 0 };

function clearPad() {
  digit.generation += 1;
  digit.again = false;
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  digit.inked = false;
  $("top-digit").textContent = "–";
  $("bars").replaceChildren();
  $("seen").getContext("2d").clearRect(0, 0, 140, 140);
  $("pushed-box").replaceChildren();
  $("maps").replaceChildren();
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  digit.drawing = true;
  digit.last = padPoint(event);
  stroke(digit.last, digit.last);
});
pad.addEventListener("pointermove", (event) => {
  if (!digit.drawing) return;
  const point = padPoint(event);
  stroke(digit.last, point);
  digit.last = point;
  classify();
});
for (const name of ["pointerup", "pointercancel"]) {
  // At the end of a stroke, also the feature maps and the pixels that pushed the answer.
  pad.addEventListener(name, () => { if (digit.drawing) { digit.drawing = false; classify(true); } });
}

function stroke(from, to) {
  ink.strokeStyle = "#fff";
  ink.lineWidth = 20;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...from);
  ink.lineTo(...to);
  ink.stroke();
  digit.inked = true;
}

/** Sends the pad to the network; while an answer is awaited, at most one more request waits
 *  (with details if either asked for them). */
async function classify(details = false) {
  if (!digit.inked) return;
  if (digit.pending) { digit.again = true; digit.againDetails = digit.againDetails || details; return; }
  digit.pending = true;
  const generation = digit.generation;
  try {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const parameters = new URLSearchParams();
    if ($("checkpoint").value) parameters.set("checkpoint", $("checkpoint").value);
    if (details) parameters.set("details", "1");
    const answer = await (await post(`/api/predict?${parameters}`, png)).json();
    if (generation !== digit.generation) return;
    $("digit-error").textContent = "";
    showPrediction(answer);
    if (details) showInside(answer);
  } catch (error) {
    $("digit-error").textContent = error.message;
  } finally {
    digit.pending = false;
    if (digit.again) {
      const again = digit.againDetails;
      digit.again = false; digit.againDetails = false;
      classify(again);
    }
  }
}

/** A grey (or coloured) picture of `width`×`height` values on a new canvas, `scale` screen pixels each. */
function picture(width, height, scale, colour) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) image.data.set(colour(i), 4 * i);
  context.putImageData(image, 0, 0);
  return canvas;
}

/** Inside the network: which pixels pushed the answer, and every layer's feature maps. */
function showInside(answer) {
  // Red: making the pixel brighter raises the answer's log-probability; blue: lowers it.
  const gradient = answer.input_gradient;
  const largest = Math.max(1e-12, ...gradient.map(Math.abs));
  const pushed = picture(28, 28, 5, (i) => {
    const g = gradient[i] / largest, ink = answer.input[i] * 0.25;
    return g >= 0 ? [ink + 255 * g * 0.75, ink, ink, 255] : [ink, ink, ink - 255 * g * 0.75, 255];
  });
  pushed.id = "pushed";
  $("pushed-box").replaceChildren(pushed);
  const box = $("maps");
  box.replaceChildren();
  for (const layer of answer.layers) {
    const row = document.createElement("div");
    row.className = "layer";
    const title = document.createElement("p");
    title.textContent = `${layer.name}: ${layer.channels} × ${layer.height}×${layer.width}`;
    row.append(title);
    const bytes = Uint8Array.from(atob(layer.maps), (c) => c.charCodeAt(0));
    const size = layer.height * layer.width, scale = Math.max(1, Math.floor(56 / layer.width));
    for (let c = 0; c < layer.channels; c++) {
      row.append(picture(layer.width, layer.height, scale, (i) => {
        const v = bytes[c * size + i];
        return [v, v, v, 255];
      }));
    }
    box.append(row);
  }
}

function showPrediction(answer) {
  $("top-digit").textContent = String(answer.digit);
  const bars = $("bars");
  bars.replaceChildren();
  answer.probabilities.forEach((p, k) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (k === answer.digit ? " top" : "");
    bar.id = `bar-${k}`;
    const label = document.createElement("span");
    label.textContent = String(k);
    const track = document.createElement("div");
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    const percent = document.createElement("span");
    percent.className = "percent";
    percent.textContent = `${(100 * p).toFixed(1)}%`;
    bar.append(label, track, percent);
    bars.append(bar);
  });
  // The 28×28 input, five screen pixels per pixel.
  const seen = $("seen").getContext("2d");
  const image = seen.createImageData(28, 28);
  answer.input.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
  const small = document.createElement("canvas");
  small.width = 28; small.height = 28;
  small.getContext("2d").putImageData(image, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(small, 0, 0, 140, 140);
}

$("clear").addEventListener("click", clearPad);
$("checkpoint").addEventListener("change", () => classify(true));

async function loadCheckpoints() {
  const select = $("checkpoint");
  try {
    const answer = await getJSON("/api/checkpoints");
    const chosen = select.value || answer.default;
    select.replaceChildren();
    for (const c of answer.checkpoints) {
      const option = document.createElement("option");
      option.value = c.id;
      const accuracy = c.test_acc == null ? "" : `, ${c.test_acc.toFixed(2)}%`;
      option.textContent = `${c.id} (${c.model ?? "?"}, ${c.epochs} epochs${accuracy})`;
      option.selected = c.id === chosen;
      select.append(option);
    }
    $("digit-error").textContent = answer.checkpoints.length ? ""
      : "No trained network in the runs folder yet: train one with backprop train --model s6.";
  } catch (error) {
    $("digit-error").textContent = error.message;
  }
}

// ─── Part 3: training ────────────────────────────────────────────────────────────────────────
const training = { id: null, epochs: 1, progress: [], finished: [], source: null };

async function loadModels() {
  const select = $("train-model");
  if (select.options.length) return;
  try {
    const answer = await getJSON("/api/models");
    for (const m of answer.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = `${m.name} (${m.parameters.toLocaleString("en")} parameters)`;
      option.dataset.epochs = m.epochs;
      option.dataset.batch = m.batch_size;
      option.dataset.lr = m.lr;
      option.selected = m.name === "s6";
      select.append(option);
    }
    fillRecipe();
  } catch (error) {
    $("train-error").textContent = error.message;
  }
}

/** The chosen model's own recipe in the form. */
function fillRecipe() {
  const option = $("train-model").selectedOptions[0];
  if (!option) return;
  $("train-epochs").value = option.dataset.epochs;
  $("train-batch").value = option.dataset.batch;
  $("train-lr").value = Number(option.dataset.lr).toPrecision(3).replace(/\.?0+$/, "");
}
$("train-model").addEventListener("change", fillRecipe);

$("train").addEventListener("submit", async (event) => {
  event.preventDefault();
  const whole = (id) => ($(id).value.trim() === "" ? undefined : Number($(id).value));
  const body = {
    model: $("train-model").value, epochs: whole("train-epochs"), batch_size: whole("train-batch"), lr: whole("train-lr"),
    seed: whole("train-seed"), train_limit: whole("train-limit"), test_limit: whole("train-test-limit"),
  };
  try {
    const answer = await (await post("/api/runs", body)).json();
    $("train-error").textContent = "";
    watch(answer.id, answer.epochs);
  } catch (error) {
    $("train-error").textContent = error.message;
  }
});

$("train-stop").addEventListener("click", async () => {
  try { await post(`/api/runs/${encodeURIComponent(training.id)}/stop`, {}); }
  catch (error) { $("train-error").textContent = error.message; }
});

/** Follows a run's events: the course's lines, progress, and each epoch's point on the curve. */
function watch(id, epochs) {
  if (training.source) training.source.close();
  Object.assign(training, { id, epochs, progress: [], finished: [] });
  $("live").hidden = false;
  $("live-wrong").hidden = true;
  $("live-title").textContent = `Training ${id}`;
  $("train-stop").disabled = false;
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  training.source = source;
  // The server sends every event from the start of the run: after a reconnection, start over.
  source.addEventListener("open", () => {
    training.progress = []; training.finished = []; $("live-lines").textContent = ""; drawLive();
  });
  source.addEventListener("line", (event) => {
    const lines = $("live-lines");
    lines.textContent += JSON.parse(event.data).text + "\n";
    lines.scrollTop = lines.scrollHeight;
  });
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    const done = p.epoch - 1 + p.batch / p.batches;
    if (Number.isFinite(Number(p.loss))) training.progress.push({ x: done, loss: Number(p.loss) });
    $("live-progress").value = done / training.epochs;
    $("live-status").textContent = `epoch ${p.epoch}, batch ${p.batch} of ${p.batches}: loss ${Number(p.loss).toFixed(4)}, accuracy ${Number(p.accuracy).toFixed(2)}%`;
    drawLive();
  });
  source.addEventListener("epoch", (event) => {
    const metrics = JSON.parse(event.data);
    metrics.test_acc = Number(metrics.test_acc);
    if (Number.isFinite(metrics.test_acc)) training.finished.push(metrics);
    $("live-misclassified").src = `/api/runs/${encodeURIComponent(id)}/misclassified.svg?epoch=${metrics.epoch}`;
    $("live-wrong").hidden = false;
    drawLive();
    loadRuns();
  });
  for (const kind of ["end", "stopped", "failed"]) {
    source.addEventListener(kind, (event) => {
      $("live-status").textContent = JSON.parse(event.data).message;
      if (kind === "failed") $("train-error").textContent = JSON.parse(event.data).message;
      source.close();
      training.source = null;
      $("train-stop").disabled = true;
      loadRuns();
    });
  }
}

/** Running training loss (line) and each finished epoch's test accuracy (points). */
function drawLive() {
  const svg = $("live-curve");
  svg.replaceChildren();
  const left = 50, right = 410, top = 15, bottom = 180;
  const px = (x) => left + (right - left) * (x / Math.max(training.epochs, 1));
  const losses = training.progress.map((p) => p.loss);
  const highest = Math.max(0.1, ...losses);
  const pyLoss = (v) => bottom - (bottom - top) * (v / highest);
  const accuracies = training.finished.map((m) => m.test_acc);
  const low = Math.min(90, ...accuracies);
  const pyAcc = (a) => bottom - (bottom - top) * ((a - low) / (100 - low));
  svg.append(svgElement("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#1d2430" }));
  svg.append(svgElement("line", { x1: left, y1: top, x2: left, y2: bottom, stroke: "#1c7ed6" }));
  svg.append(svgElement("line", { x1: right, y1: top, x2: right, y2: bottom, stroke: "#d9480f" }));
  svg.append(svgElement("text", { x: (left + right) / 2, y: 210, "text-anchor": "middle", "font-size": 12 }, "epoch"));
  svg.append(svgElement("text", { x: left - 4, y: top + 4, "text-anchor": "end", "font-size": 10, fill: "#1c7ed6" }, highest.toFixed(2)));
  svg.append(svgElement("text", { x: left - 4, y: bottom, "text-anchor": "end", "font-size": 10, fill: "#1c7ed6" }, "0"));
  svg.append(svgElement("text", { x: left, y: 10, "font-size": 10, fill: "#1c7ed6" }, "training loss"));
  svg.append(svgElement("text", { x: right + 4, y: top + 4, "font-size": 10, fill: "#d9480f" }, "100%"));
  svg.append(svgElement("text", { x: right + 4, y: bottom, "font-size": 10, fill: "#d9480f" }, `${low.toFixed(1)}%`));
  svg.append(svgElement("text", { x: right, y: 10, "text-anchor": "end", "font-size": 10, fill: "#d9480f" }, "test accuracy"));
  for (let e = 0; e <= training.epochs; e++) {
    svg.append(svgElement("text", { x: px(e), y: bottom + 14, "text-anchor": "middle", "font-size": 10 }, String(e)));
  }
  if (losses.length) {
    svg.append(svgElement("polyline", {
      points: training.progress.map((p) => `${px(p.x).toFixed(1)},${pyLoss(p.loss).toFixed(1)}`).join(" "),
      fill: "none", stroke: "#1c7ed6", "stroke-width": 1.5,
    }));
  }
  training.finished.forEach((m) => {
    svg.append(svgElement("circle", { cx: px(m.epoch), cy: pyAcc(m.test_acc), r: 4, fill: "#d9480f", class: "epoch-point" }));
    svg.append(svgElement("text", { x: px(m.epoch) - 6, y: pyAcc(m.test_acc) - 8, "text-anchor": "end", "font-size": 10,
      fill: "#d9480f" }, `${m.test_acc.toFixed(2)}%`));
  });
}

// ─── Part 3: every run in the runs folder ────────────────────────────────────────────────────
async function loadRuns() {
  const box = $("runs");
  try {
    const answer = await getJSON("/api/runs");
    box.replaceChildren();
    if (!answer.runs.length) box.textContent = "No runs yet.";
    for (const run of answer.runs) box.append(runCard(run));
  } catch (error) {
    box.textContent = error.message;
  }
}

/** A run: its name, model, command, and test accuracy by epoch. */
function runCard(run) {
  const card = document.createElement("article");
  card.className = "run";
  card.dataset.run = run.id;
  const title = document.createElement("h3");
  const best = run.metrics.length ? Math.max(...run.metrics.map((m) => m.test_acc)) : null;
  title.textContent = `${run.id} · ${run.model ?? "?"} · ${run.metrics.length} epoch${run.metrics.length === 1 ? "" : "s"}`
    + (best == null ? "" : ` · best ${best.toFixed(2)}%`);
  card.append(title);
  if (run.command) {
    const command = document.createElement("code");
    command.textContent = run.command;
    card.append(command);
  }
  if (run.has_checkpoint && !run.id.includes("/")) {
    const resume = document.createElement("button");
    resume.textContent = "Resume";
    resume.title = "Continue this run from its last finished epoch";
    resume.addEventListener("click", async () => {
      try {
        const answer = await (await post(`/api/runs/${encodeURIComponent(run.id)}/resume`, {})).json();
        $("train-error").textContent = "";
        watch(answer.id, answer.epochs);
      } catch (error) {
        $("train-error").textContent = error.message;
      }
    });
    card.append(" ", resume);
  }
  if (run.metrics.length) {
    const svg = svgElement("svg", { viewBox: "0 0 320 150", role: "img", "aria-label": "test accuracy by epoch" });
    const accuracies = run.metrics.map((m) => m.test_acc);
    const low = Math.min(...accuracies, 99), high = 100;
    const px = (k) => 40 + 270 * (run.metrics.length === 1 ? 0.5 : k / (run.metrics.length - 1));
    const py = (a) => 130 - 115 * ((a - low) / (high - low));
    svg.append(svgElement("line", { x1: 40, y1: 130, x2: 310, y2: 130, stroke: "#1d2430" }));
    svg.append(svgElement("line", { x1: 40, y1: 15, x2: 40, y2: 130, stroke: "#1d2430" }));
    svg.append(svgElement("line", { x1: 40, y1: py(99.4), x2: 310, y2: py(99.4), stroke: "#c92a2a", "stroke-dasharray": "4 3" }));
    svg.append(svgElement("text", { x: 36, y: py(99.4) + 4, "text-anchor": "end", "font-size": 10, fill: "#c92a2a" }, "99.4"));
    svg.append(svgElement("text", { x: 36, y: 134, "text-anchor": "end", "font-size": 10 }, low.toFixed(1)));
    svg.append(svgElement("polyline", {
      points: accuracies.map((a, k) => `${px(k).toFixed(1)},${py(a).toFixed(1)}`).join(" "),
      fill: "none", stroke: "#1c7ed6", "stroke-width": 2,
    }));
    accuracies.forEach((a, k) => svg.append(svgElement("circle", { cx: px(k), cy: py(a), r: 2.5, fill: "#1c7ed6" })));
    card.append(svg);
  }
  return card;
}

setInterval(() => { if (!$("part3").hidden) loadRuns(); }, 5000);

// ─── Start ───────────────────────────────────────────────────────────────────────────────────
clearPad();
recompute();
