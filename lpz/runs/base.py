"""A run's identity: its id, its run.json (RunInfo) and what follows from them (config, grid, keys, bounds).

Every other part of a Run (lpz.runs.run) builds on this one. Reading run.json imports no torch.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from lpz import __version__
from lpz.config import Config, resolved, validate
from lpz.config.grid import Grid
from lpz.data.specs import DATASETS
from lpz.errors import ConfigError, CorruptObject, ObjectMissing, RunNotFound, UserError, excerpt
from lpz.records import InvalidRecord, RunGrid, RunInfo, checked
from lpz.runs import keys
from lpz.store.base import Store

MAX_RECORD_BYTES = 4 * 2**20  # a metrics.json or mixture.json is a few KB
MAX_PICTURE_BYTES = 16 * 2**20  # a samples.png of 64 previews is tens of KB


class DamagedRun(UserError):
    """A run whose run.json cannot be read: nothing of it can be recomputed."""


RUN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str):
        raise UserError(f"run id {excerpt(run_id)} is not text; `lpz list` shows the runs in the store")
    if not run_id:
        raise UserError("run id is empty; `lpz list` shows the runs in the store")
    if len(run_id) > 80:
        raise UserError(f"run id is {len(run_id)} characters long; ids have at most 80 (see `lpz list`)")
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        shown = run_id if run_id.isprintable() else run_id.encode("unicode_escape").decode()
        raise UserError(f"run id {shown!r} is malformed: ids are lower-case letters, digits, '.', '_' "
                        f"and '-' (see `lpz list`)")
    return run_id


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{slug}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass
class RunBase:
    store: Store
    id: str

    @classmethod
    def create(cls, store: Store, config: Config, config_file: str = "", run_id: str | None = None,
               executor: str = "local"):
        """A new run in the store; executor "local" (lpz run) or "cluster" (lpz submit)."""
        run_id = check_run_id(run_id or new_run_id(config.name or "run"))
        run = cls(store, run_id)
        grid = Grid.from_config(config)
        info = RunInfo(id=run_id, config=resolved(config), config_file=config_file, seed=config.general.seed,
                       grid=RunGrid(rows=grid.rows, cols=grid.cols, topology=grid.topology, cells=grid.size),
                       created=datetime.now(timezone.utc).isoformat(timespec="seconds"), lpz_version=__version__,
                       executor=executor)
        store.put_json(run.key("run.json"), info.to_json())
        return run

    @classmethod
    def open(cls, store: Store, run_id: str):
        run = cls(store, check_run_id(run_id))
        run.__dict__["info"] = run._read_info()  # the cached_property, read once
        return run

    @cached_property
    def info(self) -> RunInfo:
        return self._read_info()

    def _read_info(self) -> RunInfo:
        try:
            info = checked(RunInfo, self.store.get_json(self.key("run.json"), max_bytes=MAX_RECORD_BYTES))
            if info.id != self.id:
                raise InvalidRecord(f"it is the record of run {excerpt(info.id)}")
            self.__dict__["config"] = validate(info.config, "config")
        except ObjectMissing:
            raise RunNotFound(f"no run {self.id!r} in store {self.store.url}; `lpz list` shows the runs there") \
                from None
        except (CorruptObject, InvalidRecord, ConfigError) as e:
            raise DamagedRun(f"run {self.id}: its run.json is damaged ({e}); the run cannot be read, "
                             f"start it again from its config") from None
        return info

    @cached_property
    def config(self) -> Config:
        self.info  # reading run.json validates its config
        return self.__dict__["config"]

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_config(self.config)

    @property
    def generations(self) -> int:
        return self.config.trainer.generations

    @property
    def executor(self) -> str:
        return self.info.executor

    @property
    def created(self) -> float:
        """Seconds since the epoch."""
        return datetime.fromisoformat(self.info.created).timestamp()

    @cached_property
    def checkpoint_bytes(self) -> int:
        """The most a checkpoint of this run may hold; a larger one is damage (lpz.config.footprint)."""
        from lpz.config.footprint import checkpoint_bytes
        return checkpoint_bytes(self.config, self.sample_shape)

    @cached_property
    def mixture_bytes(self) -> int:
        """The most a result's or an ensemble's generators.pt may hold (every generator of the grid)."""
        from lpz.config.footprint import mixture_bytes
        return mixture_bytes(self.config, self.sample_shape, self.grid.size * self.config.trainer.params.population_size)

    @property
    def sample_shape(self) -> tuple:
        loader = self.config.dataloader
        return tuple(DATASETS[loader.dataset_name].sample_shape(loader))

    # ------------------------------------------------------------- keys

    def key(self, *parts) -> str:
        return keys.run(self.id, *parts)

    def cell_key(self, generation: int, cell: int, name: str) -> str:
        return keys.cell(self.id, generation, cell, name)

    def cell_file(self, key: str) -> tuple[int, int, str] | None:
        """(generation, cell, name) of a key of one of this run's cell-generations; None for any other key
        (a listing is untrusted: it may hold names lpz never wrote)."""
        found = keys.parse_cell(self.id, key)
        if found and 1 <= found[0] <= self.generations and found[1] in self.grid.cells:
            return found
        return None
