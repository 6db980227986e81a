"""A run as it lives in the store (design section 3).

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
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from lpz import __version__
from lpz.config import Config, resolved, validate
from lpz.errors import CorruptObject, ObjectMissing, RunNotFound, UserError
from lpz.grid import Grid
from lpz.individual import CellState
from lpz.store.base import Store, tensor_bytes, tensors_from

class DamagedCheckpoint(CorruptObject):
    """A committed checkpoint that is missing or fails its checksum: recompute its cell-generation."""

    def __init__(self, key: str, generation: int, cell: int, detail: str):
        super().__init__(key, detail)
        self.generation, self.cell = generation, cell


RUN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


def check_run_id(run_id: str) -> str:
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
    def create(cls, store: Store, config: Config, config_file: str = "", run_id: str | None = None) -> "Run":
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
        })
        return run

    @classmethod
    def open(cls, store: Store, run_id: str) -> "Run":
        run = cls(store, check_run_id(run_id))
        try:
            run.__dict__["info"] = store.get_json(run.key("run.json"))  # the cached_property, read once
        except ObjectMissing:
            raise RunNotFound(f"no run {run_id!r} in store {store.url}; `lpz list` shows the runs there") from None
        return run

    @cached_property
    def info(self) -> dict:
        return self.store.get_json(self.key("run.json"))

    @cached_property
    def config(self) -> Config:
        return validate(self.info["config"], f"run {self.id}")

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_config(self.config)

    @property
    def generations(self) -> int:
        return self.config.trainer.generations

    # ------------------------------------------------------------- keys

    def key(self, *parts) -> str:
        return "/".join(["runs", self.id, *map(str, parts)])

    def cell_key(self, generation: int, cell: int, name: str) -> str:
        return self.key("gen", generation, "cell", cell, name)

    # ------------------------------------------------------------- progress

    def committed(self, generation: int, cell: int) -> bool:
        return generation == 0 or self.store.exists(self.cell_key(generation, cell, "metrics.json"))

    def committed_cells(self) -> dict[int, set[int]]:
        """generation -> cells whose generation is committed, from one listing of the store."""
        done: dict[int, set[int]] = {}
        for key in self.store.list(self.key("gen") + "/"):
            parts = key.split("/")
            if parts[-1] == "metrics.json":
                done.setdefault(int(parts[3]), set()).add(int(parts[5]))
        return done

    def committed_in(self, generation: int) -> set[int]:
        """The cells whose given generation is committed, from a listing of that generation alone."""
        prefix = self.key("gen", generation, "cell") + "/"
        return {int(key[len(prefix):].split("/")[0]) for key in self.store.list(prefix)
                if key.endswith("/metrics.json")}

    def last_complete_generation(self, committed: dict[int, set[int]] | None = None) -> int:
        committed = self.committed_cells() if committed is None else committed
        g = 0
        while len(committed.get(g + 1, ())) == self.grid.size:
            g += 1
        return g

    def finished(self) -> bool:
        return self.store.exists(self.key("mixture", "mixture.json"))

    # ------------------------------------------------------------- control (cluster runs)

    def control(self) -> dict:
        """{"state": "cancelled" | "failed", ...} once a run was cancelled or failed, else {}."""
        try:
            return self.store.get_json(self.key("control.json"))
        except ObjectMissing:
            return {}

    def set_control(self, state: str, **details) -> None:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.put_json(self.key("control.json"), {"state": state, "at": when, **details})

    def clear_control(self) -> None:
        self.store.delete(self.key("control.json"))

    # ------------------------------------------------------------- cell states

    def metrics(self, generation: int, cell: int) -> dict:
        return self.store.get_json(self.cell_key(generation, cell, "metrics.json"))

    def _read_checkpoint(self, generation: int, cell: int, name: str) -> CellState:
        key = self.cell_key(generation, cell, name)
        try:
            data = self.store.get(key)
            recorded = self.metrics(generation, cell)["files"][name]
        except CorruptObject as e:
            raise DamagedCheckpoint(key, generation, cell, str(e)) from None
        except (ObjectMissing, KeyError):
            raise DamagedCheckpoint(key, generation, cell, "missing") from None
        if recorded != sha256(data):
            raise DamagedCheckpoint(key, generation, cell, "its sha256 differs from the one committed")
        return CellState.from_dict(tensors_from(data))

    def read_state(self, generation: int, cell: int, shape: tuple) -> CellState:
        if generation == 0:
            from lpz.cell import initial_state
            return initial_state(self.config, cell, shape)
        return self._read_checkpoint(generation, cell, "state.pt")

    def read_public(self, generation: int, cell: int, shape: tuple) -> CellState:
        if generation == 0:
            return self.read_state(0, cell, shape)
        return self._read_checkpoint(generation, cell, "public.pt")

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
                result.setdefault(g, {})[c] = cache[(g, c)]
        return result
