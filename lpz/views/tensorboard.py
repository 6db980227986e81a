"""Metrics to TensorBoard: one event folder per cell, so TensorBoard overlays the cells' curves.

    <dir>/<run id>/cell-<c>/   score, loss/generator, loss/discriminator, lr/generator, lr/discriminator
    <dir>/<run id>/mixture/    best score of the generation (the best cell's)

Needs the tensorboard package (pip install tensorboard).
"""
from __future__ import annotations

from pathlib import Path

from lpz.errors import UserError
from lpz.records import CellMetrics


class TensorBoardExport:
    def __init__(self, folder: Path, run_id: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.root = Path(folder) / run_id
        self._writer = SummaryWriter
        self.writers: dict[str, object] = {}
        self.written: set[tuple[int, int]] = set()
        self.best: dict[int, float] = {}

    def _to(self, name: str):
        if name not in self.writers:
            self.writers[name] = self._writer(str(self.root / name))
        return self.writers[name]

    def cell(self, generation: int, cell: int, metrics: CellMetrics) -> None:
        """Write one committed cell-generation (once, however often it is offered)."""
        if (generation, cell) in self.written:
            return
        self.written.add((generation, cell))
        out = self._to(f"cell-{cell}")
        scalars = {"score": metrics.score, "loss/generator": metrics.losses.generator,
                   "loss/discriminator": metrics.losses.discriminator, "lr/generator": metrics.lr_generator,
                   "lr/discriminator": metrics.lr_discriminator}
        for tag, value in scalars.items():
            if value is not None:
                out.add_scalar(tag, value, generation)
        score = metrics.score
        if score is not None and score < self.best.get(generation, float("inf")):
            self.best[generation] = score
        out.flush()

    def generation_done(self, generation: int) -> None:
        if generation in self.best:
            self._to("mixture").add_scalar("best score", self.best[generation], generation)
            self._to("mixture").flush()

    def catch_up(self, run) -> None:
        """Write every committed cell-generation of the run not written yet."""
        for generation, cells in sorted(run.all_metrics().items()):
            for cell, metrics in sorted(cells.items()):
                self.cell(generation, cell, metrics)
            if len(cells) == run.grid.size:
                self.generation_done(generation)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
