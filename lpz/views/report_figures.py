"""The pictures of a run report (lpz report): matplotlib figures as PNG bytes.

Every figure is WIDTH pixels wide at DPI, and its height is a whole number of
pixels that depends only on how many panels it holds, so a report's PNGs have
sizes one can state in advance (see FIGURE_HEIGHTS and the tests).
"""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from lpz.records import CellMetrics, MixtureResult  # noqa: E402

DPI = 100
WIDTH = 900
FIGURE_HEIGHTS = {"score.png": 450, "lr.png": 360, "weights.png": 320, "phases.png": 360}
HEATMAP_ROW_HEIGHT = 300     # pixels per row of heat maps
HEATMAPS_PER_ROW = 3
SAMPLE_TILE_HEIGHT = 330     # pixels per row of sample pictures (the picture and its caption)
SAMPLES_PER_ROW = 3
PHASES = ("fitness", "selection", "training", "replacement", "mixture", "io")
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.3, "legend.frameon": False, "figure.facecolor": "white"}

Metrics = dict[int, dict[int, CellMetrics]]  # generation -> cell -> its committed metrics


def _figure(height: int, rows: int = 1, cols: int = 1, layout: str | None = "constrained"):
    return plt.subplots(rows, cols, figsize=(WIDTH / DPI, height / DPI), dpi=DPI, squeeze=False, layout=layout)


def _generation_axis(ax) -> None:
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def _cell_colours(cells: int):
    cmap = plt.get_cmap("tab10" if cells <= 10 else "viridis")
    return [cmap(c if cells <= 10 else c / max(1, cells - 1)) for c in range(cells)]


def _cell_label(cell: int, cells: int) -> str:
    """A cell's legend entry; beyond ten cells a legend would hide the lines it names."""
    return f"cell {cell}" if cells <= 10 else "_nolegend_"


def _marker(points: list) -> str | None:
    """Dots on short lines, so that a single point shows."""
    return "." if len(points) < 30 else None


def _wide_range(values) -> bool:
    """Whether positive values span enough to need a log scale."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 20


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_axis_off()


# ------------------------------------------------------------------ scores

def scores(metrics: Metrics, cells: int, generations: int, final: MixtureResult | None) -> bytes:
    """One line per cell, the best cell of each generation in bold, the final mixture as a star."""
    with plt.rc_context(STYLE):
        fig, axes = _figure(FIGURE_HEIGHTS["score.png"])
        ax = axes[0][0]
        colours = _cell_colours(cells)
        every = []
        for c in range(cells):
            points = [(g, by_cell[c].score) for g, by_cell in sorted(metrics.items())
                      if c in by_cell and by_cell[c].score is not None]
            if points:
                ax.plot(*zip(*points), color=colours[c], lw=1, alpha=0.75, marker=_marker(points),
                        ms=3, label=_cell_label(c, cells))
                every += [s for _, s in points]
        best = [(g, min(m.score for m in by_cell.values() if m.score is not None))
                for g, by_cell in sorted(metrics.items()) if any(m.score is not None for m in by_cell.values())]
        if best:
            ax.plot(*zip(*best), color="black", lw=2.2, marker="o", ms=3, label="best cell")
        if final and final.score is not None:
            ax.plot([generations], [final.score], marker="*", ms=16, color="crimson", ls="none",
                    label=f"final mixture (cell {final.best_cell})")
            every.append(final.score)
        if _wide_range(every):
            ax.set_yscale("log")
        ax.set_xlim(0.5, generations + 0.5)
        _generation_axis(ax)
        ax.set_ylabel("score (lower is better)")
        ax.set_title("Score of each cell's mixture per generation")
        ax.legend(fontsize=8, ncol=2 if cells > 4 else 1, loc="upper right")
        return _png(fig)


# ------------------------------------------------------------------ heat maps

def heatmaps(metrics: Metrics, rows: int, cols: int, chosen: list[int]) -> bytes:
    """The grid's scores as the torus lays them out, one panel per chosen generation, on one colour scale."""
    panel_rows = math.ceil(len(chosen) / HEATMAPS_PER_ROW)
    values = {g: np.full((rows, cols), np.nan) for g in chosen}
    for g in chosen:
        for c, m in metrics.get(g, {}).items():
            if m.score is not None:
                values[g][divmod(c, cols)] = m.score
    known = [v for g in chosen for v in values[g].ravel() if np.isfinite(v)]
    cmap = plt.get_cmap("viridis_r").with_extremes(bad="#e5e7eb")
    if known and _wide_range(known):
        norm = LogNorm(min(known), max(known))
    else:
        low, high = (min(known), max(known)) if known else (0, 1)
        norm = Normalize(low, high if high > low else low + 1e-9)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, axes = _figure(HEATMAP_ROW_HEIGHT * panel_rows, panel_rows, HEATMAPS_PER_ROW)
        image = None
        for i, ax in enumerate(axes.ravel()):
            if i >= len(chosen):
                ax.set_axis_off()
                continue
            g = chosen[i]
            image = ax.imshow(values[g], cmap=cmap, norm=norm)
            ax.set_title(f"generation {g}")
            ax.set_xticks(range(cols))
            ax.set_yticks(range(rows))
            ax.set_xlabel("column")
            if i % HEATMAPS_PER_ROW == 0:
                ax.set_ylabel("row")
            _annotate(ax, values[g], cmap, norm, cols)
        fig.colorbar(image, ax=axes.ravel().tolist(), label="score (lower is better)", shrink=0.9)
        return _png(fig)


def _annotate(ax, values: np.ndarray, cmap, norm, cols: int) -> None:
    rows = values.shape[0]
    if rows * cols > 64:
        return  # the cells are too small to hold text
    size = 8 if rows * cols <= 16 else 6
    for (r, k), v in np.ndenumerate(values):
        cell = r * cols + k
        if np.isfinite(v):
            red, green, blue, _ = cmap(norm(v))
            ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.55 else "white"
            text = f"cell {cell}\n{v:.3g}" if rows * cols <= 36 else str(cell)
        else:
            ink, text = "dimgrey", f"cell {cell}\n-" if rows * cols <= 36 else str(cell)
        ax.text(k, r, text, ha="center", va="center", color=ink, fontsize=size)


# ------------------------------------------------------------------ learning rates

def learning_rates(metrics: Metrics, cells: int) -> bytes:
    """The mean learning rate of each cell's generators and discriminators per generation."""
    with plt.rc_context(STYLE):
        fig, axes = _figure(FIGURE_HEIGHTS["lr.png"], 1, 2)
        colours = _cell_colours(cells)
        for ax, population in zip(axes[0], ("generators", "discriminators")):
            for c in range(cells):
                points = [(g, float(np.mean([i.lr for i in getattr(by_cell[c], population)])))
                          for g, by_cell in sorted(metrics.items()) if c in by_cell]
                if points:
                    ax.plot(*zip(*points), color=colours[c], lw=1.2, marker=_marker(points),
                            label=_cell_label(c, cells))
            ax.set_title(f"{population}: learning rate")
            _generation_axis(ax)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3), useOffset=False)
        axes[0][0].set_ylabel("Adam learning rate (population mean)")
        if cells <= 10:
            axes[0][1].legend(fontsize=8, ncol=2 if cells > 5 else 1, loc="best")
        return _png(fig)


# ------------------------------------------------------------------ mixture weights

def mixture_weights(final: MixtureResult) -> bytes:
    """The final mixture's weight on each cell of the best cell's neighbourhood."""
    with plt.rc_context(STYLE):
        fig, axes = _figure(FIGURE_HEIGHTS["weights.png"])
        ax = axes[0][0]
        cells = next(e.cells for e in final.cells if e.cell == final.best_cell)
        labels = [f"cell {c}" + (" (own)" if c == final.best_cell else "") for c in cells]
        bars = ax.bar(labels, final.weights, color="tab:blue", width=0.6)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_ylim(0, max(final.weights) * 1.2 or 1)
        ax.set_ylabel("weight")
        ax.set_title(f"Final mixture: weights over the neighbourhood of cell {final.best_cell}")
        ax.grid(axis="x", visible=False)
        return _png(fig)


# ------------------------------------------------------------------ timings

def timings(metrics: Metrics, wall: dict[int, float]) -> bytes:
    """Seconds per generation (from the commits) beside the mean seconds per phase of a cell, stacked."""
    with plt.rc_context(STYLE):
        fig, axes = _figure(FIGURE_HEIGHTS["phases.png"], 1, 2)
        left, right = axes[0]
        if wall:
            left.bar(list(wall), list(wall.values()), color="slategray", width=0.7)
            left.set_title("Seconds per generation (commit to commit)")
            _generation_axis(left)
            left.set_ylabel("seconds")
        else:
            _empty(left, "no commit times recorded")
        generations = sorted(metrics)
        bottom = np.zeros(len(generations))
        colours = plt.get_cmap("tab10")
        for i, phase in enumerate(PHASES):
            means = np.array([np.mean([m.seconds.get(phase, 0.0) for m in metrics[g].values()])
                              for g in generations])
            right.bar(generations, means, bottom=bottom, color=colours(i), width=0.7, label=phase)
            bottom += means
        right.set_title("Seconds per phase (mean over cells)")
        _generation_axis(right)
        right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for ax in axes[0]:
            ax.grid(axis="x", visible=False)
        return _png(fig)


# ------------------------------------------------------------------ samples

def sample_sheet(pictures: list[tuple[str, bytes]]) -> bytes:
    """The cells' own sample pictures (PNG bytes), captioned, SAMPLES_PER_ROW to a row."""
    from PIL import Image
    rows = math.ceil(len(pictures) / SAMPLES_PER_ROW)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, axes = _figure(SAMPLE_TILE_HEIGHT * rows, rows, SAMPLES_PER_ROW, layout=None)
        for i, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if i < len(pictures):
                caption, png = pictures[i]
                ax.imshow(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
                ax.set_title(caption, fontsize=9)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 28 / (SAMPLE_TILE_HEIGHT * rows),
                            wspace=0.04, hspace=28 / SAMPLE_TILE_HEIGHT)
        return _png(fig)
