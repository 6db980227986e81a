"""The learning-rate mutation (lpz.algorithm.cell.mutate_lr) drawn exactly as designed: test_evolution.py
checks its distribution statistically, which leaves the draws' generator and the mean's exact shift free."""
import pytest
import torch

from lpz.algorithm.cell import mutate_lr
from lpz.seeding import generator


@pytest.mark.parametrize("seed", range(5))
def test_a_mutation_is_lr_plus_alpha_times_n_of_minus_lr0_over_10_and_lr0_from_its_own_generator(seed):
    draws = generator(seed, "lr")
    happens, normal = float(torch.rand(1, generator=draws)), float(torch.randn(1, generator=draws))
    expected = max(0.0, 0.002 + 0.5 * (normal * 0.001 - 0.001 / 10)) if happens < 0.7 else 0.002
    assert mutate_lr(0.002, 0.001, 0.5, 0.7, generator(seed, "lr")) == expected
