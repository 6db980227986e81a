"""Every committed cell-generation's metrics, read once per Run object (watchers poll this on long runs)."""
from __future__ import annotations

import logging

from lpz.errors import ObjectMissing
from lpz.records import CellMetrics
from lpz.runs.checkpoints import Checkpoints, DamagedCheckpoint
from lpz.runs.progress import Progress

log = logging.getLogger("lpz")


class MetricsCache(Checkpoints, Progress):
    def all_metrics(self) -> dict[int, dict[int, CellMetrics]]:
        """generation -> cell -> metrics, for every committed cell-generation whose marker is sound.

        Committed metrics do not change, so each is read once per Run object; after the first call
        only the generations not yet complete are listed again."""
        cache: dict[tuple[int, int], CellMetrics] = self.__dict__.setdefault("_metrics_cache", {})
        if not cache:
            committed = self.committed_cells()
        else:
            committed: dict[int, set[int]] = {}
            for g, c in cache:
                committed.setdefault(g, set()).add(c)
            g = self.last_complete_generation(committed) + 1
            while cells := self.committed_in(g):  # the generations still filling, and any after them
                committed[g] = committed.get(g, set()) | cells
                g += 1
        result: dict[int, dict[int, CellMetrics]] = {}
        for g, cells in sorted(committed.items()):
            for c in sorted(cells):
                if (g, c) not in cache:
                    try:
                        cache[(g, c)] = self.metrics(g, c)
                    except ObjectMissing:
                        continue
                    except DamagedCheckpoint as damage:  # recomputed by the next task that reads it
                        log.warning("run %s: %s", self.id, damage)
                        continue
                result.setdefault(g, {})[c] = cache[(g, c)]
        return result
