"""Individuals and cell states, and their plain-data form for checkpoints.

An individual is network weights plus its own learning rate, Adam state,
last fitness and lineage. A cell's state is its generators and
discriminators plus its mixture weights. Checkpoints hold only tensors,
numbers, strings and lists, so they load with torch.load(weights_only=True).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch


@dataclass
class Individual:
    weights: dict[str, torch.Tensor]
    lr: float
    adam: dict | None = None          # torch.optim.Adam state_dict; None until it first trains
    fitness: float = float("inf")
    origin: tuple[int, int] = (0, 0)  # (cell, generation) of the training that made these weights
    loss: str = ""                    # the loss it trained with last (mustangs draws one)

    def to_dict(self, public: bool = False) -> dict:
        plain = {"weights": self.weights, "lr": self.lr, "fitness": self.fitness,
                 "origin": list(self.origin), "loss": self.loss}
        if not public:
            plain["adam"] = self.adam
        return plain

    @classmethod
    def from_dict(cls, plain: dict) -> "Individual":
        return cls(plain["weights"], plain["lr"], plain.get("adam"), plain["fitness"],
                   tuple(plain["origin"]), plain["loss"])

    def clone(self, keep_adam: bool = True) -> "Individual":
        return replace(self, weights={k: v.clone() for k, v in self.weights.items()},
                       adam=copy.deepcopy(self.adam) if keep_adam else None)


@dataclass
class CellState:
    cell: int
    generation: int
    generators: list[Individual]
    discriminators: list[Individual]
    mixture_weights: list[float]      # one per cell of the neighbourhood, in Grid.neighbourhood order
    mixture_score: float | None = None

    def to_dict(self, public: bool = False) -> dict:
        return {"cell": self.cell, "generation": self.generation,
                "generators": [i.to_dict(public) for i in self.generators],
                "discriminators": [i.to_dict(public) for i in self.discriminators],
                "mixture_weights": list(self.mixture_weights), "mixture_score": self.mixture_score}

    @classmethod
    def from_dict(cls, plain: dict) -> "CellState":
        return cls(plain["cell"], plain["generation"],
                   [Individual.from_dict(i) for i in plain["generators"]],
                   [Individual.from_dict(i) for i in plain["discriminators"]],
                   list(plain["mixture_weights"]), plain.get("mixture_score"))

    def best_generator(self) -> Individual:
        return min(self.generators, key=lambda i: i.fitness)
