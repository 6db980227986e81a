"""Where a run stands, read from the store alone (so it works for any run, local or cluster)."""
from __future__ import annotations

import time

from lpz.runs import Run


def run_status(run: Run) -> dict:
    keys = run.store.list(run.key("gen") + "/")
    metrics = run.all_metrics()
    cells = run.grid.size
    complete = 0
    while len(metrics.get(complete + 1, {})) == cells:
        complete += 1
    history = []
    for g, by_cell in sorted(metrics.items()):
        scored = {c: m["score"] for c, m in by_cell.items() if m.get("score") is not None}
        best = min(scored, key=scored.get) if scored else None
        history.append({
            "generation": g,
            "cells_done": len(by_cell),
            "best_cell": best,
            "best_score": scored.get(best) if best is not None else None,
            "mean_score": sum(scored.values()) / len(scored) if scored else None,
            "best_details": by_cell[best].get("score_details", {}) if best is not None else {},
            "seconds": max((sum(m.get("seconds", {}).values()) for m in by_cell.values()), default=0.0),
        })
    last_commit = max((m.get("committed_at", 0.0) for by_cell in metrics.values() for m in by_cell.values()),
                      default=None)
    status = {
        "id": run.id,
        "store": run.store.url,
        "created": run.info["created"],
        "config_file": run.info.get("config_file", ""),
        "dataset": run.config.dataloader.dataset_name,
        "network": run.config.network.name,
        "grid": {"rows": run.grid.rows, "cols": run.grid.cols, "cells": cells},
        "generations": run.generations,
        "generation": complete,
        "next_generation_cells_done": len(metrics.get(complete + 1, {})),
        "last_commit": last_commit,
        "history": history,
        "state": "finished" if run.finished() else "incomplete",
        "control": run.control(),
        "cluster": _cluster(run, keys, complete, set(metrics.get(complete + 1, {}))),
        "mixture": None,
    }
    if status["control"]:
        status["state"] = status["control"]["state"]
    if run.finished():
        status["mixture"] = run.store.get_json(run.key("mixture", "mixture.json"))
    return status


def _cluster(run: Run, keys: list[str], complete: int, committed: set[int]) -> dict:
    """Who holds which cell of the generation in progress (from the leases), and who waits."""
    from lpz.leases import lapsed
    running, lapsed_cells = [], []
    prefix = run.key("gen", complete + 1, "cell") + "/"
    for key in keys:
        if key.startswith(prefix) and key.endswith("/lease.json"):
            cell = int(key[len(prefix):].split("/")[0])
            try:
                lease = run.store.get_json(key)
            except Exception:  # released between the listing and now
                continue
            entry = {"cell": cell, "worker": lease.get("worker"), "started": lease.get("started"),
                     "renewed": lease.get("renewed")}
            (lapsed_cells if lapsed(lease) else running).append(entry)
    held = {e["cell"] for e in running + lapsed_cells}
    waiting = [c for c in run.grid.cells if c not in committed and c not in held] if complete < run.generations else []
    return {"generation": complete + 1, "running": running, "lapsed": lapsed_cells, "waiting": waiting}


def ago(timestamp: float | None) -> str:
    """How long ago a time (seconds since the epoch) was, in words."""
    if not timestamp:
        return "never"
    seconds = time.time() - timestamp
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
