"""A run as it lives in the store (docs/design.md section 3; the keys are in lpz.runs.keys).

A Run reads and writes its records and checkpoints, and checks everything it reads: the store is
untrusted (docs/design.md section 4). A commit marker (metrics.json) records the sha256 of the
checkpoints it commits; a checkpoint that is missing, differs, is refused by the safe loader or is
not the state it should be raises DamagedCheckpoint, which the engine recomputes. Generation 0 is
never stored and never read here: the engine makes it from the run seed.

Reading a run's records imports no torch (`lpz status` and `lpz list` answer at once); reading or
writing checkpoints does.
"""
from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from lpz import __version__
from lpz.config.grid import Grid
from lpz.config import Config, resolved, validate
from lpz.data.specs import DATASETS
from lpz.errors import ConfigError, CorruptObject, ObjectMissing, RunNotFound, UserError, excerpt
from lpz.files import sha256
from lpz.records import CellMetrics, ControlRecord, EnsembleRecord, InvalidRecord, MixtureResult, RunInfo, checked
from lpz.runs import keys
from lpz.store.base import Store

log = logging.getLogger("lpz")
MAX_RECORD_BYTES = 4 * 2**20  # a metrics.json or mixture.json is a few KB
MAX_PICTURE_BYTES = 16 * 2**20  # a samples.png of 64 previews is tens of KB


class DamagedRun(UserError):
    """A run whose run.json cannot be read: nothing of it can be recomputed."""


class DamagedResult(UserError):
    """A finished run whose result (mixture/) is damaged: `lpz assemble` rebuilds it."""


class DamagedCheckpoint(CorruptObject):
    """A committed cell-generation whose marker or checkpoint cannot be trusted: recompute it."""

    def __init__(self, key: str, generation: int, cell: int, detail: str):
        super().__init__(key, detail)
        self.generation, self.cell = generation, cell


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


def check_ensemble_name(name: str) -> str:
    """name itself when it can name an ensemble (it becomes part of a store key); else a UserError."""
    if not (isinstance(name, str) and keys.ENSEMBLE_NAME.fullmatch(name)):
        raise UserError(f"{excerpt(name)} is not an ensemble name; use 1-40 lower-case letters, digits, '_', '.' "
                        f"or '-', starting with a letter or digit")
    return name


@dataclass
class Run:
    store: Store
    id: str

    # ------------------------------------------------------------- creation

    @classmethod
    def create(cls, store: Store, config: Config, config_file: str = "", run_id: str | None = None,
               executor: str = "local") -> "Run":
        """A new run in the store; executor "local" (lpz run) or "cluster" (lpz submit)."""
        run_id = check_run_id(run_id or new_run_id(config.name or "run"))
        run = cls(store, run_id)
        grid = Grid.from_config(config)
        store.put_json(run.key("run.json"), {
            "id": run_id,
            "config": resolved(config),
            "config_file": config_file,
            "seed": config.general.seed,
            "grid": {"rows": grid.rows, "cols": grid.cols, "topology": grid.topology, "cells": grid.size},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lpz_version": __version__,
            "executor": executor,
        })
        return run

    @classmethod
    def open(cls, store: Store, run_id: str) -> "Run":
        run = cls(store, check_run_id(run_id))
        run.__dict__["info"] = run._read_info()  # the cached_property, read once
        return run

    @cached_property
    def info(self) -> dict:
        return self._read_info()

    def _read_info(self) -> dict:
        try:
            info = checked(RunInfo, self.store.get_json(self.key("run.json"), max_bytes=MAX_RECORD_BYTES))
            if info["id"] != self.id:
                raise InvalidRecord(f"it is the record of run {excerpt(info['id'])}")
            self.__dict__["config"] = validate(info["config"], "config")
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
        return self.info.get("executor", "local")

    @property
    def created(self) -> float:
        """Seconds since the epoch."""
        return datetime.fromisoformat(self.info["created"]).timestamp()

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

    # ------------------------------------------------------------- progress

    def committed(self, generation: int, cell: int) -> bool:
        return generation == 0 or self.store.exists(self.cell_key(generation, cell, keys.MARKER))

    def committed_cells(self) -> dict[int, set[int]]:
        """generation -> cells whose generation is committed, from one listing of the store."""
        done: dict[int, set[int]] = {}
        for key in self.store.list(self.key("gen") + "/"):
            found = self.cell_file(key)
            if found and found[2] == keys.MARKER:
                done.setdefault(found[0], set()).add(found[1])
        return done

    def files_in(self, generation: int) -> dict[str, set[int]]:
        """name -> cells that have a file of that name in the generation (one listing)."""
        found: dict[str, set[int]] = {}
        for key in self.store.list(keys.generation(self.id, generation)):
            parsed = self.cell_file(key)
            if parsed and parsed[0] == generation:
                found.setdefault(parsed[2], set()).add(parsed[1])
        return found

    def committed_in(self, generation: int) -> set[int]:
        """The cells whose given generation is committed, from a listing of that generation alone."""
        return self.files_in(generation).get(keys.MARKER, set())

    def last_complete_generation(self, committed: dict[int, set[int]] | None = None, known: int = 0) -> int:
        """The last generation every cell has committed. known: one known to be complete (a hint, checked):
        then only the generations after it are listed, one at a time, instead of the whole run."""
        if known and committed is None and len(self.committed_in(known)) == self.grid.size:
            g = known
            while g < self.generations and len(self.committed_in(g + 1)) == self.grid.size:
                g += 1
            return g
        committed = self.committed_cells() if committed is None else committed
        g = 0
        while len(committed.get(g + 1, ())) == self.grid.size:
            g += 1
        return g

    def finished(self) -> bool:
        return self.store.exists(keys.result(self.id, "mixture.json"))

    # ------------------------------------------------------------- control and the active list

    def control(self) -> dict:
        """{"state": "cancelled" | "failed", ...} once a run was cancelled or failed, else {}."""
        try:
            return checked(ControlRecord, self.store.get_json(keys.control(self.id), max_bytes=MAX_RECORD_BYTES))
        except ObjectMissing:
            return {}
        except (CorruptObject, InvalidRecord):
            clears = f"lpz resume {self.id}" if self.executor == "cluster" else f"lpz run --resume {self.id}"
            return {"state": "failed", "error": f"its control.json is damaged; `{clears}` clears it"}

    def set_control(self, state: str, **details) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.put_json(keys.control(self.id), {"state": state, "at": when, **details})

    def clear_control(self) -> None:
        self.store.delete(keys.control(self.id))

    def set_active(self, active: bool) -> None:
        """Put the run on (or take it off) the store's list of cluster runs that workers drive."""
        if active:
            self.store.put_json(keys.active(self.id), {"run": self.id, "since": time.time()})
        else:
            self.store.delete(keys.active(self.id))

    # ------------------------------------------------------------- cell-generations

    def metrics(self, generation: int, cell: int) -> CellMetrics:
        """The commit marker of a cell-generation, checked; DamagedCheckpoint when it is not a valid record
        (ObjectMissing when it is not there: the cell-generation is not committed)."""
        key = self.cell_key(generation, cell, keys.MARKER)
        try:
            metrics = CellMetrics.read(self.store.get_json(key, max_bytes=MAX_RECORD_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        if (metrics.generation, metrics.cell) != (generation, cell):
            raise DamagedCheckpoint(key, generation, cell, "it belongs to another cell or generation")
        return metrics

    def read_checkpoint(self, generation: int, cell: int, name: str, sample_shape: tuple):
        """A committed CellState (name: state.pt or public.pt), whole and checked; DamagedCheckpoint for
        anything else: missing, not matching its committed sha256, refused by the safe loader, or not
        the state of this cell and network."""
        from lpz.algorithm.individual import CellState, Expected, NotACellState
        from lpz.store.base import tensors_from

        if generation < 1:
            raise ValueError("generation 0 is never stored: lpz.engine.work makes it")
        key = self.cell_key(generation, cell, name)
        try:
            recorded = self.metrics(generation, cell).files[name]
            data = self.store.get(key, self.checkpoint_bytes)
        except CorruptObject as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        except ObjectMissing:
            raise DamagedCheckpoint(key, generation, cell, "missing") from None
        if recorded != sha256(data):
            raise DamagedCheckpoint(key, generation, cell, "its sha256 differs from the one committed")
        try:
            plain = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise DamagedCheckpoint(key, generation, cell, "the safe loader refuses it (it holds more than "
                                                           "tensors and plain values)") from None
        try:
            return CellState.from_dict(plain, Expected(self.config, self.grid, cell, generation, sample_shape,
                                                       public=name == "public.pt"))
        except NotACellState as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None

    def write_cell(self, state, metrics: CellMetrics, picture: bytes | None = None) -> CellMetrics:
        """Checkpoints (and the picture of its samples) first, then the commit marker with their sha256,
        whose presence commits them. The seconds spent writing are added to the marker's io seconds."""
        from lpz.store.base import tensor_bytes

        start = time.perf_counter()
        g, c = state.generation, state.cell
        if picture is not None:
            self.store.put(self.cell_key(g, c, "samples.png"), picture)
        files = {}
        for name in keys.CHECKPOINTS:
            data = tensor_bytes(state.to_dict(public=name == "public.pt"))
            self.store.put(self.cell_key(g, c, name), data)
            files[name] = sha256(data)
        seconds = {**metrics.seconds, "io": metrics.seconds.get("io", 0.0) + time.perf_counter() - start}
        committed = metrics.model_copy(update={"seconds": seconds, "files": files, "committed_at": time.time()})
        self.store.put_json(self.cell_key(g, c, keys.MARKER), committed.to_json())
        return committed

    def uncommit(self, generation: int, cell: int) -> None:
        self.store.delete(self.cell_key(generation, cell, keys.MARKER))

    def prune(self, complete: int) -> None:
        """Once generation `complete` is complete, drop the checkpoints of the generation that fell out
        of the last keep_generations (markers stay, for status and reports; with keep_every N, the public
        states of every Nth generation stay too)."""
        keep, every = self.config.general.keep_generations, self.config.general.keep_every
        old = complete - keep
        if keep and old >= 1:
            kept = ("public.pt",) if every and old % every == 0 else ()
            for c in self.grid.cells:
                for name in keys.CHECKPOINTS:
                    if name not in kept:
                        self.store.delete(self.cell_key(old, c, name))

    def all_metrics(self) -> dict[int, dict[int, CellMetrics]]:
        """generation -> cell -> metrics, for every committed cell-generation whose marker is sound.

        Committed metrics do not change, so each is read once per Run object; after the first call
        only the generations not yet complete are listed again (watchers poll this on long runs)."""
        cache = self.__dict__.setdefault("_metrics", {})
        if not cache:
            committed = self.committed_cells()
        else:
            committed: dict[int, set[int]] = {}
            for g, c in cache:
                committed.setdefault(g, set()).add(c)
            g = 1
            while len(committed.get(g, ())) == self.grid.size:
                g += 1
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

    # ------------------------------------------------------------- the result

    def write_result(self, generators: dict, result: dict) -> None:
        """The mixture's generators, then mixture.json with their sha256: written last, it marks the run
        finished."""
        self._write_mixture(keys.result(self.id, "generators.pt"), keys.result(self.id, "mixture.json"),
                            generators, result)

    def read_result(self) -> dict:
        """The run's result (mixture.json), checked; DamagedResult when it cannot be trusted."""
        return self._read_record(keys.result(self.id, "mixture.json"), MixtureResult, self._damaged_result)

    def checked_result(self) -> tuple[dict, bytes]:
        """The run's result and the bytes of its generators.pt, which match the sha256 it records."""
        result = self.read_result()
        return result, self._checked_generators(keys.result(self.id, "generators.pt"), result, self._damaged_result)

    def read_result_generators(self) -> dict:
        """{"cells", "weights", "generators"} of the result, checked against mixture.json and the network."""
        result, data = self.checked_result()
        return self._mixture_generators(result, data, self._damaged_result)

    def _damaged_result(self, detail: str) -> DamagedResult:
        return DamagedResult(f"run {self.id}: its result is damaged ({detail}); rebuild it from the last "
                             f"generation with `lpz assemble {self.id}`")

    # ------------------------------------------------------------- ensembles built from a finished run

    def write_ensemble(self, name: str, generators: dict, record: dict) -> None:
        """An ensemble's generators, then its ensemble.json with their sha256 (runs/<id>/ensembles/<name>/)."""
        self._write_mixture(keys.ensemble(self.id, name, "generators.pt"), keys.ensemble(self.id, name, "ensemble.json"),
                            generators, record)

    def ensemble_names(self) -> list[str]:
        """The names of the ensembles built from this run, whose record exists."""
        return sorted(name for key in self.store.list(keys.ensemble(self.id, "", ""))
                      if (name := keys.parse_ensemble(self.id, key)) is not None)

    def read_ensemble(self, name: str) -> dict:
        """An ensemble's record, checked; a UserError when there is none of that name."""
        check_ensemble_name(name)
        if not self.store.exists(keys.ensemble(self.id, name, "ensemble.json")):
            built = ", ".join(self.ensemble_names()) or "none yet"
            raise UserError(f"run {self.id} has no ensemble {excerpt(name)} (built: {built}); "
                            f"build one with `lpz ensemble {self.id} --method greedy-iterative`")
        return self._read_record(keys.ensemble(self.id, name, "ensemble.json"), EnsembleRecord,
                                 lambda detail: self._damaged_ensemble(name, detail))

    def read_ensemble_generators(self, name: str) -> dict:
        """{"members", "weights", "generators"} of an ensemble, checked against its record and the network."""
        record = self.read_ensemble(name)
        damaged = lambda detail: self._damaged_ensemble(name, detail)  # noqa: E731
        data = self._checked_generators(keys.ensemble(self.id, name, "generators.pt"), record, damaged)
        return self._mixture_generators(record, data, damaged)

    def _damaged_ensemble(self, name: str, detail: str) -> DamagedResult:
        return DamagedResult(f"run {self.id}: its ensemble {name} is damaged ({detail}); build it again with "
                             f"`lpz ensemble {self.id} --name {name} --replace` and the method it was built with")

    # ------------------------------------------------------------- mixtures in the store, checked

    def _write_mixture(self, generators_key: str, record_key: str, generators: dict, record: dict) -> None:
        data = self.store.put_tensors(generators_key, generators)
        self.store.put_json(record_key, {**record, "files": {"generators.pt": sha256(data)}})

    def _read_record(self, key: str, model, damaged) -> dict:
        try:
            return checked(model, self.store.get_json(key, max_bytes=MAX_RECORD_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise damaged(f"{key.rsplit('/', 1)[-1]}: {e}") from None

    def _checked_generators(self, key: str, record: dict, damaged) -> bytes:
        """The bytes of a generators.pt, which match the sha256 its record holds."""
        try:
            data = self.store.get(key, self.mixture_bytes)
        except (CorruptObject, ObjectMissing) as e:
            raise damaged(f"generators.pt: {e}") from None
        if sha256(data) != record["files"]["generators.pt"]:
            raise damaged("generators.pt: its sha256 differs from the one its record holds")
        return data

    def _mixture_generators(self, record: dict, data: bytes, damaged) -> dict:
        """The generators.pt of a record, loaded safely and checked against the record and the network."""
        from lpz.algorithm.individual import weights_fit
        from lpz.algorithm.nets import parameter_shapes
        from lpz.store.base import tensors_from

        try:
            saved = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise damaged("generators.pt: the safe loader refuses it") from None
        if not (isinstance(saved, dict) and isinstance(saved.get("generators"), list)
                and saved.get("weights") == record["weights"] and len(saved["generators"]) == len(record["weights"])):
            raise damaged("generators.pt does not hold the mixture its record describes")
        shapes = parameter_shapes(self.config.network, self.sample_shape, "g")
        if not all(weights_fit(weights, shapes) for weights in saved["generators"]):
            raise damaged("generators.pt: its weights do not fit the run's network")
        return saved

    def unfinish(self) -> None:
        """Remove the mark of a finished run, so that its result is assembled again."""
        self.store.delete(keys.result(self.id, "mixture.json"))
