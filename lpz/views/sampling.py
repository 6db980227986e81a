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
from lpz.errors import UserError
from lpz.runs import Run
from lpz.algorithm.seeding import generator


def require_finished(run: Run) -> None:
    if not run.finished():
        done = run.last_complete_generation()
        raise UserError(f"run {run.id} has not finished (generation {done} of {run.generations} complete); "
                        f"sample it once it has, or see `lpz status {run.id}`")


def mixture_nets(run: Run) -> tuple[list[torch.nn.Module], list[float]]:
    """The generators of the run's mixture and their weights."""
    require_finished(run)
    saved = run.read_result_generators()
    built = [nets.loaded(run.config.network, run.sample_shape, weights, "g") for weights in saved["generators"]]
    return built, list(saved["weights"])


MAX_SAMPLE_BYTES = 4 * 2**30  # the samples of one draw are held in memory at once (twice, while shuffled)


def draw(run: Run, n: int, seed: int = 0) -> torch.Tensor:
    each = 4 * math.prod(run.sample_shape)
    if n * each > MAX_SAMPLE_BYTES:
        raise UserError(f"{n:,} samples of shape {run.sample_shape} need {n * each / 2**30:.1f} GiB; draw at most "
                        f"{MAX_SAMPLE_BYTES // each:,} at a time (-n)")
    generators, weights = mixture_nets(run)
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
        written.append(scatter_png(run, array, out / "samples.png"))
    else:
        written.append(grid_png(array, out / "samples.png"))
    return written


def scatter_png(run: Run, points: np.ndarray, path: Path, title: str | None = None) -> Path:
    path.write_bytes(scatter_bytes(points, run.config.dataloader.dataset_name, title or run.id))
    return path


def scatter_bytes(points: np.ndarray, dataset_name: str, title: str, inches: float = 5.0) -> bytes:
    """A PNG of 2-D samples over the true modes of their mixture."""
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lpz.data.toy import MIXTURES

    modes = MIXTURES[dataset_name].modes.numpy()
    fig, ax = plt.subplots(figsize=(inches, inches), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label=f"{len(points)} samples")
    ax.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", color="tab:red", label="true modes")
    ax.set_aspect("equal")
    span = np.abs(modes).max() * 1.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def preview_png(samples: torch.Tensor, dataset_name: str, title: str) -> bytes:
    """A small picture of samples: a scatter plot of 2-D points, or an image grid."""
    import io
    from PIL import Image
    if samples.dim() == 2:
        return scatter_bytes(samples.numpy(), dataset_name, title, inches=3.0)
    buffer = io.BytesIO()
    Image.fromarray(image_grid(samples.numpy())).save(buffer, format="PNG")
    return buffer.getvalue()


def image_grid(images: np.ndarray, max_images: int = 256, pad: int = 2) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> one H' x W' x 3 uint8 picture."""
    images = images[:max_images]
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pixels = ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, img in enumerate(pixels):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[top:top + h, left:left + w] = img.transpose(1, 2, 0)
    return canvas


def grid_png(images: np.ndarray, path: Path) -> Path:
    from PIL import Image
    Image.fromarray(image_grid(images)).save(path)
    return path
