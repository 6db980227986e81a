"""Drawing from a finished run's mixture, and writing what was drawn.

2-D data: a scatter plot over the true modes plus samples.npy.
Images:   a PNG grid plus samples.npy (values in [-1, 1], shape N x C x H x W).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from lpz.algorithm import mixture, nets
from lpz.seeding import generator
from lpz.errors import UserError
from lpz.runs import Run
from lpz.views.pictures import grid_bytes, scatter_bytes


def require_finished(run: Run) -> None:
    if not run.finished():
        done = run.last_complete_generation()
        raise UserError(f"run {run.id} has not finished (generation {done} of {run.generations} complete); "
                        f"sample it once it has, or see `lpz status {run.id}`")


def mixture_nets(run: Run, ensemble: str | None = None) -> tuple[list[torch.nn.Module], list[float]]:
    """The generators of the run's mixture (or of an ensemble built from it) and their weights."""
    require_finished(run)
    saved = run.read_result_generators() if ensemble is None else run.read_ensemble_generators(ensemble)
    built = [nets.loaded(run.config.network, run.sample_shape, weights, "g") for weights in saved["generators"]]
    return built, list(saved["weights"])


MAX_SAMPLE_BYTES = 4 * 2**30  # the samples of one draw are held in memory at once (twice, while shuffled)


def draw(run: Run, n: int, seed: int = 0, ensemble: str | None = None) -> torch.Tensor:
    each = 4 * math.prod(run.sample_shape)
    if n * each > MAX_SAMPLE_BYTES:
        raise UserError(f"{n:,} samples of shape {run.sample_shape} need {n * each / 2**30:.1f} GiB; draw at most "
                        f"{MAX_SAMPLE_BYTES // each:,} at a time (-n)")
    generators, weights = mixture_nets(run, ensemble)
    torch.set_num_threads(run.config.general.threads)
    z = generators[0].latent(n, generator(run.config.general.seed, "sample", seed))
    samples = mixture.sample(generators, weights, z)
    # Shuffle so that any prefix is a fair draw from the mixture, not one generator's block.
    return samples[torch.randperm(n, generator=generator(run.config.general.seed, "sample-order", seed))]


def write(run: Run, samples: torch.Tensor, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    array = samples.numpy()
    written = [out / "samples.npy"]
    np.save(written[0], array)
    if samples.dim() == 2:
        picture = scatter_bytes(array, run.config.dataloader.dataset_name, run.id)
    else:
        picture = grid_bytes(array)
    written.append(out / "samples.png")
    written[-1].write_bytes(picture)
    return written
