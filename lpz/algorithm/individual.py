"""Individuals and cell states, and their plain-data form for checkpoints.

An individual is network weights plus its own learning rate, Adam state,
last fitness and lineage. A cell's state is its generators and
discriminators plus its mixture weights (and, privately, the sums of the
result's average: lpz.algorithm.averaging). Checkpoints hold only tensors,
numbers, strings and lists, so they load with torch.load(weights_only=True).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch

from lpz.algorithm.averaging import window
from lpz.algorithm.optimisers import MOMENTS, name_for


@dataclass
class Individual:
    weights: dict[str, torch.Tensor]
    lr: float
    adam: dict | None = None          # its optimiser's state_dict (Adam's, or RMSprop's for WGAN); None until it first trains
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
    def from_dict(cls, plain: dict, shapes: dict[str, tuple] | None = None, public: bool = False,
                  optimiser: str | None = "adam") -> "Individual":
        """The individual in plain; with the shapes its weights must have (and the optimiser whose
        state it may hold: None for the gradient-free trainers, which keep none), every field is
        checked first (NotACellState says what is wrong)."""
        if shapes is not None:
            _check_individual(plain, shapes, public, optimiser)
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
    # Private: each generator's weights summed over the result's average so far (lpz.algorithm.averaging).
    generator_sums: list[dict[str, torch.Tensor]] | None = None

    def to_dict(self, public: bool = False) -> dict:
        plain = {"cell": self.cell, "generation": self.generation,
                 "generators": [i.to_dict(public) for i in self.generators],
                 "discriminators": [i.to_dict(public) for i in self.discriminators],
                 "mixture_weights": list(self.mixture_weights), "mixture_score": self.mixture_score}
        if not public and self.generator_sums is not None:
            plain["generator_sums"] = self.generator_sums
        return plain

    @classmethod
    def from_dict(cls, plain: dict, expected: Expected | None = None) -> "CellState":
        """The cell state in plain; with what is expected of it (read from a store), checked first."""
        if expected is not None:
            _check_state(plain, expected)
        roles = {"generators": None, "discriminators": None}
        if expected is not None:
            roles = {"generators": expected.shapes("g"), "discriminators": expected.shapes("d")}
        public = expected.public if expected is not None else False
        optimiser = expected.optimiser if expected is not None else "adam"
        return cls(plain["cell"], plain["generation"],
                   [Individual.from_dict(i, roles["generators"], public, optimiser) for i in plain["generators"]],
                   [Individual.from_dict(i, roles["discriminators"], public, optimiser)
                    for i in plain["discriminators"]],
                   list(plain["mixture_weights"]), plain.get("mixture_score"), plain.get("generator_sums"))

    def best_generator(self) -> Individual:
        return min(self.generators, key=lambda i: i.fitness)


# ------------------------------------------------------------------ checks of states read from a store

class NotACellState(ValueError):
    """A checkpoint whose contents are not the state they should be (damaged, or written by another)."""


@dataclass(frozen=True)
class Expected:
    """What a checkpoint read from the store must hold: the state of this cell at this generation."""
    config: object
    grid: object
    cell: int
    generation: int
    sample_shape: tuple
    public: bool

    @property
    def optimiser(self) -> str | None:
        return name_for(self.config)

    def shapes(self, role: str) -> dict[str, tuple]:
        from lpz.algorithm.nets import parameter_shapes
        return parameter_shapes(self.config.network, tuple(self.sample_shape), role)


def weights_fit(weights, shapes: dict[str, tuple], dtype: torch.dtype = torch.float32) -> bool:
    """Whether weights is a state dict of tensors of dtype with exactly these names and shapes, in order."""
    return (isinstance(weights, dict) and list(weights) == list(shapes)
            and all(isinstance(t, torch.Tensor) and t.dtype == dtype and tuple(t.shape) == shape
                    for t, shape in zip(weights.values(), shapes.values())))


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise NotACellState(problem)


def _is_number(value, low: float = -math.inf) -> bool:
    return type(value) in (float, int) and not math.isnan(value) and value >= low


def _check_state(plain, expected: Expected) -> None:
    _require(isinstance(plain, dict), "it does not hold a cell state")
    _require((plain.get("cell"), plain.get("generation")) == (expected.cell, expected.generation),
             "it holds the state of another cell or generation")
    population = expected.config.trainer.params.population_size
    for role in ("generators", "discriminators"):
        members = plain.get(role)
        _require(isinstance(members, list) and len(members) == population,
                 f"it does not hold {population} {role}")
    weights = plain.get("mixture_weights")
    hood = len(expected.grid.neighbourhood(expected.cell))
    _require(isinstance(weights, list) and len(weights) == hood and all(_is_number(w, 0) for w in weights)
             and 0 < sum(weights) < math.inf, f"its mixture weights are not {hood} weights of a mixture")
    score = plain.get("mixture_score")
    _require(score is None or _is_number(score), "its mixture score is not a number")
    sums = plain.get("generator_sums")
    if expected.public or expected.generation not in window(expected.config):
        _require(sums is None, "it holds sums of generators where none belong")
    else:
        shapes = expected.shapes("g")
        _require(isinstance(sums, list) and len(sums) == population
                 and all(weights_fit(s, shapes, torch.float64) for s in sums),
                 f"its generator sums are not {population} float64 sums of the network of the config")


def _check_individual(plain, shapes: dict[str, tuple], public: bool, optimiser: str | None) -> None:
    _require(isinstance(plain, dict), "an individual is not a record")
    _require(weights_fit(plain.get("weights"), shapes), "an individual's weights do not fit the network of the config")
    _require(_is_number(plain.get("lr"), 0) and plain["lr"] < math.inf, "an individual's learning rate is not a number")
    _require(type(plain.get("fitness")) in (float, int), "an individual's fitness is not a number")
    origin = plain.get("origin")
    _require(isinstance(origin, list) and len(origin) == 2 and all(type(v) is int for v in origin),
             "an individual's origin is not (cell, generation)")
    _require(isinstance(plain.get("loss"), str) and len(plain["loss"]) < 50, "an individual's loss is not a name")
    adam = plain.get("adam")
    _require(adam is None or (not public and optimiser is not None
                              and _is_optimiser_state(adam, list(shapes.values()), optimiser)),
             "an individual's optimiser state does not fit its network")


def _is_optimiser_state(state, shapes: list[tuple], optimiser: str) -> bool:
    """A state_dict of the optimiser over parameters of these shapes (in order)."""
    if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
            and isinstance(state.get("param_groups"), list)):
        return False
    groups = state["param_groups"]
    if len(groups) != 1 or not isinstance(groups[0], dict) or groups[0].get("params") != list(range(len(shapes))):
        return False
    for index, moments in state["state"].items():
        if type(index) is not int or not 0 <= index < len(shapes) or not isinstance(moments, dict):
            return False
        for name in MOMENTS[optimiser]:
            moment = moments.get(name)
            if not (isinstance(moment, torch.Tensor) and tuple(moment.shape) == shapes[index]):
                return False
        if not isinstance(moments.get("step"), torch.Tensor):
            return False
    return True
