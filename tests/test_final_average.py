"""trainer.params.final_average: the run's result mixes each cell's generator averaged over its last N
generations (issue 22: the generators oscillate to the last generation; the average does not land on
one point of the swing). Each cell's private state carries the running sum (lpz.algorithm.averaging):
only the usual last generations are kept, damage to a sum is recomputed, and the configs it cannot
apply to are refused."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from lpz.config import validate
from lpz.engine.assemble import assemble
from lpz.engine.local import run_local
from lpz.errors import ConfigError
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.store.base import tensor_bytes
from tests.helpers import checkpoint_bytes, tiny
from tests.test_trust import recommit

GENERATIONS, AVERAGE = 5, 3


def averaging_run(tmp_path, **overrides) -> Run:
    config = tiny(**{"trainer.generations": GENERATIONS, "trainer.params.enable_selection": False,
                     "trainer.params.final_average": AVERAGE, "general.keep_generations": 2, **overrides})
    run = Run.create(LocalStore(tmp_path / "store"), validate(config), run_id="avg")
    run_local(run, workers=1)
    return run


def without_sums(checkpoints: dict[str, bytes]) -> dict[str, bytes]:
    """The checkpoints with the sums of the average taken out of every state.pt."""
    def plain(data: bytes) -> bytes:
        state = torch.load(io.BytesIO(data), weights_only=True)
        state.pop("generator_sums", None)
        return tensor_bytes(state)
    return {name: plain(data) if name.endswith("state.pt") else data for name, data in checkpoints.items()}


def test_training_is_the_same_bytes_whatever_the_average(tmp_path):
    """The average is the sum carried beside training, never read by it: the networks, optimiser states
    and mixtures of a run trained with another average are the same bytes."""
    averaged = averaging_run(tmp_path / "a", **{"general.keep_generations": 0})
    plain = averaging_run(tmp_path / "b", **{"trainer.params.final_average": 1, "general.keep_generations": 0})
    assert checkpoint_bytes(averaged.store.root, "avg") != checkpoint_bytes(plain.store.root, "avg")
    assert without_sums(checkpoint_bytes(averaged.store.root, "avg")) == checkpoint_bytes(plain.store.root, "avg")
    assert len(checkpoint_bytes(plain.store.root, "avg")) == 2 * GENERATIONS * plain.grid.size


def generator_weights(run: Run, generation: int, cell: int) -> dict[str, torch.Tensor]:
    return run.store.get_tensors(run.cell_key(generation, cell, "public.pt"))["generators"][0]["weights"]


def assert_result_averages(run: Run, window: range) -> None:
    """The result's generators are the mean of each mixed cell's generator over the window, not its last
    (the run kept every generation's public state to check against: general.keep_every 1)."""
    result = run.read_result_generators()
    for cell, mixed in zip(result["cells"], result["generators"]):
        each = [generator_weights(run, g, cell) for g in window]
        for name, value in mixed.items():
            expected = sum(w[name].double() for w in each) / len(window)
            assert torch.allclose(value.double(), expected, rtol=1e-6, atol=1e-7), (cell, name)
            assert not torch.equal(value, each[-1][name])


def test_the_result_mixes_each_generator_averaged_over_the_last_generations(tmp_path):
    run = averaging_run(tmp_path, **{"general.keep_every": 1})
    assert_result_averages(run, range(GENERATIONS - AVERAGE + 1, GENERATIONS + 1))


def test_a_run_shorter_than_the_average_averages_all_its_generations(tmp_path):
    run = averaging_run(tmp_path, **{"trainer.params.final_average": 50, "general.keep_every": 1})
    assert_result_averages(run, range(1, GENERATIONS + 1))


def test_the_average_keeps_no_more_generations_than_without_it(tmp_path):
    """One float64 sum of the generator a cell in the window's states, none before it, and the usual
    last keep_generations: the average's storage does not grow with its window."""
    run = averaging_run(tmp_path)
    root = Path(run.store.root)
    for generation in range(1, GENERATIONS + 1):
        for cell in run.grid.cells:
            for name in ("public.pt", "state.pt"):
                kept = generation > GENERATIONS - 2
                assert (root / run.cell_key(generation, cell, name)).exists() == kept, (generation, cell, name)
            if kept:
                state = run.store.get_tensors(run.cell_key(generation, cell, "state.pt"))
                sums, = state["generator_sums"]
                weights = state["generators"][0]["weights"]
                assert list(sums) == list(weights)
                assert all(s.dtype == torch.float64 and s.shape == weights[k].shape for k, s in sums.items())
    assert "generator_sums" not in run.store.get_tensors(run.cell_key(GENERATIONS, 0, "public.pt"))


def flipped(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def forged_sums(data: bytes, how: str) -> bytes:
    """A state.pt whose sums are forged, well-formed otherwise."""
    state = torch.load(io.BytesIO(data), weights_only=True)
    if how == "missing":
        del state["generator_sums"]
    elif how == "float32":
        state["generator_sums"] = [{k: v.float() for k, v in s.items()} for s in state["generator_sums"]]
    else:  # "shape"
        state["generator_sums"] = [{k: v[:1] for k, v in s.items()} for s in state["generator_sums"]]
    return tensor_bytes(state)


@pytest.mark.parametrize("damage", ["flipped byte", "missing", "float32", "shape"])
def test_damaged_sums_are_recomputed_and_the_result_is_the_same(tmp_path, damage):
    """The last generation's state holds the whole sum: a flipped byte, or sums forged with their sha256
    committed, are refused and recomputed from the generation before, to the same result."""
    run = averaging_run(tmp_path)
    before = run.store.get(run.key("mixture", "generators.pt"))
    key = run.cell_key(GENERATIONS, 0, "state.pt")
    good = run.store.get(key)
    if damage == "flipped byte":
        Path(run.store.root, key).write_bytes(flipped(good))
    else:
        recommit(run, GENERATIONS, 0, "state.pt", forged_sums(good, damage))
    run.unfinish()

    assemble(run)

    assert run.store.get(key) == good
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
