"""How far a run has come, from the commit markers in the store (docs/design.md section 3).

A cell-generation is committed when its metrics.json is there; a generation is complete when every
cell has committed it. `last_complete` is the one definition of "the last complete generation": the
run's listings, the metrics cache and the status all ask it.
"""
from __future__ import annotations

from typing import Callable, Collection, Mapping

from lpz.runs import keys
from lpz.runs.base import RunBase


def last_complete(cells_in: Callable[[int], Collection], size: int, after: int = 0,
                  last: int | None = None) -> int:
    """The last generation g such that every generation from after+1 to g has all `size` cells in
    cells_in(generation) (`after` itself is taken as complete; 0 when none is); at most `last`."""
    g = after
    while (last is None or g < last) and len(cells_in(g + 1)) == size:
        g += 1
    return g


class Progress(RunBase):
    def committed(self, generation: int, cell: int) -> bool:
        return generation == 0 or self.store.exists(self.cell_key(generation, cell, keys.MARKER))

    def committed_cells(self) -> dict[int, set[int]]:
        """generation -> cells whose generation is committed, from one listing of the store."""
        done: dict[int, set[int]] = {}
        for key in self.store.list(self.key("gen") + "/"):
            found = self.cell_file(key)
            if found and found[2] == keys.MARKER:
                done.setdefault(found[0], set()).add(found[1])
        return done

    def files_in(self, generation: int) -> dict[str, set[int]]:
        """name -> cells that have a file of that name in the generation (one listing)."""
        found: dict[str, set[int]] = {}
        for key in self.store.list(keys.generation(self.id, generation)):
            parsed = self.cell_file(key)
            if parsed and parsed[0] == generation:
                found.setdefault(parsed[2], set()).add(parsed[1])
        return found

    def committed_in(self, generation: int) -> set[int]:
        """The cells whose given generation is committed, from a listing of that generation alone."""
        return self.files_in(generation).get(keys.MARKER, set())

    def last_complete_generation(self, committed: Mapping[int, Collection[int]] | None = None, known: int = 0) -> int:
        """The last generation every cell has committed. committed: generation -> the cells committed (or
        a mapping keyed by them, such as all_metrics), when the caller has them; known: one known to be complete (a hint, checked): then only the
        generations after it are listed, one at a time, instead of the whole run."""
        size = self.grid.size
        if known and committed is None and len(self.committed_in(known)) == size:
            return last_complete(self.committed_in, size, after=known, last=self.generations)
        committed = self.committed_cells() if committed is None else committed
        return last_complete(lambda g: committed.get(g, ()), size, last=self.generations)
