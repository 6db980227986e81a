"""The device paths, checked on the CPU: which device a process trains on, and code that would only work
with CPU tensors (bench/gpu.sh runs the same paths on CUDA where a GPU is at hand)."""
from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from lpz.config import validate
from lpz.devices import default_concurrency, worker_device
from lpz.engine.local import cell_device, run_local
from lpz.errors import UserError
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import tiny

ROOT = Path(__file__).resolve().parents[1]
# Modules whose tensors may live on a GPU: none of their .numpy() calls may take a tensor that is not
# moved to the CPU first.
ON_DEVICE = ["lpz/algorithm", "lpz/engine", "lpz/scoring/base.py", "lpz/scoring/__init__.py"]


def test_lpz_device_chooses_the_device_and_refuses_what_is_not_there(monkeypatch):
    monkeypatch.setenv("LPZ_DEVICE", "cpu")
    assert worker_device(3) == "cpu" and cell_device(5) == "cpu"
    assert default_concurrency() == (os.cpu_count() or 1)
    monkeypatch.setenv("LPZ_DEVICE", "cuda:1")
    with pytest.raises(UserError, match="has no CUDA GPU"):
        worker_device(0)
    monkeypatch.setenv("LPZ_DEVICE", "tpu")
    with pytest.raises(UserError, match="use cpu, cuda or cuda:N"):
        worker_device(0)


def test_a_run_on_an_explicit_cpu_device_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LPZ_DEVICE", "cpu")
    run = Run.create(LocalStore(tmp_path), validate(tiny()), run_id="on-cpu")
    run_local(run, workers=1)
    assert {m.device for cells in run.all_metrics().values() for m in cells.values()} == {"cpu"}


def calls_numpy_on_device(path: Path) -> list[str]:
    """x.numpy() calls whose x is not a .cpu() call (or a numpy/CPU-only value named so)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "numpy":
            receiver = node.func.value
            on_cpu = (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                      and receiver.func.attr == "cpu")
            if not on_cpu:
                found.append(f"{path}:{node.lineno}")
    return found


def test_the_numpy_check_sees_a_tensor_not_moved_first(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("a = x.cpu().numpy()\nb = y.numpy()\n")
    found = calls_numpy_on_device(source)
    assert len(found) == 1 and found[0].endswith(":2")


def test_no_tensor_that_may_be_on_a_gpu_is_turned_into_numpy_without_moving_it():
    files = [p for entry in ON_DEVICE for p in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir()
                                                  else [ROOT / entry])]
    assert files and [hit for path in files for hit in calls_numpy_on_device(path)] == []


@pytest.mark.slow
def test_the_gpu_script_runs_on_the_cpu_with_dry_run(data_env, tmp_path):
    env = {**os.environ, "LPZ_DATA_DIR": str(data_env), "LPZ_GPU_SH_SKIP_TESTS": "1", "LPZ_GPU_BATCHES": "5",
           "LPZ_GPU_GENERATIONS": "2", "LPZ_GPU_ROWS": "3"}
    result = subprocess.run([str(ROOT / "bench" / "gpu.sh"), "--dry-run"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cpu    one cell-generation" in result.stdout and "2x2 run" in result.stdout
    assert "3x3 run cell by cell" in result.stdout and "fused" in result.stdout
