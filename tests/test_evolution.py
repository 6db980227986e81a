"""The evolutionary operators: selection, replacement, learning-rate mutation, the mixture ES."""
import math
import statistics

import pytest
import torch

from lpz.algorithm import mixture
from lpz.algorithm.cell import _adopt, _aggregate, mutate_lr, replace_worst, tournament
from lpz.algorithm.individual import Individual
from lpz.seeding import generator


def ind(fitness: float, tag: int = 0) -> Individual:
    return Individual({"w": torch.tensor([float(tag)])}, lr=0.001, fitness=fitness, origin=(tag, 0))


# ------------------------------------------------------------------ tournament selection

def test_tournament_of_the_whole_population_always_picks_the_fittest():
    fitness = [0.7, 0.2, 0.9, 0.4]
    assert tournament(fitness, 4, 10, generator(0, "t")) == [1] * 10


def test_tournament_never_picks_the_least_fit_when_size_is_two():
    fitness = [0.7, 0.2, 0.9, 0.4]
    winners = tournament(fitness, 2, 2000, generator(1, "t"))
    assert 2 not in winners
    # The fittest wins whenever it is drawn among the 2 of 4: probability 1/2.
    assert abs(winners.count(1) / len(winners) - 0.5) < 0.05


def test_tournament_of_size_one_is_uniform():
    winners = tournament([0.1, 0.2, 0.3], 1, 3000, generator(2, "t"))
    for i in range(3):
        assert abs(winners.count(i) / 3000 - 1 / 3) < 0.04


def test_tournament_is_reproducible_from_its_seed():
    fitness = [0.5, 0.1, 0.3, 0.2, 0.9]
    assert tournament(fitness, 2, 50, generator(7, "t")) == tournament(fitness, 2, 50, generator(7, "t"))


# ------------------------------------------------------------------ replacement (elitism)

def test_fitter_trained_individual_replaces_the_worst_local_one():
    local = [ind(0.5, 1), ind(0.9, 2), ind(0.3, 3)]
    result = replace_worst(local, [ind(0.4, 9)], n_replacements=1)
    assert [i.origin[0] for i in result] == [1, 9, 3]


def test_less_fit_or_equal_trained_individual_replaces_nothing():
    local = [ind(0.5, 1), ind(0.9, 2)]
    assert replace_worst(local, [ind(0.95, 9)], 1) == local
    assert replace_worst(local, [ind(0.9, 9)], 1) == local  # strictly fitter only


def test_always_replacement_takes_a_less_fit_trained_individual_in_place_of_the_worst():
    local = [ind(0.5, 1), ind(0.9, 2)]
    result = replace_worst(local, [ind(0.95, 9)], 1, always=True)
    assert [i.origin[0] for i in result] == [1, 9]
    assert replace_worst(local, [ind(0.95, 9)], 0, always=True) == local


def test_elitist_replacement_in_the_cell_step_keeps_a_local_individual_fitter_than_its_trained_copy():
    """Generation 0 -> 1 of each cell of the tiny 2x2, through the real step, once per replacement mode.
    Training does not depend on the mode, so `always` shows each trained copy and its fitness (re-evaluated
    in the step's replacement); `elitist` must take that copy where it is fitter, and keep the local
    individual (generation 0) where the copy is not (on this seed, some cells keep their generator)."""
    from lpz.algorithm.cell import initial_state, step
    from lpz.data import load_dataset
    from lpz.scoring import make_scorer
    from tests.helpers import tiny_config

    torch.set_num_threads(1)
    kept = []
    for cell in range(4):
        new = {}
        for mode in ("always", "elitist"):
            config = tiny_config(**{"trainer.params.replacement": mode})
            dataset = load_dataset(config.dataloader, config.general.seed)
            states = {c: initial_state(config, c, dataset.shape) for c in range(4)}
            neighbours = {c: state for c, state in states.items() if c != cell}
            new[mode] = step(config, cell, 0, states[cell], neighbours, dataset, make_scorer(config, dataset))[0]
        for role in ("generators", "discriminators"):
            trained, chosen = getattr(new["always"], role)[0], getattr(new["elitist"], role)[0]
            assert trained.origin == (cell, 1)
            if chosen.origin == (cell, 1):  # the trained copy, as `always` has it
                assert chosen.fitness == trained.fitness
                assert all(torch.equal(chosen.weights[k], trained.weights[k]) for k in trained.weights)
            else:
                assert chosen.origin == (cell, 0) and chosen.fitness <= trained.fitness, (cell, role)
                kept.append((cell, role))
    assert kept, "elitist took every trained copy: no local individual was fitter than its copy"


def test_n_replacements_limits_how_many_trained_individuals_enter():
    local = [ind(0.9, 1), ind(0.8, 2), ind(0.7, 3)]
    trained = [ind(0.1, 7), ind(0.2, 8), ind(0.3, 9)]
    once = replace_worst(local, trained, 1)
    assert sorted(i.origin[0] for i in once) == [2, 3, 7]
    twice = replace_worst(local, trained, 2)
    assert sorted(i.origin[0] for i in twice) == [3, 7, 8]
    none = replace_worst(local, trained, 0)
    assert none == local


def test_replacement_keeps_the_best_local_individual():
    local = [ind(0.1, 1), ind(0.8, 2)]
    result = replace_worst(local, [ind(0.2, 7), ind(0.3, 8)], 2)
    assert 1 in [i.origin[0] for i in result]


# ------------------------------------------------------------------ learning-rate mutation

def test_learning_rate_mutation_has_the_designed_distribution():
    lr0, alpha = 0.1, 1.0
    gen = generator(3, "mutation")
    deltas = [mutate_lr(1.0, lr0, alpha, 1.0, gen) - 1.0 for _ in range(20000)]
    # lr += alpha * N(-lr0/10, lr0)
    assert abs(statistics.fmean(deltas) - (-lr0 / 10)) < 0.003
    assert abs(statistics.stdev(deltas) - lr0) < 0.003


def test_learning_rate_mutation_happens_with_its_probability():
    gen = generator(4, "mutation")
    changed = sum(mutate_lr(0.5, 0.1, 1.0, 0.3, gen) != 0.5 for _ in range(10000))
    assert abs(changed / 10000 - 0.3) < 0.02
    assert all(mutate_lr(0.5, 0.1, 1.0, 0.0, gen) == 0.5 for _ in range(100))


def test_learning_rate_never_goes_below_zero():
    gen = generator(5, "mutation")
    lrs = [mutate_lr(0.001, 1.0, 1.0, 1.0, gen) for _ in range(1000)]
    assert min(lrs) == 0.0 and all(lr >= 0 for lr in lrs)


# ------------------------------------------------------------------ fitness aggregation

def test_fitness_modes_aggregate_losses_against_all_opponents():
    losses = torch.tensor([0.3, 0.1, 0.8])
    assert _aggregate(losses, "average") == pytest.approx(0.4)
    assert _aggregate(losses, "best") == pytest.approx(0.1)
    assert _aggregate(losses, "worst") == pytest.approx(0.8)


# ------------------------------------------------------------------ mixture weights

def test_allocation_sums_to_n_and_follows_the_weights():
    assert mixture.allocate([0.5, 0.25, 0.25], 100) == [50, 25, 25]
    counts = mixture.allocate([0.2, 0.3, 0.5], 7)
    assert sum(counts) == 7 and counts == [1, 2, 4]
    assert mixture.allocate([1.0, 0.0], 10) == [10, 0]


def test_weightings_share_the_samples_and_features_of_each_generator():
    """The ES's weightings are scored on common samples: each sample is generated and measured once,
    and a weighting takes each generator's first samples."""
    gen = generator(5, "draws")
    generators = [torch.nn.Linear(2, 2) for _ in range(3)]
    noise = [torch.randn(100, 2, generator=gen) for _ in generators]
    generated_rows, measured_rows = [], []
    for g in generators:
        g.register_forward_hook(lambda module, args, out: generated_rows.append(len(args[0])))

    def features(samples):
        measured_rows.append(len(samples))
        return samples * 10

    draws = mixture.Draws(generators, noise, features, chunk=40)
    first = draws.take([0.5, 0.3, 0.2])
    second = draws.take([0.4, 0.4, 0.2])
    assert generated_rows == [40, 40, 40, 40]  # fixed chunks: generator 0's rows 0-39 and 40-79, 1's, 2's
    assert sum(measured_rows) == 50 + 40 + 20  # the second weighting measured generator 1's 10 more only

    with torch.no_grad():
        own = [g(z) * 10 for g, z in zip(generators, noise)]
    assert torch.equal(first, torch.cat([own[0][:50], own[1][:30], own[2][:20]]))
    assert torch.equal(second, torch.cat([own[0][:40], own[1][:40], own[2][:20]]))
    assert len(draws.take([0.0, 0.0, 1.0])) == 100


def test_perturbed_weights_are_a_distribution():
    gen = generator(6, "mixture")
    for _ in range(200):
        w = mixture.perturb([0.2, 0.3, 0.5], 0.3, gen)
        assert all(x >= 0 for x in w) and math.isclose(sum(w), 1.0)


def test_mixture_es_never_keeps_a_worse_score():
    target = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    score = lambda w: float((torch.tensor(w, dtype=torch.float64) - target).abs().sum())
    gen = generator(8, "es")
    weights, current = [1 / 3] * 3, score([1 / 3] * 3)
    accepted_any = False
    for _ in range(300):
        new_weights, new_score, accepted = mixture.one_plus_one(weights, 0.05, score, gen, current)
        assert new_score <= current
        assert accepted == (new_weights != weights)
        if accepted:
            assert new_score < current
            accepted_any = True
        weights, current = new_weights, new_score
    assert accepted_any and current < 0.1


def test_mixture_es_rejects_a_candidate_that_scores_the_same():
    weights, score, accepted = mixture.one_plus_one([0.5, 0.5], 0.1, lambda w: 1.0, generator(9, "es"))
    assert weights == [0.5, 0.5] and score == 1.0 and not accepted


# ------------------------------------------------------------------ Adam state of selected copies

def test_selected_copies_keep_or_take_over_adam_state():
    adam = {"state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.ones(2)}}, "param_groups": []}
    mine = Individual({"w": torch.zeros(1)}, 0.001, adam=adam, origin=(0, 3))
    foreign = Individual({"w": torch.ones(1)}, 0.001, adam=None, origin=(1, 3))

    assert _adopt(mine, True, mine, "fresh").adam["state"][0]["step"] == 7.0     # own: its Adam goes with it
    assert _adopt(foreign, False, mine, "fresh").adam is None                    # a neighbour's starts afresh...
    taken = _adopt(foreign, False, mine, "own")                                  # ...or takes over the local one's
    assert taken.weights["w"].item() == 1.0 and taken.adam["state"][0]["step"] == 7.0
    taken.adam["state"][0]["exp_avg"].add_(1)
    assert mine.adam["state"][0]["exp_avg"][0] == 1.0                            # a copy, not the same tensors
