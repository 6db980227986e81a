"""The unit of work every executor runs: one cell, one generation, through the store.

train_cell is idempotent: a cell-generation that is already committed is
left as it is, and one that is re-run writes the same checkpoint bytes.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from lpz.algorithm.cell import step
from lpz.data import load_dataset
from lpz.errors import UserError, excerpt
from lpz.runs import DamagedCheckpoint, Run
from lpz.scoring import make_scorer
from lpz.store.base import Store

log = logging.getLogger("lpz")

REPAIR_DEPTH = 2  # how many generations back a damaged checkpoint may be recomputed from


def train_cell(store: Store, run_id: str, generation: int, cell: int, device: str = "cpu", _depth: int = 0) -> dict:
    """Commit generation+1 of a cell, computed from generation on device; return its metrics."""
    run = Run.open(store, run_id)
    check_cell_generation(run, generation, cell)
    if run.committed(generation + 1, cell):
        try:
            return run.metrics(generation + 1, cell)
        except DamagedCheckpoint as damage:
            log.warning("run %s: %s; recomputing generation %d of cell %d", run.id, damage, generation + 1, cell)
            run.uncommit(generation + 1, cell)
    config = run.config
    dataset = run_dataset(run)
    shape = dataset.shape

    started_at = time.time()
    start = time.perf_counter()
    own, neighbours = _read_inputs(run, generation, cell, shape, device, _depth)
    read_seconds = time.perf_counter() - start

    state, metrics, artifacts = step(config, cell, generation, own, neighbours, dataset,
                                     make_scorer(config, dataset, device), device)
    metrics["seconds"]["io"] = read_seconds
    metrics["started_at"] = started_at  # seconds since the epoch: with committed_at, the task's span
    metrics["device"] = device
    run.write_cell(state, metrics, artifacts)
    return run.metrics(generation + 1, cell)


def check_cell_generation(run: Run, generation: int, cell: int) -> None:
    """A cell-generation named in a message (untrusted) must be one of the run's."""
    if type(generation) is not int or not 0 <= generation < run.generations:
        raise UserError(f"run {run.id}: generation {excerpt(generation)} is not one of 0..{run.generations - 1}")
    if type(cell) is not int or cell not in run.grid.cells:
        raise UserError(f"run {run.id}: cell {excerpt(cell)} is not one of the grid's {run.grid.size}")


def run_dataset(run: Run):
    """The run's dataset from this machine's data directory, pulled from the store if it is not there."""
    from lpz.data.sync import PUSHABLE, manifest_key, pull
    loader, seed = run.config.dataloader, run.config.general.seed
    try:
        return load_dataset(loader, seed)
    except UserError:
        if loader.dataset_name not in PUSHABLE or not run.store.exists(manifest_key(loader.dataset_name)):
            raise
    pull(run.store, loader.dataset_name)
    return load_dataset(loader, seed)


def _read_inputs(run: Run, generation: int, cell: int, shape: tuple, device: str, depth: int):
    """The cell's own state and its neighbours' public states; damaged ones are recomputed."""
    hood = run.grid.neighbourhood(cell)
    return repaired(run, lambda: (run.read_state(generation, cell, shape),
                                  {c: run.read_public(generation, c, shape) for c in hood[1:]}),
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
            train_cell(run.store, run.id, damage.generation - 1, damage.cell, device, depth + 1)
    raise RuntimeError(f"run {run.id}: checkpoints stay damaged after recomputing them")
