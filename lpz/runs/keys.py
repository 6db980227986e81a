"""The layout of the store, in one place (docs/design.md section 3).

    runs/<id>/run.json                        resolved config, seed, grid, created, executor
    runs/<id>/gen/<g>/cell/<c>/state.pt       everything the cell needs to continue
    runs/<id>/gen/<g>/cell/<c>/public.pt      what neighbours read: no Adam state
    runs/<id>/gen/<g>/cell/<c>/samples.png    a picture of the cell's mixture, now and then
    runs/<id>/gen/<g>/cell/<c>/lease.json     while a task computes the cell-generation
    runs/<id>/gen/<g>/cell/<c>/metrics.json   written last, with the checksums: commits it
    runs/<id>/mixture/generators.pt           the result's generators and weights
    runs/<id>/mixture/lease.json              while the result is assembled
    runs/<id>/mixture/mixture.json            the result, with its checksum: marks the run finished
    runs/<id>/ensembles/<name>/generators.pt  an ensemble built from the finished run (lpz ensemble)
    runs/<id>/ensembles/<name>/ensemble.json  its record, with the checksum of generators.pt; written last
    runs/<id>/control.json                    a cancelled or failed run
    active/<id>.json                          a cluster run the workers serving this store drive
    data/<name>/manifest.json, files/<path>   datasets pushed with `lpz data push`
"""
from __future__ import annotations

import re

CHECKPOINTS = ("state.pt", "public.pt")
MARKER = "metrics.json"


def run(run_id: str, *parts) -> str:
    return "/".join(["runs", run_id, *map(str, parts)])


def generation(run_id: str, g: int) -> str:
    """The prefix of a generation's cells."""
    return run(run_id, "gen", g, "cell") + "/"


def cell(run_id: str, g: int, c: int, name: str) -> str:
    return run(run_id, "gen", g, "cell", c, name)


def parse_cell(run_id: str, key: str) -> tuple[int, int, str] | None:
    """(generation, cell, name) of a key runs/<id>/gen/<g>/cell/<c>/<name>; None for any other key."""
    parts = key.split("/")
    if len(parts) != 7 or parts[:3] != ["runs", run_id, "gen"] or parts[4] != "cell":
        return None
    g, c = parts[3], parts[5]
    if not (g.isdigit() and c.isdigit() and len(g) < 7 and len(c) < 7):
        return None
    return int(g), int(c), parts[6]


def result(run_id: str, name: str) -> str:
    return run(run_id, "mixture", name)


ENSEMBLE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


def ensemble(run_id: str, name: str, file: str) -> str:
    """An ensemble's file; with empty name and file, the prefix of all the run's ensembles."""
    return run(run_id, "ensembles", name, file) if name else run(run_id, "ensembles") + "/"


def parse_ensemble(run_id: str, key: str) -> str | None:
    """The name of the ensemble whose record a key is; None for any other key."""
    parts = key.split("/")
    if len(parts) == 5 and parts[:3] == ["runs", run_id, "ensembles"] and parts[4] == "ensemble.json" \
            and ENSEMBLE_NAME.fullmatch(parts[3]):
        return parts[3]
    return None


def control(run_id: str) -> str:
    return run(run_id, "control.json")


ACTIVE = "active/"


def active(run_id: str) -> str:
    return f"{ACTIVE}{run_id}.json"


def run_ids(listed: list[str]) -> list[str]:
    """The run ids among keys listed under runs/."""
    return sorted({key.split("/")[1] for key in listed if key.count("/") == 2 and key.endswith("/run.json")})


def manifest(dataset: str) -> str:
    return f"data/{dataset}/manifest.json"


def dataset_file(dataset: str, relative: str) -> str:
    return f"data/{dataset}/files/{relative}"
