"""`lpz run`, `lpz status`, `lpz sample` and `lpz list` through the real command line."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.helpers import lpz, lpz_here, one_line_error, tiny, wait_until


def write_config(path: Path, **overrides) -> Path:
    path.write_text(yaml.safe_dump(tiny(**overrides)))
    return path


def run_id_from(output: str) -> str:
    return output.split("run ", 1)[1].split()[0]


@pytest.mark.slow
def test_run_then_status_then_sample(tmp_path):
    config = write_config(tmp_path / "tiny.yml")
    store = tmp_path / "store"
    result = lpz("run", config, "--store", store, "--workers", "1")
    run_id = run_id_from(result.stdout)
    assert run_id.startswith("tiny-")
    assert "done in" in result.stdout and f"lpz sample {run_id}" in result.stdout
    assert (store / "runs" / run_id / "mixture" / "mixture.json").is_file()

    status = lpz("status", run_id, "--store", store)
    assert "finished" in status.stdout and "2/2 generations" in status.stdout

    info = json.loads(lpz("status", run_id, "--store", store, "--json").stdout)
    assert info["state"] == "finished" and info["generation"] == 2
    assert [row["generation"] for row in info["history"]] == [1, 2]
    assert info["mixture"]["best_cell"] in range(4)

    out = tmp_path / "samples"
    lpz("sample", run_id, "-n", 300, "-o", out, "--store", store)
    points = np.load(out / "samples.npy")
    assert points.shape == (300, 2) and np.isfinite(points).all()
    with Image.open(out / "samples.png") as image:
        assert image.format == "PNG" and image.size == (500, 500)

    assert run_id in lpz("list", "--store", store).stdout


@pytest.mark.slow
def test_same_sample_seed_gives_the_same_samples(tmp_path):
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 1})
    store = tmp_path / "store"
    run_id = run_id_from(lpz("run", config, "--store", store, "--workers", "1").stdout)
    for name in ("a", "b"):
        lpz("sample", run_id, "-n", 50, "-o", tmp_path / name, "--store", store)
    lpz("sample", run_id, "-n", 50, "-o", tmp_path / "c", "--seed", 1, "--store", store)
    a, b, c = (np.load(tmp_path / n / "samples.npy") for n in "abc")
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("bad_id, message", [
    ("../x", "malformed"),
    ("", "empty"),
    ("a" * 500, "500 characters"),
    ("no-such-run", "no run 'no-such-run'"),
    ("UPPER", "malformed"),
])
def test_status_and_sample_reject_bad_ids_in_one_line(tmp_path, bad_id, message):
    for command in ("status", "sample"):
        code, _, stderr = lpz_here(command, bad_id, "--store", tmp_path)
        assert message in one_line_error(code, stderr)


def lpz_run_until_a_commit(config: Path, store: Path) -> subprocess.Popen:
    """`lpz run CONFIG` with two workers, returned once a cell of generation 1 has committed."""
    process = subprocess.Popen([sys.executable, "-c", "from lpz.cli import entry; entry()", "run", str(config),
                                "--store", str(store), "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: list(store.glob("runs/*/gen/1/cell/*/metrics.json")), 120, "a cell of generation 1 to commit",
               interval=0.05)
    return process


@pytest.mark.slow
def test_ctrl_c_stops_at_a_cell_boundary_and_resume_gives_the_same_bytes(tmp_path):
    overrides = {"trainer.generations": 4, "dataloader.n_batches": 20}
    config = write_config(tmp_path / "tiny.yml", **overrides)

    # An uninterrupted run, for reference.
    ref_store = tmp_path / "ref"
    ref_id = run_id_from(lpz("run", config, "--store", ref_store, "--workers", "1").stdout)

    store = tmp_path / "store"
    process = lpz_run_until_a_commit(config, store)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    run_id = run_id_from(out)
    assert f"lpz run --resume {run_id}" in err

    gen = store / "runs" / run_id / "gen"
    committed = {p.parent for p in gen.rglob("metrics.json")}
    assert committed and len(committed) < 4 * 4  # it stopped early...
    for cell_dir in committed:                    # ...and everything it committed is whole
        assert (cell_dir / "state.pt").is_file() and (cell_dir / "public.pt").is_file()
    assert not (store / "runs" / run_id / "mixture").exists()

    resumed = lpz("run", "--resume", run_id, "--store", store, "--workers", "2")
    assert "done in" in resumed.stdout
    for cell in range(4):
        final = f"4/cell/{cell}/state.pt"
        assert (gen / final).read_bytes() == (ref_store / "runs" / ref_id / "gen" / final).read_bytes()


def children_of(pid: int) -> set[int]:
    """The processes whose parent is pid (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_killed_lpz_run_takes_its_pool_processes_with_it_and_resumes(tmp_path, signum):
    config = write_config(tmp_path / "tiny.yml", **{"trainer.generations": 4, "dataloader.n_batches": 20})
    store = tmp_path / "store"
    process = lpz_run_until_a_commit(config, store)
    pool = children_of(process.pid)
    assert len(pool) >= 2  # the two workers (and multiprocessing's resource tracker)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)  # left running, the pool would hold the pipes open
    [run_dir] = (store / "runs").iterdir()
    if signum == signal.SIGTERM:
        assert process.returncode == 143, err
        assert "terminated" in err and f"lpz run --resume {run_dir.name}" in err
    wait_until(lambda: not any(alive(pid) for pid in pool), 10, "the pool's processes to end")

    resumed = lpz("run", "--resume", run_dir.name, "--store", store, "--workers", "2")
    assert "done in" in resumed.stdout


def test_lpz_sample_draws_from_each_generator_by_its_mixture_weight(tmp_path):
    """A result of three generators, each drawing one point of its own, weighted 0.6 / 0.3 / 0.1 (written in
    the store's format of a result, its sha256 recorded): of 1,000 samples, 600, 300 and 100 are each one's."""
    import torch

    from lpz.algorithm.cell import initial_state
    from lpz.config import validate
    from lpz.files import sha256
    from lpz.runs import Run, keys
    from lpz.store import LocalStore

    run = Run.create(LocalStore(tmp_path / "store"), validate(tiny()), run_id="weighted")
    generators = []
    for i in range(3):
        weights = dict(initial_state(run.config, i, run.sample_shape).generators[0].weights)
        weights["body.6.weight"] = torch.zeros_like(weights["body.6.weight"])  # the last layer: its bias alone
        weights["body.6.bias"] = torch.tensor([10.0 * (i + 1), 0.0])
        generators.append(weights)
    mixture = [0.6, 0.3, 0.1]
    data = run.store.put_tensors(keys.result(run.id, "generators.pt"),
                                 {"cells": [0, 1, 2], "weights": mixture, "generators": generators})
    run.store.put_json(keys.result(run.id, "mixture.json"), {"score": None, "weights": mixture,
                                                             "cells_mixed": [0, 1, 2],
                                                             "files": {"generators.pt": sha256(data)}})

    lpz("sample", "weighted", "-n", 1000, "-o", tmp_path / "samples", "--store", tmp_path / "store")
    points = np.load(tmp_path / "samples" / "samples.npy")
    counts = [int((points == [10.0 * (i + 1), 0.0]).all(axis=1).sum()) for i in range(3)]
    assert counts == [600, 300, 100]


def test_sampling_a_run_that_has_not_finished_says_so(tmp_path):
    from lpz.config import validate
    from lpz.runs import Run
    from lpz.store import LocalStore
    from lpz.engine.work import compute_cell

    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="half-done")
    compute_cell(run, 0, 0)  # one cell of generation 1
    code, _, stderr = lpz_here("sample", "half-done", "--store", tmp_path)
    assert one_line_error(code, stderr) == (
        "error: run half-done has not finished (generation 0 of 2 complete); sample it once it has, "
        "or see `lpz status half-done`")
    code, stdout, _ = lpz_here("status", "half-done", "--store", tmp_path)
    assert code == 0 and "1/4 cells of the next" in stdout


@pytest.mark.parametrize("configured", ["~/../../elsewhere", "../elsewhere", "file://{tmp}/elsewhere",
                                        "{tmp}/elsewhere", "link-out/store"])
def test_a_config_may_not_send_the_run_outside_the_working_directory(tmp_path, configured):
    """general.store comes from a config, which may come from anyone: only the operator (--store,
    LPZ_STORE) chooses a folder outside the working directory."""
    work, home = tmp_path / "work", tmp_path / "home" / "user"  # ~/../../elsewhere: tmp_path/elsewhere
    work.mkdir()
    home.mkdir(parents=True)
    (work / "link-out").symlink_to(tmp_path, target_is_directory=True)  # inside by its name, outside in fact
    config = write_config(work / "tiny.yml", **{"general.store": configured.format(tmp=tmp_path)})
    env = {key: value for key, value in os.environ.items() if key != "LPZ_STORE"}
    result = subprocess.run([sys.executable, "-c", "from lpz.cli import entry; entry()", "run", "tiny.yml"], cwd=work,
                            env={**env, "HOME": str(home)}, capture_output=True, text=True, timeout=120)
    line = one_line_error(result.returncode, result.stderr)
    assert line == (f"error: tiny.yml: general.store names a folder outside the working directory "
                    f"{os.path.realpath(work)}; a config may only name one inside it or an s3:// store: to write "
                    f"elsewhere, pass --store or set LPZ_STORE"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "work"]  # no elsewhere/, no store/
    assert sorted(p.name for p in work.iterdir()) == ["link-out", "tiny.yml"]
    assert config.exists()


def test_the_operator_s_store_wins_and_a_config_s_store_inside_the_working_directory_or_on_s3_is_kept(
        tmp_path, monkeypatch):
    from lpz.cli.main import _store_of
    from lpz.config import validate
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LPZ_STORE", raising=False)
    outside = validate(tiny(**{"general.store": "~/../../elsewhere"}))
    assert _store_of(Path("c.yml"), outside, "/srv/store") == "/srv/store"  # --store
    monkeypatch.setenv("LPZ_STORE", "/srv/other")
    assert _store_of(Path("c.yml"), outside, None) == "/srv/other"  # LPZ_STORE
    monkeypatch.delenv("LPZ_STORE")
    for kept in ("results/store", "./lpz-store", ".", f"file://{tmp_path}/sub", "s3://bucket/prefix"):
        assert _store_of(Path("c.yml"), validate(tiny(**{"general.store": kept})), None) == kept
    assert _store_of(Path("c.yml"), validate(tiny()), None) == "./lpz-store"
