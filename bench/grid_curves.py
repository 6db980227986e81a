"""The per-generation curves of kept MNIST runs (and of runs in a store), side by side in windows of
10 generations: the mean FID and TVD of the best cell's mixture as each run scored it (1,000 samples).
For docs/grid-scaling.md: how fast each scheme learns, where the curves cross.

    python bench/grid_curves.py 2x2=bench/results/mnist-200/2x2-seed1 3x3=path/to/store:run-id ...

A kept result is a folder with summary.json (bench/quality_mnist.py --keep-results); a run in a store is
STORE:RUN_ID (read while it trains: the generations every cell has committed)."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WINDOW = 10


def curve(source: str) -> dict[int, tuple[float, float]]:
    if ":" in source:
        from lpz.runs import Run
        from lpz.store import LocalStore
        folder, run_id = source.rsplit(":", 1)
        run = Run.open(LocalStore(folder), run_id)
        rows = {}
        for generation, cells in sorted(run.all_metrics().items()):
            if len(cells) == run.grid.size:
                best = min(cells.values(), key=lambda m: m.score)
                rows[generation] = (best.score, best.score_details["tvd"])
        return rows
    summary = json.loads((Path(source) / "summary.json").read_text())
    return {r["generation"]: (r["fid"], r["tvd"]) for r in summary["per_generation"]}


def main() -> None:
    named = [arg.split("=", 1) for arg in sys.argv[1:]]
    curves = {name: curve(source) for name, source in named}
    last = max(max(c) for c in curves.values())
    print("| generations | " + " | ".join(curves) + " |")
    print("|---|" + "---|" * len(curves))
    for start in range(1, last + 1, WINDOW):
        cells = []
        for c in curves.values():
            window = [c[g] for g in range(start, start + WINDOW) if g in c]
            cells.append(f"{statistics.fmean(f for f, _ in window):.0f} / {statistics.fmean(t for _, t in window):.3f}"
                         if len(window) == WINDOW else "")
        print(f"| {start}-{start + WINDOW - 1} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
