"""A small RGB image folder made from data on this machine: MNIST digits, coloured, on coloured 32x32 backgrounds.

CIFAR-10 and CelebA cannot be downloaded here; this gives the convolutional networks, the RGB data path
and FID on RGB images a real run. Image i is MNIST training digit i, placed at a random offset in a
32x32 square whose background and digit colours are drawn at random (the digit's is the background's
complement, so it always shows); everything comes from one seeded generator, so the same arguments
write the same files. Written as <out>/<label>/<i>.png (an `imagefolder` dataset).

    python bench/make_rgb_digits.py                      # 600 images into bench/out/rgb-digits
    lpz run configs/rgb-digits.yml
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.data.idx import load_idx_dataset  # noqa: E402

SIZE = 32


def coloured(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 grey digit as a 32x32x3 image: background colour, digit in its complement."""
    background = rng.integers(0, 256, 3)
    ink = 255 - background
    dy, dx = rng.integers(0, SIZE - digit.shape[0] + 1, 2)
    alpha = np.zeros((SIZE, SIZE, 1))
    alpha[dy:dy + digit.shape[0], dx:dx + digit.shape[1], 0] = digit / 255.0
    return np.round(alpha * ink + (1 - alpha) * background).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "rgb-digits")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mnist = load_idx_dataset("mnist", "train")
    digits, labels = mnist.stored[:args.count, 0].numpy(), mnist.labels[:args.count].tolist()
    rng = np.random.default_rng(args.seed)
    for i, (digit, label) in enumerate(zip(digits, labels)):
        folder = args.out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(coloured(digit, rng)).save(folder / f"{i:05d}.png")
    print(f"wrote {len(labels)} images of {SIZE}x{SIZE} into {args.out}")


if __name__ == "__main__":
    main()
