"""A config that needs more memory than the machine that trains it (issue 21): refused before anything
is created when the estimate says so, and one line when an allocation fails all the same."""
from __future__ import annotations

import resource
import subprocess
import sys

import pytest
import yaml

from lpz.config import validate
from lpz.config.footprint import machine_bytes
from lpz.config.models import beyond_this_machine
from tests.helpers import lpz, one_line_error

pytestmark = pytest.mark.unit

WIDE = {"name": "wide", "trainer": {"generations": 2}, "grid": {"rows": 2},
        "dataloader": {"dataset_name": "gaussian8", "batch_size": 65536, "n_batches": 1},
        "network": {"name": "mlp2d", "hidden_size": 8192, "latent_size": 4096}}  # about 59 GiB a cell


def test_a_config_beyond_this_machine_is_refused_before_a_run_is_created(tmp_path):
    assert machine_bytes() < 59 * 2**30, "this machine holds the wide config: the test needs a smaller one"
    config = tmp_path / "wide.yml"
    config.write_text(yaml.safe_dump(WIDE))

    result = lpz("run", config, "--store", tmp_path / "store", check=False)

    line = one_line_error(result.returncode, result.stderr)
    assert "does not fit this machine" in line and "GiB" in line
    assert not (tmp_path / "store").exists()
    assert beyond_this_machine(validate(WIDE)) is not None


def _virtual_memory_after_import() -> int:
    """Bytes of address space a process holds once lpz's training code is imported (torch maps a lot)."""
    probe = "import lpz.engine.work, torch; print(open('/proc/self/status').read())"
    status = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmPeak:"))


@pytest.mark.slow
def test_an_allocation_that_fails_while_training_is_one_line(tmp_path):
    config = tmp_path / "mid.yml"  # fits the estimate of any machine here, not the limit set below
    config.write_text(yaml.safe_dump({
        "name": "mid", "trainer": {"generations": 1, "params": {"tournament_size": 1}}, "grid": {"rows": 1},
        "dataloader": {"dataset_name": "gaussian8", "batch_size": 32768, "n_batches": 1},
        "network": {"name": "mlp2d", "hidden_size": 4096},
        "score": {"score_sample_size": 100, "final_sample_size": 100}}))
    limit = _virtual_memory_after_import() + 2**30

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = subprocess.run([sys.executable, "-c", "from lpz.cli import entry; entry()", "run", str(config),
                             "--store", str(tmp_path / "store")], capture_output=True, text=True,
                            preexec_fn=limited, timeout=300)

    assert "ran out of memory on cpu" in one_line_error(result.returncode, result.stderr)
