"""The optimiser each individual trains with, and the shape of its saved state.

Adam (betas 0.5, 0.999, as DCGAN and the Lipizzaner papers) for the GAN losses; RMSprop for WGAN
critics and generators, as Arjovsky et al. 2017 (momentum-free: Adam destabilised their critics).
A config may choose either with trainer.params.optimizer.
"""
from __future__ import annotations

import torch

ADAM_BETAS = (0.5, 0.999)

# The per-parameter tensors of each optimiser's state_dict, which a checkpoint read from the store must hold.
MOMENTS = {"adam": ("exp_avg", "exp_avg_sq"), "rmsprop": ("square_avg",)}


def name_for(config) -> str | None:
    """The optimiser a run's individuals train with; None for the gradient-free trainers."""
    if config.trainer.name != "lipizzaner":
        return None
    chosen = config.trainer.params.optimizer
    return chosen or ("rmsprop" if config.network.loss == "wgan" else "adam")


def build(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    return torch.optim.Adam(parameters, lr=lr, betas=ADAM_BETAS)
