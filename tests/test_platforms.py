"""Every cell-generation records the platform that computed it, and `lpz status` warns when one run's
cells were computed on more than one (the same config and seed give the same bytes on one platform only).

Two platforms are real here, not pretended: torch picks its CPU kernels by ATEN_CPU_CAPABILITY, so a
process forced to "default" and one forced to "avx2" compute with different kernels, as two workers on
different CPUs would."""
import json
import os
import subprocess
import sys

from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import lpz, tiny_config

FIRST_GENERATION = """
import sys
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.engine.work import compute_cell
run = Run.open(LocalStore(sys.argv[1]), sys.argv[2])
for cell in run.grid.cells:
    compute_cell(run, 0, cell)
"""


def status_json(run_id, store) -> dict:
    return json.loads(lpz("status", run_id, "--store", store, "--json").stdout)


def on(capability: str) -> dict:
    return {**os.environ, "ATEN_CPU_CAPABILITY": capability}


def test_a_run_computed_on_one_platform_records_it_and_warns_of_nothing(tmp_path):
    Run.create(LocalStore(tmp_path), tiny_config(), run_id="one")
    lpz("run", "--resume", "one", "--store", tmp_path, "--workers", 2, env=on("avx2"))
    info = status_json("one", tmp_path)
    assert info["state"] == "finished"
    assert info["platforms"] == [info["platforms"][0]] and info["platforms"][0].endswith("(AVX2)")
    assert info["platforms"][0].startswith("torch ") and info["warnings"] == []


def test_a_run_whose_cells_two_platforms_computed_carries_a_warning(tmp_path):
    Run.create(LocalStore(tmp_path), tiny_config(), run_id="mixed")
    subprocess.run([sys.executable, "-c", FIRST_GENERATION, str(tmp_path), "mixed"], env=on("default"), check=True)
    lpz("run", "--resume", "mixed", "--store", tmp_path, env=on("avx2"))

    info = status_json("mixed", tmp_path)
    assert info["state"] == "finished"
    assert [p.rsplit(" ", 1)[1] for p in info["platforms"]] == ["(AVX2)", "(DEFAULT)"]
    assert len(info["warnings"]) == 1 and "2 different platforms" in info["warnings"][0]
    shown = lpz("status", "mixed", "--store", tmp_path).stdout
    assert "warning: its cells were computed on 2 different platforms" in shown and "(DEFAULT)" in shown
