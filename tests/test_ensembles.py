"""Ensembles built from a finished run: the searches, and `lpz ensemble` / `lpz sample --ensemble` on a toy run."""
from pathlib import Path

import pytest
import torch

from lpz.algorithm.ensemble_search import compositions, genetic, greedy
from lpz.config import validate
from lpz.engine.ensembles import build
from lpz.engine.local import run_local
from lpz.errors import UserError
from lpz.runs import DamagedResult, Run
from lpz.store import LocalStore
from tests.helpers import lpz, tiny

TARGET = [0.0, 0.5, 0.0, 0.3, 0.2, 0.0, 0.0, 0.0]


def distance_to_target(weights):
    return sum((w - t) ** 2 for w, t in zip(weights, TARGET))


def test_compositions_are_every_split_of_the_total():
    assert sorted(compositions(2, 2)) == [[0, 2], [1, 1], [2, 0]]
    assert len(list(compositions(10, 3))) == 66 and all(sum(c) == 10 for c in compositions(10, 3))


def test_greedy_finds_the_weighting_on_its_grid_and_never_keeps_a_useless_member():
    found = greedy(distance_to_target, 8, max_size=5)
    assert found.weights == pytest.approx(TARGET) and found.score == pytest.approx(0)
    assert found.history == sorted(found.history, reverse=True)  # the best so far only ever improves


def test_the_genetic_searches_respect_their_sizes_and_repeat_from_a_seed():
    reo = genetic(distance_to_target, 8, 3, restricted=True, gen=torch.Generator().manual_seed(1))
    nreo = genetic(distance_to_target, 8, 2, restricted=False, gen=torch.Generator().manual_seed(1))
    again = genetic(distance_to_target, 8, 3, restricted=True, gen=torch.Generator().manual_seed(1))
    assert sum(w > 0 for w in reo.weights) == 3 and 1 <= sum(w > 0 for w in nreo.weights) <= 2
    assert reo.weights == again.weights
    assert reo.score < distance_to_target([1 / 8] * 8) and reo.score < 0.01


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("ensembles")
    config = validate(tiny(**{"grid.rows": 3, "trainer.generations": 2, "dataloader.n_batches": 10}))
    run = Run.create(LocalStore(root / "store"), config, run_id="toy")
    run_local(run, workers=1)
    return run


def test_each_method_keeps_its_ensemble_beside_the_runs_own_mixture(finished):
    mixture_json = Path(finished.store.root) / "runs/toy/mixture/mixture.json"
    before = mixture_json.read_bytes()
    for method in ("greedy-iterative", "greedy-random", "ga-reo", "ga-nreo"):
        record = build(finished, method, method, max_size=3, samples=500)
        assert 1 <= len(record.members) <= 3 and sum(record.weights) == pytest.approx(1)
        assert record.score is not None and record.search.evaluations > 1
        assert finished.read_ensemble_generators(method)["weights"] == record.weights
    assert len(finished.read_ensemble("ga-reo").members) == 3
    assert finished.ensemble_names() == ["ga-nreo", "ga-reo", "greedy-iterative", "greedy-random"]
    assert mixture_json.read_bytes() == before
    with pytest.raises(UserError, match="already has an ensemble ga-reo; choose another --name, or --replace"):
        build(finished, "ga-reo", "ga-reo", max_size=3, samples=500)


def test_the_same_run_and_method_build_the_same_ensemble(finished):
    first = build(finished, "ga-nreo", "twice", max_size=3, samples=500)
    again = build(finished, "ga-nreo", "twice", max_size=3, samples=500, replace=True)
    assert (first.weights, first.members, first.score) == (again.weights, again.members, again.score)


def test_sample_draws_from_a_named_ensemble_and_refuses_bad_names(finished, tmp_path):
    build(finished, "greedy-iterative", "for-sampling", max_size=2, samples=500)
    store = str(finished.store.root)
    lpz("sample", "toy", "--ensemble", "for-sampling", "-n", "100", "--out", str(tmp_path / "s"), "--store", store)
    assert (tmp_path / "s" / "samples.png").exists()
    for name, message in (("nope", "has no ensemble 'nope'"), ("../../etc", "is not an ensemble name")):
        done = lpz("sample", "toy", "--ensemble", name, "--store", store, check=False)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_damaged_ensemble_is_detected_not_sampled(finished):
    build(finished, "greedy-random", "damaged", max_size=2, samples=500)
    path = Path(finished.store.root) / "runs/toy/ensembles/damaged/generators.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedResult, match="ensemble damaged is damaged .*sha256 differs.*--replace"):
        finished.read_ensemble_generators("damaged")
