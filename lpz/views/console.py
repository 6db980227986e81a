"""Rich renderings of a run's status: `lpz status`, `--watch` (the same, refreshed in place) and the
end of `lpz submit --wait`."""
from __future__ import annotations

import math

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from lpz.records import Measures, MixtureResult
from lpz.views.printable import printable
from lpz.views.status import RunStatus, ago, duration

CELL_STYLE = {"done": "green", "running": "yellow", "waiting": "dim", "lost": "magenta", "failed": "red"}
SPARKS = "▁▂▃▄▅▆▇█"


def shown(value: str | None) -> str | None:
    """A text of a status printable (lpz.views.printable): run.json, control.json, leases and the broker's
    refusals are untrusted, and tables lay out what is shown, escapes included."""
    return printable(value) if isinstance(value, str) else value


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def count(value) -> str:
    """A count as a count: stores written before records kept them as ints hold 7.0 for 7."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else fmt(value)


def details(d: Measures) -> str:
    """A scorer's further numbers (a name -> number map, lpz.records.Measures) in words."""
    parts = []
    if "modes_covered" in d:
        parts.append(f"{count(d['modes_covered'])}/{count(d['modes'])} modes, {100 * d['high_quality']:.0f}% high-quality")
    if "tvd" in d:
        parts.append(f"TVD {d['tvd']:.3f}")
    return ", ".join(parts)


def sparkline(values: list[float]) -> str:
    """Lower is better, so the line falls as the run improves. A score that is not finite (a diverged
    generator's) is the worst there is: the top bar, the others scaled between themselves."""
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1)) if math.isfinite(v) else -1] for v in values)


def mixture_summary(m: MixtureResult) -> str:
    """A run's result (its mixture.json) in words."""
    where = f"cell {m.best_cell}" if m.best_cell is not None else "the whole grid"
    line = f"mixture of {where}" + (f" scores {fmt(m.score)}" if m.score is not None else " (not scored)")
    if m.scorer == "inception-pool3-random-init":
        line += " (random-init Inception: not comparable with published FIDs)"
    extra = details(m.details)
    return line + (f"; {extra}" if extra else "")


def headline(info: RunStatus) -> Text:
    grid = info.grid
    return Text.assemble((shown(info.id), "bold"), f"  {shown(info.dataset)} / {shown(info.network)}, "
                         f"{grid.rows}x{grid.cols} grid, created {shown(info.created)}")


def state_line(info: RunStatus) -> Text:
    state, grid = info.state, info.grid
    progress = f"{info.generation}/{info.generations} generations"
    if state == "finished":
        return Text.assemble(("finished", "green"), f": {progress}; {shown(mixture_summary(info.mixture))}")
    if state == "failed":
        c = info.control
        return Text.assemble(("failed", "red"), f" at generation {c.generation} cell {c.cell} "
                             f"on {shown(c.worker)}: {shown(c.error)}  (lpz resume {info.id} to retry)")
    if state == "cancelled":
        return Text.assemble(("cancelled", "yellow"), f" after {progress}  (lpz resume {info.id} continues it)")
    if state == "damaged":
        return Text.assemble(("damaged", "red"), f": {progress}; {shown(info.reason)}")
    if info.refused:
        refusal = info.refused[0]
        return Text.assemble(("refused", "red"), f" by {len(info.refused)} worker(s), e.g. {shown(refusal.worker)}: "
                             f"{shown(refusal.reason)}")
    done = (f"{progress} complete, {info.next_generation_cells_done}/{grid.cells} cells of the next; "
            f"last commit {ago(info.last_commit)}")
    if state == "stalled":
        return Text.assemble(("stalled", "red"), f": {done}; {shown(info.reason)}")
    return Text.assemble(("running", "yellow"), f": {done}")


def progress_line(info: RunStatus) -> Table:
    timing = info.timing
    done = info.generation + info.next_generation_cells_done / info.grid.cells
    row = Table.grid(padding=(0, 1))
    row.add_row(Text(f"generation {info.generation}/{info.generations}"),
                ProgressBar(total=info.generations, completed=done, width=30),
                Text(f"{duration(timing.seconds_per_generation)}/generation, "
                     f"{duration(timing.seconds_left)} left" if info.state == "running" else
                     f"{duration(timing.seconds_per_generation)}/generation"))
    return row


def best_line(info: RunStatus) -> Text | None:
    best = info.best
    if not best:
        return None
    return Text.assemble("best cell ", (str(best.cell), "bold"), f" scored {fmt(best.score)} at generation "
                         f"{best.generation}   trend ", (sparkline(best.trend), "cyan"))


def grid_table(info: RunStatus) -> Table:
    """The cells laid out as the grid: state, worker, latest score, learning rates."""
    rows, cols = info.grid.rows, info.grid.cols
    table = Table(show_header=False, show_lines=True, padding=(0, 1))
    for _ in range(cols):
        table.add_column(no_wrap=True)
    cells = info.cells
    for r in range(rows):
        row = []
        for cell in cells[r * cols:(r + 1) * cols]:
            state = cell.state
            where = f" on {shown(cell.worker)}" if cell.worker else ""
            took = f" {duration(cell.running_for)}" if cell.running_for is not None else ""
            row.append(Text.assemble((f"cell {cell.cell}", "bold"), " ", (state + where + took, CELL_STYLE[state]),
                                     f"\nscore {fmt(cell.score)} (gen {cell.generation})"
                                     f"\nlr G {fmt(cell.lr_generator)}  D {fmt(cell.lr_discriminator)}"))
        table.add_row(*row)
    return table


def history_table(info: RunStatus, rows: int = 12) -> Table:
    table = Table("generation", "cells", "best cell", "best score", "mean score", "details", box=None)
    history = info.history
    picked = history if len(history) <= rows else history[:2] + [None] + history[-(rows - 3):]
    for row in picked:
        if row is None:
            table.add_row("...", "", "", "", "", "")
            continue
        table.add_row(str(row.generation), f"{row.cells_done}/{info.grid.cells}", fmt(row.best_cell),
                      fmt(row.best_score), fmt(row.mean_score), shown(details(row.best_details)))
    return table


def render(info: RunStatus, history_rows: int = 12) -> Group:
    parts = [headline(info), state_line(info), progress_line(info)]
    parts += [Text.assemble(("warning", "yellow"), f": {shown(warning)}") for warning in info.warnings]
    if len(info.platforms) > 1:
        parts += [Text(f"  platform: {shown(p)}") for p in info.platforms]
    best = best_line(info)
    if best is not None:
        parts.append(best)
    parts.append(grid_table(info))
    if info.history and history_rows:
        parts.append(history_table(info, history_rows))
    return Group(*parts)
