"""A run as it lives in the store (docs/design.md section 3).

    runs/<id>/run.json                        resolved config, seed, grid, created, code version
    runs/<id>/gen/<g>/cell/<c>/state.pt       private: everything the cell needs to continue
    runs/<id>/gen/<g>/cell/<c>/public.pt      what neighbours read: no Adam state
    runs/<id>/gen/<g>/cell/<c>/metrics.json   written last: its presence commits the cell's generation
    runs/<id>/mixture/...                     the assembled result

Generation 0 is never stored: it is the networks' initialisation from the
run seed, recomputed wherever it is needed. metrics.json records the sha256
of the checkpoints it commits, so a damaged checkpoint is detected on read.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from lpz import __version__
from lpz.config import Config, resolved, validate
from lpz.errors import CorruptObject, ObjectMissing, RunNotFound, UserError, excerpt
from lpz.algorithm.grid import Grid
from lpz.data.specs import DATASETS
from lpz.algorithm.individual import CellState, Expected, NotACellState, weights_fit
from lpz.algorithm.nets import parameter_shapes
from lpz.records import CellMetrics, InvalidRecord, MixtureResult, RunInfo, checked
from lpz.store.base import Store, tensor_bytes, tensors_from

log = logging.getLogger("lpz")
MAX_METRICS_BYTES = 4 * 2**20  # a cell's metrics.json is a few KB


class DamagedRun(UserError):
    """A run whose run.json cannot be read: nothing of it can be recomputed."""


class DamagedResult(UserError):
    """A finished run whose result (mixture/) is damaged: `lpz assemble` rebuilds it."""


class DamagedCheckpoint(CorruptObject):
    """A committed checkpoint that is missing or fails its checksum: recompute its cell-generation."""

    def __init__(self, key: str, generation: int, cell: int, detail: str):
        super().__init__(key, detail)
        self.generation, self.cell = generation, cell


RUN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str):
        raise UserError(f"run id {excerpt(run_id)} is not text; `lpz list` shows the runs in the store")
    if not run_id:
        raise UserError("run id is empty; `lpz list` shows the runs in the store")
    if len(run_id) > 80:
        raise UserError(f"run id is {len(run_id)} characters long; ids have at most 80 (see `lpz list`)")
    if not RUN_ID.match(run_id) or ".." in run_id:
        shown = run_id if run_id.isprintable() else run_id.encode("unicode_escape").decode()
        raise UserError(f"run id {shown!r} is malformed: ids are lower-case letters, digits, '.', '_' "
                        f"and '-' (see `lpz list`)")
    return run_id


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{slug}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
            return checked(RunInfo, self.store.get_json(self.key("run.json")))
        except ObjectMissing:
            raise RunNotFound(f"no run {self.id!r} in store {self.store.url}; `lpz list` shows the runs there") \
                from None
        except (CorruptObject, InvalidRecord) as e:
            raise DamagedRun(f"run {self.id}: its run.json is damaged ({e}); the run cannot be read, "
                             f"start it again from its config") from None

    @cached_property
    def config(self) -> Config:
        return validate(self.info["config"], f"run {self.id}")

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_config(self.config)

    @property
    def generations(self) -> int:
        return self.config.trainer.generations

    @property
    def sample_shape(self) -> tuple:
        loader = self.config.dataloader
        return tuple(DATASETS[loader.dataset_name].sample_shape(loader))

    # ------------------------------------------------------------- keys

    def key(self, *parts) -> str:
        return "/".join(["runs", self.id, *map(str, parts)])

    def cell_key(self, generation: int, cell: int, name: str) -> str:
        return self.key("gen", generation, "cell", cell, name)

    # ------------------------------------------------------------- progress

    def committed(self, generation: int, cell: int) -> bool:
        return generation == 0 or self.store.exists(self.cell_key(generation, cell, "metrics.json"))

    def cell_file(self, key: str) -> tuple[int, int, str] | None:
        """(generation, cell, name) of a key runs/<id>/gen/<g>/cell/<c>/<name> of this run; None for any
        other key (a listing is untrusted: it may hold names lpz never wrote)."""
        parts = key.split("/")
        if len(parts) != 7 or parts[:3] != ["runs", self.id, "gen"] or parts[4] != "cell":
            return None
        g, c = parts[3], parts[5]
        if not (g.isdigit() and c.isdigit() and len(g) < 7 and len(c) < 7):
            return None
        g, c = int(g), int(c)
        if not (1 <= g <= self.generations and c in self.grid.cells):
            return None
        return g, c, parts[6]

    def committed_cells(self) -> dict[int, set[int]]:
        """generation -> cells whose generation is committed, from one listing of the store."""
        done: dict[int, set[int]] = {}
        for key in self.store.list(self.key("gen") + "/"):
            found = self.cell_file(key)
            if found and found[2] == "metrics.json":
                done.setdefault(found[0], set()).add(found[1])
        return done

    def committed_in(self, generation: int) -> set[int]:
        """The cells whose given generation is committed, from a listing of that generation alone."""
        found = (self.cell_file(key) for key in self.store.list(self.key("gen", generation, "cell") + "/"))
        return {f[1] for f in found if f and f[0] == generation and f[2] == "metrics.json"}

    def last_complete_generation(self, committed: dict[int, set[int]] | None = None) -> int:
        committed = self.committed_cells() if committed is None else committed
        g = 0
        while len(committed.get(g + 1, ())) == self.grid.size:
            g += 1
        return g

    def finished(self) -> bool:
        return self.store.exists(self.key("mixture", "mixture.json"))

    # ------------------------------------------------------------- the result

    def write_result(self, generators: dict, result: dict) -> None:
        """The mixture's generators, then mixture.json with their sha256: written last, it marks the run
        finished."""
        data = self.store.put_tensors(self.key("mixture", "generators.pt"), generators)
        self.store.put_json(self.key("mixture", "mixture.json"), {**result, "files": {"generators.pt": sha256(data)}})

    def read_result(self) -> dict:
        """The run's result (mixture.json), checked; DamagedResult when it cannot be trusted."""
        try:
            return checked(MixtureResult, self.store.get_json(self.key("mixture", "mixture.json"),
                                                              max_bytes=MAX_METRICS_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise self._damaged_result(f"mixture.json: {e}") from None

    def checked_result(self) -> tuple[dict, bytes]:
        """The run's result and the bytes of its generators.pt, which match the sha256 it records."""
        result = self.read_result()
        try:
            data = self.store.get(self.key("mixture", "generators.pt"))
        except (CorruptObject, ObjectMissing) as e:
            raise self._damaged_result(f"generators.pt: {e}") from None
        if sha256(data) != result["files"]["generators.pt"]:
            raise self._damaged_result("generators.pt: its sha256 differs from the one in mixture.json")
        return result, data

    def read_result_generators(self) -> dict:
        """{"cells", "weights", "generators"} of the result, checked against mixture.json and the network."""
        result, data = self.checked_result()
        try:
            saved = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise self._damaged_result("generators.pt: the safe loader refuses it") from None
        if not (isinstance(saved, dict) and isinstance(saved.get("generators"), list)
                and saved.get("weights") == result["weights"] and len(saved["generators"]) == len(result["weights"])):
            raise self._damaged_result("generators.pt does not hold the mixture that mixture.json describes")
        shapes = parameter_shapes(self.config.network, self.sample_shape, "g")
        if not all(weights_fit(weights, shapes) for weights in saved["generators"]):
            raise self._damaged_result("generators.pt: its weights do not fit the run's network")
        return saved

    def _damaged_result(self, detail: str) -> DamagedResult:
        return DamagedResult(f"run {self.id}: its result is damaged ({detail}); rebuild it from the last "
                             f"generation with `lpz assemble {self.id}`")

    def unfinish(self) -> None:
        """Remove the mark of a finished run, so that its result is assembled again."""
        self.store.delete(self.key("mixture", "mixture.json"))

    # ------------------------------------------------------------- control (cluster runs)

    def control(self) -> dict:
        """{"state": "cancelled" | "failed", ...} once a run was cancelled or failed, else {}."""
        try:
            control = self.store.get_json(self.key("control.json"))
        except ObjectMissing:
            return {}
        except CorruptObject:
            control = None
        if not (isinstance(control, dict) and control.get("state") in ("cancelled", "failed")):
            return {"state": "failed", "error": "its control.json is damaged; `lpz resume` clears it"}
        return control

    def set_control(self, state: str, **details) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.put_json(self.key("control.json"), {"state": state, "at": when, **details})

    def clear_control(self) -> None:
        self.store.delete(self.key("control.json"))

    # ------------------------------------------------------------- cell states

    def metrics(self, generation: int, cell: int) -> dict:
        """The commit marker of a cell-generation, checked; DamagedCheckpoint when it is not a valid record
        (ObjectMissing when it is not there: the cell-generation is not committed)."""
        key = self.cell_key(generation, cell, "metrics.json")
        try:
            metrics = checked(CellMetrics, self.store.get_json(key, max_bytes=MAX_METRICS_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        if (metrics["generation"], metrics["cell"]) != (generation, cell):
            raise DamagedCheckpoint(key, generation, cell, "it belongs to another cell or generation")
        return metrics

    def _read_checkpoint(self, generation: int, cell: int, name: str, shape: tuple) -> CellState:
        """A committed checkpoint, whole and checked; DamagedCheckpoint for anything else: missing, not
        matching its committed sha256, refused by the safe loader, or not the state of this cell."""
        key = self.cell_key(generation, cell, name)
        try:
            recorded = self.metrics(generation, cell)["files"][name]
            data = self.store.get(key)
        except CorruptObject as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        except (ObjectMissing, KeyError):
            raise DamagedCheckpoint(key, generation, cell, "missing") from None
        if recorded != sha256(data):
            raise DamagedCheckpoint(key, generation, cell, "its sha256 differs from the one committed")
        try:
            plain = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise DamagedCheckpoint(key, generation, cell, "the safe loader refuses it (it holds more than "
                                                           "tensors and plain values)") from None
        try:
            return CellState.from_dict(plain, Expected(self.config, self.grid, cell, generation, shape,
                                                       public=name == "public.pt"))
        except NotACellState as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None

    def read_state(self, generation: int, cell: int, shape: tuple) -> CellState:
        if generation == 0:
            from lpz.algorithm.cell import initial_state
            return initial_state(self.config, cell, shape)
        return self._read_checkpoint(generation, cell, "state.pt", shape)

    def read_public(self, generation: int, cell: int, shape: tuple) -> CellState:
        if generation == 0:
            return self.read_state(0, cell, shape)
        return self._read_checkpoint(generation, cell, "public.pt", shape)

    def write_cell(self, state: CellState, metrics: dict, artifacts: dict[str, bytes] | None = None) -> None:
        """Checkpoints (and artifacts such as samples.png) first, then metrics.json, whose presence
        commits them. The seconds spent writing are added to metrics' seconds.io."""
        start = time.perf_counter()
        g, c = state.generation, state.cell
        for name, data in (artifacts or {}).items():
            self.store.put(self.cell_key(g, c, name), data)
        files = {}
        for name, public in (("state.pt", False), ("public.pt", True)):
            data = tensor_bytes(state.to_dict(public=public))
            self.store.put(self.cell_key(g, c, name), data)
            files[name] = sha256(data)
        seconds = dict(metrics.get("seconds", {}))
        seconds["io"] = seconds.get("io", 0.0) + time.perf_counter() - start
        self.store.put_json(self.cell_key(g, c, "metrics.json"),
                            {**metrics, "seconds": seconds, "files": files, "committed_at": time.time()})

    def uncommit(self, generation: int, cell: int) -> None:
        self.store.delete(self.cell_key(generation, cell, "metrics.json"))

    def prune(self, complete: int) -> None:
        """Once generation `complete` is complete, drop the checkpoints of the generation that
        fell out of the last keep_generations (metrics stay, for status and reports)."""
        keep = self.config.general.keep_generations
        old = complete - keep
        if keep and old >= 1:
            for c in self.grid.cells:
                for name in ("state.pt", "public.pt"):
                    self.store.delete(self.cell_key(old, c, name))

    def all_metrics(self) -> dict[int, dict[int, dict]]:
        """generation -> cell -> metrics, for every committed cell-generation.

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
        result: dict[int, dict[int, dict]] = {}
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
