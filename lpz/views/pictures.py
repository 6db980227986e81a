"""Pictures of samples, as PNG bytes: scatter plots of 2-D points over their true modes, image grids."""
from __future__ import annotations

import math

import numpy as np
import torch


def scatter_bytes(points: np.ndarray, dataset_name: str, title: str | None, inches: float = 5.0) -> bytes:
    """A PNG of 2-D samples over the true modes of their mixture (points from a dataset plugin: alone), titled
    unless title is None."""
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lpz.data.toy import MIXTURES

    fig, ax = plt.subplots(figsize=(inches, inches), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label=f"{len(points)} samples")
    ax.set_aspect("equal")
    if dataset_name in MIXTURES:
        modes = MIXTURES[dataset_name].modes.numpy()
        ax.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", color="tab:red", label="true modes")
        span = np.abs(modes).max() * 1.5
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.legend(loc="upper right", fontsize=8)
    if title is not None:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def preview_png(samples: torch.Tensor, dataset_name: str) -> bytes:
    """A small picture of samples: a scatter plot of 2-D points, or an image grid. Untitled, as an image grid
    is: whoever shows it captions it (the report's sheet, the dashboard), and its key names the cell."""
    if samples.dim() == 2:
        return scatter_preview_bytes(samples.numpy(), dataset_name)
    return grid_bytes(samples.numpy())


PREVIEW_PIXELS = 300
SAMPLE_BLUE, MODE_RED = np.array([31, 119, 180]), (214, 39, 40)  # matplotlib's tab:blue and tab:red


def scatter_preview_bytes(points: np.ndarray, dataset_name: str, pixels: int = PREVIEW_PIXELS) -> bytes:
    """A PNG of 2-D samples (blue dots, darker where they pile up) over the true modes of their mixture (red
    crosses, beneath them), drawn with Pillow: every cell's commit draws one, and a matplotlib figure took
    60 ms (this: 10)."""
    import io
    from PIL import Image, ImageDraw
    from lpz.data.toy import MIXTURES

    points = points[np.isfinite(points).all(axis=1)]
    modes = MIXTURES[dataset_name].modes.numpy() if dataset_name in MIXTURES else np.zeros((0, 2))
    span = 1.5 * np.abs(modes).max() if len(modes) else 1.05 * max(np.abs(points).max(initial=0), 1e-6)

    def to_pixels(xy: np.ndarray) -> np.ndarray:  # y up, as on a plot
        return np.stack([(xy[:, 0] + span), (span - xy[:, 1])], axis=1) * (pixels - 1) / (2 * span)

    canvas = Image.new("RGB", (pixels, pixels), "white")
    draw = ImageDraw.Draw(canvas)
    for x, y in to_pixels(modes):
        draw.line([(x - 4, y - 4), (x + 4, y + 4)], fill=MODE_RED, width=2)
        draw.line([(x - 4, y + 4), (x + 4, y - 4)], fill=MODE_RED, width=2)
    counts = np.zeros((pixels + 1, pixels + 1))
    corner = np.floor(to_pixels(points)).astype(int)
    corner = corner[((corner >= 0) & (corner < pixels)).all(axis=1)]
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):  # each dot 2 x 2 pixels
        np.add.at(counts, (corner[:, 1] + dy, corner[:, 0] + dx), 1)
    cover = 1 - 0.6 ** counts[:pixels, :pixels, None]  # each dot 40% opaque, as `lpz sample`'s scatter
    below = np.asarray(canvas, dtype=np.float64)
    canvas = Image.fromarray(np.round(below * (1 - cover) + SAMPLE_BLUE * cover).astype(np.uint8))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
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


def grid_bytes(images: np.ndarray) -> bytes:
    """A PNG of images (N x C x H x W in [-1, 1]) in a square grid."""
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image_grid(images)).save(buffer, format="PNG")
    return buffer.getvalue()
