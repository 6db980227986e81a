"""How much memory one cell needs, estimated from the config alone (no torch, nothing is built).

A config can ask for networks and batches that no machine holds: an mlp2d 8,192 units wide with
a population of 64 on batches of 65,536 is valid key by key. Validation refuses such a config with
this estimate, in a second, instead of a worker dying of OOM hours later. The estimate is rough
(within a factor of two or so) and errs on the generous side; it counts, in float32:

- parameters: every network a cell holds at once (each individual of its neighbourhood as weights
  and as a module, and for those it trains gradients and Adam's two moments);
- activations: the largest batch through one generator and one discriminator with their gradients,
  the fitness sample through every generator of the neighbourhood, and the final mixture's samples.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

MAX_CELL_BYTES = 80 * 2**30  # the memory of the largest common accelerator (80 GB)
DEFAULT_LATENT = {"four_layer_perceptron": 64, "convolutional": 100, "mlp2d": 2}
DEFAULT_HIDDEN_2D = 64
DCGAN_WIDTH = 64


def _linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def network_size(network, shape: tuple) -> tuple[tuple[int, int], tuple[int, int]]:
    """((generator parameters, activations per sample), (discriminator parameters, activations per sample))."""
    latent = network.latent_size or DEFAULT_LATENT[network.name]
    if network.name == "four_layer_perceptron":
        pixels = math.prod(shape)
        g = _linear(latent, 256) + _linear(256, 256) + _linear(256, pixels)
        d = _linear(pixels, 256) + _linear(256, 256) + _linear(256, 1)
        return (g, 4 * 256 + 2 * pixels), (d, pixels + 4 * 256 + 1)
    if network.name == "mlp2d":
        hidden = network.hidden_size or DEFAULT_HIDDEN_2D
        g = _linear(latent, hidden) + 2 * _linear(hidden, hidden) + _linear(hidden, shape[0])
        d = _linear(shape[0], hidden) + 2 * _linear(hidden, hidden) + _linear(hidden, 1)
        return (g, 6 * hidden + shape[0]), (d, shape[0] + 6 * hidden + 1)
    channels, size = shape[0], shape[1]  # DCGAN, as lpz.algorithm.nets.convolutional builds it
    widths = [DCGAN_WIDTH * 2 ** i for i in range(int(math.log2(size)) - 2)]
    sides = [size // 2 ** (i + 1) for i in range(len(widths))]  # the side of each width's feature maps
    convs = sum(16 * a * b + 2 * b for a, b in zip(widths, widths[1:]))
    g = 16 * latent * widths[-1] + 2 * widths[-1] + convs + 16 * widths[0] * channels
    d = 16 * channels * widths[0] + convs + 16 * widths[-1]
    maps = sum(w * s * s for w, s in zip(widths, sides))
    return (g, 3 * maps + channels * size * size), (d, channels * size * size + 3 * maps)


def cell_bytes(config, shape: tuple, neighbourhood: int) -> tuple[int, int]:
    """(bytes of parameters, bytes of activations) that one cell holds at its peak."""
    (g_params, g_acts), (d_params, d_acts) = network_size(config.network, shape)
    population = config.trainer.params.population_size
    held = population * neighbourhood  # individuals of each kind in a neighbourhood
    # every individual as a weight dict and a module, plus the trained copies with grads and Adam's moments
    parameters = 4 * (g_params + d_params) * (2 * held + 4 * population)
    batch = config.dataloader.batch_size
    fitness = config.trainer.params.fitness.fitness_sample_size
    sample = math.prod(shape)
    final = max(config.score.final_sample_size, config.score.score_sample_size)
    activations = 4 * (2 * batch * (g_acts + d_acts)            # a training step, forward and backward
                       + fitness * (held * sample + max(g_acts, d_acts))  # fitness: every generator's fakes
                       + 2 * final * sample)                    # the mixture's samples, and their features
    return parameters, activations


def machine_bytes() -> int | None:
    """The memory this machine gives lpz's processes: its RAM, or its container's limit when lower
    (cgroup v2 or v1); None when neither can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    return min(limits) if limits else None


def beyond_this_machine(config, shape: tuple, neighbourhood: int, cells_at_once: int = 1) -> str | None:
    """A one-line reason when cells_at_once cells of this config would need more memory than this machine
    has (machine_bytes), else None. The estimate is rough and generous: within a factor of two."""
    available = machine_bytes()
    need = sum(cell_bytes(config, shape, neighbourhood)) * cells_at_once
    if available is None or need <= available:
        return None
    gib = lambda n: f"{n / 2**30:,.1f} GiB"
    cells = f"{cells_at_once} cells at once" if cells_at_once > 1 else "one cell"
    return (f"{cells} would need about {gib(need)}, and this machine has {gib(available)}: use a smaller network, "
            f"population, batch_size or sample sizes" + (", or fewer --workers" if cells_at_once > 1 else
                                                         ", or train it on a larger machine"))


def too_big(config, shape: tuple, neighbourhood: int) -> str | None:
    """A one-line reason when one cell of this config cannot fit in MAX_CELL_BYTES, else None."""
    parameters, activations = cell_bytes(config, shape, neighbourhood)
    if parameters + activations <= MAX_CELL_BYTES:
        return None
    gib = lambda n: f"{n / 2**30:,.0f} GiB"
    fix = ("a smaller network (hidden_size, latent_size) or population_size" if parameters > activations
           else "smaller batch_size, fitness_sample_size or final_sample_size")
    return (f"one cell would need about {gib(parameters + activations)} ({gib(parameters)} of networks, "
            f"{gib(activations)} of activations); at most {gib(MAX_CELL_BYTES)} fit on one accelerator: use {fix}")


STORED_SLACK = 4  # the parameter counts above are estimates: allow this many times what they say
STORED_OVERHEAD = 8 * 2**20  # torch.save's archive, per-tensor headers, the plain values beside the weights


def checkpoint_bytes(config, shape: tuple) -> int:
    """The most a cell's state.pt may hold (its individuals' weights and optimiser moments, and the
    float64 sums of its generators for the result's average): anything larger read from the store is
    damage, refused before it is read."""
    (g_params, _), (d_params, _) = network_size(config.network, shape)
    population = config.trainer.params.population_size
    return (4 * (g_params + d_params) * 3 + 8 * g_params) * population * STORED_SLACK + STORED_OVERHEAD


def mixture_bytes(config, shape: tuple, members: int) -> int:
    """The most a mixture's generators.pt of that many generators may hold."""
    (g_params, _), _ = network_size(config.network, shape)
    return 4 * g_params * members * STORED_SLACK + STORED_OVERHEAD
