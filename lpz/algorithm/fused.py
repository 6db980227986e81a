"""Step 4 of several cells at once: their selected pairs trained as one batched computation.

With general.fused_cells, `lpz run` trains all cells of a generation in one process: each cell selects
as `cell.select` does, then the K generators and K discriminators (population 1: one pair per cell)
have their parameters stacked along a leading cell dimension and take every mini-batch together,
through `torch.func.vmap` over `functional_call`, with Adam applied to the stacked tensors and each
cell's own learning rate and step count. On a GPU that turns K launches of tiny kernels per layer into
one (docs/speed.md); on a CPU it is a test of the idea, not a speed-up.

Every random draw is the per-cell path's (`cell.train`): the same batches, learning-rate mutations
and noise from the same per-cell generators, in the same order. What differs is the arithmetic's
order in the batched products, so the result equals the per-cell path's within float tolerance, not
bit for bit (tests/test_fused.py): a run is fused or not for its whole life (the flag is in its config).
What it supports is lpz.config.models.fused_unsupported's business (population 1, Adam, bce/mse/heuristic).
"""
from __future__ import annotations

import math
import time

import torch
from torch.func import functional_call, grad_and_value, vmap

from lpz.algorithm import losses, optimisers
from lpz.algorithm.cell import Round, conclude, finish_training, lr_factor, mutate_lr, select
from lpz.algorithm.draws import batch_indices
from lpz.seeding import generator

EPS = 1e-8  # torch.optim.Adam's default, which optimisers.build keeps


class Stacked:
    """The same parameter of K networks as one [K, ...] tensor each, with their Adam moments."""

    def __init__(self, trainees):
        self.trainees = trainees
        self.names = [name for name, _ in trainees[0].net.named_parameters()]
        own = [dict(t.net.named_parameters()) for t in trainees]
        self.params = {n: torch.stack([o[n].detach() for o in own]) for n in self.names}
        states = [[t.optimizer.state.get(o[n], {}) for n in self.names] for t, o in zip(trainees, own)]

        def moment(j: int, key: str) -> torch.Tensor:  # zeros where Adam has not stepped yet
            n = self.names[j]
            return torch.stack([s[j][key] if s[j] else torch.zeros_like(o[n]) for s, o in zip(states, own)])
        self.exp_avg = {n: moment(j, "exp_avg") for j, n in enumerate(self.names)}
        self.exp_avg_sq = {n: moment(j, "exp_avg_sq") for j, n in enumerate(self.names)}
        # One step count per network: Adam steps all parameters of a network together.
        self.steps = [float(s[0]["step"]) if s[0] else 0.0 for s in states]

    def adam(self, grads: dict[str, torch.Tensor]) -> None:
        """One Adam step (torch.optim.Adam's single-tensor arithmetic) with each network's own lr."""
        beta1, beta2 = optimisers.ADAM_BETAS
        self.steps = [s + 1 for s in self.steps]
        lrs = [t.individual.lr * t.rate_factor for t in self.trainees]
        device = self.params[self.names[0]].device
        step_size = torch.tensor([lr / (1 - beta1 ** s) for lr, s in zip(lrs, self.steps)], device=device)
        root = torch.tensor([math.sqrt(1 - beta2 ** s) for s in self.steps], device=device)
        for n in self.names:
            grad, shape = grads[n], (-1,) + (1,) * (grads[n].dim() - 1)
            self.exp_avg[n].lerp_(grad, 1 - beta1)
            self.exp_avg_sq[n].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (self.exp_avg_sq[n].sqrt() / root.view(shape)).add_(EPS)
            self.params[n].sub_(step_size.view(shape) * self.exp_avg[n] / denom)

    def write_back(self) -> None:
        """Each network's parameters and Adam state from the stacked tensors, as torch.optim.Adam keeps them."""
        for k, t in enumerate(self.trainees):
            own = dict(t.net.named_parameters())
            with torch.no_grad():
                for n in self.names:
                    own[n].copy_(self.params[n][k])
                    t.optimizer.state[own[n]] = {"step": torch.tensor(self.steps[k]),
                                                 "exp_avg": self.exp_avg[n][k].clone(),
                                                 "exp_avg_sq": self.exp_avg_sq[n][k].clone()}


def train_together(rounds: list[Round], dataset, device: str = "cpu") -> None:
    """Step 4 of every round at once; then each round's trainees hold their trained weights and Adam state."""
    config = rounds[0].config
    p, seed = config.trainer.params, config.general.seed
    lr0, batch_size = p.default_adam_learning_rate, config.dataloader.batch_size
    g_kind, d_kind = config.network.loss, losses.discriminator_kind(config.network.loss)
    trainees_g = [r.trainee_g[0] for r in rounds]
    trainees_d = [r.trainee_d[0] for r in rounds]
    g_net, d_net = trainees_g[0].net, trainees_d[0].net  # the architecture; the parameters come stacked
    for t in trainees_g + trainees_d:
        t.rate_factor = lr_factor(config, rounds[0].generation)
    gs, ds = Stacked(trainees_g), Stacked(trainees_d)

    def draws(purpose):
        return [generator(seed, r.cell, r.generation, purpose) for r in rounds]
    mutation, noise = draws("mutation"), draws("noise")  # population 1: no opponent to choose
    batches = [batch_indices(config, r.cell, r.generation, len(dataset)) for r in rounds]

    def latents(n):  # each cell's from its own generator, as Generator.latent draws them; one copy to the device
        return torch.stack([torch.randn(n, g_net.latent_size, generator=gen) for gen in noise]).to(device)

    def fake(pg, z):
        return functional_call(g_net, pg, (z,))

    def g_loss(pg, pd, z):
        return losses.generator_loss(g_kind, functional_call(d_net, pd, (fake(pg, z),)))

    def d_loss(pd, real, fakes):
        return losses.discriminator_loss(d_kind, functional_call(d_net, pd, (real,)),
                                         functional_call(d_net, pd, (fakes,)))

    g_step, d_step = vmap(grad_and_value(g_loss)), vmap(grad_and_value(d_loss))  # built once, not per batch
    generate = vmap(fake)
    skip = p.discriminator_skip_each_nth_step
    for b, indices in enumerate(zip(*batches)):
        real = torch.stack([dataset.samples(index) for index in indices]).to(device, non_blocking=True)
        for k in range(len(rounds)):
            for t in (trainees_g[k], trainees_d[k]):
                t.set_lr(mutate_lr(t.individual.lr, lr0, p.alpha, p.mutation_probability, mutation[k]))
        z = latents(batch_size)
        grads, values = g_step(gs.params, ds.params, z)
        gs.adam(grads)
        for k, t in enumerate(trainees_g):
            t.record(values[k])
        if skip and b % (skip + 1) != 0:
            continue
        z = latents(real.shape[1])
        with torch.no_grad():
            fakes = generate(gs.params, z)
        grads, values = d_step(ds.params, real, fakes)
        ds.adam(grads)
        for k, t in enumerate(trainees_d):
            t.record(values[k])
    gs.write_back()
    ds.write_back()
    for r in rounds:
        finish_training(r)


def steps(config, generation: int, inputs: list[tuple[int, object, dict]], dataset, scorer,
          device: str = "cpu") -> list[tuple]:
    """`cell.step` of several cells, (cell, own state, neighbours' states) each, trained together: a
    (state, metrics, preview) per cell. Each cell's training seconds are the shared computation's."""
    rounds = [select(config, cell, generation, own, neighbours, dataset, device) for cell, own, neighbours in inputs]
    start = time.perf_counter()
    train_together(rounds, dataset, device)
    for r in rounds:
        r.timer.seconds["training"] = time.perf_counter() - start
    return [conclude(r, scorer) for r in rounds]
