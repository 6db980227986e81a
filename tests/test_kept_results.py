"""The runs kept in bench/results (run.json and the final mixture) are stores `lpz sample` reads on a
fresh clone, with no dataset and no training on this machine."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tests.helpers import lpz

ROOT = Path(__file__).resolve().parents[1]
KEPT = sorted(ROOT.glob("bench/results/*/*-seed*/runs/*/mixture/mixture.json"))


def test_lpz_sample_draws_from_each_kind_of_kept_result(tmp_path):
    assert KEPT, "bench/results holds no kept run (bench/quality_mnist.py --keep-results writes them)"
    one_per_dataset = {path.parents[4].name: path for path in KEPT}
    for name, mixture_json in one_per_dataset.items():
        run_dir = mixture_json.parents[1]
        store = run_dir.parents[1]
        out = tmp_path / name
        env = {**os.environ, "LPZ_DATA_DIR": str(tmp_path / "no-data")}
        lpz("sample", run_dir.name, "--store", store, "-n", 64, "-o", out, env=env)
        samples = np.load(out / "samples.npy", allow_pickle=False)
        assert samples.shape == (64, 1, 28, 28)
        assert samples.min() >= -1 and samples.max() <= 1 and samples.std() > 0.1  # images, not a constant
        assert (out / "samples.png").stat().st_size > 1000
