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
