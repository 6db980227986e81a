"""Gradient-free training: step 4 of a cell's generation for trainer.name ea-alternating, ea-parallel, nes.

`train` stands in for `cell.train` and takes the same inputs: the trainees selected in step 3, the
opponents they play, the generation's batches (draws.batch_indices) and random generators seeded by
(run seed, cell, generation, purpose). Only the weights change, by mutation or along an estimated
gradient: there is no optimiser (the individuals keep adam=None and their learning rate). Fitness,
replacement, the mixture and everything around the cell step stay as they are, so a gradient-free grid
is submitted, watched and sampled like any other run.

Each batch draws one noise vector per sample, shared by every generator, so that all candidates are
judged on the same bouts (common random numbers).

ea-parallel     the old ParallelEATrainer, per side and batch: a tournament over the trainees picks as
                many parents; each parent's copy mutates (each weight with mutation_probability:
                w += alpha * N(0, sigma^2)); the trainees and the offspring are scored against the
                opponents; each of the best n_replacements offspring replaces the worst trainee where it
                is fitter. Both sides play the other side as it stood at the start of the batch.
ea-alternating  the old AlternatingEATrainer: the same, but the generators go first and the
                discriminators then play the generators as just replaced.
nes             the old ParallelNESTrainer: a trainee and its opponent are perturbed P x P times
                (w + sigma * eps); of the P rows of P paired bouts, the row whose worst loss is lowest
                makes the estimate: its losses, standardised to a, weight their perturbations, and
                w -= alpha / (P sigma) * sum_k a_k eps_k. Both sides step from the start of the batch.

Where lpz differs from the old trainers, on purpose: a candidate's fitness is the cell's (the run's
loss, aggregated over the opponents by fitness_mode) measured on the batch at hand, for the current
trainees too (the old trainers compared offspring with fitness the parents had on earlier batches,
against other opponents); offspring play the opponents as they stand, not the other side's offspring;
NES perturbs the opponent with draws of its own (the old trainer, with one pair, reused the
opponent's own search points).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import functional_call

from lpz.algorithm import losses
from lpz.algorithm.draws import batch_indices, tournament
from lpz.seeding import generator

Network = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------ weights as one vector

def flat_weights(net: torch.nn.Module) -> torch.Tensor:
    """All of a network's parameters, in order, as one vector (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def set_weights(net: torch.nn.Module, weights: torch.Tensor) -> None:
    """Write a vector of flat_weights' layout into the network, in place (whoever holds the network,
    e.g. as an opponent, sees the new weights)."""
    with torch.no_grad():
        for p, chunk in zip(net.parameters(), weights.split([p.numel() for p in net.parameters()])):
            p.copy_(chunk.view_as(p))


def with_weights(net: torch.nn.Module, weights: torch.Tensor) -> Network:
    """The function of net with these weights in place of its own (net itself is not changed)."""
    chunks = weights.split([p.numel() for p in net.parameters()])
    params = {name: chunk.view_as(p) for (name, p), chunk in zip(net.named_parameters(), chunks)}
    return lambda x: functional_call(net, params, (x,))


# ------------------------------------------------------------------ one batch's bouts

@dataclass
class Batch:
    """One batch of real samples and the noise every generator plays it with."""
    real: torch.Tensor
    z: torch.Tensor
    g_kind: str  # the generators' loss
    d_kind: str  # the discriminators' loss

    def generator_losses(self, generators: list[Network], discriminators: list[Network]) -> torch.Tensor:
        """(generators x discriminators) losses of the generators."""
        fakes = torch.cat([g(self.z) for g in generators])
        table = torch.empty(len(generators), len(discriminators), dtype=torch.float64)
        for k, d in enumerate(discriminators):
            for j, logits in enumerate(d(fakes).view(len(generators), -1)):
                table[j, k] = losses.generator_loss(self.g_kind, logits)
        return table

    def discriminator_losses(self, discriminators: list[Network], generators: list[Network]) -> torch.Tensor:
        """(discriminators x generators) losses of the discriminators."""
        fakes = torch.cat([g(self.z) for g in generators])
        table = torch.empty(len(discriminators), len(generators), dtype=torch.float64)
        for j, d in enumerate(discriminators):
            real_logits = d(self.real)
            for k, fake_logits in enumerate(d(fakes).view(len(generators), -1)):
                table[j, k] = losses.discriminator_loss(self.d_kind, real_logits, fake_logits)
        return table


def aggregate(table: torch.Tensor, mode: str) -> list[float]:
    """Each row's losses over its opponents as one fitness, as the cell's fitness_mode says."""
    rows = {"best": lambda t: t.min(dim=1).values, "worst": lambda t: t.max(dim=1).values}
    return rows.get(mode, lambda t: t.mean(dim=1))(table).tolist()


# ------------------------------------------------------------------ the evolutionary algorithms

def mutate(weights: torch.Tensor, sigma: float, alpha: float, probability: float,
           gen: torch.Generator) -> torch.Tensor:
    """A copy of weights where each weight, with the given probability, moves by alpha * N(0, sigma^2)."""
    delta = torch.randn(len(weights), generator=gen) * sigma
    delta *= torch.rand(len(weights), generator=gen) < probability
    return weights + alpha * delta.to(weights.device)


def replace_worst(members: list[torch.Tensor], fitness: list[float], offspring: list[torch.Tensor],
                  offspring_fitness: list[float], n: int) -> tuple[list[torch.Tensor], list[float]]:
    """Each of the n fittest offspring replaces the worst member where strictly fitter (lower)."""
    members, fitness = list(members), list(fitness)
    for o in sorted(range(len(offspring)), key=lambda i: (offspring_fitness[i], i))[:n]:
        worst = max(range(len(members)), key=lambda i: (fitness[i], i))
        if offspring_fitness[o] < fitness[worst]:
            members[worst], fitness[worst] = offspring[o], offspring_fitness[o]
    return members, fitness


def evolve(members: list[torch.Tensor], fitness_of: Callable[[list[torch.Tensor]], list[float]], config,
           selection: torch.Generator, mutation: torch.Generator) -> tuple[list[torch.Tensor], list[float]]:
    """One batch of the EA on one side: tournament, mutation, replacement. Returns the new members and
    their fitness on this batch."""
    ea = config.trainer.ea
    fitness = fitness_of(members)
    parents = tournament(fitness, ea.tournament_size, len(members), selection)
    offspring = [mutate(members[i], ea.sigma, ea.alpha, ea.mutation_probability, mutation) for i in parents]
    return replace_worst(members, fitness, offspring, fitness_of(offspring), ea.n_replacements)


def _install(trainees, members: list[torch.Tensor], fitness: list[float]) -> None:
    for t, weights, f in zip(trainees, members, fitness):
        set_weights(t.net, weights)
        t.record(torch.tensor(f, dtype=torch.float64))


def ea_batch(config, batch: Batch, trainee_g, trainee_d, opponents_g, opponents_d, draws: dict) -> None:
    """One batch of ea-parallel or ea-alternating over the trainees of both sides."""
    mode = config.trainer.params.fitness.fitness_mode
    template_g, template_d = trainee_g[0].net, trainee_d[0].net

    def generator_fitness(members):
        return aggregate(batch.generator_losses([with_weights(template_g, m) for m in members], opponents_g), mode)

    def discriminator_fitness(members):
        return aggregate(batch.discriminator_losses([with_weights(template_d, m) for m in members],
                                                    opponents_d), mode)

    generators = evolve([flat_weights(t.net) for t in trainee_g], generator_fitness, config,
                        draws["selection"], draws["mutation"])
    alternating = config.trainer.name == "ea-alternating"
    if alternating:  # the discriminators then play the generators just replaced
        _install(trainee_g, *generators)
    discriminators = evolve([flat_weights(t.net) for t in trainee_d], discriminator_fitness, config,
                            draws["selection"], draws["mutation"])
    if not alternating:
        _install(trainee_g, *generators)
    _install(trainee_d, *discriminators)


# ------------------------------------------------------------------ the natural evolution strategy

def nes_step(weights: torch.Tensor, opponent: torch.Tensor, loss_of: Callable[[torch.Tensor, torch.Tensor], float],
             population: int, sigma: float, alpha: float, gen: torch.Generator) -> torch.Tensor:
    """weights moved one step down loss_of(own weights, opponent's weights), along the gradient
    estimated from P rows of P paired perturbations of both: the row whose worst loss is lowest."""
    best_row, best_noise = None, None
    for _ in range(population):
        own = torch.randn(population, len(weights), generator=gen).to(weights.device)
        theirs = torch.randn(population, len(opponent), generator=gen).to(opponent.device)
        row = torch.tensor([loss_of(weights + sigma * own[k], opponent + sigma * theirs[k])
                            for k in range(population)], dtype=torch.float64)
        if best_row is None or row.max() < best_row.max():
            best_row, best_noise = row, own
    return weights - alpha * nes_gradient(best_row, best_noise, sigma)


def nes_gradient(row: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """The gradient estimate of one row: its losses standardised, weighting their perturbations, / (P sigma).
    Losses that do not differ estimate nothing (zero)."""
    spread = row.std() if len(row) > 1 else row.new_zeros(())
    if not spread > 0:
        return torch.zeros_like(noise[0])
    advantage = ((row - row.mean()) / spread).to(noise)
    return noise.T @ advantage / (len(row) * sigma)


def nes_batch(config, batch: Batch, trainee_g, trainee_d, opponents_g, opponents_d, draws: dict,
              g_losses: list[str]) -> None:
    """One batch of nes: every trainee of both sides steps from where the batch found it, against an
    opponent drawn for it."""
    nes = config.trainer.nes
    plans = []  # (trainee, its opponent, the loss as a function of both their weights)
    for trainee, kind in zip(trainee_g, g_losses):
        opponent = _pick(opponents_g, draws["opponents"])
        plans.append((trainee, opponent, _generator_loss(batch, trainee.net, opponent, kind)))
    for trainee in trainee_d:
        opponent = _pick(opponents_d, draws["opponents"])
        plans.append((trainee, opponent, _discriminator_loss(batch, trainee.net, opponent)))
    stepped = []
    for trainee, opponent, loss_of in plans:
        weights, theirs = flat_weights(trainee.net), flat_weights(opponent)
        trainee.record(torch.tensor(loss_of(weights, theirs), dtype=torch.float64))  # before the step, as train
        stepped.append(nes_step(weights, theirs, loss_of, nes.population_size, nes.sigma, nes.alpha,
                                draws["perturbations"]))
    for (trainee, _, _), weights in zip(plans, stepped):
        set_weights(trainee.net, weights)


def _pick(opponents: list, gen: torch.Generator):
    return opponents[int(torch.randint(len(opponents), (1,), generator=gen))]


def _generator_loss(batch: Batch, net, opponent, kind: str):
    def loss_of(weights, opponent_weights):
        fake = with_weights(net, weights)(batch.z)
        return float(losses.generator_loss(kind, with_weights(opponent, opponent_weights)(fake)))
    return loss_of


def _discriminator_loss(batch: Batch, net, opponent):
    def loss_of(weights, opponent_weights):
        d = with_weights(net, weights)
        fake = with_weights(opponent, opponent_weights)(batch.z)
        return float(losses.discriminator_loss(batch.d_kind, d(batch.real), d(fake)))
    return loss_of


# ------------------------------------------------------------------ step 4

def train(config, cell, generation, trainee_g, trainee_d, opponents_g, opponents_d, dataset, g_losses, device):
    """Step 4 without gradients: every batch of the generation, one update of trainer.name's rule.

    opponents_g are the discriminators generators play, opponents_d the generators discriminators play
    (as in cell.train; a trainee's network may be among them and is updated in place)."""
    seed, loss = config.general.seed, config.network.loss
    purposes = ("noise", "opponents", "selection", "mutation", "perturbations")
    draws = {purpose: generator(seed, cell, generation, "gradient-free", purpose) for purpose in purposes}
    for index in batch_indices(config, cell, generation, len(dataset)):
        real = dataset.samples(index).to(device, non_blocking=True)
        z = trainee_g[0].net.latent(len(real), draws["noise"])
        batch = Batch(real, z, losses.fitness_kind(loss), losses.discriminator_kind(loss))
        with torch.no_grad():
            if config.trainer.name == "nes":
                nes_batch(config, batch, trainee_g, trainee_d, opponents_g, opponents_d, draws, g_losses)
            else:
                ea_batch(config, batch, trainee_g, trainee_d, opponents_g, opponents_d, draws)
