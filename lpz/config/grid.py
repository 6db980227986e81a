"""The toroidal grid of cells and who neighbours whom.

Cells are numbered row-major: cell c sits at row c // cols, column c % cols.
A neighbourhood is the cell itself first, then its neighbours in a fixed
order, each cell once (small grids wrap onto themselves).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grid:
    rows: int
    cols: int
    topology: str = "von_neumann"  # von_neumann | moore | ring
    radius: int = 1                # ring only: cells within this many steps along the ring

    @classmethod
    def from_config(cls, config) -> "Grid":
        return cls(config.rows, config.cols, config.grid.neighbourhood, config.grid.radius)

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @property
    def cells(self) -> range:
        return range(self.size)

    def position(self, cell: int) -> tuple[int, int]:
        return divmod(cell, self.cols)

    def cell_at(self, row: int, col: int) -> int:
        return (row % self.rows) * self.cols + (col % self.cols)

    def offsets(self) -> list[tuple[int, int]]:
        if self.topology == "von_neumann":
            return [(-1, 0), (1, 0), (0, -1), (0, 1)]  # N, S, W, E
        if self.topology == "moore":
            return [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
        raise ValueError(self.topology)

    def neighbourhood(self, cell: int) -> list[int]:
        """The cell itself, then its distinct neighbours."""
        if self.topology == "ring":
            # Cells in row-major order form a ring; neighbours are within `radius` steps either way.
            candidates = [(cell + step * sign) % self.size
                          for step in range(1, self.radius + 1) for sign in (-1, 1)]
        else:
            row, col = self.position(cell)
            candidates = [self.cell_at(row + dr, col + dc) for dr, dc in self.offsets()]
        ordered = [cell]
        for other in candidates:
            if other not in ordered:
                ordered.append(other)
        return ordered
