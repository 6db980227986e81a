// The cell page: its story over the generations (individuals, learning rates, mixture weights, timing,
// samples), from /api/runs/ID/cells/C, refreshed while the run trains.
"use strict";

const [, , runPart, , cellPart] = location.pathname.split("/");
const runId = decodeURIComponent(runPart), cell = Number(cellPart);
const api = `/api/runs/${encodeURIComponent(runId)}`;
let story = null, pictures = [];

function byIndex(key, pick) {  // one series per individual index
  const lines = [];
  for (const g of story.generations) g[key].forEach((individual, i) => {
    (lines[i] = lines[i] || {name: `${key.slice(0, -1)} ${i}`, points: []}).points.push([g.generation, pick(individual)]);
  });
  return lines;
}

function render() {
  const gens = story.generations, last = gens[gens.length - 1];
  document.getElementById("title").textContent = `Cell ${cell} of ${runId}`;
  document.getElementById("where").textContent = `row ${story.row}, column ${story.col}; neighbourhood ${story.neighbourhood.join(", ")}`;
  const committed = document.getElementById("committed");
  committed.textContent = gens.length; committed.dataset.value = last ? last.generation : 0;
  const score = document.getElementById("score");
  score.textContent = last ? fmt(last.score) : "-"; score.dataset.value = last ? (last.score ?? "") : "";
  document.getElementById("lr").textContent = last ? fmt(Math.min(...last.generators.map(i => i[1]))) : "-";
  lineChart(document.getElementById("g-fitness"), byIndex("generators", i => i[0]), {yLabel: "fitness", legend: true});
  lineChart(document.getElementById("d-fitness"), byIndex("discriminators", i => i[0]), {yLabel: "fitness", legend: true});
  lineChart(document.getElementById("lrs"), [...byIndex("generators", i => i[1]), ...byIndex("discriminators", i => i[1])],
            {yLabel: "learning rate", legend: true});
  const weights = {};  // one series per neighbour cell, named by its number
  for (const g of gens) g.mixture.cells.forEach((c, i) => {
    (weights[c] = weights[c] || {name: `cell ${c}`, points: []}).points.push([g.generation, g.mixture.weights[i]]);
  });
  lineChart(document.getElementById("weights"), Object.values(weights), {yLabel: "weight", legend: true});
  const phases = {};
  for (const g of gens) for (const [phase, seconds] of Object.entries(g.seconds))
    (phases[phase] = phases[phase] || {name: phase, points: []}).points.push([g.generation, seconds]);
  lineChart(document.getElementById("phases"), Object.values(phases), {yLabel: "seconds", legend: true});
  renderOrigins();
  renderPictures();
}

// Per generation, newest first: where each generator and discriminator was trained (cell, generation), its
// fitness and learning rate; a row whose individuals came from another cell is marked.
function renderOrigins() {
  const link = c => el("a", {href: `/run/${encodeURIComponent(runId)}/cell/${c}`}, `cell ${c}`);
  const origins = (kind, individuals) => el("td", {class: `${kind}-origin`, "data-value": JSON.stringify(individuals.map(i => i[2]))},
    ...individuals.flatMap((individual, i) => {
      const [c, g] = individual[2];
      const parts = [i ? "; " : "", c === cell ? `cell ${c}` : link(c), `, generation ${g}`];
      if (c !== cell) parts.push(el("span", {class: "migrated-mark", title: `migrated from cell ${c}`}, " (migrated)"));
      return parts;
    }));
  const numbers = (kind, individuals, at) => el("td", {class: `num ${kind}`}, individuals.map(i => fmt(i[at])).join(", "));
  const rows = story.generations.slice().reverse().map(g => {
    const migrated = [...g.generators, ...g.discriminators].some(i => i[2][0] !== cell);
    return el("tr", {"data-generation": g.generation, class: migrated ? "migrated" : ""},
      el("td", {class: "num"}, String(g.generation)), origins("g", g.generators), origins("d", g.discriminators),
      numbers("g-fitness", g.generators, 0), numbers("d-fitness", g.discriminators, 0),
      numbers("g-lr", g.generators, 1), numbers("d-lr", g.discriminators, 1));
  });
  document.getElementById("origins").replaceChildren(
    el("tr", {}, ...["generation", "generators trained in", "discriminators trained in", "G fitness", "D fitness",
                     "G learning rate", "D learning rate"].map(h => el("th", {}, h))), ...rows);
}

function renderPictures() {
  const slider = document.getElementById("slider");
  if (!pictures.length) { document.getElementById("slider-label").textContent = "no pictures yet"; return; }
  const atEnd = Number(slider.value) >= Number(slider.max);
  slider.max = pictures.length - 1;
  if (atEnd) slider.value = slider.max;
  const g = pictures[Number(slider.value)];
  document.getElementById("slider-label").textContent = `generation ${g}`;
  document.getElementById("pictures").replaceChildren(
    picture(`/files/${encodeURIComponent(runId)}/${g}/${cell}/samples.png`, `generation ${g}`));
}

async function poll() {
  let ended = false;
  try {
    const [fresh, status, samples] = await Promise.all([getJSON(`${api}/cells/${cell}`), getJSON(`${api}/status`),
                                                        getJSON(`${api}/samples`)]);
    story = fresh;
    pictures = Object.entries(samples).filter(([, cells]) => cells.includes(cell)).map(([g]) => Number(g)).sort((a, b) => a - b);
    render();
    ended = ["finished", "failed", "cancelled", "damaged"].includes(status.state);
    document.getElementById("error").textContent = "";
    document.getElementById("updated").textContent = `${status.state}, updated ${new Date().toLocaleTimeString()}`;
  } catch (error) { showError(error); }
  if (!ended) setTimeout(poll, 3000);
}

const link = document.getElementById("run-link");
link.textContent = runId; link.href = `/run/${encodeURIComponent(runId)}`;
document.getElementById("slider").addEventListener("input", renderPictures);
poll();
