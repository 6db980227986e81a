"""The unit of work both transports run: one generation of one cell, through the store.

compute_cell is idempotent: a cell-generation already committed is left as it is (unless its
marker is damaged), and one computed again writes the same checkpoint bytes. Its inputs are read
checked (lpz.runs.run); a damaged one is recomputed first, from the generation before it.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from lpz import devices
from lpz.errors import UserError, excerpt
from lpz.records import CellMetrics
from lpz.runs import DamagedCheckpoint, Run

log = logging.getLogger("lpz")

REPAIR_DEPTH = 2  # how many generations back a damaged checkpoint may be recomputed from


def check_cell_generation(run: Run, generation: int, cell: int) -> None:
    """A cell-generation named in a message (untrusted) must be one of the run's."""
    if type(generation) is not int or not 0 <= generation < run.generations:
        raise UserError(f"run {run.id}: generation {excerpt(generation)} is not one of 0..{run.generations - 1}")
    if type(cell) is not int or cell not in run.grid.cells:
        raise UserError(f"run {run.id}: cell {excerpt(cell)} is not one of the grid's {run.grid.size}")


def compute_cell(run: Run, generation: int, cell: int, device: str = "cpu", _depth: int = 0) -> CellMetrics:
    """Commit generation+1 of a cell, computed from generation on device; return its metrics."""
    import torch

    from lpz.algorithm.cell import step
    from lpz.scoring import make_scorer

    check_cell_generation(run, generation, cell)
    if run.config.fused:
        return compute_generation(run, generation, device, _depth)[cell]
    if (done := _sound_commit(run, generation + 1, cell)) is not None:
        return done
    config = run.config
    dataset = run_dataset(run)

    started_at = time.time()
    start = time.perf_counter()
    own, neighbours = _read_inputs(run, generation, cell, device, _depth)
    read_seconds = time.perf_counter() - start

    torch.set_num_threads(config.general.threads)  # part of the result's bytes on CPU
    state, metrics, preview = step(config, cell, generation, own, neighbours, dataset,
                                   make_scorer(config, dataset, device), device)
    return _commit(run, state, metrics, preview, read_seconds, started_at, device)


def compute_generation(run: Run, generation: int, device: str = "cpu", _depth: int = 0) -> dict[int, CellMetrics]:
    """general.fused_cells: commit generation+1 of every cell not yet committed, all cells trained as one
    computation (lpz.algorithm.fused) from the complete generation; return every cell's metrics. The
    whole grid is computed even when some cells are committed, so each cell's bytes never depend on
    which were (a resumed generation gives the same bytes as an uninterrupted one)."""
    import torch

    from lpz.algorithm import fused
    from lpz.scoring import make_scorer

    if run.executor == "cluster":
        raise UserError(f"run {run.id} has general.fused_cells, which only `lpz run` trains; "
                        f"train it with `lpz run`, or submit a config without it")
    cells = run.grid.cells
    missing = [cell for cell in cells if _sound_commit(run, generation + 1, cell) is None]
    if missing:
        config = run.config
        dataset = run_dataset(run)
        started_at = time.time()
        start = time.perf_counter()
        inputs = [(cell, *_read_inputs(run, generation, cell, device, _depth)) for cell in cells]
        read_seconds = (time.perf_counter() - start) / len(cells)
        torch.set_num_threads(config.general.threads)
        results = fused.steps(config, generation, inputs, dataset, make_scorer(config, dataset, device), device)
        for cell, (state, metrics, preview) in zip(cells, results):
            if cell in missing:
                _commit(run, state, metrics, preview, read_seconds, started_at, device)
    return {cell: run.metrics(generation + 1, cell) for cell in cells}


def _sound_commit(run: Run, generation: int, cell: int) -> CellMetrics | None:
    """The metrics of a committed cell-generation; None when it is not committed, or its marker is
    damaged (then it is uncommitted, to be computed again)."""
    if not run.committed(generation, cell):
        return None
    try:
        return run.metrics(generation, cell)
    except DamagedCheckpoint as damage:
        log.warning("run %s: %s; recomputing generation %d of cell %d", run.id, damage, generation, cell)
        run.uncommit(generation, cell)
        return None


def _commit(run: Run, state, metrics: CellMetrics, preview, read_seconds: float, started_at: float,
            device: str) -> CellMetrics:
    """Write a computed cell-generation, its picture drawn from the preview samples, and commit it."""
    picture = None
    if preview is not None:
        from lpz.views.pictures import preview_png
        picture = preview_png(preview, run.config.dataloader.dataset_name)
    metrics = metrics.model_copy(update={"seconds": {**metrics.seconds, "io": read_seconds},
                                         "started_at": started_at, "device": device,
                                         "platform": devices.platform(device)})
    return run.write_cell(state, metrics, picture)


def read_state(run: Run, generation: int, cell: int, public: bool = False):
    """A cell's state (or its public part) at a generation: generation 0 made from the run seed, any
    other read from the store, checked."""
    if generation == 0:
        from lpz.algorithm.cell import initial_state
        return initial_state(run.config, cell, run.sample_shape)
    return run.read_checkpoint(generation, cell, "public.pt" if public else "state.pt", run.sample_shape)


def run_dataset(run: Run):
    """The run's dataset from this machine's data directory, pulled from the store if it is not there."""
    from lpz.data import load_dataset
    from lpz.data.sync import PUSHABLE, pull
    from lpz.runs import keys

    loader, seed = run.config.dataloader, run.config.general.seed
    try:
        return load_dataset(loader, seed)
    except UserError:
        if loader.dataset_name not in PUSHABLE or not run.store.exists(keys.manifest(loader.dataset_name)):
            raise
    pull(run.store, loader.dataset_name)
    return load_dataset(loader, seed)


def _read_inputs(run: Run, generation: int, cell: int, device: str, depth: int):
    """The cell's own state and its neighbours' public states; damaged ones are recomputed."""
    hood = run.grid.neighbourhood(cell)
    return repaired(run, lambda: (read_state(run, generation, cell),
                                  {c: read_state(run, generation, c, public=True) for c in hood[1:]}),
                    device, depth, attempts=len(hood) + 1)


def repaired(run: Run, read: Callable, device: str = "cpu", depth: int = 0, attempts: int = 2):
    """read(), where a damaged checkpoint it meets is first recomputed from the generation before."""
    for _ in range(attempts):
        try:
            return read()
        except DamagedCheckpoint as damage:
            if depth >= REPAIR_DEPTH:
                raise
            log.warning("run %s: %s; recomputing generation %d of cell %d",
                        run.id, damage, damage.generation, damage.cell)
            run.uncommit(damage.generation, damage.cell)
            compute_cell(run, damage.generation - 1, damage.cell, device, depth + 1)
    raise RuntimeError(f"run {run.id}: checkpoints stay damaged after recomputing them")


def final_states(run: Run, device: str = "cpu") -> dict:
    """Every cell's public state at the run's last generation as its result uses it: with
    trainer.params.final_average N, each generator is its mean over the last N generations
    (lpz.algorithm.averaging: the private state holds the sum)."""
    from lpz.algorithm.averaging import as_result, window

    config, last, cells = run.config, run.generations, run.grid.cells
    public = not window(config)
    return repaired(run, lambda: {c: as_result(read_state(run, last, c, public), config) for c in cells},
                    device, attempts=len(cells) + 1)
