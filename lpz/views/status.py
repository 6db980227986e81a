"""Where a run stands, read from the store alone (so it works for any run, local or cluster).

run_status() gathers everything `lpz status` shows as a RunStatus (`--json` prints its to_json, which
the dashboard reads too): the state, the score history, each cell of the generation in progress (done,
running on which worker, waiting, failed) with its latest score and learning rates, the time per
generation and an estimate of the time left.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from lpz.engine.engine import standing
from lpz.engine.leases import lapsed
from lpz.records import CellMetrics, ControlRecord, LeaseRecord, Measures, MixtureResult, Refusal
from lpz.runs import Run

STATES = ("finished", "failed", "cancelled", "damaged", "running", "stalled")
State = Literal["finished", "failed", "cancelled", "damaged", "running", "stalled"]


class Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class StatusGrid(Part):
    rows: int
    cols: int
    cells: int


class Timing(Part):
    seconds_per_generation: Optional[float]  # over the last ten complete generations
    seconds_left: Optional[float]


class GenerationSummary(Part):
    generation: int
    cells_done: int
    best_cell: Optional[int]
    best_score: Optional[float]
    mean_score: Optional[float]
    best_details: Measures
    committed_at: float


class Best(Part):
    """The best cell-generation so far, and the best score of each of the last 30 generations."""
    cell: int
    generation: int
    score: float
    trend: list[float]


class CellStatus(Part):
    cell: int
    state: Literal["done", "running", "waiting", "lost", "failed"]
    worker: Optional[str]
    running_for: Optional[float]
    generation: int  # of its latest commit
    score: Optional[float]
    lr_generator: Optional[float]
    lr_discriminator: Optional[float]


class RunStatus(Part):
    """Everything `lpz status` shows; `to_json` is what `--json` prints and the dashboard reads."""
    id: str
    store: str
    created: str
    config_file: str
    executor: str
    dataset: str
    network: str
    grid: StatusGrid
    state: State
    reason: str
    generations: int
    generation: int                  # the last complete one
    next_generation_cells_done: int
    last_commit: Optional[float]
    timing: Timing
    history: list[GenerationSummary]
    best: Optional[Best]
    cells: list[CellStatus]
    control: Optional[ControlRecord]
    mixture: Optional[MixtureResult]
    refused: list[Refusal] = []      # why workers refused its tasks; the command line fills it in from the broker
    platforms: list[str] = []        # what computed its cell-generations (lpz.devices.platform), as recorded
    warnings: list[str] = []

    def to_json(self) -> dict:
        """Plain data; control and mixture as their records are in the store (no control record: {})."""
        plain = self.model_dump(mode="python", exclude={"control", "mixture", "refused"})
        return {**plain, "control": _as_stored(self.control) if self.control else {},
                "mixture": _as_stored(self.mixture) if self.mixture else None,
                "refused": [refusal.to_json() for refusal in self.refused]}


def json_ready(value):
    """value with every NaN and infinity as None: JSON has neither (Python writes Infinity, which jq and
    browsers refuse). A diverged generator's mixture scores infinity (lpz.scoring.frechet)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def _as_stored(record) -> dict:
    """A record as the store holds it, read back: JSON with its keys sorted (lpz.store.base.put_json)."""
    return json.loads(json.dumps(record.to_json(), sort_keys=True))


def run_status(run: Run) -> RunStatus:
    metrics = run.all_metrics()
    size, generations = run.grid.size, run.generations
    complete = run.last_complete_generation(metrics)
    where = standing(run, complete=complete)  # from the metrics cache: no listing of the whole run
    history = [_generation_summary(g, by_cell) for g, by_cell in sorted(metrics.items())]
    control = run.control()
    return RunStatus(
        id=run.id,
        store=run.store.url,
        created=run.info.created,
        config_file=run.info.config_file,
        executor=run.executor,
        dataset=run.config.dataloader.dataset_name,
        network=run.config.network.name,
        grid=StatusGrid(rows=run.grid.rows, cols=run.grid.cols, cells=size),
        state=where.state,
        reason=where.reason,
        generations=generations,
        generation=complete,
        next_generation_cells_done=len(metrics.get(complete + 1, {})),
        last_commit=max((m.committed_at for c in metrics.values() for m in c.values()), default=None),
        timing=_timing(metrics, complete, generations, size),
        history=history,
        best=_best(history),
        cells=_cells(run, metrics, complete, control, where.leases),
        control=control,
        mixture=where.result,
        platforms=(platforms := _platforms(metrics)),
        warnings=_warnings(metrics, platforms),
    )


def _warnings(metrics: dict[int, dict[int, CellMetrics]], platforms: list[str]) -> list[str]:
    warnings = [MIXED_PLATFORMS.format(count=len(platforms))] if len(platforms) > 1 else []
    latest = metrics[max(metrics)] if metrics else {}
    if diverged := sorted(c for c, m in latest.items() if m.score is not None and not math.isfinite(m.score)):
        warnings.append(DIVERGED.format(cells=", ".join(map(str, diverged)), generation=max(metrics)))
    return warnings


MIXED_PLATFORMS = ("its cells were computed on {count} different platforms (see platforms): the same config "
                   "and seed give the same bytes only on one, so this run's bytes are not reproducible")


DIVERGED = ("the mixtures of cells {cells} score infinitely far from the data at generation {generation}: a "
            "generator in them makes samples that are not finite numbers (its training diverged); a lower "
            "trainer.params.default_adam_learning_rate avoids it")


def _platforms(metrics: dict[int, dict[int, CellMetrics]]) -> list[str]:
    return sorted({m.platform for by_cell in metrics.values() for m in by_cell.values() if m.platform})


def _generation_summary(generation: int, by_cell: dict[int, CellMetrics]) -> GenerationSummary:
    scored = {c: m.score for c, m in by_cell.items() if m.score is not None}
    best = min(scored, key=scored.get) if scored else None
    return GenerationSummary(
        generation=generation,
        cells_done=len(by_cell),
        best_cell=best,
        best_score=scored.get(best) if best is not None else None,
        mean_score=statistics.fmean(scored.values()) if scored else None,
        best_details=by_cell[best].score_details if best is not None else {},
        committed_at=max(m.committed_at for m in by_cell.values()),
    )


def _best(history: list[GenerationSummary]) -> Best | None:
    scored = [h for h in history if h.best_score is not None]
    if not scored:
        return None
    top = min(scored, key=lambda h: h.best_score)
    return Best(cell=top.best_cell, generation=top.generation, score=top.best_score,
                trend=[h.best_score for h in scored[-30:]])


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


def _timing(metrics: dict, complete: int, generations: int, size: int) -> Timing:
    """Seconds per generation (from the commit times; the last ten complete ones) and the time left."""
    spans = [seconds for g, seconds in sorted(generation_seconds(metrics).items()) if g <= complete]
    per_generation = statistics.fmean(spans[-10:]) if spans else None
    left = None
    if per_generation is not None and complete < generations:
        partial = len(metrics.get(complete + 1, {})) / size
        left = per_generation * (generations - complete - partial)
    return Timing(seconds_per_generation=per_generation, seconds_left=left)


def _cells(run: Run, metrics: dict, complete: int, control: ControlRecord | None,
           leases: dict[int, LeaseRecord]) -> list[CellStatus]:
    """Each cell: its state in the generation in progress, its worker, its latest score and rates."""
    current = complete + 1
    cells = []
    for c in run.grid.cells:
        latest_g = max((g for g in metrics if c in metrics[g]), default=None)
        latest = metrics[latest_g][c] if latest_g is not None else None
        lease = leases.get(c) if complete < run.generations else None
        if complete >= run.generations or c in metrics.get(current, {}):
            state, worker = "done", None
        elif control and control.state == "failed" and control.cell == c:
            state, worker = "failed", control.worker
        elif lease is not None:
            state, worker = ("lost" if lapsed(lease) else "running"), lease.worker
        else:
            state, worker = "waiting", None
        cells.append(CellStatus(
            cell=c, state=state, worker=worker,
            running_for=time.time() - lease.started if lease and state == "running" else None,
            generation=latest_g or 0, score=latest.score if latest else None,
            lr_generator=latest.lr_generator if latest else None,
            lr_discriminator=latest.lr_discriminator if latest else None,
        ))
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
