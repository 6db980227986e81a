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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lpz.data.specs import DATASETS
from lpz.config.files import read_config_tree
from lpz.errors import ConfigError, excerpt

NETWORKS = ("four_layer_perceptron", "convolutional", "mlp2d")
LOSSES = ("bce", "mse", "heuristic", "mustangs", "wgan")
TRAINERS = ("lipizzaner", "ea-alternating", "ea-parallel", "nes")
GRADIENT_FREE = {"ea": ("ea-alternating", "ea-parallel"), "nes": ("nes",)}  # section: the trainers that read it


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Fitness(Section):
    fitness_sample_size: int = Field(1000, ge=1, le=100_000)
    fitness_mode: Literal["average", "best", "worst"] = "average"


class OptimizeMixture(Section):
    """An evolution strategy over the final mixture's weights (the old system's optimize_mixture)."""
    enabled: bool = False
    generations: int = Field(200, ge=1, le=100_000)
    sigma: float = Field(0.01, gt=0, le=1)  # the weights are probabilities
    samples: int = Field(10_000, ge=100, le=1_000_000)


class TrainerParams(Section):
    population_size: int = Field(1, ge=1, le=64)
    tournament_size: int = Field(2, ge=1, le=4096)
    n_replacements: int = Field(1, ge=0, le=64)
    default_adam_learning_rate: float = Field(0.0002, gt=0, le=1)  # the initial learning rate, whichever optimizer
    alpha: float = Field(0.0001, ge=0, le=1)  # scales learning-rate mutations
    # The fraction of every learning rate left at the last generation: the rates are multiplied by a
    # factor falling linearly from 1 at the first generation to this. None: no schedule.
    lr_decay: Optional[float] = Field(None, gt=0, le=1)
    mutation_probability: float = Field(0.5, ge=0, le=1)
    discriminator_skip_each_nth_step: int = Field(0, ge=0, le=1000)
    mixture_sigma: float = Field(0.01, ge=0, le=1)  # the weights are probabilities
    enable_selection: bool = True  # False: train the own population against the whole neighbourhood
    # Without selection: the chance that a batch's opponent is the cell's own partner (trained with it)
    # rather than one of the neighbours' frozen networks. None: every network of the neighbourhood alike.
    # With selection it changes nothing (a cell trains its selected pair against each other), so a config
    # that sets it can turn selection on alone, as tournament_size is kept while selection is off.
    own_share: Optional[float] = Field(None, ge=0, le=1)
    migrant_adam: Literal["fresh", "own"] = "fresh"  # Adam state of a neighbour's individual selected here
    replacement: Literal["elitist", "always"] = "always"  # elitist: a trained copy enters only when fitter
    optimizer: Optional[Literal["adam", "rmsprop"]] = None  # None: rmsprop for loss wgan, adam otherwise
    # Loss wgan only (None elsewhere; with wgan, None means Arjovsky et al.'s 5 and 0.01):
    critic_steps: Optional[int] = Field(None, ge=1, le=1000)  # critic steps (batches) per generator step
    weight_clip: Optional[float] = Field(None, gt=0, le=10)  # critic weights are clamped to [-clip, clip]
    final_mixture: Literal["neighbourhood", "grid"] = "neighbourhood"
    # The result's generators: each cell's generator averaged over its weights at the run's last N
    # generations (all of them in a shorter run; each cell's state carries the sum from the window's first
    # generation on: lpz.algorithm.averaging). 1: the last generation's.
    # A cell's own lineage only: with selection, where a cell's generator may come from a neighbour, it
    # changes nothing (as own_share), so a config that sets it can turn selection on alone.
    final_average: int = Field(1, ge=1, le=1000)
    optimize_mixture: OptimizeMixture = OptimizeMixture()
    fitness: Fitness = Fitness()

    def averaged_generations(self, generations: int) -> int:
        """How many of a run's last generations its result averages each generator over."""
        return 1 if self.enable_selection else min(self.final_average, generations)


class EvolutionaryAlgorithm(Section):
    """trainer.name ea-alternating, ea-parallel: every batch a tournament, Gaussian mutation and replacement
    over the individuals a cell trains, trainer.params.population_size of them (the old EA trainers and
    their defaults)."""
    sigma: float = Field(0.25, gt=0, le=100)  # standard deviation of a weight's mutation, before alpha
    alpha: float = Field(0.25, gt=0, le=100)  # scales every mutation: w += alpha * N(0, sigma)
    mutation_probability: float = Field(0.9, ge=0, le=1)  # chance that a weight mutates
    tournament_size: int = Field(2, ge=1, le=64)  # of the tournaments that pick the parents among the trainees
    n_replacements: int = Field(1, ge=0, le=64)  # offspring that may replace the worst trainee, per batch


class NaturalEvolutionStrategy(Section):
    """trainer.name nes: every batch a step along a gradient estimated from perturbed weights (the old
    parallel NES trainer; its defaults)."""
    sigma: float = Field(0.1, gt=0, le=100)  # standard deviation of the perturbations
    alpha: float = Field(0.001, gt=0, le=100)  # step size
    population_size: int = Field(50, ge=2, le=100)  # perturbations per row; a batch evaluates P x P of them


class Trainer(Section):
    name: Literal[TRAINERS] = "lipizzaner"  # the training of step 4: gradients, or a gradient-free baseline
    generations: int = Field(20, ge=1, le=100_000)
    params: TrainerParams = TrainerParams()
    ea: EvolutionaryAlgorithm = EvolutionaryAlgorithm()
    nes: NaturalEvolutionStrategy = NaturalEvolutionStrategy()


class Grid(Section):
    rows: int = Field(2, ge=1, le=64)
    cols: Optional[int] = Field(None, ge=1, le=64)  # None: square
    neighbourhood: Literal["von_neumann", "moore", "ring"] = "von_neumann"
    radius: int = Field(1, ge=1, le=32)  # for the ring


class Dataloader(Section):
    dataset_name: str = Field(max_length=64)
    batch_size: int = Field(100, ge=1, le=65_536)
    n_batches: int = Field(0, ge=0, le=1_000_000)  # 0: a whole epoch per generation
    sampling_ratio: float = Field(1.0, gt=0, le=1)
    n_samples: int = Field(20_000, ge=100, le=10_000_000)  # size of a generated (toy) dataset
    path: Optional[str] = Field(None, max_length=4096)  # imagefolder only: the folder of images
    image_size: int = Field(64, ge=8, le=1024)  # imagefolder: side of the square images
    crop: Optional[int] = Field(None, ge=1, le=8192)  # imagefolder: centre square cropped first (default: the shorter side)
    data_size: Optional[int] = Field(None, ge=2, le=100_000)  # gaussian only: values per sample (None: 1000)


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
    # RGB data: FID on the published FID Inception weights (the standard), or on the same network with
    # random weights from a fixed seed, for machines without the weights file: those numbers compare
    # with each other only, never with a published FID, and the scorer's name says so.
    inception: Literal["published", "random-init"] = "published"


class General(Section):
    seed: int = Field(0, ge=0, le=2**62)
    store: Optional[str] = Field(None, max_length=1024)  # file:///path or s3://bucket, when neither --store nor LPZ_STORE is given; None: ./lpz-store
    threads: int = Field(1, ge=1, le=256)
    keep_generations: int = Field(2, ge=0, le=100_000)  # checkpoints of the last N generations; 0 keeps all
    keep_every: int = Field(0, ge=0, le=100_000)  # also keep the public states of every Nth generation (0: none),
                                                  # to score or sample the run as it was then
    sample_every: Optional[int] = Field(None, ge=0, le=100_000)  # sample images every N generations; None: every 10%; 0: never
    fused_cells: bool = False  # `lpz run` trains a generation's cells as one batched computation (lpz.algorithm.fused)


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

    @property
    def fused(self) -> bool:
        """Whether a run of this config trains each generation's cells as one computation, in one process
        (general.fused_cells; lpz.algorithm.fused). The one place that says so: the CLI, the local
        transport and the work all ask it. Only `lpz run` trains such a run (a Celery task is one cell)."""
        return self.general.fused_cells

    @property
    def cells_per_process(self) -> int:
        """How many cells one training process holds at once: the whole grid when fused, else one."""
        return self.rows * self.cols if self.fused else 1


# ---------------------------------------------------------------- loading

def load_config(path: str | Path, overrides: dict | None = None) -> Config:
    """Read, merge and validate a config file; raise ConfigError with one line on any problem."""
    shown = str(path)
    data, origin = read_config_tree(Path(path), shown)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
        origin[tuple(dotted.split("."))] = "command line"
    return validate(data, shown, origin)


def validate(data: dict, shown: str = "config", origin: dict | None = None) -> Config:
    origin = origin or {}

    def quoted(loc: tuple) -> bool:  # an included file's values are never quoted: it may hold a secret
        return _source(origin, loc, shown) in (shown, "command line")

    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        error = e.errors()[0]
        loc = tuple(str(part)[:100] for part in error["loc"])
        raise ConfigError(_source(origin, loc, shown), ".".join(loc), _describe(error, data, quoted(loc))) from None
    for loc, message in check_combinations(config, quoted):
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


HIDDEN = "the value (not quoted from an included file)"


def _describe(error: dict, data: dict, quoted: bool = True) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    shown = excerpt(value) if quoted else HIDDEN  # never the whole value: it may be huge, or a file's content
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1])[:100], allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        section = _model_at(loc)
        if section is not None:
            required = [name for name, field in section.model_fields.items() if field.is_required()]
            needs = f" with at least {', '.join(name + ':' for name in required)}" if required else ""
            return f"is required but missing; add a {loc[-1]}: section{needs}"
        if loc == ("dataloader", "dataset_name"):
            return f"is required but missing; set it to one of {', '.join(DATASETS)}"
        return "is required but missing; set it"
    if kind == "literal_error":
        return f"{shown} is not allowed; use one of {ctx['expected']}"
    if kind == "model_type":
        model = _model_at(loc)
        keys = f" ({', '.join(model.model_fields)})" if model else ""
        return f"must be a section of keys{keys} on the lines below it, got {shown}"
    if kind == "string_pattern_mismatch":
        return (f"{shown} is not a valid run name; use 1-40 letters, digits, '_', '.' or '-', "
                f"starting with a letter or digit")
    if kind == "string_too_long":
        return f"is {len(value):,} characters long; it may have at most {ctx['max_length']:,}"
    if kind in ("int_type", "int_from_float", "int_parsing"):
        quoted_number = isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value[:100])
        fix = "remove the quotes" if quoted_number else "write a whole number such as 100"
        return f"{shown} is not a whole number; {fix}"
    if kind in ("float_type", "float_parsing"):
        quoted_number = isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*",
                                                                value[:100])
        fix = "remove the quotes" if quoted_number else "write a number such as 0.001"
        return f"{shown} is not a number; {fix}"
    if kind == "finite_number":
        return f"{shown} is not a finite number; write a number such as 0.001"
    if kind == "bool_type":
        return f"{shown} is not a yes/no value; write true or false"
    if kind == "string_type":
        return f"{shown} is not text; put it in quotes"
    bounds = {"greater_than_equal": ("too small", "at least", "ge"), "greater_than": ("too small", "above", "gt"),
              "less_than_equal": ("too large", "at most", "le"), "less_than": ("too large", "below", "lt")}
    if kind in bounds:
        problem, relation, key = bounds[kind]
        limit = ctx[key]
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"{shown} is {problem}; it must be {relation} {limit:,}"
    if kind == "invalid_key":
        return f"{shown} is not a key name; keys are words such as trainer or batch_size"
    message = error["msg"]
    message = message[0].lower() + message[1:]
    return f"{excerpt(message, 80)}, got {shown}" if quoted else f"{shown}: {excerpt(message, 80)}"


def neighbourhood_size(config: Config) -> int:
    from lpz.config.grid import Grid
    grid = Grid.from_config(config)
    return max(len(grid.neighbourhood(cell)) for cell in grid.cells)


def beyond_this_machine(config: Config, cells_at_once: int = 1) -> str | None:
    """Why cells_at_once cells of this config would not fit in this machine's memory, or None
    (lpz.config.footprint: a rough, generous estimate)."""
    from lpz.config import footprint
    shape = tuple(DATASETS[config.dataloader.dataset_name].sample_shape(config.dataloader))
    return footprint.beyond_this_machine(config, shape, neighbourhood_size(config), cells_at_once)


def fused_unsupported(config: Config) -> str | None:
    """What general.fused_cells needs that the config does not have (a phrase), or None."""
    p = config.trainer.params
    if config.trainer.name != "lipizzaner":
        return f"gradient training (trainer.name lipizzaner, not {config.trainer.name})"
    if p.population_size != 1:
        return f"one pair per cell (trainer.params.population_size 1, not {p.population_size})"
    if not p.enable_selection:
        return "trainer.params.enable_selection true"
    if config.network.loss in ("mustangs", "wgan"):
        return f"network.loss bce, mse or heuristic (not {config.network.loss})"
    if p.optimizer == "rmsprop":
        return "trainer.params.optimizer adam"
    return None


def check_combinations(config: Config, quoted=lambda loc: True):
    """Yield (key path, message) for settings that are each valid but impossible together; quoted(key path)
    says whether its text may be quoted (no: it comes from an included file)."""
    params = config.trainer.params
    cells = neighbourhood_size(config)
    population = params.population_size * cells
    if params.enable_selection and params.tournament_size > population:  # without selection it is unused
        yield (("trainer", "params", "tournament_size"),
               f"{params.tournament_size} exceeds the {population} individuals of a neighbourhood "
               f"(population_size {params.population_size} x {cells} cells); use at most {population}, "
               f"or raise population_size")
    if params.n_replacements > params.population_size:
        yield (("trainer", "params", "n_replacements"),
               f"{params.n_replacements} exceeds population_size {params.population_size}; "
               f"use at most {params.population_size}")

    if config.fused and (why := fused_unsupported(config)):
        yield (("general", "fused_cells"), f"true needs {why}; set it false to train cell by cell")
    if config.general.keep_generations == 1:
        yield (("general", "keep_generations"),
               "1 is too few to recompute a damaged checkpoint; use 2 or more, or 0 to keep all")
    if config.dataloader.dataset_name not in DATASETS:
        close = difflib.get_close_matches(config.dataloader.dataset_name[:100], list(DATASETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        name = excerpt(config.dataloader.dataset_name) if quoted(("dataloader", "dataset_name")) else HIDDEN
        yield (("dataloader", "dataset_name"), f"{name} is not a dataset lpz knows; {hint}"
               f"use one of {', '.join(DATASETS)}")
        return
    spec = DATASETS[config.dataloader.dataset_name]
    shape = tuple(spec.sample_shape(config.dataloader))
    network = config.network.name
    needs = {  # network: (what it needs, whether this dataset has it)
        "mlp2d": ("is for 2-D points", spec.kind == "points"),
        "four_layer_perceptron": ("needs 1x28x28 images", shape == (1, 28, 28)),
        "convolutional": ("needs 32x32 or 64x64 images", spec.kind == "images" and shape[1:] in ((32, 32), (64, 64))),
    }
    need, fits = needs.get(network, ("", True))
    if not fits:
        fitting = [name for name, (_, ok) in needs.items() if ok]
        fix = f"use {' or '.join(fitting)}" if fitting else "no network of lpz fits it, choose another dataset"
        yield (("network", "name"), f"{network} {need}; dataset {spec.name} has samples of shape {shape}; {fix}")
    if config.dataloader.data_size is not None and spec.name != "gaussian":
        yield (("dataloader", "data_size"), f"only applies to dataset gaussian, not {spec.name}; remove it")
    if config.network.hidden_size is not None and network != "mlp2d":
        yield (("network", "hidden_size"), f"only mlp2d has a hidden_size; remove it for {network}")
    if fits:
        from lpz.config.footprint import too_big
        if reason := too_big(config, shape, cells):
            yield ("network",), reason
    for key in ("critic_steps", "weight_clip"):
        if getattr(params, key) is not None and config.network.loss != "wgan":
            yield (("trainer", "params", key), f"only applies to loss wgan, not {config.network.loss}; "
                                               f"remove it or set network.loss: wgan")
    if config.network.mustangs_mode != "generation" and config.network.loss != "mustangs":
        yield (("network", "mustangs_mode"), f"only applies to loss mustangs, not {config.network.loss}; "
                                             f"remove it or set loss: mustangs")
    yield from _trainer_combinations(config)


# trainer.params keys of gradient training, which the gradient-free trainers would silently ignore
GRADIENT_ONLY = ("default_adam_learning_rate", "alpha", "mutation_probability", "optimizer", "migrant_adam",
                 "own_share", "lr_decay", "final_average")


def _changed(section: Section, keys=None) -> list[str]:
    """The keys of a section whose values differ from their defaults. (Not model_fields_set: a run's
    stored config has every default written out, and must validate again.)"""
    fields = type(section).model_fields
    return [key for key in keys or fields if getattr(section, key) != fields[key].default]


def _trainer_combinations(config: Config):
    trainer = config.trainer
    for section, names in GRADIENT_FREE.items():
        if trainer.name not in names and (keys := _changed(getattr(trainer, section))):
            yield (("trainer", section, keys[0]), f"only applies to trainer {' or '.join(names)}, not "
                                                  f"{trainer.name}; remove it or set trainer.name: {names[0]}")
    if trainer.name == "lipizzaner":
        return
    section = next(s for s, names in GRADIENT_FREE.items() if trainer.name in names)
    for key in _changed(trainer.params, GRADIENT_ONLY):
        own = key in type(getattr(trainer, section)).model_fields  # e.g. an old config's alpha
        fix = f"move it to trainer.{section}.{key}, or remove it" if own else "remove it"
        yield (("trainer", "params", key), f"only applies to gradient training (trainer lipizzaner), "
                                           f"not {trainer.name}; {fix}")
    if config.network.loss in ("wgan", "mustangs"):
        yield (("network", "loss"), f"{config.network.loss} is not evolved by trainer {trainer.name}; "
                                    f"use bce, mse or heuristic, or trainer.name: lipizzaner")
    population = trainer.params.population_size  # the EA's population: the individuals a cell trains
    for key in ("tournament_size", "n_replacements"):
        if section == "ea" and getattr(trainer.ea, key) > population:
            yield (("trainer", "ea", key), f"{getattr(trainer.ea, key)} exceeds trainer.params.population_size "
                                           f"{population}; use at most {population}, or raise population_size")


def samples_due(config: Config, generation: int) -> bool:
    """Whether each cell draws a picture of its mixture's samples at this generation (and always at the last)."""
    every = config.general.sample_every
    if every is None:
        every = max(1, config.trainer.generations // 10)
    return every > 0 and (generation % every == 0 or generation == config.trainer.generations)


def resolved(config: Config) -> dict:
    """The config with every default filled in, as plain JSON-able data."""
    return config.model_dump(mode="json")
