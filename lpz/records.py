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
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

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
    score_details: dict[Small, Optional[float]] = {}
    mixture: MixtureRecord
    losses: Losses
    generators: list[IndividualSummary] = Field(min_length=1)
    discriminators: list[IndividualSummary] = Field(min_length=1)
    seconds: dict[Small, float]                   # per phase of the step, and io
    started_at: Optional[float] = None            # seconds since the epoch
    device: Optional[Small] = None
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


class RunInfo(Record):
    id: Small
    config: dict
    config_file: Annotated[str, StringConstraints(max_length=4096)] = ""
    created: IsoTime
    grid: RunGrid
    executor: Literal["local", "cluster"] = "local"


class ControlRecord(Record):
    state: Literal["cancelled", "failed"]
    at: Optional[IsoTime] = None
    error: Reason = ""
    generation: Optional[int] = None
    cell: Optional[int] = None
    worker: Small = ""


class MixtureResult(Record):
    score: Optional[float]
    weights: list[float] = Field(min_length=1)
    cells_mixed: list[int] = Field(min_length=1)
    files: dict[Literal["generators.pt"], Sha256]


class EnsembleMember(Record):
    cell: int = Field(ge=0)
    index: int = Field(ge=0)  # in the cell's population


class EnsembleRecord(Record):
    method: Small
    score: Optional[float]
    weights: list[float] = Field(min_length=1)
    members: list[EnsembleMember] = Field(min_length=1)
    files: dict[Literal["generators.pt"], Sha256]


class LeaseRecord(Record):
    worker: Small
    task: Small = ""
    started: float
    renewed: float
    period: float = Field(gt=0, le=24 * 3600)


class InvalidRecord(ValueError):
    pass


def checked(model: type[Record], value) -> dict:
    """value itself when it is a valid record of model; else InvalidRecord naming the first problem."""
    try:
        model.model_validate(value)
    except ValidationError as e:
        raise InvalidRecord(_first_problem(e)) from None
    return value


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part)[:40] for part in first["loc"]) or "the record"
    return f"{where}: {first['msg'].lower()} (got {excerpt(first.get('input'))})"
