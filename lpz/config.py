"""Run configuration: YAML files validated into typed models.

The sections follow the old Lipizzaner's (trainer with params, dataloader,
network, score, general) plus `grid`. A file may `include:` a base file (or a
list of them), given relative to itself; the including file wins key by key.

Every problem is reported as one line naming the file, the key path and what
is allowed, e.g.
    configs/x.yml: trainer.params.tournament_size: 7 exceeds the 5 individuals of a neighbourhood
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lpz.data import DATASETS
from lpz.errors import ConfigError

NETWORKS = ("four_layer_perceptron", "convolutional", "mlp2d")
LOSSES = ("bce", "mse", "heuristic", "mustangs")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Fitness(Section):
    fitness_sample_size: int = Field(1000, ge=1, le=100_000)
    fitness_mode: Literal["average", "best", "worst"] = "average"


class TrainerParams(Section):
    population_size: int = Field(1, ge=1, le=64)
    tournament_size: int = Field(2, ge=1)
    n_replacements: int = Field(1, ge=0)
    default_adam_learning_rate: float = Field(0.0002, gt=0, le=1)
    alpha: float = Field(0.0001, ge=0)
    mutation_probability: float = Field(0.5, ge=0, le=1)
    discriminator_skip_each_nth_step: int = Field(0, ge=0)
    mixture_sigma: float = Field(0.01, ge=0)
    enable_selection: bool = True  # False: train the own population against the whole neighbourhood
    fitness: Fitness = Fitness()


class Trainer(Section):
    generations: int = Field(20, ge=1, le=100_000)
    params: TrainerParams = TrainerParams()


class Grid(Section):
    rows: int = Field(2, ge=1, le=64)
    cols: Optional[int] = Field(None, ge=1, le=64)  # None: square
    neighbourhood: Literal["von_neumann", "moore", "ring"] = "von_neumann"
    radius: int = Field(1, ge=1, le=32)  # for the ring


class Dataloader(Section):
    dataset_name: str
    batch_size: int = Field(100, ge=1, le=65_536)
    n_batches: int = Field(0, ge=0)  # 0: a whole epoch per generation
    sampling_ratio: float = Field(1.0, gt=0, le=1)
    n_samples: int = Field(20_000, ge=100, le=10_000_000)  # size of a generated (toy) dataset
    path: Optional[str] = None  # imagefolder only: the folder of images
    image_size: int = Field(64, ge=8, le=1024)  # imagefolder: side of the square images
    crop: Optional[int] = Field(None, ge=1)  # imagefolder: centre square cropped first (default: the shorter side)


class Network(Section):
    name: Literal[NETWORKS]
    loss: Literal[LOSSES] = "bce"
    latent_size: Optional[int] = Field(None, ge=1, le=4096)  # None: the network's own default
    hidden_size: Optional[int] = Field(None, ge=1, le=8192)  # mlp2d only
    mustangs_mode: Literal["generation", "batch"] = "generation"


class Score(Section):
    type: Literal["fid", "none"] = "fid"
    score_sample_size: int = Field(1000, ge=10, le=100_000)
    final_sample_size: int = Field(10_000, ge=10, le=1_000_000)


class General(Section):
    seed: int = Field(0, ge=0, le=2**62)
    store: Optional[str] = None  # file:///path or s3://bucket; None: LPZ_STORE or ./runs
    threads: int = Field(1, ge=1, le=256)
    keep_generations: int = Field(2, ge=0)  # checkpoints of the last N generations; 0 keeps all


class Config(Section):
    name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    trainer: Trainer = Trainer()
    grid: Grid = Grid()
    dataloader: Dataloader
    network: Network
    score: Score = Score()
    general: General = General()

    @property
    def rows(self) -> int:
        return self.grid.rows

    @property
    def cols(self) -> int:
        return self.grid.cols or self.grid.rows


# ---------------------------------------------------------------- loading

class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 2e-4 as a string; configs are full of such numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _read_yaml(path: Path, shown: str) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(shown, "", "no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise ConfigError(shown, "", f"cannot read it ({e.__class__.__name__})") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(shown, "", f"{where}not valid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, "", f"expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def _merge(base: dict, top: dict, origin: dict, top_file: str, prefix=()) -> dict:
    """Deep-merge top over base; record in origin which file each key path came from."""
    merged = dict(base)
    for key, value in top.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, origin, top_file, path)
        else:
            merged[key] = value
            origin[path] = top_file
    return merged


def _load_with_includes(path: Path, shown: str, origin: dict, seen: tuple = ()) -> dict:
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(shown, "include", "includes itself (a cycle of includes); remove one")
    data = _read_yaml(path, shown)
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(shown, "include", "must be a file name or a list of file names")
    merged: dict = {}
    for name in includes:
        child = path.parent / name
        child_shown = str(Path(shown).parent / name)
        merged = _merge(merged, _load_with_includes(child, child_shown, origin, seen + (resolved,)), origin,
                        child_shown)
    return _merge(merged, data, origin, shown)


def load_config(path: str | Path, overrides: dict | None = None) -> Config:
    """Read, merge and validate a config file; raise ConfigError with one line on any problem."""
    shown = str(path)
    origin: dict = {}
    data = _load_with_includes(Path(path), shown, origin)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
        origin[tuple(dotted.split("."))] = "command line"
    return validate(data, shown, origin)


def validate(data: dict, shown: str = "config", origin: dict | None = None) -> Config:
    origin = origin or {}
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        error = e.errors()[0]
        loc = tuple(str(part) for part in error["loc"])
        raise ConfigError(_source(origin, loc, shown), ".".join(loc), _describe(error, data)) from None
    for loc, message in check_combinations(config):
        raise ConfigError(_source(origin, loc, shown), ".".join(loc), message)
    return config


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def _source(origin: dict, loc: tuple, default: str) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origin:
            return origin[loc[:end]]
    return default


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = Config
    for key in loc:
        field = model.model_fields.get(key)
        if field is None:
            return None
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
    return model


def _describe(error: dict, data: dict) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        model = _model_at(tuple(loc[:-1]))
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "is required but missing"
    if kind == "literal_error":
        allowed = error["ctx"]["expected"]
        return f"{value!r} is not allowed; use one of {allowed}"
    if kind == "model_type":
        return f"must be a mapping of keys, got {value!r}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must be 1-40 letters, digits, '_', '.' or '-', starting with a letter or digit"
    message = error["msg"]
    message = message[0].lower() + message[1:]
    return f"{message}, got {value!r}"


def neighbourhood_size(config: Config) -> int:
    from lpz.grid import Grid
    grid = Grid.from_config(config)
    return max(len(grid.neighbourhood(cell)) for cell in grid.cells)


def check_combinations(config: Config):
    """Yield (key path, message) for settings that are each valid but impossible together."""
    params = config.trainer.params
    population = params.population_size * neighbourhood_size(config)
    if params.tournament_size > population:
        yield (("trainer", "params", "tournament_size"),
               f"{params.tournament_size} exceeds the {population} individuals of a neighbourhood "
               f"(population_size x neighbourhood cells)")
    if params.n_replacements > params.population_size:
        yield (("trainer", "params", "n_replacements"),
               f"{params.n_replacements} exceeds population_size {params.population_size}")

    if config.general.keep_generations == 1:
        yield (("general", "keep_generations"),
               "1 is too few to recompute a damaged checkpoint; use 2 or more, or 0 to keep all")
    if config.dataloader.dataset_name not in DATASETS:
        close = difflib.get_close_matches(config.dataloader.dataset_name, list(DATASETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        yield (("dataloader", "dataset_name"),
               f"{config.dataloader.dataset_name!r} is not a dataset lpz knows; {hint}use one of {', '.join(DATASETS)}")
        return
    spec = DATASETS[config.dataloader.dataset_name]
    shape = spec.sample_shape(config.dataloader)
    network = config.network.name
    if network == "mlp2d" and spec.kind != "points":
        yield (("network", "name"), f"mlp2d is for 2-D points; dataset {spec.name} has images {shape}, "
                                    f"use four_layer_perceptron (1x28x28) or convolutional")
    if network == "four_layer_perceptron" and tuple(shape) != (1, 28, 28):
        yield (("network", "name"), f"four_layer_perceptron needs 1x28x28 images; dataset {spec.name} "
                                    f"has samples of shape {shape}, use {'mlp2d' if spec.kind == 'points' else 'convolutional'}")
    if network == "convolutional" and (spec.kind != "images" or tuple(shape[1:]) not in ((64, 64), (32, 32))):
        yield (("network", "name"), f"convolutional needs 32x32 or 64x64 images; dataset {spec.name} "
                                    f"has samples of shape {shape}")
    if config.network.hidden_size is not None and network != "mlp2d":
        yield (("network", "hidden_size"), f"only mlp2d has a hidden_size; remove it for {network}")
    if config.network.mustangs_mode != "generation" and config.network.loss != "mustangs":
        yield (("network", "mustangs_mode"), f"only applies to loss mustangs, not {config.network.loss}")


def resolved(config: Config) -> dict:
    """The config with every default filled in, as plain JSON-able data."""
    return config.model_dump(mode="json")
