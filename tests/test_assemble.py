"""The end of a run: the best neighbourhood mixture, the grid-wide mixture, the weights' ES, lpz score."""
import pytest
import torch

from lpz.engine.assemble import optimise_weights
from lpz.config import OptimizeMixture, validate
from lpz.engine.local import run_local
from lpz.records import MixtureResult
from lpz.runs import Run
from lpz.scoring import Scorer
from lpz.scoring.frechet import Statistics
from lpz.store import LocalStore
from tests.helpers import lpz, tiny


def finished_run(tmp_path, **overrides) -> tuple[Run, MixtureResult]:
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny(**{"trainer.generations": 2, **overrides})), run_id="ends")
    return run, run_local(run, workers=1)


def test_the_best_neighbourhood_mixture_becomes_the_result(tmp_path):
    run, result = finished_run(tmp_path)
    scores = {e.cell: e.score for e in result.cells}
    assert len(scores) == 4 and result.best_cell == min(scores, key=scores.get)
    assert result.score == scores[result.best_cell]
    saved = run.store.get_tensors(run.key("mixture", "generators.pt"))
    assert saved["cells"] == run.grid.neighbourhood(result.best_cell) == result.cells_mixed
    assert len(saved["generators"]) == len(saved["weights"]) == 3


def test_a_grid_mixture_takes_every_cells_best_generator(tmp_path):
    run, result = finished_run(tmp_path, **{"trainer.params.final_mixture": "grid"})
    assert result.source == "grid" and result.cells_mixed == [0, 1, 2, 3]
    assert result.weights == [0.25] * 4
    assert len(run.store.get_tensors(run.key("mixture", "generators.pt"))["generators"]) == 4


def test_the_optimised_ensemble_never_ends_worse_than_it_started(tmp_path):
    es = {"enabled": True, "generations": 30, "sigma": 0.1, "samples": 1000}
    _, result = finished_run(tmp_path, **{"trainer.params.final_mixture": "grid",
                                          "trainer.params.optimize_mixture": es})
    opt = result.optimized
    assert opt.generations == 30 and opt.score_before is not None
    assert result.score <= opt.score_before
    assert opt.kept == (result.weights != [0.25] * 4)


class Shift(torch.nn.Module):
    """A 'generator' of 2-D points around a centre; enough to test the ES on known answers."""

    def __init__(self, centre):
        super().__init__()
        self.centre = torch.nn.Parameter(torch.tensor(centre))

    def latent(self, n, gen):
        return torch.randn(n, 2, generator=gen) * 0.1

    def forward(self, z):
        return z + self.centre


def test_the_weights_es_moves_towards_the_mixture_the_data_is():
    members = [Shift([0.0, 0.0]), Shift([4.0, 0.0])]
    real = torch.cat([members[0](members[0].latent(3000, torch.Generator().manual_seed(1))),
                      members[1](members[1].latent(1000, torch.Generator().manual_seed(2)))])
    scorer = Scorer("points", lambda x: x, Statistics.of(real.detach()))
    weights, score, accepted = optimise_weights(members, [0.5, 0.5], scorer,
                                                OptimizeMixture(generations=150, sigma=0.05, samples=4000), seed=0)
    assert accepted > 0 and weights[0] == pytest.approx(0.75, abs=0.05)


def test_lpz_score_scores_a_finished_toy_run(tmp_path):
    finished_run(tmp_path)
    out = lpz("score", "ends", "-n", 3000, "--store", tmp_path).stdout
    assert out.startswith("FID ") and "on 3,000 samples (frechet-kernel-2d features)" in out and "/8 modes" in out


@pytest.mark.slow
def test_lpz_score_scores_a_finished_mnist_run_with_fid_and_tvd(tmp_path, data_env):
    finished_run(tmp_path, **{"trainer.generations": 1, "dataloader.dataset_name": "mnist",
                              "network.name": "four_layer_perceptron", "dataloader.n_batches": 3,
                              "score.final_sample_size": 500})
    out = lpz("score", "ends", "-n", 1000, "--store", tmp_path).stdout
    assert "on 1,000 samples (classifier-logits features); TVD " in out
    fid = float(out.split()[1])
    assert fid > 10  # three batches of training are far from MNIST
