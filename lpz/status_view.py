"""Rich renderings of a run's status (lpz status, --watch, submit --wait)."""
from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lpz.status import ago


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def details(d: dict) -> str:
    parts = []
    if "modes_covered" in d:
        parts.append(f"{d['modes_covered']}/{d['modes']} modes, {100 * d['high_quality']:.0f}% high-quality")
    if "tvd" in d:
        parts.append(f"TVD {d['tvd']:.3f}")
    return ", ".join(parts)


def headline(info: dict) -> Text:
    grid = info["grid"]
    text = Text.assemble((info["id"], "bold"), f"  {info['dataset']} / {info['network']}, "
                         f"{grid['rows']}x{grid['cols']} grid, created {info['created']}")
    return text


def state_line(info: dict) -> Text:
    state, grid = info["state"], info["grid"]
    progress = f"{info['generation']}/{info['generations']} generations"
    if state == "finished":
        m = info["mixture"]
        extra = details(m.get("details", {}))
        return Text.assemble(("finished", "green"), f": {progress}; mixture of cell {m['best_cell']} scores "
                             f"{fmt(m['score'])}" + (f"; {extra}" if extra else ""))
    if state == "failed":
        c = info["control"]
        return Text.assemble(("failed", "red"), f" at generation {c.get('generation')} cell {c.get('cell')} "
                             f"on {c.get('worker')}: {c.get('error')}  (lpz resume {info['id']} to retry)")
    if state == "cancelled":
        return Text.assemble(("cancelled", "yellow"), f" after {progress}  (lpz resume {info['id']} continues it)")
    return Text.assemble(("in progress", "yellow"), f": {progress} complete, "
                         f"{info['next_generation_cells_done']}/{grid['cells']} cells of the next; "
                         f"last commit {ago(info['last_commit'])}")


def cluster_line(info: dict) -> Text | None:
    cluster = info.get("cluster") or {}
    if info["state"] != "incomplete" or not (cluster.get("running") or cluster.get("lapsed")):
        return None
    now = time.time()
    held = [f"cell {e['cell']} on {e['worker']} ({now - e['started']:.0f} s)" for e in cluster["running"]]
    dead = [f"cell {e['cell']} (lease of {e['worker']} lapsed)" for e in cluster["lapsed"]]
    waiting = f"; waiting: {', '.join(map(str, cluster['waiting']))}" if cluster["waiting"] else ""
    return Text(f"generation {cluster['generation']}: running {', '.join(held + dead)}{waiting}")


def history_table(info: dict, rows: int = 12) -> Table:
    table = Table("generation", "cells", "best cell", "best score", "mean score", "details", box=None)
    history = info["history"]
    shown = history if len(history) <= rows else history[:2] + [None] + history[-(rows - 3):]
    for row in shown:
        if row is None:
            table.add_row("...", "", "", "", "", "")
            continue
        table.add_row(str(row["generation"]), f"{row['cells_done']}/{info['grid']['cells']}", fmt(row["best_cell"]),
                      fmt(row["best_score"]), fmt(row["mean_score"]), details(row["best_details"]))
    return table


def render(info: dict) -> Group:
    parts = [headline(info), state_line(info)]
    cluster = cluster_line(info)
    if cluster is not None:
        parts.append(cluster)
    if info["history"]:
        parts.append(history_table(info))
    return Group(*parts)
