"""Mixture sampling and the weights' ES (lpz.algorithm.mixture), in-process: the parts test_evolution.py
does not pin (which generator draws which rows in `sample`, perturb's edge cases, the ES's first step)."""
import pytest
import torch

from lpz.algorithm import mixture
from lpz.seeding import generator


class Tagged(torch.nn.Module):
    """A generator whose samples say who drew them and from which noise row: [tag, z]."""

    def __init__(self, tag: int):
        super().__init__()
        self.tag, self.calls = tag, []

    def forward(self, z):
        self.calls.append(len(z))
        return torch.cat([torch.full((len(z), 1), float(self.tag)), z], dim=1)


def test_sample_draws_each_generators_share_from_its_own_rows_of_z():
    nets = [Tagged(0), Tagged(1), Tagged(2)]
    z = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    out = mixture.sample(nets, [0.2, 0.5, 0.3], z, batch=2)
    assert out[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]  # counts by weight, in generator order
    assert out[:, 1].tolist() == list(range(10))  # each row of z used once, in order
    assert [n.calls for n in nets] == [[2], [2, 2, 1], [2, 1]]  # batches never cross a generator's share


def test_sample_skips_a_generator_of_weight_zero():
    nets = [Tagged(0), Tagged(1)]
    out = mixture.sample(nets, [0.0, 1.0], torch.zeros(5, 1))
    assert out[:, 0].tolist() == [1] * 5 and nets[0].calls == []


def test_allocation_gives_the_remainder_to_the_largest_remainders_then_the_lower_index():
    assert mixture.allocate([1, 1, 1], 4) == [2, 1, 1]
    assert mixture.allocate([1, 1, 1], 5) == [2, 2, 1]
    assert mixture.allocate([0.1, 0.45, 0.45], 3) == [0, 2, 1]
    assert mixture.allocate([3, 1], 4) == [3, 1]  # unnormalised weights


def test_perturb_with_no_noise_only_renormalises():
    assert mixture.perturb([2.0, 6.0], 0.0, generator(0, "p")) == [0.25, 0.75]
    assert mixture.perturb([0.1, 0.4], 0.0, generator(0, "p")) == [0.2, 0.8]  # a sum below 1 too
    assert mixture.perturb([0.1, 0.2, 0.7], 0.0, generator(0, "p")) == [0.1, 0.2, 0.7]  # in float64: no bit lost


def test_perturbation_is_of_size_sigma():
    gen = generator(7, "p")
    moves = [abs(mixture.perturb([0.5, 0.5], 0.01, gen)[0] - 0.5) for _ in range(500)]
    assert max(moves) < 0.05 and 0.002 < sum(moves) / len(moves) < 0.01


def test_perturb_leaves_weights_that_would_all_vanish_unchanged():
    assert mixture.perturb([0.0, 0.0], 0.0, generator(0, "p")) == [0.0, 0.0]
    gen = generator(1, "p")  # tiny weights, large noise: often every weight clips to 0
    results = [mixture.perturb([1e-9, 1e-9], 1.0, gen) for _ in range(50)]
    assert [1e-9, 1e-9] in results and all(w == [1e-9, 1e-9] or sum(w) == pytest.approx(1.0) for w in results)


def test_perturb_uses_its_generator():
    a = mixture.perturb([0.5, 0.5], 0.1, generator(2, "p"))
    assert a == mixture.perturb([0.5, 0.5], 0.1, generator(2, "p"))
    assert a != mixture.perturb([0.5, 0.5], 0.1, generator(3, "p"))
    assert a != [0.5, 0.5]


def test_perturbed_weights_of_a_seed_stay_the_same_from_version_to_version():
    """Float64 noise, added (not subtracted) to the weights: other choices would be as random, but
    would change the weights, and so the scores, a seed has always given."""
    assert mixture.perturb([0.2, 0.3, 0.5], 0.1, generator(11, "p")) == [
        0.216567816236857, 0.24827947439420273, 0.5351527093689402]


def test_es_scores_the_current_weights_when_no_score_is_given():
    scored = []

    def score(w):
        scored.append(list(w))
        return 5.0 if len(scored) == 1 else 1.0

    weights, value, accepted = mixture.one_plus_one([0.5, 0.5], 0.1, score, generator(4, "es"))
    assert scored[0] == [0.5, 0.5] and len(scored) == 2
    assert accepted and value == 1.0 and weights == scored[1]
    again = mixture.one_plus_one([0.5, 0.5], 0.1, lambda w: 0.0, generator(4, "es"), current_score=1.0)
    assert again[0] == weights  # the candidate comes from the ES's own generator


def test_es_does_not_score_a_candidate_equal_to_the_weights():
    scored = []
    weights, value, accepted = mixture.one_plus_one([0.0, 0.0], 0.0, lambda w: scored.append(w) or 2.0,
                                                    generator(5, "es"), current_score=3.0)
    assert (weights, value, accepted, scored) == ([0.0, 0.0], 3.0, False, [])


def test_es_keeps_the_weights_and_their_score_on_a_worse_candidate():
    weights, value, accepted = mixture.one_plus_one([0.5, 0.5], 0.1, lambda w: 9.0, generator(6, "es"),
                                                    current_score=1.0)
    assert (weights, value, accepted) == ([0.5, 0.5], 1.0, False)
