"""An RGB run end to end on this machine: generated coloured digits, DCGAN networks, random-init Inception."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import lpz

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # Inception at 299x299 on the CPU: about half a minute
def test_one_generation_of_a_tiny_dcgan_on_generated_rgb_digits(tmp_path, mnist_dir):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "mnist").symlink_to(mnist_dir)
    env = {**os.environ, "LPZ_DATA_DIR": str(data_dir)}
    images = tmp_path / "rgb"
    made = [subprocess.run([sys.executable, str(ROOT / "bench" / "make_rgb_digits.py"), "--count", "40",
                            "--out", str(out)], env=env, check=True, capture_output=True)
            for out in (images, tmp_path / "again")]
    assert "wrote 40 images" in made[0].stdout.decode()
    first = sorted(images.rglob("*.png"))
    assert len(first) == 40 and [p.read_bytes() for p in first] == \
        [p.read_bytes() for p in sorted((tmp_path / "again").rglob("*.png"))]  # deterministic

    config = yaml.safe_load((ROOT / "configs" / "rgb-digits.yml").read_text())
    config["trainer"]["generations"] = 1
    config["grid"]["rows"] = 1
    config["trainer"]["params"]["tournament_size"] = 1
    config["dataloader"].update(path=str(images), batch_size=8, n_batches=2)
    config["trainer"]["params"]["fitness"]["fitness_sample_size"] = 8
    config["score"].update(score_sample_size=10, final_sample_size=10)
    path = tmp_path / "rgb.yml"
    path.write_text(yaml.safe_dump(config))

    store = tmp_path / "store"
    lpz("run", path, "--store", store, "--workers", "1", env=env)
    run_id = next(line.split()[0] for line in lpz("list", "--store", store, env=env).stdout.splitlines()[1:])
    shown = lpz("status", run_id, "--store", store, env=env).stdout
    assert "finished" in shown and "random-init Inception" in shown

    # Scored afterwards as it was scored during the run (score.inception: random-init): no weights file needed.
    scored = lpz("score", run_id, "--store", store, "-n", 10, env=env).stdout
    assert "on 10 samples (inception-pool3-random-init features)" in scored

    lpz("sample", run_id, "--store", store, "-n", 16, "-o", tmp_path / "samples", env=env)
    samples = np.load(tmp_path / "samples" / "samples.npy", allow_pickle=False)
    assert samples.shape == (16, 3, 32, 32) and samples.min() >= -1 and samples.max() <= 1
