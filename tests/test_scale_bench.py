"""bench/scale.py --quick: the coordination benchmark runs and reports (its own Redis, S3 server and
Celery workers). It asserts nothing about time; docs/scale.md has the measured table."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_scale_benchmark_completes_and_reports_per_cell_generation():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--quick"], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    header, rule, row = result.stdout.strip().splitlines()[:3]
    assert header.startswith("| grid | workers | per second | cpu ms | cores busy | GET | PUT | HEAD | LIST | DELETE |")
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == ["4x4", "2"]
    values = dict(zip([c.strip() for c in header.strip("|").split("|")], cells))
    assert float(values["per second"]) > 0 and float(values["PUT"]) >= 2  # each cell wrote its checkpoints
    assert float(values["cpu ms"]) > 0  # the workers' and servers' CPU was counted
