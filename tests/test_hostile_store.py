"""A local store planted with links, files where folders belong and oversized objects (issue 21).

The real `lpz` command line over real runs in a local store; nothing may be read or written outside
the store, and every refusal is one line."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lpz.config import validate
from lpz.engine import engine
from lpz.errors import ObjectTooLarge
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.store.local import UnsafeEntry
from tests.helpers import lpz, lpz_measured, one_line_error, tiny

pytestmark = pytest.mark.unit


def one_generation(folder: Path, generations: int = 4) -> Run:
    """A run of the tiny config with its first generation committed, the rest to do."""
    store = LocalStore(folder)
    run = Run.create(store, validate(tiny(**{"trainer.generations": generations})), run_id="r")
    for cell in run.grid.cells:
        engine.run_cell(run, 0, cell)
    return run


def everything_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_linked_generation_folder_writes_nothing_outside_the_store(tmp_path):
    run = one_generation(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    (run.store.root / "runs" / "r" / "gen" / "2").symlink_to(outside, target_is_directory=True)

    result = lpz("run", "--resume", "r", "--store", run.store.root, check=False)

    line = one_line_error(result.returncode, result.stderr)
    assert "gen/2 is a symbolic link" in line
    assert everything_in(outside) == []


def test_a_link_higher_up_is_refused_for_reads_writes_and_deletes_and_never_listed(tmp_path):
    store = LocalStore(tmp_path / "store")
    outside = tmp_path / "outside"
    (outside / "cell").mkdir(parents=True)
    (outside / "cell" / "secret.json").write_text("{}")
    (tmp_path / "store" / "runs" / "r").mkdir(parents=True)
    (tmp_path / "store" / "runs" / "r" / "gen").symlink_to(outside, target_is_directory=True)

    for operation in (lambda: store.put("runs/r/gen/cell/new.json", b"{}"),
                      lambda: store.get("runs/r/gen/cell/secret.json"),
                      lambda: store.exists("runs/r/gen/cell/secret.json"),
                      lambda: store.delete("runs/r/gen/cell/secret.json"),
                      lambda: store.list("runs/r/gen/")):
        with pytest.raises(UnsafeEntry, match="runs/r/gen is a symbolic link"):
            operation()
    assert store.list("runs/") == [] and store.list("runs/r") == []  # listed from above: skipped, not walked
    assert everything_in(outside) == ["cell", "cell/secret.json"]


def test_a_file_where_the_generations_folder_belongs_is_one_line(tmp_path):
    run = one_generation(tmp_path / "store")
    gen = run.store.root / "runs" / "r" / "gen"
    os.rename(gen, tmp_path / "moved")
    gen.write_text("not a folder")

    result = lpz("run", "--resume", "r", "--store", run.store.root, check=False)

    assert "runs/r/gen is not a folder" in one_line_error(result.returncode, result.stderr)


def test_an_oversized_result_is_refused_at_once_without_reading_it(tmp_path):
    store = LocalStore(tmp_path / "store")
    run = Run.create(store, validate(tiny(**{"trainer.generations": 1})), run_id="r")
    from lpz.engine.local import run_local
    run_local(Run.open(store, "r"), workers=1)
    generators = store.root / "runs" / "r" / "mixture" / "generators.pt"
    with open(generators, "r+b") as f:
        f.truncate(3 * 2**30)  # sparse: 3 GB that cost no disk

    start = time.perf_counter()
    code, out, err, rss = lpz_measured("status", "r", "--store", store.root)
    seconds = time.perf_counter() - start

    assert code == 0, err
    assert "damaged" in out and "bytes, more than the" in out
    assert rss < 200 * 2**20, f"lpz status held {rss / 2**20:.0f} MB"
    assert seconds < 10  # a generous bound for a slow machine: reading 3 GB takes far longer
    with pytest.raises(ObjectTooLarge):
        store.get("runs/r/mixture/generators.pt", Run.open(store, "r").mixture_bytes)


# ---------------------------------------------------------------- damage deeper than a cell repairs

def deeply_damaged(folder: Path) -> Run:
    """A run at generation 3 of 4 (keep_generations 2: generation 1's checkpoints pruned) whose cell 0
    lost its checkpoints of generations 2 and 3: recomputing them reaches back past what a cell repairs
    by itself (lpz.engine.work.REPAIR_DEPTH), to generation 1, which is gone."""
    store = LocalStore(folder)
    run = Run.create(store, validate(tiny(**{"trainer.generations": 4, "general.keep_generations": 2})), run_id="r")
    for generation in range(3):
        for cell in run.grid.cells:
            engine.run_cell(run, generation, cell)
        engine.committed(run, generation + 1, 0)
    assert not store.exists(run.cell_key(1, 0, "state.pt"))
    for generation in (2, 3):
        store.put(run.cell_key(generation, 0, "state.pt"), b"damaged")
    return run


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_damage_met_in_a_pool_process_is_recomputed_like_in_one_process(tmp_path, workers):
    undisturbed = Run.create(LocalStore(tmp_path / "undisturbed"), validate(tiny(**{
        "trainer.generations": 4, "general.keep_generations": 2})), run_id="r")
    from lpz.engine.local import run_local
    run_local(undisturbed, workers=1)
    run = deeply_damaged(tmp_path / "damaged")

    result = lpz("run", "--resume", "r", "--store", run.store.root, "--workers", workers, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for cell in run.grid.cells:
        key = run.cell_key(4, cell, "state.pt")
        assert run.store.get(key) == undisturbed.store.get(key)


def test_every_lpz_error_crosses_a_process_boundary_intact():
    """Each exception class lpz defines with its own __init__ pickles back to an equal error (a pool
    process's error reaches the parent as itself, never as a BrokenProcessPool)."""
    import importlib
    import inspect
    import pickle
    import pkgutil

    import lpz
    from lpz.errors import Portable

    own_init = []
    for module in pkgutil.walk_packages(lpz.__path__, "lpz."):
        if module.name.startswith(("lpz.dashboard", "lpz.celery")):
            continue  # their dependencies and side effects; they define no such errors
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.name and "__init__" in vars(cls):
                own_init.append(cls)
    assert own_init, "found no exception classes with their own __init__"
    assert [cls.__qualname__ for cls in own_init if not issubclass(cls, Portable)] == []

    from lpz.errors import ConfigError
    from lpz.runs.run import DamagedCheckpoint
    for error in (DamagedCheckpoint("runs/r/gen/2/cell/0/state.pt", 2, 0, "missing"),
                  ConfigError("a.yml", "trainer.generations", "must be positive")):
        back = pickle.loads(pickle.dumps(error))
        assert (type(back), str(back), back.__dict__) == (type(error), str(error), error.__dict__)


# ---------------------------------------------------------------- records that do not validate

def damaged_created(folder: Path) -> LocalStore:
    """Two runs: a sound one, and one whose run.json says it was created "yesterday"."""
    store = LocalStore(folder)
    for run_id in ("sound", "yesterday"):
        Run.create(store, validate(tiny(**{"trainer.generations": 1})), run_id=run_id)
    info = store.get_json("runs/yesterday/run.json")
    store.put_json("runs/yesterday/run.json", {**info, "created": "yesterday"})
    return store


@pytest.mark.parametrize("bad", [{"created": "yesterday"}, {"id": "another-run"},
                                 {"config": {"grid": {"rows": 1000}}}])
def test_a_run_json_that_does_not_validate_marks_only_that_run_damaged(tmp_path, bad):
    store = LocalStore(tmp_path)
    for run_id in ("sound", "bad"):
        Run.create(store, validate(tiny(**{"trainer.generations": 1})), run_id=run_id)
    info = store.get_json("runs/bad/run.json")
    if "config" in bad:
        bad = {"config": {**info["config"], "grid": {**info["config"]["grid"], **bad["config"]["grid"]}}}
    store.put_json("runs/bad/run.json", {**info, **bad})

    listed = lpz("list", "--store", tmp_path)
    status = lpz("status", "bad", "--store", tmp_path, check=False)

    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.split()}
    assert "damaged" in lines["bad"] and "damaged" not in lines["sound"]
    assert "run.json is damaged" in one_line_error(status.returncode, status.stderr)


def test_the_dashboard_lists_a_damaged_run_beside_the_others(tmp_path):
    import json

    from tests.dashboard_helpers import Dashboard
    damaged_created(tmp_path)
    dashboard = Dashboard(tmp_path)
    try:
        code, body = dashboard.get("/api/runs")
    finally:
        dashboard.stop()
    assert code == 200
    states = {line["id"]: line["state"] for line in json.loads(body)}
    assert states["yesterday"] == "damaged" and states["sound"] != "damaged"


# ---------------------------------------------------------------- a local run cancelled or failed

@pytest.mark.parametrize("stop", ["cancel", "damaged control.json"])
def test_a_stopped_local_run_continues_with_lpz_run_resume(tmp_path, stop):
    run = one_generation(tmp_path, generations=2)
    if stop == "cancel":
        said = lpz("cancel", "r", "--store", tmp_path).stdout
        assert "`lpz run --resume r` continues it" in said
    else:
        run.store.put("runs/r/control.json", b"{not json")
        assert "lpz run --resume r" in lpz("status", "r", "--store", tmp_path).stdout

    lpz("run", "--resume", "r", "--store", tmp_path)

    assert Run.open(run.store, "r").finished() and not run.control()


# ---------------------------------------------------------------- names with a trailing newline

@pytest.mark.parametrize("what, name", [
    ("run id", "abc\n"), ("store key", "runs/r/x.gz\n"), ("ensemble", "best\n"), ("bucket", "lpz-bucket\n"),
    ("sha256 in a manifest", "0" * 64 + "\n"),
])
def test_a_name_with_a_trailing_newline_is_refused(tmp_path, what, name):
    """A pattern anchored with `$` also matches before a final newline: every guard matches whole."""
    from lpz.data.sync import read_manifest
    from lpz.errors import UserError
    from lpz.runs.keys import manifest
    from lpz.runs.run import check_ensemble_name, check_run_id
    from lpz.safe_names import check_relative
    from lpz.store.s3 import S3Store

    def forged_manifest():
        store = LocalStore(tmp_path)
        store.put_json(manifest("mnist"), {"files": {"train.gz": {"sha256": name, "size": 1}}})
        read_manifest(store, "mnist")

    check = {"run id": lambda: check_run_id(name), "store key": lambda: check_relative(name),
             "ensemble": lambda: check_ensemble_name(name), "bucket": lambda: S3Store(name),
             "sha256 in a manifest": forged_manifest}[what]
    with pytest.raises(UserError, match="not a valid bucket name" if what == "bucket" else None):
        check()
