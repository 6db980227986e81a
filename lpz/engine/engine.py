"""The engine: what a run needs next, and what happens when a cell commits. One place, both transports.

The store decides progress (docs/design.md section 3): generation g is complete when every cell's
commit marker is there. From that alone, `due` says what a run needs now: the missing cells of its
first incomplete generation, its assembly, or nothing. There is no global barrier: a cell computes
generation g+1 as soon as its neighbourhood has committed g (`ahead`), so a slow cell holds up only
its neighbours. When a cell commits, `committed` says what may start now, and once the cell's
generation is complete it prunes old checkpoints. `run_cell` and `finish` do the work itself, under
a lease, on whichever machine is asked.

The two transports only carry that work: lpz.engine.local runs it in a process pool on this
machine, lpz.engine.cluster sends it as Celery tasks (and supervises what was sent).

`state` says where a run stands for `lpz status` and `lpz list`: finished, failed, cancelled,
damaged, running, or stalled with the reason and the fix.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from lpz.engine.leases import Lease, assembly_lease, cell_lease, lapsed, lease_seconds, read_lease
from lpz.errors import UserError
from lpz.records import CellMetrics, LeaseRecord, MixtureResult
from lpz.runs import DamagedResult, Run

log = logging.getLogger("lpz")
STALL_PERIODS = 6  # a run with no commit and no live lease for this many lease periods is stalled


@dataclass(frozen=True)
class Due:
    """What a run needs now: the cells that compute generation+1 from generation, the assembly, or nothing."""
    kind: Literal["cells", "assemble", "nothing"]
    generation: int = 0
    cells: tuple[int, ...] = ()


def due(run: Run, complete: int | None = None) -> Due:
    """From the store: what the run needs now. complete: its last complete generation, when known."""
    if run.finished() or run.control():
        return Due("nothing")
    complete = run.last_complete_generation() if complete is None else complete
    if complete >= run.generations:
        return Due("assemble", complete)
    done = run.committed_in(complete + 1)
    return Due("cells", complete, tuple(c for c in run.grid.cells if c not in done))


def ahead(run: Run, generation: int, done: set[int] | None = None) -> tuple[int, ...]:
    """The cells that may compute generation+1 before generation is complete: a cell needs only its own
    neighbourhood's states, so it may go on once its neighbours have committed generation (and its
    result is the same bytes as after a full barrier). done: the cells committed in generation, if known."""
    if not 1 <= generation < run.generations:
        return ()
    done = run.committed_in(generation) if done is None else done
    started = run.committed_in(generation + 1) if done else set()
    return tuple(c for c in run.grid.cells
                 if c not in started and all(n in done for n in run.grid.neighbourhood(c)))


def unready(run: Run, generation: int, cell: int) -> str | None:
    """Why generation+1 of a cell cannot be computed now (its neighbourhood has not committed generation),
    or None. A message may ask for any cell-generation: only the engine knows when one is due."""
    if generation == 0 or run.committed(generation + 1, cell):
        return None
    missing = [c for c in run.grid.neighbourhood(cell) if not run.committed(generation, c)]
    return f"generation {generation} of cell(s) {', '.join(map(str, missing))} is not committed" if missing else None


def assembly_unready(run: Run) -> str | None:
    """Why the run's result cannot be assembled now (its last generation is not complete), or None."""
    complete = run.last_complete_generation()
    return None if complete >= run.generations else f"only {complete} of {run.generations} generations are complete"


def committed(run: Run, generation: int, cell: int, count: int | None = None) -> Due:
    """After `cell` committed `generation`: what may start now, for a fixed number of store requests
    whatever the size of the grid.

    Only a cell whose neighbourhood holds `cell` can have become ready by this commit (neighbourhoods are
    symmetric), so only those are checked, each against its own neighbourhood's markers (`ready_after`).
    count: how many cells of `generation` the transport has seen commit, this one included (a hint the
    local transport keeps in memory and the cluster in Redis; None: unknown). When it reaches the grid's
    size, one listing confirms the generation complete: its old checkpoints are pruned (never those a
    cell that went ahead reads: it reads generations after the last complete one only) and, after the
    last generation, the assembly is due."""
    if count is None or count >= run.grid.size:
        if len(run.committed_in(generation)) == run.grid.size:
            run.prune(generation)
            if generation >= run.generations:
                return Due("assemble", generation)
    return Due("cells", generation, ready_after(run, generation, cell))


def ready_after(run: Run, generation: int, cell: int) -> tuple[int, ...]:
    """The cells of `cell`'s neighbourhood that may compute generation+1 now: their neighbourhood has
    committed generation, and they have not."""
    if not 1 <= generation < run.generations:
        return ()
    grid, markers = run.grid, {}

    def done(c: int) -> bool:
        if c not in markers:
            markers[c] = run.committed(generation, c)
        return markers[c]

    return tuple(sorted(d for d in grid.neighbourhood(cell)
                        if all(done(e) for e in grid.neighbourhood(d)) and not run.committed(generation + 1, d)))


class OutOfMemory(UserError):
    """A cell or the assembly could not allocate what it needs: the config asks for more than the device has."""


@contextmanager
def _allocations(run: Run, what: str, device: str):
    """An allocation that fails (torch's CPU allocator, CUDA, Python's MemoryError) as one line."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        if not (isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError"
                or "can't allocate memory" in str(e) or "out of memory" in str(e).lower()):
            raise
        raise OutOfMemory(f"run {run.id}: {what} ran out of memory on {device}; train it with a smaller network, "
                          f"population, batch_size or sample sizes, or on a device with more memory") from None


def run_cell(run: Run, generation: int, cell: int, device: str = "cpu", task: str = "",
             hint=None) -> CellMetrics:
    """Compute and commit generation+1 of a cell, holding its lease while it works (a duplicate finds
    it committed and returns at once). hint: told of the lease (lpz.engine.leases.Lease)."""
    from lpz.engine.work import compute_cell
    with Lease(run, cell_lease(run, generation + 1, cell), task=task, hint=hint), \
            _allocations(run, f"generation {generation + 1} of cell {cell}", device):
        return compute_cell(run, generation, cell, device)


def finish(run: Run, device: str = "cpu", task: str = "", hint=None) -> MixtureResult:
    """Assemble the run's result (its final mixture), which marks it finished, and take it off the
    active list; return the result."""
    from lpz.engine.assemble import assemble
    if not run.finished():
        with Lease(run, assembly_lease(run), task=task, hint=hint), _allocations(run, "the assembly", device):
            assemble(run, device)
    run.set_active(False)
    return run.read_result()


def fail(run: Run, error: BaseException, generation: int, cell: int, worker: str) -> None:
    """Mark the run failed with a one-line reason; `lpz resume` clears it."""
    message = f"{error}" if isinstance(error, UserError) else f"{error.__class__.__name__}: {error}"
    run.set_control("failed", error=message.splitlines()[0][:500] if message else error.__class__.__name__,
                    generation=generation, cell=cell, worker=worker[:200])
    run.set_active(False)


def cancel(run: Run) -> None:
    """No new cell of the run starts (those running finish); `lpz resume` continues it."""
    run.set_control("cancelled")
    run.set_active(False)


# ------------------------------------------------------------------ where a run stands

@dataclass
class Standing:
    state: Literal["finished", "failed", "cancelled", "damaged", "running", "stalled"]
    reason: str = ""                     # for failed, damaged and stalled: what happened and what to do
    result: MixtureResult | None = None  # for finished: mixture.json
    leases: dict[int, LeaseRecord] = field(default_factory=dict)  # cell -> lease, in the generation in progress
    last_activity: float | None = None  # the latest commit or lease renewal (seconds since the epoch)


def standing(run: Run, now: float | None = None, check_result: bool = True, complete: int | None = None) -> Standing:
    """Where the run stands, from the store alone, reading only its last two generations' markers.
    check_result: read the result's generators to check their checksum (a finished run); complete: the
    last complete generation, when the caller knows it."""
    if run.finished():
        try:
            result = run.checked_result()[0] if check_result else run.read_result()
        except DamagedResult as e:
            return Standing("damaged", str(e))
        return Standing("finished", result=result)
    control = run.control()
    if control:
        return Standing(control.state, control.error)
    now = time.time() if now is None else now
    complete = run.last_complete_generation() if complete is None else complete
    leases = _leases(run, complete)
    last = max([run.created, *_commit_times(run, complete), *(lease.renewed for lease in leases.values())])
    period = max([lease_seconds(), *(lease.period for lease in leases.values())])
    if any(not lapsed(lease, now) for lease in leases.values()) or now - last <= STALL_PERIODS * period:
        return Standing("running", leases=leases, last_activity=last)
    if run.executor == "cluster":
        fix = (f"workers serving {run.store.url} send it again by themselves; if none runs, start one "
               f"(`celery -A lpz worker -Q gpu`), or `lpz resume {run.id}`")
    else:
        fix = f"`lpz run --resume {run.id}` continues it"
    return Standing("stalled", f"nothing has committed or held a lease for {now - last:.0f} s: {fix}",
                    leases=leases, last_activity=last)


def _commit_times(run: Run, complete: int) -> list[float]:
    """When the cells of the last complete generation and of the one in progress committed."""
    times = []
    for g in (complete, complete + 1):
        for cell in run.committed_in(g) if 1 <= g <= run.generations else ():
            try:
                times.append(run.metrics(g, cell).committed_at)
            except Exception:  # damaged, or gone since the listing: no sign of life either way
                continue
    return times


def _leases(run: Run, complete: int) -> dict[int, LeaseRecord]:
    """The leases held in the generation in progress (or on the assembly, as cell -1)."""
    if complete >= run.generations:
        lease = read_lease(run, assembly_lease(run))
        return {-1: lease} if lease else {}
    found = {}
    for cell in run.files_in(complete + 1).get("lease.json", set()):
        lease = read_lease(run, cell_lease(run, complete + 1, cell))
        if lease is not None:
            found[cell] = lease
    return found
