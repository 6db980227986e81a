// The runs page: every run in the store, filtered and sorted here, refreshed every few seconds.
"use strict";

let runs = [], sortKey = "created", descending = true;

function value(run, key) {
  return key === "cells" ? (run.grid ? run.grid.cells : null) : run[key];
}

function render() {
  const text = document.getElementById("filter").value.toLowerCase(), state = document.getElementById("state").value;
  const shown = runs.filter(r => (!state || r.state === state) &&
    [r.id, r.dataset, r.state].some(v => String(v ?? "").toLowerCase().includes(text)));
  shown.sort((a, b) => {
    const [x, y] = [value(a, sortKey), value(b, sortKey)];
    const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
    return descending ? -order : order;
  });
  const rows = shown.map(r => {
    const link = el("a", {href: `/run/${encodeURIComponent(r.id)}`}, r.id);
    const grid = r.grid ? `${r.grid.rows}x${r.grid.cols}` : "-";
    const generation = r.generations ? `${r.generation}/${r.generations}` : "-";
    return el("tr", {"data-run": r.id},
      el("td", {}, link), el("td", {class: "c-state"}, el("span", {class: `state ${r.state}`, title: r.reason || ""}, r.state)),
      el("td", {class: "c-grid"}, grid), el("td", {class: "c-dataset"}, r.dataset || "-"),
      el("td", {class: "num c-generation", "data-value": r.generation ?? ""}, generation),
      el("td", {class: "num c-best", "data-value": r.best_score ?? ""}, fmt(r.best_score)),
      el("td", {class: "c-created"}, r.created ? r.created.slice(0, 16).replace("T", " ") : "-"),
      el("td", {class: "num c-duration"}, duration(r.duration)));
  });
  document.querySelector("#runs tbody").replaceChildren(...rows);
}

async function refresh() {
  try {
    runs = await getJSON("/api/runs");
    document.getElementById("error").textContent = "";
    document.getElementById("updated").textContent = `${runs.length} runs, updated ${new Date().toLocaleTimeString()}`;
    render();
  } catch (error) { showError(error); }
}

document.querySelectorAll("#runs th").forEach(th => th.addEventListener("click", () => {
  descending = sortKey === th.dataset.key ? !descending : false;
  sortKey = th.dataset.key;
  render();
}));
document.getElementById("filter").addEventListener("input", render);
document.getElementById("state").addEventListener("change", render);
refresh();
setInterval(refresh, 3000);
