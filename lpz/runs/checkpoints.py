"""A run's cell-generations: the commit marker (metrics.json), the checkpoints it commits, and pruning.

A commit marker records the sha256 of the checkpoints it commits; a checkpoint that is missing,
differs, is refused by the safe loader or is not the state it should be raises DamagedCheckpoint,
which the engine recomputes. Generation 0 is never stored and never read here: the engine makes it
from the run seed. Reading or writing a checkpoint imports torch; reading a marker does not.
"""
from __future__ import annotations

import time

from lpz.errors import CorruptObject, ObjectMissing
from lpz.files import sha256
from lpz.records import CellMetrics, InvalidRecord
from lpz.runs import keys
from lpz.runs.base import MAX_RECORD_BYTES, RunBase


class DamagedCheckpoint(CorruptObject):
    """A committed cell-generation whose marker or checkpoint cannot be trusted: recompute it."""

    def __init__(self, key: str, generation: int, cell: int, detail: str):
        super().__init__(key, detail)
        self.generation, self.cell = generation, cell


class Checkpoints(RunBase):
    def metrics(self, generation: int, cell: int) -> CellMetrics:
        """The commit marker of a cell-generation, checked; DamagedCheckpoint when it is not a valid record
        (ObjectMissing when it is not there: the cell-generation is not committed)."""
        key = self.cell_key(generation, cell, keys.MARKER)
        try:
            metrics = CellMetrics.read(self.store.get_json(key, max_bytes=MAX_RECORD_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        if (metrics.generation, metrics.cell) != (generation, cell):
            raise DamagedCheckpoint(key, generation, cell, "it belongs to another cell or generation")
        return metrics

    def read_checkpoint(self, generation: int, cell: int, name: str, sample_shape: tuple):
        """A committed CellState (name: state.pt or public.pt), whole and checked; DamagedCheckpoint for
        anything else: missing, not matching its committed sha256, refused by the safe loader, or not
        the state of this cell and network."""
        from lpz.algorithm.individual import CellState, Expected, NotACellState
        from lpz.store.base import tensors_from

        if generation < 1:
            raise ValueError("generation 0 is never stored: lpz.engine.work makes it")
        key = self.cell_key(generation, cell, name)
        try:
            recorded = self.metrics(generation, cell).files[name]
            data = self.store.get(key, self.checkpoint_bytes)
        except CorruptObject as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        except ObjectMissing:
            raise DamagedCheckpoint(key, generation, cell, "missing") from None
        if recorded != sha256(data):
            raise DamagedCheckpoint(key, generation, cell, "its sha256 differs from the one committed")
        try:
            plain = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise DamagedCheckpoint(key, generation, cell, "the safe loader refuses it (it holds more than "
                                                           "tensors and plain values)") from None
        try:
            return CellState.from_dict(plain, Expected(self.config, self.grid, cell, generation, sample_shape,
                                                       public=name == "public.pt"))
        except NotACellState as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None

    def write_cell(self, state, metrics: CellMetrics, picture: bytes | None = None) -> CellMetrics:
        """Checkpoints (and the picture of its samples) first, then the commit marker with their sha256,
        whose presence commits them. The seconds spent writing are added to the marker's io seconds."""
        from lpz.store.base import tensor_bytes

        start = time.perf_counter()
        g, c = state.generation, state.cell
        if picture is not None:
            self.store.put(self.cell_key(g, c, "samples.png"), picture)
        files = {}
        for name in keys.CHECKPOINTS:
            data = tensor_bytes(state.to_dict(public=name == "public.pt"))
            self.store.put(self.cell_key(g, c, name), data)
            files[name] = sha256(data)
        seconds = {**metrics.seconds, "io": metrics.seconds.get("io", 0.0) + time.perf_counter() - start}
        committed = metrics.model_copy(update={"seconds": seconds, "files": files, "committed_at": time.time()})
        self.store.put_json(self.cell_key(g, c, keys.MARKER), committed.to_json())
        return committed

    def uncommit(self, generation: int, cell: int) -> None:
        self.store.delete(self.cell_key(generation, cell, keys.MARKER))

    def prune(self, complete: int) -> None:
        """Once generation `complete` is complete, drop the checkpoints of the generation that fell out
        of the last keep_generations (markers stay, for status and reports; with keep_every N, the public
        states of every Nth generation stay too)."""
        keep, every = self.config.general.keep_generations, self.config.general.keep_every
        old = complete - keep
        if keep and old >= 1:
            kept = ("public.pt",) if every and old % every == 0 else ()
            for c in self.grid.cells:
                for name in keys.CHECKPOINTS:
                    if name not in kept:
                        self.store.delete(self.cell_key(old, c, name))
