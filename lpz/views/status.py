"""Where a run stands, read from the store alone (so it works for any run, local or cluster).

run_status() gathers everything `lpz status` shows, as plain data (`--json` prints it as is):
the state, the score history, each cell of the generation in progress (done, running on which
worker, waiting, failed) with its latest score and learning rates, the time per generation and
an estimate of the time left.
"""
from __future__ import annotations

import statistics
import time

from lpz.engine.engine import standing
from lpz.engine.leases import lapsed
from lpz.records import CellMetrics
from lpz.runs import Run

STATES = ("finished", "failed", "cancelled", "damaged", "running", "stalled")


def run_status(run: Run) -> dict:
    metrics = run.all_metrics()
    size, generations = run.grid.size, run.generations
    complete = 0
    while len(metrics.get(complete + 1, {})) == size:
        complete += 1
    where = standing(run, complete=complete)  # from the metrics cache: no listing of the whole run
    history = [_generation_summary(g, by_cell) for g, by_cell in sorted(metrics.items())]
    return {
        "id": run.id,
        "store": run.store.url,
        "created": run.info["created"],
        "config_file": run.info.get("config_file", ""),
        "executor": run.executor,
        "dataset": run.config.dataloader.dataset_name,
        "network": run.config.network.name,
        "grid": {"rows": run.grid.rows, "cols": run.grid.cols, "cells": size},
        "state": where.state,
        "reason": where.reason,
        "generations": generations,
        "generation": complete,
        "next_generation_cells_done": len(metrics.get(complete + 1, {})),
        "last_commit": max((m.committed_at for c in metrics.values() for m in c.values()), default=None),
        "timing": _timing(metrics, complete, generations, size),
        "history": history,
        "best": _best(history),
        "cells": _cells(run, metrics, complete, run.control(), where.leases),
        "control": run.control(),
        "mixture": where.result,
        "refused": [],  # why workers refused its tasks; the command line fills it in from the broker
    }


def _generation_summary(generation: int, by_cell: dict[int, CellMetrics]) -> dict:
    scored = {c: m.score for c, m in by_cell.items() if m.score is not None}
    best = min(scored, key=scored.get) if scored else None
    return {
        "generation": generation,
        "cells_done": len(by_cell),
        "best_cell": best,
        "best_score": scored.get(best) if best is not None else None,
        "mean_score": statistics.fmean(scored.values()) if scored else None,
        "best_details": by_cell[best].score_details if best is not None else {},
        "committed_at": max(m.committed_at for m in by_cell.values()),
    }


def _best(history: list[dict]) -> dict | None:
    scored = [h for h in history if h["best_score"] is not None]
    if not scored:
        return None
    top = min(scored, key=lambda h: h["best_score"])
    return {"cell": top["best_cell"], "generation": top["generation"], "score": top["best_score"],
            "trend": [h["best_score"] for h in scored[-30:]]}


def generation_seconds(metrics: dict[int, dict[int, CellMetrics]]) -> dict[int, float]:
    """generation -> seconds from the previous generation's last commit (the first's first start) to its own."""
    spans, previous = {}, None
    for g, by_cell in sorted(metrics.items()):
        last = max(m.committed_at for m in by_cell.values())
        if previous is None and g == 1:
            previous = min((m.started_at for m in by_cell.values() if m.started_at is not None), default=None)
        if previous is not None:
            spans[g] = last - previous
        previous = last
    return spans


def _timing(metrics: dict, complete: int, generations: int, size: int) -> dict:
    """Seconds per generation (from the commit times; the last ten complete ones) and the time left."""
    spans = [seconds for g, seconds in sorted(generation_seconds(metrics).items()) if g <= complete]
    per_generation = statistics.fmean(spans[-10:]) if spans else None
    left = None
    if per_generation is not None and complete < generations:
        partial = len(metrics.get(complete + 1, {})) / size
        left = per_generation * (generations - complete - partial)
    return {"seconds_per_generation": per_generation, "seconds_left": left}


def _cells(run: Run, metrics: dict, complete: int, control: dict, leases: dict[int, dict]) -> list[dict]:
    """Each cell: its state in the generation in progress, its worker, its latest score and rates."""
    current = complete + 1
    cells = []
    for c in run.grid.cells:
        latest_g = max((g for g in metrics if c in metrics[g]), default=None)
        latest = metrics[latest_g][c] if latest_g is not None else None
        lease = leases.get(c) if complete < run.generations else None
        if complete >= run.generations or c in metrics.get(current, {}):
            state, worker = "done", None
        elif control.get("state") == "failed" and control.get("cell") == c:
            state, worker = "failed", control.get("worker")
        elif lease is not None:
            state, worker = ("lost" if lapsed(lease) else "running"), lease.get("worker")
        else:
            state, worker = "waiting", None
        cells.append({
            "cell": c, "state": state, "worker": worker,
            "running_for": time.time() - lease["started"] if lease and state == "running" else None,
            "generation": latest_g or 0, "score": latest.score if latest else None,
            "lr_generator": latest.lr_generator if latest else None,
            "lr_discriminator": latest.lr_discriminator if latest else None,
        })
    return cells


def ago(timestamp: float | None) -> str:
    """How long ago a time (seconds since the epoch) was, in words."""
    if not timestamp:
        return "never"
    return f"{duration(time.time() - timestamp)} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
