"""The theoretical model of "Towards distributed coevolutionary GANs" (Al-Dujaili et al., AAAI 2018 Fall
Symposium), and coevolution on it, panmictic or on a toroidal grid.

The game (old Lipizzaner: ALFA-group/lipizzaner-gan, theoretical_experiments/gaussian_gan.py `fct`):
a generator is 1/2 N(m1, 1) + 1/2 N(m2, 1), the target is the same with fixed means (-2, 2), a
discriminator is a union of two intervals [l1, r1] u [l2, r2]; the payoff is the discriminator's mass
under the target minus its mass under the generator. Genomes are encoded as in the old code: a
generator is (m1, m2 - m1), a discriminator (l1, r1 - l1, l2 - r1, r2 - l2), so that the gaps stay
>= 0 under mutation and the means and interval ends stay ordered.

The best response to a generator is the set where the target density exceeds the generator's
(old: theoretical_experiments/opt_disc.py); its payoff is the total variation distance, the measure
of how far a generator is from the target.

Every random draw comes from the numpy Generator passed in: a run is a function of its settings and seed.

    result = run(Settings(algorithm="spatial", size=9, sigma=1.0), seed=0)
    result["tvd"], result["means"], result["trace"]

The experiments and what they found: bench/theory.py, docs/theory.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from lpz.config.grid import Grid

TARGET = (-2.0, 2.0)     # old m1_opt, m2_opt
BOUND = 10.0             # old max_bounds: generator means stay in [-BOUND, BOUND]
DISC_INIT_WIDTH = 0.2    # old DISCRIMINATOR_INIT_DISTANCE: initial interval lengths and gaps are U(0, 0.2)


# ---------------------------------------------------------------------------------------------------
# The game


def density(x, means):
    """Density of 1/2 N(m1, 1) + 1/2 N(m2, 1) at x."""
    x = np.asarray(x, dtype=float)[..., None]
    return 0.5 * np.exp(-0.5 * (x - np.asarray(means)) ** 2).sum(-1) / np.sqrt(2 * np.pi)


def mass(intervals, means):
    """Probability of a union of disjoint intervals (..., k, 2) under the mixture with means (..., 2)."""
    intervals, means = np.asarray(intervals, dtype=float), np.asarray(means, dtype=float)
    lo = intervals[..., :, 0, None] - means[..., None, :]
    hi = intervals[..., :, 1, None] - means[..., None, :]
    return 0.5 * (ndtr(hi) - ndtr(lo)).sum(axis=(-2, -1))


def payoff(means, intervals, target=TARGET):
    """Payoff matrix (G, D) of generators' means (G, 2) against discriminators' intervals (D, k, 2): each
    discriminator's mass under the target minus its mass under each generator."""
    intervals = np.asarray(intervals, dtype=float)
    return mass(intervals, target)[None, :] - mass(intervals[None], np.asarray(means)[:, None])


def optimal_discriminator(means, target=TARGET, points=4001):
    """The set where the target density exceeds the generator's, as intervals (k, 2) with k <= 2.

    p - q is a sum of four unit Gaussians with signed weights; ordered by their means the weights change
    sign at most 3 times, and a Gaussian kernel does not add sign changes (it is variation diminishing),
    so p - q has at most 3 roots. They are bracketed on a grid and solved to 1e-12 with Brent's method (a
    sign change narrower than the grid step, about 0.005, would be missed, with less than 0.005 * max|p - q|
    of payoff). The old opt_disc.py searched only between the smallest and the largest mean.
    """
    def gap(x):
        return density(x, target) - density(x, means)

    centres = np.concatenate([np.asarray(means, dtype=float), np.asarray(target, dtype=float)])
    x = np.linspace(centres.min() - 8, centres.max() + 8, points)
    positive = gap(x) > 0
    roots = [brentq(gap, x[i], x[i + 1], xtol=1e-12) for i in np.flatnonzero(positive[:-1] != positive[1:])]
    ends = [-np.inf, *roots, np.inf]
    starts_positive = positive[0]   # the grid starts 8 beyond every mean: the sign of the left tail
    intervals = [(ends[i], ends[i + 1]) for i in range(len(ends) - 1) if (i % 2 == 0) == starts_positive]
    return np.array(intervals, dtype=float).reshape(-1, 2)


def tvd(means, target=TARGET):
    """Total variation distance from generator to target: the payoff of the optimal discriminator."""
    best = optimal_discriminator(means, target)
    return float(mass(best, target) - mass(best, means))


def mean_error(means, target=TARGET):
    """Half the L1 distance of the sorted means (old gaussian_gan_plot.py `tvd` on the means)."""
    return float(np.abs(np.sort(means) - np.sort(target)).sum() / 2)


def collapsed(means, target=TARGET, radius=1.0):
    """Mode collapse: both means within `radius` (one standard deviation) of the same target mean."""
    near = np.abs(np.asarray(means, dtype=float)[..., :, None] - np.asarray(target)) < radius   # (..., 2, 2)
    return (near[..., 0, :] & near[..., 1, :]).any(-1)


# ---------------------------------------------------------------------------------------------------
# Genomes (old Coev._populate and Coev.mutate_gaussian)


def gen_means(genomes):
    """Generator genomes (n, 2) = (m1, m2 - m1) -> means (n, 2), m1 <= m2."""
    return np.cumsum(genomes, axis=-1)


def disc_intervals(genomes):
    """Discriminator genomes (n, 4) = (l1, r1 - l1, l2 - r1, r2 - l2) -> intervals (n, 2, 2)."""
    return np.cumsum(genomes, axis=-1).reshape(*np.shape(genomes)[:-1], 2, 2)


def random_generators(n, rng, bound=BOUND):
    m1 = rng.uniform(-bound, bound, n)
    return np.stack([m1, rng.uniform(0, bound - m1)], axis=1)


def random_discriminators(n, rng, bound=BOUND):
    l1 = rng.uniform(-bound, bound - 3 * DISC_INIT_WIDTH, n)
    return np.column_stack([l1, rng.uniform(0, DISC_INIT_WIDTH, (n, 3))])


def mutate_generators(genomes, rng, sigma, probability, bound=BOUND):
    """Gaussian steps on both genes of each genome, with the given probability; means stay in [-bound, bound].

    The old code let m2 reach 2 * bound (it clipped m2 - m1 to [0, 2 * bound - m1]); here m2 <= bound,
    the range its comment and the initialisation use."""
    steps = rng.normal(0, sigma, genomes.shape) * (rng.random(len(genomes)) < probability)[:, None]
    m1 = np.clip(genomes[:, 0] + steps[:, 0], -bound, bound)
    return np.stack([m1, np.clip(genomes[:, 1] + steps[:, 1], 0, bound - m1)], axis=1)


def mutate_discriminators(genomes, rng, sigma, probability):
    """Gaussian steps on all four genes with the given probability; l1 is free, the gaps stay >= 0."""
    steps = rng.normal(0, sigma, genomes.shape) * (rng.random(len(genomes)) < probability)[:, None]
    mutated = genomes + steps
    mutated[:, 1:] = np.maximum(mutated[:, 1:], 0)
    return mutated


# ---------------------------------------------------------------------------------------------------
# Coevolution


@dataclass(frozen=True)
class Settings:
    algorithm: str = "spatial"          # spatial (a toroidal grid, one pair per cell) | panmictic
    size: int = 9                       # individuals per side; spatial: a square grid of this many cells
    sigma: float = 1.0                  # mutation scale (old gaussian_step)
    mutation_probability: float = 0.7   # old default
    tournament_size: int = 2            # old default
    evaluations: int = 100_000          # budget: payoff evaluations (old max_fevals)
    target: tuple = TARGET
    bound: float = BOUND
    start: tuple | None = None          # every generator starts here (old mode_collapse), else at random

    def grid(self) -> Grid:
        side = isqrt(self.size)
        if side * side != self.size:
            raise ValueError(f"spatial needs a square size, not {self.size}")
        return Grid(side, side)


def fitness(gens, discs, target):
    """Worst-case fitnesses (old evaluate_fitness_sym): a generator's largest |payoff| over the
    discriminators (lower is better), a discriminator's smallest |payoff| over the generators (higher is
    better)."""
    k = np.abs(payoff(gen_means(gens), disc_intervals(discs), target))
    return k.max(axis=1), k.min(axis=0)


def tournament(fit, n, size, rng):
    """Indices of n winners of tournaments of `size` distinct individuals each (lower fit wins)."""
    entrants = rng.random((n, len(fit))).argsort(axis=1)[:, :size]
    return entrants[np.arange(n), fit[entrants].argmin(axis=1)]


def step(gens, discs, rng, s: Settings):
    """One generation of one population (old CoevParallel: both sides at once): tournaments, mutation,
    then the best n of parents and offspring, all evaluated against all of the other side's parents and
    offspring, survive. Returns gens, discs and their fitnesses, best first.

    The old code replaced the worst n_replacements parents (8 of 10) by the best offspring where better,
    nearly the same, but measured the parents against the opponents of the generation before; as in lpz's
    replacement (NOTES.md), parents and offspring meet the same opponents here."""
    n = len(gens)
    fit_g, fit_d = fitness(gens, discs, s.target)
    kids_g = mutate_generators(gens[tournament(fit_g, n, min(s.tournament_size, n), rng)],
                               rng, s.sigma, s.mutation_probability, s.bound)
    kids_d = mutate_discriminators(discs[tournament(-fit_d, n, min(s.tournament_size, n), rng)],
                                   rng, s.sigma, s.mutation_probability)
    all_g, all_d = np.concatenate([gens, kids_g]), np.concatenate([discs, kids_d])
    fit_g, fit_d = fitness(all_g, all_d, s.target)
    keep_g, keep_d = np.argsort(fit_g, kind="stable")[:n], np.argsort(-fit_d, kind="stable")[:n]
    return all_g[keep_g], all_d[keep_d], fit_g[keep_g], fit_d[keep_d]


def step_cost(n):
    """Payoff evaluations of one `step` on n pairs: n x n for the tournaments, 2n x 2n for survival."""
    return n * n + 4 * n * n


def spatial_generation(gens, discs, rng, s: Settings, grid: Grid):
    """Every cell runs `step` on its neighbourhood (itself, N, S, W, E) and keeps the best pair; all cells
    read the grid as it was (synchronous), in cell order."""
    new_g, new_d, fit_g = gens.copy(), discs.copy(), np.empty(len(gens))
    for cell in grid.cells:
        g, d, fg, _ = step(gens[grid.neighbourhood(cell)], discs[grid.neighbourhood(cell)], rng, s)
        new_g[cell], new_d[cell], fit_g[cell] = g[0], d[0], fg[0]
    return new_g, new_d, fit_g


def generation_cost(s: Settings) -> int:
    """Payoff evaluations per generation: a spatial cell re-evaluates its neighbours, so a grid costs more."""
    if s.algorithm == "spatial":
        grid = s.grid()
        return sum(step_cost(len(grid.neighbourhood(cell))) for cell in grid.cells)
    if s.algorithm == "panmictic":
        return step_cost(s.size)
    raise ValueError(s.algorithm)


def initial(s: Settings, rng):
    """Random generators and discriminators (old Coev._populate); with s.start, every generator there."""
    gens = random_generators(s.size, rng, s.bound)
    if s.start is not None:
        gens[:] = (s.start[0], s.start[1] - s.start[0])
    return gens, random_discriminators(s.size, rng, s.bound)


def run(s: Settings, seed: int, checkpoints: int = 20) -> dict:
    """Coevolve until the evaluation budget is spent; report the generator of best (subjective) fitness.

    trace: (evaluations, tvd) of that generator at evaluations 0, budget / checkpoints, ..., budget, as it
    stood after the last generation that fitted. escaped_at: the evaluations after which that generator
    was never again collapsed (0: never collapsed; None: collapsed at the end)."""
    rng = np.random.default_rng(seed)
    gens, discs = initial(s, rng)
    fit_g, _ = fitness(gens, discs, s.target)
    cost, spent, generations = generation_cost(s), 0, 0
    marks = [s.evaluations * i // checkpoints for i in range(checkpoints + 1)]
    trace, escaped_at = [], None
    while True:
        best = gen_means(gens)[fit_g.argmin()]
        if collapsed(best, s.target):
            escaped_at = None
        elif escaped_at is None:
            escaped_at = spent
        done = spent + cost > s.evaluations
        horizon = np.inf if done else spent + cost   # the state now stands for every mark before the next one
        while len(trace) < len(marks) and marks[len(trace)] < horizon:
            trace.append((marks[len(trace)], tvd(best, s.target)))
        if done:
            break
        if s.algorithm == "spatial":
            gens, discs, fit_g = spatial_generation(gens, discs, rng, s, s.grid())
        else:
            gens, discs, fit_g, _ = step(gens, discs, rng, s)
        spent, generations = spent + cost, generations + 1
    means = gen_means(gens)
    return {"means": best, "tvd": trace[-1][1], "mean_error": mean_error(best, s.target),
            "collapsed": escaped_at is None, "escaped_at": escaped_at,
            "population_tvd": float(np.median([tvd(m, s.target) for m in means])),
            "population_collapsed": float(collapsed(means, s.target).mean()),
            "evaluations": spent, "generations": generations, "trace": trace}
