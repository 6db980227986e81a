// The grid as a torus map: one square per cell, coloured by a quantity; a faded ring of cells around
// it repeats the opposite edges, since every edge wraps. Clicking a cell opens its page.
"use strict";

const STATE_COLOURS = {done: "#9ad39a", running: "#8fb4ef", waiting: "#e4e4e4", lost: "#f1c35a", failed: "#e07070"};

function colourScale(values) {
  const known = values.filter(v => v !== null && Number.isFinite(v));
  const [low, high] = known.length ? [Math.min(...known), Math.max(...known)] : [0, 1];
  const colour = v => {
    if (v === null || !Number.isFinite(v)) return "#f0f0f0";
    const t = high === low ? 0.5 : (v - low) / (high - low);  // low (good for score and loss) is green
    return `hsl(${(1 - t) * 120}, 60%, ${55 + 15 * t}%)`;
  };
  return {colour, low, high};
}

// cells: [{cell, value, label, colour?}] in cell order; onClick(cell)
function drawTorus(container, rows, cols, cells, href) {
  const size = Math.max(14, Math.min(48, Math.floor(420 / (cols + 2))));
  const plot = svg("svg", {width: (cols + 2) * size, height: (rows + 2) * size, id: "torus-map"});
  for (let r = -1; r <= rows; r++) for (let c = -1; c <= cols; c++) {
    const wrapped = ((r + rows) % rows) * cols + ((c + cols) % cols), ghost = r < 0 || c < 0 || r === rows || c === cols;
    const cell = cells[wrapped];
    const link = svg("a", {href: href(wrapped)});
    const square = svg("rect", {x: (c + 1) * size + 1, y: (r + 1) * size + 1, width: size - 2, height: size - 2,
      fill: cell.colour, opacity: ghost ? 0.3 : 1, "data-cell": ghost ? "" : wrapped, class: ghost ? "ghost" : "cell"});
    const title = svg("title"); title.textContent = `cell ${wrapped}: ${cell.label}`;
    square.append(title); link.append(square);
    if (!ghost && size >= 28) {
      const number = svg("text", {x: (c + 1) * size + 4, y: (r + 1) * size + 13, "font-size": 10, fill: "#333", "pointer-events": "none"});
      number.textContent = wrapped; link.append(number);
    }
    plot.append(link);
  }
  container.replaceChildren(plot);
}
