"""One generation of one cell (docs/design.md section 1, steps 1-7), as a pure function.

    state, metrics, preview = step(config, cell, generation, own, neighbours, dataset, scorer)

`own` is the cell's state at generation g, `neighbours` maps each other cell
of its neighbourhood to its public state at g. Every random draw comes from a
generator seeded by (run seed, cell, generation, purpose), so the result
depends on nothing but the arguments (and the thread count, which the caller sets
from general.threads). `initial_state` is generation 0: never stored, recomputed.

`step` is `select` (steps 1-3), training (step 4) and `conclude` (steps 5-7); lpz.algorithm.fused
trains the selected pairs of several cells' rounds at once between the two.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from lpz.algorithm import averaging, gradient_free, losses, mixture, nets, optimisers
from lpz.algorithm.draws import batch_indices, cell_share, tournament
from lpz.config import samples_due
from lpz.records import CellMetrics, IndividualSummary, Losses, MixtureRecord
from lpz.config.grid import Grid
from lpz.algorithm.individual import CellState, Individual
from lpz.seeding import generator

PREVIEW_SAMPLES = 64


class Timer:
    """Seconds spent in each phase of a step."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


# ------------------------------------------------------------------ setup

def initial_state(config, cell: int, shape: tuple) -> CellState:
    """Generation 0 of a cell: fresh networks from the run seed (never stored, always recomputed)."""
    seed, lr = config.general.seed, config.trainer.params.default_adam_learning_rate
    generators, discriminators = [], []
    for i in range(config.trainer.params.population_size):
        g, d = nets.build(config.network, shape, generator(seed, cell, 0, "init", i))
        generators.append(Individual(g.state_dict(), lr, origin=(cell, 0)))
        discriminators.append(Individual(d.state_dict(), lr, origin=(cell, 0)))
    size = len(Grid.from_config(config).neighbourhood(cell))
    return CellState(cell, 0, generators, discriminators, [1.0 / size] * size)


def _modules(config, shape, individuals, role: str, device: str) -> list[torch.nn.Module]:
    """A network for each individual, holding its weights (role "g" or "d")."""
    return [nets.loaded(config.network, shape, ind.weights, role, device) for ind in individuals]


def _to_cpu(tree):
    """Tensors anywhere in nested dicts and lists, moved to the CPU (checkpoints are CPU-only)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu().clone()
    if isinstance(tree, dict):
        return {k: _to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_cpu(v) for v in tree)
    return tree


# ------------------------------------------------------------------ fitness

def _aggregate(values: torch.Tensor, mode: str) -> float:
    if mode == "best":
        return float(values.min())
    if mode == "worst":
        return float(values.max())
    return float(values.mean())


class Bouts:
    """The losses of generators against discriminators on one fixed draw of real samples and noise.

    Networks join in rounds; each new one plays every network of the other kind, and a pair that has
    played is never played again (replacement re-evaluates the neighbourhood with the trained copies
    added: only the copies' bouts are new). Lower is fitter."""

    def __init__(self, real: torch.Tensor, z: torch.Tensor, loss: str):
        self.real, self.z, self.kind = real, z, losses.fitness_kind(loss)
        self.fakes: list[torch.Tensor] = []
        self.discriminators: list[torch.nn.Module] = []
        self.real_logits: list[torch.Tensor] = []
        self.g_losses: dict[tuple[int, int], torch.Tensor] = {}  # (generator, discriminator) -> loss
        self.d_losses: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def join(self, generators=(), discriminators=()) -> None:
        self.fakes += [g(self.z) for g in generators]
        for d in discriminators:
            self.discriminators.append(d)
            self.real_logits.append(d(self.real))
        for k, d in enumerate(self.discriminators):
            for j, fake in enumerate(self.fakes):
                if (j, k) not in self.g_losses:
                    fake_logits = d(fake)
                    self.g_losses[j, k] = losses.generator_loss(self.kind, fake_logits)
                    self.d_losses[j, k] = losses.discriminator_loss(self.kind, self.real_logits[k], fake_logits)

    def fitness(self, mode: str) -> tuple[list[float], list[float]]:
        """Every generator's loss against all discriminators, and back, aggregated by mode."""
        g, d = range(len(self.fakes)), range(len(self.discriminators))
        return ([_aggregate(torch.stack([self.g_losses[j, k] for k in d]), mode) for j in g],
                [_aggregate(torch.stack([self.d_losses[j, k] for j in g]), mode) for k in d])


def _adopt(individual: Individual, own: bool, local: Individual, migrant_adam: str) -> Individual:
    """The copy a cell trains. A copy of its own individual keeps its Adam state; a neighbour's arrives
    without one (public states carry none) and starts Adam afresh, or with migrant_adam "own" takes over
    the Adam state of the local individual whose place it trains in."""
    trainee = individual.clone(keep_adam=own)
    if not own and migrant_adam == "own" and local.adam is not None:
        trainee.adam = copy.deepcopy(local.adam)
    return trainee


def replace_worst(local: list[Individual], trained: list[Individual], n_replacements: int,
                  always: bool = False) -> list[Individual]:
    """Each of the best n trained individuals replaces the worst local one: if strictly fitter (elitism),
    or regardless of fitness when `always` (the old system's ALWAYS_REPLACE)."""
    population = list(local)
    for candidate in sorted(trained, key=lambda i: i.fitness)[:n_replacements]:
        worst = max(range(len(population)), key=lambda i: (population[i].fitness, i))
        if always or candidate.fitness < population[worst].fitness:
            population[worst] = candidate
    return population


def lr_factor(config, generation: int) -> float:
    """What the learning rates are multiplied by while generation+1 is trained: 1 throughout, or with
    trainer.params.lr_decay, falling linearly from 1 (the first generation) to lr_decay (the last)."""
    decay, last = config.trainer.params.lr_decay, config.trainer.generations - 1
    return 1.0 if decay is None or last == 0 else 1.0 - (1.0 - decay) * generation / last


def mutate_lr(lr: float, lr0: float, alpha: float, probability: float, gen: torch.Generator) -> float:
    """With the given probability, lr += alpha * N(-lr0/10, lr0), floored at 0."""
    happens = float(torch.rand(1, generator=gen)) < probability
    delta = float(torch.randn(1, generator=gen)) * lr0 - lr0 / 10
    return max(0.0, lr + alpha * delta) if happens else lr


# ------------------------------------------------------------------ training

class Trainee:
    """A selected individual being trained: its network, optimizer (None for the gradient-free
    trainers) and running loss. The optimiser steps with the individual's own (mutated, inherited)
    learning rate times rate_factor, the run's schedule (lr_factor)."""
    rate_factor = 1.0

    def __init__(self, individual: Individual, net: torch.nn.Module, optimiser: str | None):
        self.individual = individual
        self.net = net
        self.optimizer = optimisers.build(optimiser, net.parameters(), individual.lr) if optimiser else None
        if self.optimizer is not None and individual.adam is not None:
            self.optimizer.load_state_dict(individual.adam)
        self.set_lr(individual.lr)
        self.loss_sum, self.steps = None, 0  # summed on the network's device: no sync per step

    def set_lr(self, lr: float):
        self.individual.lr = lr
        for group in self.optimizer.param_groups if self.optimizer is not None else []:
            group["lr"] = lr * self.rate_factor

    def update(self, loss: torch.Tensor, clip: float | None = None):
        """One optimiser step on the loss; with clip, every weight is then clamped to [-clip, clip]."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=list(self.net.parameters()))
        self.optimizer.step()
        if clip is not None:
            with torch.no_grad():
                for weight in self.net.parameters():
                    weight.clamp_(-clip, clip)
        self.record(loss)

    def record(self, loss: torch.Tensor):
        """Count one step's loss into the mean the cell's metrics report."""
        step_loss = loss.detach().double()
        self.loss_sum = step_loss if self.loss_sum is None else self.loss_sum + step_loss
        self.steps += 1

    def finish(self, cell: int, generation: int) -> Individual:
        """The trained individual: the network's weights and the optimiser's state, made at (cell, generation)."""
        ind = self.individual
        ind.weights = _to_cpu(self.net.state_dict())
        ind.adam = _to_cpu(self.optimizer.state_dict()) if self.optimizer is not None else None
        ind.origin = (cell, generation)
        return ind

    @property
    def mean_loss(self) -> float | None:
        return float(self.loss_sum) / self.steps if self.steps else None


def pick_opponent(opponents: list, partners: int, own_share: float | None, choice: torch.Generator):
    """A batch's opponent. The last `partners` opponents train beside the trainee (its own cell's); the
    others are neighbours' frozen networks. Uniform over all, or with own_share, a partner with that chance.
    A share equal to the uniform draw's (1/3 on a 2x2 grid) is drawn as the uniform draw is, so a config
    that sets it trains the same bytes as one that does not."""
    frozen = len(opponents) - partners
    if own_share is None or frozen == 0 or math.isclose(own_share, partners / len(opponents), rel_tol=1e-12):
        return opponents[int(torch.randint(len(opponents), (1,), generator=choice))]
    if float(torch.rand(1, generator=choice)) < own_share:
        return opponents[frozen + int(torch.randint(partners, (1,), generator=choice))]
    return opponents[int(torch.randint(frozen, (1,), generator=choice))]


def train(config, cell, generation, trainee_g, trainee_d, opponents_g, opponents_d, dataset, g_losses, device):
    """Step 4: every batch, mutate learning rates, update generators, then (unless skipped) discriminators.

    opponents_g are the discriminators generators train against; opponents_d the generators
    discriminators train against. With the wgan loss, generators step on every critic_steps-th batch
    only and the critics on every batch, their weights clipped after each step.
    """
    p, seed = config.trainer.params, config.general.seed
    lr0 = p.default_adam_learning_rate
    mutation = generator(seed, cell, generation, "mutation")
    choice = generator(seed, cell, generation, "opponents")
    noise = generator(seed, cell, generation, "noise")
    mustangs = generator(seed, cell, generation, "mustangs-batch")
    d_kind = losses.discriminator_kind(config.network.loss)
    batch_size = config.dataloader.batch_size
    wgan = config.network.loss == "wgan"
    generator_every = (p.critic_steps or losses.WGAN_CRITIC_STEPS) if wgan else 1
    clip = (p.weight_clip or losses.WGAN_WEIGHT_CLIP) if wgan else None
    for t in trainee_g + trainee_d:
        t.rate_factor = lr_factor(config, generation)

    for b, index in enumerate(batch_indices(config, cell, generation, len(dataset))):
        real = dataset.samples(index).to(device, non_blocking=True)
        for t in trainee_g + trainee_d:
            t.set_lr(mutate_lr(t.individual.lr, lr0, p.alpha, p.mutation_probability, mutation))
        for i, t in enumerate(trainee_g if b % generator_every == 0 else []):
            opponent = pick_opponent(opponents_g, len(trainee_d), p.own_share, choice)
            kind = g_losses[i]
            if config.network.loss == "mustangs" and config.network.mustangs_mode == "batch":
                kind = losses.BASE_LOSSES[int(torch.randint(3, (1,), generator=mustangs))]
                t.individual.loss = kind
            fake = t.net(t.net.latent(batch_size, noise))
            t.update(losses.generator_loss(kind, opponent(fake)))
        skip = p.discriminator_skip_each_nth_step
        if skip and b % (skip + 1) != 0:
            continue
        for t in trainee_d:
            opponent = pick_opponent(opponents_d, len(trainee_g), p.own_share, choice)
            with torch.no_grad():
                fake = opponent(opponent.latent(len(real), noise))
            t.update(losses.discriminator_loss(d_kind, t.net(real), t.net(fake)), clip)


# ------------------------------------------------------------------ the step

@dataclass
class Round:
    """One cell's generation after selection (steps 1-3): what training needs, and what replacement and
    the mixture (steps 5-7) need after it. Training may be this cell's alone (`step`) or shared with
    other cells' rounds (lpz.algorithm.fused)."""
    config: object
    cell: int
    generation: int
    own: CellState
    hood: list[int]
    timer: Timer
    bouts: Bouts
    all_g: list[Individual]
    all_d: list[Individual]
    owner_g: list[int]
    is_own_g: list[bool]
    is_own_d: list[bool]
    nets_g: list[torch.nn.Module]
    trainee_g: list[Trainee]
    trainee_d: list[Trainee]
    opponents_g: list[torch.nn.Module]
    opponents_d: list[torch.nn.Module]
    g_losses: list[str]


def step(config, cell: int, generation: int, own: CellState, neighbours: dict[int, CellState],
         dataset, scorer, device: str = "cpu") -> tuple[CellState, CellMetrics, torch.Tensor | None]:
    """Generation g -> g+1 of one cell, its networks on device (the caller sets the thread count).

    Returns the new state, its metrics, and now and then (general.sample_every) samples of its
    mixture to draw a picture of."""
    selected = select(config, cell, generation, own, neighbours, dataset, device)
    with selected.timer.phase("training"):
        trainer = train if config.trainer.name == "lipizzaner" else gradient_free.train
        trainer(config, cell, generation, selected.trainee_g, selected.trainee_d, selected.opponents_g,
                selected.opponents_d, dataset, selected.g_losses, device)
        finish_training(selected)
    return conclude(selected, scorer)


def select(config, cell: int, generation: int, own: CellState, neighbours: dict[int, CellState],
           dataset, device: str = "cpu") -> Round:
    """Steps 1-3: gather the neighbourhood, measure fitness, select the individuals to train."""
    timer = Timer()
    p, seed = config.trainer.params, config.general.seed
    hood = Grid.from_config(config).neighbourhood(cell)
    shape = dataset.shape
    loss = config.network.loss

    # 1. Gather: the neighbourhood's individuals, own ones last (as the old system did).
    others = [neighbours[c] for c in hood[1:]]
    all_g = [ind for s in others for ind in s.generators] + own.generators
    all_d = [ind for s in others for ind in s.discriminators] + own.discriminators
    owner_g = [c for c, s in zip(hood[1:], others) for _ in s.generators] + [cell] * len(own.generators)
    owner_d = [c for c, s in zip(hood[1:], others) for _ in s.discriminators] + [cell] * len(own.discriminators)
    is_own_g = [c == cell for c in owner_g]
    is_own_d = [c == cell for c in owner_d]

    # 2. Fitness against the whole neighbourhood, on one fixed draw of real samples and noise.
    with timer.phase("fitness"):
        nets_g, nets_d = _modules(config, shape, all_g, "g", device), _modules(config, shape, all_d, "d", device)
        n_fit = p.fitness.fitness_sample_size
        share = cell_share(config, cell, len(dataset))
        pick = share[torch.randint(len(share), (n_fit,), generator=generator(seed, cell, generation, "fitness"))]
        real_fit = dataset.samples(pick).to(device)
        z_fit = nets_g[0].latent(n_fit, generator(seed, cell, generation, "fitness-noise"))
        bouts = Bouts(real_fit, z_fit, loss)
        bouts.join(nets_g, nets_d)
        fit_g, fit_d = bouts.fitness(p.fitness.fitness_mode)
        all_g = [replace(ind, fitness=f) for ind, f in zip(all_g, fit_g)]
        all_d = [replace(ind, fitness=f) for ind, f in zip(all_d, fit_d)]

    # 3. Selection: tournaments over the neighbourhood build the individuals to train.
    #    Copies of own individuals keep their Adam state; neighbours' arrive without one.
    with timer.phase("selection"):
        if p.enable_selection:
            pick_g = tournament(fit_g, p.tournament_size, p.population_size,
                                generator(seed, cell, generation, "select-g"))
            pick_d = tournament(fit_d, p.tournament_size, p.population_size,
                                generator(seed, cell, generation, "select-d"))
        else:  # train the own population, against the whole neighbourhood
            pick_g = [i for i, mine in enumerate(is_own_g) if mine]
            pick_d = [i for i, mine in enumerate(is_own_d) if mine]
        optimiser = optimisers.name_for(config)
        trainee_g = [Trainee(_adopt(all_g[i], is_own_g[i], own.generators[k], p.migrant_adam),
                             copy.deepcopy(nets_g[i]), optimiser) for k, i in enumerate(pick_g)]
        trainee_d = [Trainee(_adopt(all_d[i], is_own_d[i], own.discriminators[k], p.migrant_adam),
                             copy.deepcopy(nets_d[i]), optimiser) for k, i in enumerate(pick_d)]
        if loss == "mustangs":
            draw = generator(seed, cell, generation, "mustangs")
            g_losses = [losses.BASE_LOSSES[int(torch.randint(3, (1,), generator=draw))] for _ in trainee_g]
        else:
            g_losses = [loss] * len(trainee_g)
        for t, kind in zip(trainee_g, g_losses):
            t.individual.loss = kind
        for t in trainee_d:
            t.individual.loss = losses.discriminator_kind(loss)

    # The opponents of step 4.
    if p.enable_selection:
        opponents_g, opponents_d = [t.net for t in trainee_d], [t.net for t in trainee_g]
    else:
        opponents_g = [n for n, mine in zip(nets_d, is_own_d) if not mine] + [t.net for t in trainee_d]
        opponents_d = [n for n, mine in zip(nets_g, is_own_g) if not mine] + [t.net for t in trainee_g]
    return Round(config, cell, generation, own, hood, timer, bouts, all_g, all_d, owner_g, is_own_g, is_own_d,
                 nets_g, trainee_g, trainee_d, opponents_g, opponents_d, g_losses)


def finish_training(selected: Round) -> None:
    """The end of step 4: the trainees' weights and optimiser states become their individuals'."""
    for t in selected.trainee_g + selected.trainee_d:
        t.finish(selected.cell, selected.generation + 1)


def conclude(selected: Round, scorer) -> tuple[CellState, CellMetrics, torch.Tensor | None]:
    """Steps 5-7 after training: replacement, the mixture's ES step, the new state and its metrics."""
    config, cell, generation, timer = selected.config, selected.cell, selected.generation, selected.timer
    p, seed, hood = config.trainer.params, config.general.seed, selected.hood
    trainee_g, trainee_d = selected.trainee_g, selected.trainee_d
    trained_g = [t.individual for t in trainee_g]
    trained_d = [t.individual for t in trainee_d]
    is_own_g, is_own_d, owner_g = selected.is_own_g, selected.is_own_d, selected.owner_g

    # 5. Replacement. Fitness is relative to the opponents at hand, so the trained copies and the
    #    local individuals are both re-evaluated against the neighbourhood as it now stands (its
    #    individuals at g plus the trained copies); each trained copy replaces the worst local one
    #    (with `elitist` only where it is fitter). Against the opponents at g alone, an old pair that
    #    has settled against each other could never be displaced. Without selection the trained copies
    #    take over.
    with timer.phase("replacement"):
        bouts = selected.bouts
        bouts.join([t.net for t in trainee_g], [t.net for t in trainee_d])
        fit_g, fit_d = bouts.fitness(p.fitness.fitness_mode)
        nets_g = selected.nets_g + [t.net for t in trainee_g]  # the module of each of all_g below
        all_g = [replace(ind, fitness=f) for ind, f in zip(selected.all_g + trained_g, fit_g)]
        all_d = [replace(ind, fitness=f) for ind, f in zip(selected.all_d + trained_d, fit_d)]
        local_g, trained_g = [i for i, mine in zip(all_g, is_own_g) if mine], all_g[len(is_own_g):]
        local_d, trained_d = [i for i, mine in zip(all_d, is_own_d) if mine], all_d[len(is_own_d):]
        if p.enable_selection:
            always = p.replacement == "always"
            generators = replace_worst(local_g, trained_g, p.n_replacements, always)
            discriminators = replace_worst(local_d, trained_d, p.n_replacements, always)
        else:
            generators, discriminators = trained_g, trained_d

    # 6. Mixture: a (1+1)-ES step on the weights over the neighbourhood's best generators.
    with timer.phase("mixture"):
        best = [min(generators, key=lambda i: i.fitness)] + [
            min((ind for ind, c in zip(all_g, owner_g) if c == other), key=lambda i: i.fitness)
            for other in hood[1:]]
        best_nets = [nets_g[next(j for j, ind in enumerate(all_g) if ind is b)] for b in best]
        weights, score, accepted, details = selected.own.mixture_weights, None, False, {}
        if scorer is not None:
            score_noise = generator(seed, cell, generation, "score-noise")
            draws = mixture.Draws(best_nets, [net.latent(config.score.score_sample_size, score_noise)
                                              for net in best_nets], scorer.features_of)

            def score_of(w: list[float]) -> float:
                return scorer.distance(draws.take(w))

            if len(hood) > 1 and p.mixture_sigma > 0:
                weights, score, accepted = mixture.one_plus_one(
                    list(weights), p.mixture_sigma, score_of, generator(seed, cell, generation, "mixture"))
            else:
                score = score_of(weights)
            # The further numbers (modes covered, TVD) on the samples the kept weights were scored on.
            details = scorer.details(best_nets, weights, generator(seed, cell, generation, "details-noise"),
                                     features=draws.take(weights))

    # Now and then, samples of the mixture for a picture (the caller draws it: no rendering here).
    preview = None
    if samples_due(config, generation + 1):
        z = best_nets[0].latent(PREVIEW_SAMPLES, generator(seed, cell, generation, "preview"))
        preview = mixture.sample(best_nets, weights, z).cpu()

    # 7. The state at g+1 and its metrics.
    sums = averaging.summed(config, generation + 1, selected.own.generator_sums, generators)
    state = CellState(cell, generation + 1, generators, discriminators, list(weights), score, sums)
    metrics = CellMetrics(
        cell=cell, generation=generation + 1, score=score, score_details=details,
        mixture=MixtureRecord(cells=hood, weights=list(weights), accepted=accepted),
        losses=Losses(generator=_mean([t.mean_loss for t in trainee_g]),
                      discriminator=_mean([t.mean_loss for t in trainee_d])),
        generators=[_summary(i) for i in generators], discriminators=[_summary(i) for i in discriminators],
        seconds=timer.seconds)
    return state, metrics, preview


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _summary(ind: Individual) -> IndividualSummary:
    return IndividualSummary(fitness=ind.fitness, lr=ind.lr, origin=ind.origin, loss=ind.loss)
