// The run page: its status (lpz status --json's, from /api/runs/ID/status) polled every two seconds;
// the per-cell series fetched only for the generations not yet complete, beside the list of pictures.
"use strict";

const runId = decodeURIComponent(location.pathname.split("/")[2]);
const api = `/api/runs/${encodeURIComponent(runId)}`;
const ENDED = ["finished", "failed", "cancelled", "damaged"];
let info = null, status = null, series = {}, held = 0, lastCommit = undefined, samples = {};

function setText(id, text, value) {
  const node = document.getElementById(id);
  node.textContent = text;
  if (value !== undefined) node.dataset.value = value ?? "";
}

function renderStatus() {
  setText("title", `Run ${status.id}`);
  const state = document.getElementById("state");
  state.textContent = status.state; state.className = `state ${status.state}`;
  setText("reason", status.reason || "");
  setText("warnings", (status.warnings || []).map(w => `warning: ${w}: ${(status.platforms || []).join("; ")}`).join(" "));
  setText("generation", `${status.generation}/${status.generations}`, status.generation);
  const size = status.grid.cells, more = status.generation < status.generations;
  for (const node of document.querySelectorAll(".next")) node.hidden = !more;  // every generation done: none next
  document.getElementById("bar").style.width = `${100 * status.next_generation_cells_done / size}%`;
  setText("cells-done", `${status.next_generation_cells_done}/${size} cells`, status.next_generation_cells_done);
  setText("per-generation", duration(status.timing.seconds_per_generation), status.timing.seconds_per_generation);
  setText("time-left", duration(status.timing.seconds_left), status.timing.seconds_left);
  const best = status.best;
  setText("best", best ? `${fmt(best.score)} (cell ${best.cell}, generation ${best.generation})` : "-", best ? best.score : null);
  setText("grid", `${status.grid.rows}x${status.grid.cols}, ${status.dataset}, ${status.network}`);
  renderTorus();
  renderMixture();
}

function renderTorus() {
  const quantity = document.getElementById("colour").value;
  const latest = {};  // cell -> its latest point [score, gloss, lr_g, lr_d, device]
  for (const g of Object.keys(series).map(Number).sort((a, b) => a - b))
    for (const [c, point] of Object.entries(series[g])) latest[c] = point;
  let cells;
  if (quantity === "worker") {
    cells = status.cells.map(c => ({colour: STATE_COLOURS[c.state] || "#ddd",
      label: `${c.state}${c.worker ? ` on ${c.worker}` : ""}${latest[c.cell] && latest[c.cell][4] ? `, ${latest[c.cell][4]}` : ""}`}));
    setText("legend", "green done, blue running, grey waiting, amber lease lost, red failed");
  } else {
    const pick = {score: c => c.score, loss: c => latest[c.cell] ? latest[c.cell][1] : null, lr: c => c.lr_generator}[quantity];
    const values = status.cells.map(pick), scale = colourScale(values);
    cells = status.cells.map((c, i) => ({colour: scale.colour(values[i]), label: `${fmt(values[i])} (generation ${c.generation}, ${c.state})`}));
    setText("legend", `green ${fmt(scale.low)} ... red ${fmt(scale.high)}`);
  }
  drawTorus(document.getElementById("torus"), status.grid.rows, status.grid.cols, cells,
            cell => `/run/${encodeURIComponent(runId)}/cell/${cell}`);
}

function renderScores() {
  const byCell = {};
  for (const g of Object.keys(series).map(Number).sort((a, b) => a - b))
    for (const [c, point] of Object.entries(series[g])) (byCell[c] = byCell[c] || []).push([g, point[0]]);
  const lines = Object.entries(byCell).map(([c, points]) => ({name: `cell ${c}`, points, color: "#b8c8e0"}));
  lines.push({name: "best", points: status.history.map(h => [h.generation, h.best_score]), width: 2.5, color: "#d65a4a"});
  lineChart(document.getElementById("scores"), lines, {width: 900, height: 300, yLabel: "score (lower is better)",
    legend: [{name: "bold: best mixture", color: "#d65a4a", width: 2.5}, {name: "each cell", color: "#b8c8e0"}]});
}

function renderMixture() {
  const box = document.getElementById("mixture");
  if (!status.mixture) return;
  const m = status.mixture;
  box.className = "";
  box.replaceChildren(el("p", {id: "mixture-score", "data-value": m.score ?? ""}, `score ${fmt(m.score)}`),
    el("table", {}, el("tr", {}, el("th", {}, "cell"), el("th", {}, "weight")),
      ...m.cells_mixed.map((c, i) => el("tr", {}, el("td", {}, String(c)), el("td", {class: "num"}, fmt(m.weights[i]))))));
}

function renderPictures() {
  const generations = Object.keys(samples).map(Number).sort((a, b) => a - b);
  const slider = document.getElementById("slider");
  if (!generations.length) { setText("slider-label", "no pictures yet"); return; }
  const atEnd = Number(slider.value) >= Number(slider.max);
  slider.max = generations.length - 1;
  if (atEnd) slider.value = slider.max;
  const g = generations[Number(slider.value)];
  setText("slider-label", `generation ${g}`);
  document.getElementById("pictures").replaceChildren(...samples[g].map(c => el("figure", {},
    picture(`/files/${encodeURIComponent(runId)}/${g}/${c}/samples.png`, `cell ${c}`), el("figcaption", {}, `cell ${c}`))));
}

async function poll() {
  try {
    status = await getJSON(`${api}/status`);
    renderStatus();  // the map and the numbers at once; the curves and pictures as their data come
    if (status.last_commit !== lastCommit) {
      const samplesLoaded = getJSON(`${api}/samples`);  // asked for beside the series, not after them
      const fresh = await getJSON(`${api}/series?after=${held}`);
      Object.assign(series, fresh.generations);
      held = status.generation;
      lastCommit = status.last_commit;
      renderScores();
      renderTorus();  // its generator-loss colouring reads the series
      samples = await samplesLoaded;
      renderPictures();
    }
    document.getElementById("error").textContent = "";
    setText("updated", `updated ${new Date().toLocaleTimeString()}`);
  } catch (error) { showError(error); }
  if (!status || !ENDED.includes(status.state)) setTimeout(poll, 2000);
}

async function start() {
  setText("run-id", runId);
  try {
    info = await getJSON(`${api}/info`);
    document.getElementById("config").textContent = JSON.stringify(info.config, null, 2);
    if (info.actions) {
      document.getElementById("actions").hidden = false;
      for (const action of ["cancel", "resume"])
        document.getElementById(action).addEventListener("click", async () => {
          setText("action-result", await act(runId, action));
          if (ENDED.includes(status.state)) poll();
        });
    }
  } catch (error) { showError(error); }
  document.getElementById("colour").addEventListener("change", () => status && renderTorus());
  document.getElementById("slider").addEventListener("input", renderPictures);
  poll();
}
start();
