"""Metrics to TensorBoard (`--tensorboard`) and what `--verbose` logs."""
from pathlib import Path

import pytest
import yaml

from tests.helpers import lpz, tiny


@pytest.mark.slow
def test_tensorboard_gets_one_series_per_cell(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tmp_path / "tiny.yml"
    config.write_text(yaml.safe_dump(tiny(**{"trainer.generations": 3})))
    out = lpz("run", config, "--store", tmp_path / "store", "--workers", 1, "--tensorboard", tmp_path / "tb")
    run_id = out.stdout.split("run ", 1)[1].split()[0]
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in out.stdout
    folders = sorted(p.name for p in (tmp_path / "tb" / run_id).iterdir())
    assert folders == ["cell-0", "cell-1", "cell-2", "cell-3", "mixture"]
    events = EventAccumulator(str(tmp_path / "tb" / run_id / "cell-2"))
    events.Reload()
    assert {"score", "loss/generator", "loss/discriminator", "lr/generator", "lr/discriminator"} <= set(
        events.Tags()["scalars"])
    assert [s.step for s in events.Scalars("score")] == [1, 2, 3]
    best = EventAccumulator(str(tmp_path / "tb" / run_id / "mixture"))
    best.Reload()
    assert [s.step for s in best.Scalars("best score")] == [1, 2, 3]


@pytest.mark.slow
def test_verbose_logs_every_committed_cell_and_quiet_logs_nothing(tmp_path):
    config = tmp_path / "tiny.yml"
    config.write_text(yaml.safe_dump(tiny(**{"trainer.generations": 1})))
    loud = lpz("--verbose", "run", config, "--store", tmp_path / "a", "--workers", 1)
    assert "generation 1 cell 3 committed, score" in loud.stderr
    quiet = lpz("--quiet", "run", config, "--store", Path(tmp_path / "b"), "--workers", 1)
    assert "committed" not in quiet.stderr and "done in" in quiet.stdout
