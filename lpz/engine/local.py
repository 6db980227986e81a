"""The local transport (`lpz run`): the engine's work in a process pool on this machine.

Cells run in a pool of processes (one per core by default), each as soon as the engine says its
neighbourhood is ready. Ctrl-C lets the cells in flight commit and stops
before starting more, so `lpz run --resume ID` carries on exactly where it stopped; a second Ctrl-C
aborts at once, which is safe too: a cell without its commit marker is simply computed again. SIGTERM
(`kill`, a scheduler's stop) aborts at once like the second Ctrl-C, the pool's processes with it:
left alone they would train on, orphaned, and hold their core or GPU. On Linux they also end when the
parent is killed outright (SIGKILL).
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable, Iterator

from lpz.devices import worker_device
from lpz.engine import engine
from lpz.errors import Portable, UserError
from lpz.records import CellMetrics, MixtureResult
from lpz.runs import DamagedCheckpoint, Run
from lpz.store import open_store

log = logging.getLogger("lpz")


class Interrupted(Portable):
    def __init__(self, run_id: str, generation: int):
        self.run_id, self.generation = run_id, generation
        super().__init__(f"stopped during generation {generation}; resume with: lpz run --resume {run_id}")


class Terminated(KeyboardInterrupt):
    """SIGTERM: abort as a second Ctrl-C does."""


def _terminate(signum, frame):
    raise Terminated


class _StopFlag:
    """The first Ctrl-C asks to stop at the next cell boundary; the second aborts."""

    def __init__(self, on_first: Callable[[], None] | None):
        self.requested = False
        self.on_first = on_first

    def __call__(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.on_first:
            self.on_first()


@contextmanager
def _stop_on_signals(on_first) -> Iterator[_StopFlag]:
    flag = _StopFlag(on_first)
    try:
        previous = {signal.SIGINT: signal.signal(signal.SIGINT, flag),
                    signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)}
    except ValueError:  # not the main thread: no signal handling
        yield flag
        return
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _pool_process_setup():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when pool processes stop
    _end_with_parent()


def _end_with_parent():
    """On Linux, have the kernel kill this process when its parent dies even uncatchably (SIGKILL, the
    OOM killer): the pool's processes must not train on, orphaned."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _job(store_url: str, run_id: str, generation: int, cell: int) -> tuple[int, CellMetrics]:
    return cell, engine.run_cell(Run.open(open_store(store_url), run_id), generation, cell, cell_device(cell))


def cell_device(cell: int) -> str:
    """Where a cell trains on this machine: LPZ_DEVICE, else GPU cell mod the GPUs, else the CPU."""
    return worker_device(cell)


def default_workers(config) -> int:
    """One process per core, at most one per cell; one for fused cells (it trains them all)."""
    return 1 if config.fused else max(1, min(os.cpu_count() or 1, config.rows * config.cols))


def run_local(run: Run, workers: int | None = None, order: str = "forward",
              on_cell: Callable[[int, int, CellMetrics], None] | None = None,
              on_stop_requested: Callable[[], None] | None = None) -> MixtureResult:
    """Train the run to its last generation and assemble its result; return the result.

    A cell starts its next generation as soon as its neighbourhood has committed the one before (the
    engine's `ahead`; the laggards go first). on_cell(generation, cell, metrics) is called as each cell
    commits. order "reverse" takes the cells of a generation last to first (the result is the same).
    """
    if run.config.fused:
        if workers not in (None, 1):
            raise UserError(f"run {run.id} has general.fused_cells: one process trains all its cells together; "
                            f"leave out --workers (or use 1)")
        workers = 1
    workers = workers or default_workers(run.config)
    pool = None
    if workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_pool_process_setup)
    try:
        with _stop_on_signals(on_stop_requested) as stop:
            if (control := run.control()) and not run.finished():
                if run.executor == "cluster":
                    raise UserError(f"run {run.id} was {control.state} on the cluster; `lpz resume {run.id}` "
                                    f"sends it again")
                log.warning("run %s was %s%s; continuing", run.id, control.state,
                            f" ({control.error})" if control.error else "")
                run.clear_control()  # resuming a local run is what lifts its cancel or failure
            for generation, cell, metrics in _run_cells(pool, workers, run, order, stop):
                if on_cell:
                    on_cell(generation + 1, cell, metrics)
            if stop.requested:
                raise Interrupted(run.id, run.last_complete_generation() + 1)
            return engine.finish(run, cell_device(0))
    except KeyboardInterrupt:  # the second Ctrl-C or SIGTERM: abort the cells in flight too
        for process in multiprocessing.active_children():
            process.terminate()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _ready(run: Run) -> set[tuple[int, int]]:
    """(generation, cell): the cells that may compute generation+1 now, from the store (two listings):
    the missing cells of the first incomplete generation, and those that may go ahead into the next."""
    work = engine.due(run)
    if work.kind != "cells":
        return set()
    return {(work.generation, c) for c in work.cells} | \
        {(work.generation + 1, c) for c in engine.ahead(run, work.generation + 1)}


def _run_cells(pool, workers: int, run: Run, order: str, stop: _StopFlag):
    """Compute cells as they become ready, up to `workers` at once, the laggards first; yield (generation,
    cell, metrics) as each commits. What is ready is read from the store once; after that each commit
    says what it made ready (engine.committed), and the commits are counted here in memory. No new cell starts once a stop
    is requested."""
    running: dict[Future, tuple[int, int]] = {}
    pending = _ready(run)
    seen = run.committed_cells()  # generation -> the cells committed, kept up to date here
    first = (lambda p: (p[0], -p[1])) if order == "reverse" else (lambda p: p)
    while True:
        if not pending and not running and not stop.requested:
            pending = _ready(run)  # the end, by the commits' account: the store has the last word
        ready = sorted(pending - set(running.values()), key=first)
        finished, damaged = [], False
        if pool is None:
            if not ready or stop.requested:
                return
            generation, cell = ready[0]
            pending.discard((generation, cell))
            try:
                finished = [(generation, cell, engine.run_cell(run, generation, cell, cell_device(cell)))]
            except DamagedCheckpoint as damage:
                damaged = _uncommitted(run, damage)
            if finished and run.config.fused:  # that committed the whole generation
                finished += [(generation, c, run.metrics(generation + 1, c)) for c in run.grid.cells if c != cell]
                pending -= {(generation, c) for c in run.grid.cells}
        else:
            free = 0 if stop.requested else workers - len(running)
            for generation, cell in ready[:free]:
                running[pool.submit(_job, run.store.url, run.id, generation, cell)] = generation, cell
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                generation, cell = running.pop(future)
                pending.discard((generation, cell))
                try:
                    finished.append((generation, cell, future.result()[1]))
                except DamagedCheckpoint as damage:
                    damaged = _uncommitted(run, damage)
        for generation, cell, metrics in finished:
            seen.setdefault(generation + 1, set()).add(cell)
            work = engine.committed(run, generation + 1, cell, len(seen[generation + 1]))  # prunes when complete
            pending |= {(generation + 1, c) for c in work.cells} if work.kind == "cells" else set()
            yield generation, cell, metrics
        if damaged:  # what is committed changed behind the counts: read it all again
            pending, seen = _ready(run), run.committed_cells()


def _uncommitted(run: Run, damage: DamagedCheckpoint) -> bool:
    """A cell met damage deeper than it repairs by itself (lpz.engine.work.REPAIR_DEPTH): what it met is
    uncommitted, and the engine computes it again from the generations that are sound, as it would
    any cell-generation that is due."""
    log.warning("run %s: %s; computing generation %d of cell %d again", run.id, damage, damage.generation,
                damage.cell)
    run.uncommit(damage.generation, damage.cell)
    return True
