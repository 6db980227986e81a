// Shared by the dashboard's pages: fetching, formatting, the token and an SVG line chart with hover values.
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("lpz-token", params.get("token"));

async function getJSON(url) {
  const response = await fetch(url, {cache: "no-store"});
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function act(runId, action) {
  const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/${action}`,
    {method: "POST", headers: {"X-LPZ-Token": sessionStorage.getItem("lpz-token") || ""}});
  return `${response.status}: ${response.ok ? (await response.json()).done : await response.text()}`;
}

function fmt(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = String(error.message || error);
}

// A sample picture, shown large enough to read (dashboard.css) and a link to itself at full size.
function picture(src, alt) {
  return el("a", {href: src, target: "_blank", rel: "noopener", title: "open at full size"},
            el("img", {src, alt, loading: "lazy"}));
}

// A round step for about count labels from lo to hi: 1, 2 or 5 times a power of ten (integers: at least 1).
function tickStep(lo, hi, count, integers = false) {
  const raw = (hi - lo) / Math.max(1, count - 1), power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw * 0.999);
  return integers ? Math.max(1, Math.round(step)) : step;
}

// The multiples of step from lo to hi: an axis's labels.
function ticks(lo, hi, step) {
  const out = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

const PALETTE = ["#4a7fd6", "#d65a4a", "#3a9a5a", "#c48a1a", "#8a4ad6", "#1a9ac4", "#c44a9a", "#6a6a6a"];

// series: [{name, points: [[x, y], ...], width, color}]. Hover: the nearest point of any series.
// legend: the keys shown under the chart, [{name, color, width}], or true for one per series; by default one per
// series when there are several.
function lineChart(container, series, {width = 560, height = 260, yLabel = "", legend} = {}) {
  container.replaceChildren();
  container.classList.add("chart");
  const points = series.flatMap(s => s.points.filter(p => p[1] !== null && Number.isFinite(p[1])));
  if (!points.length) { container.append(el("p", {class: "muted"}, "nothing yet")); return; }
  const pad = {l: 62, r: 12, t: 24, b: 26};
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1; if (y0 === y1) { const d = Math.abs(y0) / 10 || 1; y0 -= d; y1 += d; }
  // The y axis widened to round values, labelled at five or so of them with faint lines across; the x axis
  // (generations) at round whole numbers within the data.
  const yStep = tickStep(y0, y1, 5);
  y0 = Math.floor(y0 / yStep + 1e-9) * yStep; y1 = Math.ceil(y1 / yStep - 1e-9) * yStep;
  const X = x => pad.l + (x - x0) / (x1 - x0) * (width - pad.l - pad.r);
  const Y = y => height - pad.b - (y - y0) / (y1 - y0) * (height - pad.t - pad.b);
  const plot = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`});
  const shown = v => String(Number(v.toPrecision(6)));
  for (const value of ticks(y0, y1, yStep)) {
    plot.append(svg("line", {x1: pad.l, x2: width - pad.r, y1: Y(value), y2: Y(value), stroke: "#f0f0f0"}));
    const label = svg("text", {class: "tick-y", x: 4, y: Y(value) + 4, "font-size": 11, fill: "#666"});
    label.textContent = shown(value); plot.append(label);
  }
  const whole = xs.every(Number.isInteger);
  for (const value of ticks(x0, x1, tickStep(x0, x1, Math.max(2, Math.floor((width - pad.l - pad.r) / 80)), whole))) {
    const label = svg("text", {class: "tick-x", x: X(value), y: height - 8, "font-size": 11, fill: "#666",
                               "text-anchor": "middle"});
    label.textContent = shown(value); plot.append(label);
  }
  const axisLabel = svg("text", {x: pad.l, y: 14, "font-size": 11, fill: "#666"}); axisLabel.textContent = yLabel; plot.append(axisLabel);
  series.forEach((s, i) => { s.color = s.color || PALETTE[i % PALETTE.length]; });
  series.forEach((s, i) => {
    const kept = s.points.filter(p => p[1] !== null && Number.isFinite(p[1]));
    plot.append(svg("polyline", {fill: "none", stroke: s.color || PALETTE[i % PALETTE.length], "stroke-width": s.width || 1,
      points: kept.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ")}));
  });
  const dot = svg("circle", {r: 3.5, fill: "#000", visibility: "hidden"});
  plot.append(dot);
  const tip = el("div", {class: "tip"});
  plot.addEventListener("mousemove", event => {
    const box = plot.getBoundingClientRect(), mx = event.clientX - box.left, my = event.clientY - box.top;
    let best = null;
    for (const s of series) for (const p of s.points) {
      if (p[1] === null || !Number.isFinite(p[1])) continue;
      const d = (X(p[0]) - mx) ** 2 + (Y(p[1]) - my) ** 2;
      if (!best || d < best.d) best = {d, s, p};
    }
    if (!best) return;
    dot.setAttribute("cx", X(best.p[0])); dot.setAttribute("cy", Y(best.p[1])); dot.setAttribute("visibility", "visible");
    tip.textContent = `${best.s.name}: generation ${best.p[0]}, ${fmt(best.p[1])}`;
    tip.style.left = `${X(best.p[0]) + 8}px`; tip.style.top = `${Y(best.p[1]) - 24}px`; tip.style.display = "block";
  });
  plot.addEventListener("mouseleave", () => { tip.style.display = "none"; dot.setAttribute("visibility", "hidden"); });
  container.append(plot, tip);
  const keys = legend === true ? series : legend || (series.length > 1 ? series : []);
  if (keys.length) container.append(legendOf(keys));
}

// A line of keys: a short stroke in each series' colour and width, then its name (no inline styles: the CSP forbids them).
function legendOf(keys) {
  return el("div", {class: "legend"}, ...keys.map(k => {
    const swatch = svg("svg", {width: 18, height: 8});
    swatch.append(svg("line", {x1: 0, y1: 4, x2: 18, y2: 4, stroke: k.color, "stroke-width": k.width || 1.5}));
    return el("span", {class: "key"}, swatch, el("span", {class: "name"}, k.name));
  }));
}
