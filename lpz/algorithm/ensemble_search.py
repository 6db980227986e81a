"""Searches for an ensemble of generators: which of N generators to mix, and with what weights.

An ensemble is a weighting of all N candidates, most of them 0; `objective(weights)` scores it (lower
is better). The methods follow the old system's ensemble generators (Toutouh et al., "Re-purposing
heterogeneous generative ensembles with evolutionary computation", GECCO 2020):

greedy      Visit the candidates one by one (in their order, or shuffled): try adding each, with every
            weighting of the members on a grid of 1/precision steps; keep it if the best weighting beats
            the ensemble so far. Stop at max_size members, after `patience` rejections in a row, or
            when every candidate was visited.
ga          A genetic algorithm over ensembles: tournaments of 3, crossover of two parents' members,
            mutation of the weights and of the members, the best ensemble always kept. REO (restricted)
            ensembles have exactly max_size members, NREO (non-restricted) ones 1 to max_size. Stops
            after `generations`, or `patience` generations without improvement.

Every random draw comes from the torch.Generator passed in: the same seed gives the same ensemble.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

Objective = Callable[[list[float]], float]


@dataclass
class Found:
    weights: list[float]            # over all N candidates
    score: float
    evaluations: int                # distinct weightings scored
    history: list[float]            # the best score after each step (candidate visited, or generation)


class Memo:
    """The objective, each distinct weighting scored once."""

    def __init__(self, objective: Objective):
        self.objective, self.seen = objective, {}

    def __call__(self, weights: Sequence[float]) -> float:
        key = tuple(round(w, 12) for w in weights)
        if key not in self.seen:
            self.seen[key] = self.objective(list(weights))
        return self.seen[key]


def compositions(total: int, parts: int):
    """Every way of writing total as an ordered sum of `parts` whole numbers >= 0."""
    for cuts in itertools.combinations(range(total + parts - 1), parts - 1):
        bounds = (-1, *cuts, total + parts - 1)
        yield [bounds[i + 1] - bounds[i] - 1 for i in range(parts)]


def spread(members: Sequence[int], shares: Sequence[float], n: int) -> list[float]:
    """A weighting of n candidates: the members' shares, normalised; 0 elsewhere."""
    weights = [0.0] * n
    total = float(sum(shares))
    for member, share in zip(members, shares):
        weights[member] += share / total
    return weights


def greedy(objective: Objective, n: int, max_size: int, precision: int = 10, patience: int = 3,
           shuffle: torch.Generator | None = None) -> Found:
    """Greedy ensemble building; candidates in index order, or in a random order with shuffle."""
    score = Memo(objective)
    order = torch.randperm(n, generator=shuffle).tolist() if shuffle is not None else list(range(n))
    members: list[int] = []
    best: list[float] | None = None
    history, misses = [], 0
    for candidate in order:
        trial = members + [candidate]
        weightings = [spread(trial, parts, n) for parts in compositions(precision, len(trial)) if any(parts)]
        weights = min(weightings, key=lambda w: (score(w), w))
        if best is None or score(weights) < score(best):
            members, best, misses = trial, weights, 0
        else:
            misses += 1
        history.append(score(best))
        if len(members) == max_size or misses > patience:
            break
    return Found(best, score(best), len(score.seen), history)


def genetic(objective: Objective, n: int, max_size: int, restricted: bool, gen: torch.Generator,
            population: int = 20, generations: int = 50, patience: int = 10,
            crossover: float = 0.8, mutation: float = 0.3) -> Found:
    """A generational GA over ensembles (REO when restricted: exactly max_size members, else 1..max_size)."""
    size = min(max_size, n)
    score = Memo(objective)
    rand = lambda: float(torch.rand(1, generator=gen))  # noqa: E731

    def members_of(weights):
        return [i for i, w in enumerate(weights) if w > 0]

    def random_ensemble():
        k = size if restricted else 1 + int(torch.randint(size, (1,), generator=gen))
        chosen = torch.randperm(n, generator=gen)[:k].tolist()
        return spread(chosen, (torch.rand(k, generator=gen) + 0.05).tolist(), n)

    def tournament(people):
        contestants = torch.randperm(len(people), generator=gen)[:3].tolist()
        return people[min(contestants, key=lambda i: (score(people[i]), i))]

    def cross(a, b):
        """Members drawn from both parents (their weights averaged where both hold one)."""
        pool = sorted(set(members_of(a)) | set(members_of(b)))
        k = size if restricted else len(members_of(a if rand() < 0.5 else b))
        chosen = [pool[i] for i in torch.randperm(len(pool), generator=gen)[:k].tolist()]
        shares = [(a[i] + b[i]) / ((a[i] > 0) + (b[i] > 0)) for i in chosen]
        return spread(chosen, shares, n)

    def pick(options):
        return options[int(torch.randint(len(options), (1,), generator=gen))]

    def mutate(weights):
        """Noisy weights, and a member swapped for an outsider (NREO: or one added, or one dropped)."""
        shares = {i: max(1e-3, weights[i] + 0.1 * float(torch.randn(1, generator=gen))) for i in members_of(weights)}
        outsiders = [i for i in range(n) if i not in shares]
        moves = [move for move in (["swap"] if restricted else ["swap", "add", "drop"])
                 if (move == "drop" or outsiders) and (move != "drop" or len(shares) > 1)
                 and (move != "add" or len(shares) < size)]
        if moves:
            move, typical = pick(moves), sum(shares.values()) / len(shares)
            if move in ("swap", "drop"):
                del shares[pick(list(shares))]
            if move in ("swap", "add"):
                shares[pick(outsiders)] = typical
        return spread(list(shares), list(shares.values()), n)

    people = [random_ensemble() for _ in range(population)]
    best = min(people, key=lambda w: (score(w), w))
    history, stale = [], 0
    for _ in range(generations):
        children = [best]  # elitism: the best ensemble so far always survives
        while len(children) < population:
            a, b = tournament(people), tournament(people)
            child = cross(a, b) if rand() < crossover else list(a)
            children.append(mutate(child) if rand() < mutation else child)
        people = children
        leader = min(people, key=lambda w: (score(w), w))
        best, stale = (leader, 0) if score(leader) < score(best) else (best, stale + 1)
        history.append(score(best))
        if stale >= patience:
            break
    return Found(best, score(best), len(score.seen), history)
