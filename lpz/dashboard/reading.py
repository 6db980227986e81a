"""What the dashboard pages show, read from the store and kept between requests.

One Reader per store holds a Run object per run: Run.all_metrics caches each committed metrics.json,
so a poll of a long run lists and reads only the generations still filling. A status is kept for a
couple of seconds (several pages may poll at once); a finished run's for good.
"""
from __future__ import annotations

import threading
import time

from lpz.errors import UserError
from lpz.records import CellMetrics
from lpz.runs import Run, keys
from lpz.runs.base import MAX_PICTURE_BYTES
from lpz.store.base import Store
from lpz.views.status import RunStatus, run_status

STATUS_SECONDS = 2.0
PNG = b"\x89PNG\r\n\x1a\n"


class Reader:
    def __init__(self, store: Store):
        self.store = store
        self._runs: dict[str, Run] = {}
        self._status: dict[str, tuple[float, RunStatus]] = {}
        self._lock = threading.Lock()  # Run's caches are not made for threads

    def run(self, run_id: str) -> Run:
        """The run (RunNotFound, DamagedRun or a UserError for a malformed id otherwise)."""
        with self._lock:
            if run_id not in self._runs:
                self._runs[run_id] = Run.open(self.store, run_id)
            return self._runs[run_id]

    def status(self, run_id: str) -> RunStatus:
        """lpz.views.status.run_status of the run (its to_json is what `lpz status --json` prints)."""
        run = self.run(run_id)
        with self._lock:
            kept = self._status.get(run_id)
            if kept and (kept[1].state == "finished" or time.monotonic() - kept[0] < STATUS_SECONDS):
                return kept[1]
            status = run_status(run)
            self._status[run_id] = (time.monotonic(), status)
            return status

    def forget(self, run_id: str) -> None:
        """After an action: the next read goes to the store."""
        with self._lock:
            self._status.pop(run_id, None)

    def runs(self) -> list[dict]:
        """A line per run in the store, from its status (a run whose run.json is damaged says so)."""
        lines = []
        for run_id in keys.run_ids(self.store.list("runs/")):
            try:
                status = self.status(run_id)
            except UserError as e:
                lines.append({"id": run_id, "state": "damaged", "reason": str(e)})
                continue
            end = status.last_commit if status.state != "running" else time.time()
            lines.append({
                "id": run_id, "state": status.state, "reason": status.reason,
                "grid": status.grid.model_dump(), "dataset": status.dataset, "network": status.network,
                "executor": status.executor, "generation": status.generation,
                "generations": status.generations, "best_score": status.best.score if status.best else None,
                "created": status.created,
                "duration": (end - self.run(run_id).created) if end else None,
            })
        return lines

    def info(self, run_id: str) -> dict:
        """What does not change while a run trains: its config, grid and the generations with pictures."""
        run = self.run(run_id)
        return {"id": run.id, "config": run.info.config, "config_file": run.info.config_file,
                "grid": {"rows": run.grid.rows, "cols": run.grid.cols, "topology": run.grid.topology,
                         "neighbours": {c: run.grid.neighbourhood(c) for c in run.grid.cells}}}

    def series(self, run_id: str, after: int = 0) -> dict:
        """Per cell and generation after `after`: score, generator loss, learning rates, device."""
        metrics = self._metrics(run_id)
        return {"after": after, "generations": {
            g: {c: _point(m) for c, m in by_cell.items()} for g, by_cell in metrics.items() if g > after}}

    def samples(self, run_id: str) -> dict[int, list[int]]:
        """generation -> the cells that stored a picture of their samples then (one listing)."""
        run = self.run(run_id)
        found: dict[int, list[int]] = {}
        for key in run.store.list(run.key("gen") + "/"):
            parsed = run.cell_file(key)
            if parsed and parsed[2] == "samples.png":
                found.setdefault(parsed[0], []).append(parsed[1])
        return {g: sorted(cells) for g, cells in sorted(found.items())}

    def sample(self, run_id: str, generation: int, cell: int) -> bytes | None:
        """The picture's bytes, when the run has that cell-generation and they are a PNG; else None."""
        run = self.run(run_id)
        if not (1 <= generation <= run.generations and cell in run.grid.cells):
            return None
        key = run.cell_key(generation, cell, "samples.png")
        if not run.store.exists(key):
            return None
        data = run.store.get(key, MAX_PICTURE_BYTES)
        return data if data.startswith(PNG) else None

    def cell(self, run_id: str, cell: int) -> dict | None:
        """A cell's story: per generation its individuals, mixture, losses, score and seconds per phase."""
        run = self.run(run_id)
        if cell not in run.grid.cells:
            return None
        metrics = self._metrics(run_id)
        story = [_story(m[cell]) for g, m in sorted(metrics.items()) if cell in m]
        row, col = run.grid.position(cell)
        return {"cell": cell, "row": row, "col": col, "neighbourhood": run.grid.neighbourhood(cell),
                "generations": story}

    def _metrics(self, run_id: str) -> dict[int, dict[int, CellMetrics]]:
        run = self.run(run_id)
        with self._lock:
            return run.all_metrics()


def _point(m: CellMetrics) -> list:
    return [m.score, m.losses.generator, m.lr_generator, m.lr_discriminator, m.device]


def _story(m: CellMetrics) -> dict:
    individuals = lambda group: [[i.fitness, i.lr, list(i.origin)] for i in group]  # noqa: E731
    return {"generation": m.generation, "score": m.score, "losses": m.losses.model_dump(),
            "generators": individuals(m.generators), "discriminators": individuals(m.discriminators),
            "mixture": m.mixture.model_dump(), "seconds": m.seconds, "device": m.device,
            "committed_at": m.committed_at}
