"""trainer.params.final_average: the run's result mixes each cell's generator averaged over its last N
generations (issue 22: the generators oscillate to the last generation; the average does not land on
one point of the swing). The checkpoints it averages are kept, damage among them is recomputed, and
the configs it cannot apply to are refused."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lpz.config import validate
from lpz.engine.assemble import assemble
from lpz.engine.local import run_local
from lpz.errors import ConfigError
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import checkpoint_bytes, tiny

GENERATIONS, AVERAGE = 5, 3


def averaging_run(tmp_path, **overrides) -> Run:
    config = tiny(**{"trainer.generations": GENERATIONS, "trainer.params.enable_selection": False,
                     "trainer.params.final_average": AVERAGE, "general.keep_generations": 2, **overrides})
    run = Run.create(LocalStore(tmp_path / "store"), validate(config), run_id="avg")
    run_local(run, workers=1)
    return run


def test_training_is_the_same_bytes_whatever_the_average(tmp_path):
    """Only the assembly and pruning read final_average: a run trained with another average has the same
    checkpoints (so a trained run may be assembled again with another)."""
    averaged = averaging_run(tmp_path / "a", **{"general.keep_generations": 0})
    plain = averaging_run(tmp_path / "b", **{"trainer.params.final_average": 1, "general.keep_generations": 0})
    assert checkpoint_bytes(averaged.store.root, "avg") == checkpoint_bytes(plain.store.root, "avg")
    assert len(checkpoint_bytes(plain.store.root, "avg")) == 2 * GENERATIONS * plain.grid.size


def generator_weights(run: Run, generation: int, cell: int) -> dict[str, torch.Tensor]:
    return run.store.get_tensors(run.cell_key(generation, cell, "public.pt"))["generators"][0]["weights"]


def assert_result_averages(run: Run, window: range) -> None:
    """The result's generators are the mean of each mixed cell's generator over the window, not its last."""
    result = run.read_result_generators()
    for cell, mixed in zip(result["cells"], result["generators"]):
        each = [generator_weights(run, g, cell) for g in window]
        for name, value in mixed.items():
            expected = sum(w[name].double() for w in each) / len(window)
            assert torch.allclose(value.double(), expected, rtol=1e-6, atol=1e-7), (cell, name)
            assert not torch.equal(value, each[-1][name])


def test_the_result_mixes_each_generator_averaged_over_the_last_generations(tmp_path):
    run = averaging_run(tmp_path)
    assert_result_averages(run, range(GENERATIONS - AVERAGE + 1, GENERATIONS + 1))


def test_a_run_shorter_than_the_average_averages_all_its_generations(tmp_path):
    run = averaging_run(tmp_path, **{"trainer.params.final_average": 50})
    assert_result_averages(run, range(1, GENERATIONS + 1))


def test_the_averaged_generations_and_the_one_before_keep_their_checkpoints(tmp_path):
    run = averaging_run(tmp_path)
    root = Path(run.store.root)
    for generation in range(1, GENERATIONS + 1):
        kept = generation >= GENERATIONS - AVERAGE
        for cell in run.grid.cells:
            for name in ("public.pt", "state.pt"):
                assert (root / run.cell_key(generation, cell, name)).exists() == kept, (generation, cell, name)


def test_a_damaged_checkpoint_in_the_window_is_recomputed_and_the_result_is_the_same(tmp_path):
    run = averaging_run(tmp_path)
    before = run.store.get(run.key("mixture", "generators.pt"))
    damaged = Path(run.store.root, run.cell_key(GENERATIONS - 1, 0, "public.pt"))
    good = damaged.read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    run.unfinish()

    assemble(run)

    assert damaged.read_bytes() == good
    assert run.store.get(run.key("mixture", "generators.pt")) == before


def test_with_selection_the_result_takes_the_last_generation_as_before(tmp_path):
    """With selection a cell's generator may come from a neighbour: there is no lineage to average, and
    the result is the bytes of the same run without final_average."""
    averaged = averaging_run(tmp_path / "a", **{"trainer.params.enable_selection": True})
    plain = averaging_run(tmp_path / "b", **{"trainer.params.enable_selection": True,
                                              "trainer.params.final_average": 1})
    key = averaged.key("mixture", "generators.pt")
    assert averaged.store.get(key) == plain.store.get(key)


def test_a_gradient_free_trainer_refuses_it_saying_why():
    config = tiny(**{"trainer.name": "ea-parallel", "trainer.params.enable_selection": False,
                     "trainer.params.final_average": AVERAGE})
    del config["trainer"]["params"]["default_adam_learning_rate"]  # tiny's, refused first otherwise
    with pytest.raises(ConfigError, match="final_average: only applies to gradient training"):
        validate(config)
