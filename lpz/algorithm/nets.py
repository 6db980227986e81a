"""The generator and discriminator networks.

Discriminators return logits: the final sigmoid of the papers' networks is
applied inside the losses, where it is numerically stable. Weights are
initialised from an explicit random generator, never from torch's global one.
BatchNorm uses the statistics of the batch at hand in training and in
evaluation alike (no running statistics), so evaluating a network never
changes it.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from lpz.config.footprint import DEFAULT_HIDDEN_2D, DEFAULT_LATENT  # noqa: F401  (the sizes live beside their estimate)


class Generator(nn.Module):
    def __init__(self, body: nn.Module, latent_size: int, sample_shape: tuple):
        super().__init__()
        self.body = body
        self.latent_size = latent_size
        self.sample_shape = tuple(sample_shape)

    def latent(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n latent vectors, drawn on the CPU (the same numbers on any device) and moved to ours."""
        z = torch.randn(n, self.latent_size, generator=gen)
        return z.to(next(self.parameters()).device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).reshape(len(z), *self.sample_shape)


class Discriminator(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).reshape(len(x))


class Unflatten4d(nn.Module):
    def forward(self, z):
        return z.reshape(len(z), -1, 1, 1)


def four_layer_perceptron(latent: int, shape: tuple):
    pixels = math.prod(shape)
    g = nn.Sequential(nn.Linear(latent, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                      nn.Linear(256, pixels), nn.Tanh())
    d = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256),
                      nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d


def mlp2d(latent: int, shape: tuple, hidden: int):
    g = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                      nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, shape[0]))
    d = nn.Sequential(nn.Linear(shape[0], hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                      nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return g, d


def convolutional(latent: int, shape: tuple, width: int = 64):
    """DCGAN (Radford et al. 2016) for 64x64 images; one stage fewer for 32x32."""
    channels, size = shape[0], shape[1]
    stages = int(math.log2(size)) - 3          # 64 -> 3 inner stages, 32 -> 2
    widths = [width * 2 ** i for i in range(stages + 1)]  # 64, 128, 256, 512
    bn = lambda c: nn.BatchNorm2d(c, track_running_stats=False)

    g = [Unflatten4d(), nn.ConvTranspose2d(latent, widths[-1], 4, 1, 0, bias=False), bn(widths[-1]), nn.ReLU(True)]
    for wide, narrow in zip(widths[::-1], widths[::-1][1:]):
        g += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), bn(narrow), nn.ReLU(True)]
    g += [nn.ConvTranspose2d(widths[0], channels, 4, 2, 1, bias=False), nn.Tanh()]

    d = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for narrow, wide in zip(widths, widths[1:]):
        d += [nn.Conv2d(narrow, wide, 4, 2, 1, bias=False), bn(wide), nn.LeakyReLU(0.2, True)]
    d += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
    return nn.Sequential(*g), nn.Sequential(*d)


def initialise(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default init for linear layers, DCGAN's N(0, 0.02) for convolutions."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
            nn.init.uniform_(layer.bias, -bound, bound, generator=gen)
        elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02, generator=gen)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02, generator=gen)
            nn.init.zeros_(layer.bias)


def _on_meta(network, sample_shape: tuple) -> tuple[Generator, Discriminator]:
    """The pair on the meta device: shapes only, no memory and no random draws."""
    latent = network.latent_size or DEFAULT_LATENT[network.name]
    with torch.device("meta"):
        if network.name == "four_layer_perceptron":
            g, d = four_layer_perceptron(latent, sample_shape)
        elif network.name == "mlp2d":
            g, d = mlp2d(latent, sample_shape, network.hidden_size or DEFAULT_HIDDEN_2D)
        elif network.name == "convolutional":
            g, d = convolutional(latent, sample_shape)
        else:
            raise ValueError(f"unknown network {network.name}")
        return Generator(g, latent, sample_shape), Discriminator(d)


def build(network, sample_shape: tuple, gen: torch.Generator | None = None,
          device: str = "cpu") -> tuple[Generator, Discriminator]:
    """The (generator, discriminator) pair of a network config; initialised from gen (a CPU
    generator, so the initial weights are the same on every device) when given."""
    generator, discriminator = (net.to_empty(device="cpu") for net in _on_meta(network, sample_shape))
    if gen is not None:
        initialise(generator, gen)
        initialise(discriminator, gen)
    return generator.to(device), discriminator.to(device)


@functools.lru_cache(maxsize=64)
def parameter_shapes(network, sample_shape: tuple, role: str) -> dict[str, tuple]:
    """The name and shape of every tensor in a state dict of the network (role "g" or "d"), in order."""
    net = _on_meta(network, sample_shape)[0 if role == "g" else 1]
    return {name: tuple(t.shape) for name, t in net.state_dict().items()}


def loaded(network, sample_shape: tuple, weights: dict, role: str, device: str = "cpu") -> nn.Module:
    """A generator (role "g") or discriminator ("d") holding the given weights, on device."""
    net = _on_meta(network, sample_shape)[0 if role == "g" else 1].to_empty(device=device)
    net.load_state_dict(weights)
    return net
