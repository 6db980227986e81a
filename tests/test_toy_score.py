"""The toy score measures what the toy problems are about: modes covered, and samples on them.

It drives each cell's mixture weights and the choice of the run's best cell, so it must rank a
sample that covers the ring's modes above a Gaussian blob with the ring's mean and covariance (which
the Frechet distance of the raw points scored better than missing one mode of eight)."""
import math

import pytest
import torch

from lpz.config import validate
from lpz.data import load_dataset
from lpz.data.toy import MIXTURES
from lpz.scoring import scorer_for
from tests.helpers import tiny

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ring_scorer():
    config = validate(tiny())
    assert config.dataloader.dataset_name == "gaussian8"
    return scorer_for(load_dataset(config.dataloader, seed=0))


def draws(seed: int = 1):
    ring, gen = MIXTURES["gaussian8"], torch.Generator().manual_seed(seed)
    exact = ring.sample(2500, gen)
    blob = torch.randn(2500, 2, generator=gen) * exact.std(dim=0)  # the ring's mean (0) and covariance
    seven = exact[torch.cdist(exact, ring.modes).argmin(dim=1) != 3]  # one mode of eight left out
    blurred = exact + 0.1 * torch.randn(2500, 2, generator=gen)  # every mode, few samples within 3 std
    return exact, blob, seven, blurred


def test_the_toy_score_ranks_samples_on_every_mode_above_a_blob_of_the_same_mean_and_covariance(ring_scorer):
    exact, blob, seven, blurred = (ring_scorer.score(x) for x in draws())
    assert exact < seven < blob
    assert exact < blurred < blob


def test_the_toy_score_is_the_same_measure_in_every_process(ring_scorer):
    exact = draws()[0]
    again = scorer_for(load_dataset(validate(tiny()).dataloader, seed=0), device="cpu", random_inception=True)
    assert again is not ring_scorer  # built anew, from the same fixed features
    assert again.score(exact) == ring_scorer.score(exact)
    assert math.isfinite(ring_scorer.score(exact))
