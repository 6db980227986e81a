"""The JSON records of a run in the store, and the checks every read of them passes.

What is read from the store is untrusted: it may be damaged, or written by someone who should not
have. Each record is validated on read against the schema below, so that a reader (status, the
barrier, the assembly) never meets a value of the wrong type. A record that fails is damage, and
its readers treat it as they treat a checksum mismatch (lpz.runs).

    runs/<id>/run.json                       RunInfo
    runs/<id>/control.json                   ControlRecord: the run was cancelled or failed
    runs/<id>/gen/<g>/cell/<c>/metrics.json  CellMetrics: the commit marker of a cell-generation
    runs/<id>/mixture/mixture.json           MixtureResult: the run's result, which marks it finished
    runs/<id>/ensembles/<name>/ensemble.json EnsembleRecord: an ensemble built from the finished run
    .../lease.json                           LeaseRecord: a task at work on a cell (lpz.engine.leases)
    lpz:refused:<run> (the broker)           Refusal: why a worker refused a task of the run

The records are also the in-memory types: lpz builds them, writes them (`to_json`, the fields it set, so
a record written today has the keys it always had) and reads them (`checked`) as these models, never as
dicts. Fields added since a record was first written have defaults, so old stores still read.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional, TypeVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from lpz.errors import excerpt

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Small = Annotated[str, StringConstraints(max_length=200)]
Reason = Annotated[str, StringConstraints(max_length=1000)]


def _iso_time(text: str) -> str:
    datetime.fromisoformat(text)  # a ValueError is the validation error
    return text


IsoTime = Annotated[Small, AfterValidator(_iso_time)]


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json(self) -> dict:
        """The record as written to the store: the fields that were set (a default left out stays out)."""
        return self.model_dump(mode="python", exclude_unset=True)


# A scorer's further numbers by name (lpz.scoring: modes_covered, modes, high_quality, tvd); counts stay ints.
Measures = dict[Small, Optional[Union[int, float]]]


class IndividualSummary(Record):
    fitness: float
    lr: float = Field(ge=0)
    origin: tuple[int, int]
    loss: Small


class MixtureRecord(Record):
    cells: list[int]
    weights: list[float]
    accepted: bool


class Losses(Record):
    generator: Optional[float]
    discriminator: Optional[float]


class CellMetrics(Record):
    """What one cell-generation measured: built by the cell step (lpz.algorithm.cell), completed by the
    work around it (timing, device) and by the commit (checksums, time), read by every view."""
    cell: int = Field(ge=0)
    generation: int = Field(ge=1)
    score: Optional[float]
    score_details: Measures = {}  # counts stay ints (a float field made them "0.0/8.0 modes")
    mixture: MixtureRecord
    losses: Losses
    generators: list[IndividualSummary] = Field(min_length=1)
    discriminators: list[IndividualSummary] = Field(min_length=1)
    seconds: dict[Small, float]                   # per phase of the step, and io
    started_at: Optional[float] = None            # seconds since the epoch
    device: Optional[Small] = None
    platform: Optional[Small] = None  # what computed it (lpz.devices.platform); None in older stores
    files: dict[Literal["state.pt", "public.pt"], Sha256] = {}  # set by the commit
    committed_at: Optional[float] = None                        # set by the commit

    @property
    def lr_generator(self) -> float:
        return min(i.lr for i in self.generators)

    @property
    def lr_discriminator(self) -> float:
        return min(i.lr for i in self.discriminators)

    @property
    def compute_seconds(self) -> float:
        return sum(seconds for phase, seconds in self.seconds.items() if phase != "io")

    def to_json(self) -> dict:
        return self.model_dump(mode="python")

    @classmethod
    def read(cls, value) -> "CellMetrics":
        """The record in value (parsed JSON), committed; InvalidRecord naming the first problem otherwise."""
        try:
            metrics = cls.model_validate(value)
        except ValidationError as e:
            raise InvalidRecord(_first_problem(e)) from None
        if metrics.committed_at is None or set(metrics.files) != {"state.pt", "public.pt"}:
            raise InvalidRecord("it does not record a commit (files and committed_at)")
        return metrics


class RunGrid(Record):
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    topology: Optional[Small] = None
    cells: Optional[int] = None


class RunInfo(Record):
    """run.json: what a run is, written once when it is created (lpz.runs.base)."""
    id: Small
    config: dict                      # resolved: every default filled in; validated when read
    config_file: Annotated[str, StringConstraints(max_length=4096)] = ""
    seed: Optional[int] = None
    grid: RunGrid
    created: IsoTime
    lpz_version: Small = ""
    executor: Literal["local", "cluster"] = "local"


class ControlRecord(Record):
    """control.json: the run was cancelled, or failed (where, on which worker, why)."""
    state: Literal["cancelled", "failed"]
    at: Optional[IsoTime] = None
    error: Reason = ""
    generation: Optional[int] = None
    cell: Optional[int] = None
    worker: Optional[Small] = None


class Candidate(Record):
    """One cell's neighbourhood mixture, as the assembly scored it."""
    cell: int = Field(ge=0)
    cells: list[int]
    weights: list[float]
    score: Optional[float]
    details: Measures = {}
    origins: list[tuple[int, int]] = []


class Optimised(Record):
    """The evolution strategy over the result's weights (trainer.params.optimize_mixture)."""
    generations: int
    sigma: float
    samples: int
    accepted: int
    es_score: Optional[float]
    score_before: Optional[float]
    score_after: Optional[float]
    kept: bool


class MixtureResult(Record):
    """mixture.json: the run's result (lpz.engine.assemble). files is set when it is written, with the
    generators it describes; a record read from the store must have it."""
    source: Small = "neighbourhood"
    best_cell: Optional[int] = None   # the cell whose neighbourhood mixture it is; None for the whole grid's
    cells_mixed: list[int] = Field(min_length=1)
    weights: list[float] = Field(min_length=1)
    score: Optional[float]
    details: Measures = {}
    optimized: Optional[Optimised] = None
    cells: list[Candidate] = []
    sample_size: Optional[int] = None
    scorer: Optional[Small] = None
    finished: Optional[IsoTime] = None
    files: dict[Literal["generators.pt"], Sha256] = {}


class EnsembleMember(Record):
    cell: int = Field(ge=0)
    index: int = Field(ge=0)  # in the cell's population
    origin: Optional[tuple[int, int]] = None


class EnsembleSearch(Record):
    """How the search went: its best score, the weightings it scored, the best after each step."""
    score: float
    evaluations: int
    history: list[float] = []
    samples: int
    candidates: int
    seconds: float


class EnsembleRecord(Record):
    """ensemble.json: an ensemble built from a finished run (lpz.engine.ensembles); files as for the result."""
    name: Small = ""
    method: Small
    max_size: Optional[int] = None
    score: Optional[float]
    details: Measures = {}
    weights: list[float] = Field(min_length=1)
    members: list[EnsembleMember] = Field(min_length=1)
    search: Optional[EnsembleSearch] = None
    sample_size: Optional[int] = None
    scorer: Optional[Small] = None
    created: Optional[IsoTime] = None
    files: dict[Literal["generators.pt"], Sha256] = {}


class LeaseRecord(Record):
    worker: Small
    task: Small = ""
    started: float
    renewed: float
    period: float = Field(gt=0, le=24 * 3600)


class Refusal(Record):
    """Why a worker refused a task of a run (lpz.engine.cluster keeps the latest of each worker)."""
    worker: str = ""
    store: str = ""
    reason: str


class InvalidRecord(ValueError):
    pass


R = TypeVar("R", bound=Record)


def checked(model: type[R], value) -> R:
    """value (parsed JSON) as a record of model; InvalidRecord naming the first problem when it is not one."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise InvalidRecord(_first_problem(e)) from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part)[:40] for part in first["loc"]) or "the record"
    return f"{where}: {first['msg'].lower()} (got {excerpt(first.get('input'))})"
