"""Small configs for tests: the quickstart shape, shrunk so a generation takes a fraction of a second."""
from __future__ import annotations

import copy
import subprocess
import sys

from lpz.config import validate

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


def lpz(*args, check=True, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real `lpz` command line in a subprocess."""
    result = subprocess.run([sys.executable, "-c", "from lpz.cli import entry; entry()", *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"lpz {' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result
