"""Where a run stands, read from the store alone (so it works for any run, local or cluster)."""
from __future__ import annotations

from datetime import datetime, timezone

from lpz.runs import Run


def run_status(run: Run) -> dict:
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
    last_commit = max((m.get("committed_at", "") for by_cell in metrics.values() for m in by_cell.values()),
                      default="")
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
        "mixture": None,
    }
    if run.finished():
        status["mixture"] = run.store.get_json(run.key("mixture", "mixture.json"))
    return status


def ago(timestamp: str) -> str:
    if not timestamp:
        return "never"
    seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(timestamp)).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
