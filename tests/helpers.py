"""Small configs for tests: the quickstart shape, shrunk so a generation takes a fraction of a second."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

from lpz.config import load_config, validate

ROOT = Path(__file__).resolve().parents[1]

# Redis databases of the suite's own, flushed by the tests: two for each pytest-xdist worker process
# (gw0: 10 and 11, gw1: 12 and 13, gw2: 14 and 15), so one worker's flush never empties another's queues.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
TEST_DB = 10 + 2 * _XDIST_WORKER  # the cluster tests'
SUBMIT_DB = TEST_DB + 1           # test_submit's: the cluster tests flush theirs whenever they start
if SUBMIT_DB > 15:
    raise SystemExit("a Redis has 16 databases, two for each test process: run the suite with -n 3 at most")

TINY = {
    "name": "tiny",
    "trainer": {"generations": 2, "params": {"population_size": 1, "tournament_size": 2,
                                              "default_adam_learning_rate": 0.001,
                                              "fitness": {"fitness_sample_size": 200}}},
    "grid": {"rows": 2},
    "dataloader": {"dataset_name": "gaussian8", "batch_size": 64, "n_batches": 5, "n_samples": 2000},
    "network": {"name": "mlp2d", "loss": "bce"},
    "score": {"score_sample_size": 200, "final_sample_size": 500},
    "general": {"seed": 3, "keep_generations": 0},
}


def unavailable(reason: str) -> None:
    """A system package a test needs (Debian's chromium, dataset-fashion-mnist) is missing: under `make
    test`, which installs them (LPZ_TEST_STRICT=1), that is a failure, never a quiet skip; elsewhere a skip."""
    if os.environ.get("LPZ_TEST_STRICT") == "1":
        pytest.fail(f"{reason} (make test runs with LPZ_TEST_STRICT=1: it must be there)")
    pytest.skip(reason)


def tiny(**overrides) -> dict:
    """TINY with dotted-key overrides, e.g. tiny(**{"grid.rows": 3})."""
    data = copy.deepcopy(TINY)
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return data


def tiny_config(**overrides):
    return validate(tiny(**overrides))


def shipped_grid_scheme(config: str = "mnist-3x3") -> dict:
    """How a shipped MNIST config (configs/neurips2018/<config>.yml over configs/mnist.yml) trains a grid and
    makes its result (selection or not, the own partner's share, the average, the final mixture and its ES,
    the ES shrunk to test size, the neighbourhood), as tiny() overrides on a 3x3 grid: the smallest grid
    whose neighbourhood (5 cells) makes the own share differ from the uniform draw. The 4x4's neighbourhood
    on a 3x3 keeps its size and shape (a ring of radius 2: cells c-2 ... c+2)."""
    shipped = load_config(ROOT / "configs" / "neurips2018" / f"{config}.yml")
    params = shipped.trainer.params
    return {"grid.rows": 3, "grid.neighbourhood": shipped.grid.neighbourhood, "grid.radius": shipped.grid.radius,
            "trainer.params.enable_selection": params.enable_selection,
            "trainer.params.own_share": params.own_share, "trainer.params.final_average": params.final_average,
            "trainer.params.final_mixture": params.final_mixture,
            "trainer.params.optimize_mixture": {"enabled": params.optimize_mixture.enabled, "generations": 20,
                                                "samples": 500}}


def wait_until(condition: Callable, timeout: float, what: str | Callable[[], str], interval: float = 0.2):
    """Poll condition() until it returns something true, and return that. Past timeout seconds, an
    AssertionError: "waited <timeout> s for <what>" (what: a description, or a function giving one, called
    only then, e.g. to show a log's tail). A condition that knows the wait is hopeless (a process it waits
    on exited) raises its own AssertionError at once."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what() if callable(what) else what}")
        time.sleep(interval)


def lpz(*args, check=True, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real `lpz` command line in a subprocess."""
    result = subprocess.run([sys.executable, "-c", "from lpz.cli import entry; entry()", *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"lpz {' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


# Runs lpz as its child and reports that child's peak RSS. A process forked straight from the test
# would count the test process's own memory (Linux keeps the high-water mark of the image it replaced
# at exec), so the measuring parent is a fresh, small Python.
_MEASURE = """
import os, resource, subprocess, sys
code = subprocess.call([sys.executable, "-c", "from lpz.cli import entry; entry()", *sys.argv[1:]])
with open(os.environ["LPZ_TEST_RSS_FILE"], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
sys.exit(code)
"""


def lpz_measured(*args, env=None, cwd=None, timeout=120) -> tuple[int, str, str, int]:
    """Run `lpz` in a subprocess; return (exit code, stdout, stderr, peak RSS of lpz's process in bytes)."""
    with tempfile.TemporaryDirectory() as scratch:
        rss_file = os.path.join(scratch, "rss")
        env = {**(env or os.environ), "LPZ_TEST_RSS_FILE": rss_file}
        process = subprocess.Popen([sys.executable, "-c", _MEASURE, *map(str, args)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.communicate()
            raise AssertionError(f"lpz {' '.join(map(str, args))} still ran after {timeout} s") from None
        with open(rss_file) as f:
            peak = int(f.read())
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace"), peak


def one_line_error(code: int, stderr: str) -> str:
    """The single line of a user error (exit code 2, no traceback), or an AssertionError saying what came."""
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, f"exit {code}:\n{stderr[-3000:]}"
    return lines[0]


def lpz_here(*args, env: dict | None = None) -> tuple[int, str, str]:
    """Run the `lpz` command line in this process (its real entry point, its error handling); return
    (exit code, stdout, stderr). For the checks where a new interpreter adds only seconds."""
    import contextlib
    import io
    from unittest import mock

    from lpz.cli import entry
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            mock.patch.object(sys, "argv", ["lpz", *map(str, args)]), mock.patch.dict(os.environ, env or {}):
        try:
            entry()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def checkpoint_bytes(root, run_id: str) -> dict:
    """Every checkpoint of a run in a local store at root: path under gen/ -> its bytes."""
    gen = Path(root) / "runs" / run_id / "gen"
    return {str(p.relative_to(gen)): p.read_bytes() for p in sorted(gen.rglob("*.pt"))}
