"""FID and TVD for MNIST-like data, measured by a small classifier trained on the data.

As the Lipizzaner papers scored MNIST: the Frechet distance between the 10
logits of a LeNet-style network (the old system's MNISTCnn) on generated and
on real training images, and the total variation distance (TVD) between the
class frequencies the network predicts for generated images and for the real
training images. Both sides go through the same network, so its own errors
cancel, and no labels are needed to score.

Weights are looked up in the data directory first (`lpz scorer train` writes
them there), then among the package's assets; a JSON beside each file records
its sha256, which must match. The real data's statistics are computed once
per dataset and weights and cached in data_dir()/.cache.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lpz.data.base import Dataset, data_dir
from lpz.errors import UserError, excerpt, first_sentence
from lpz.files import sha256
from lpz.scoring.base import Scorer
from lpz.scoring.cache import cached_arrays, write_atomically
from lpz.scoring.frechet import Statistics, frechet_distance
from lpz.seeding import generator

DATASETS = ("mnist", "fashion-mnist")
SAMPLE_SHAPE = (1, 28, 28)
CLASSES = 10
SCORER_NAME = "classifier-logits"
ASSETS = Path(__file__).resolve().parent.parent / "assets"

EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
DROPOUT = 0.5
EVAL_BATCH = 1000

log = logging.getLogger(__name__)


# Channels of the two convolutions and units of the hidden layer. MNIST: the old system's MNISTCnn.
# Fashion-MNIST is harder: that network stops short of 90% test accuracy (89.8% after 25 epochs), a
# wider one of the same shape passes it.
WIDTHS = {"mnist": (10, 20, 50), "fashion-mnist": (32, 64, 128)}
MAX_WIDTH = 1024


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """F.max_pool2d(x, 2) of an N x C x H x W tensor with even H and W (24 and 8 here): the same numbers
    (a maximum is exact) in a tenth of the time on a CPU, where max_pool2d's kernel costs as much as the
    convolution before it. For scoring only: its gradient splits ties that max_pool2d's gives to one input."""
    rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class MNISTCnn(nn.Module):
    """Images in [-1, 1], N x 1 x 28 x 28, to N x 10 class logits."""

    def __init__(self, widths: tuple[int, int, int] = WIDTHS["mnist"]):
        super().__init__()
        channels1, channels2, hidden = widths
        self.conv1 = nn.Conv2d(1, channels1, kernel_size=5)
        self.conv2 = nn.Conv2d(channels1, channels2, kernel_size=5)
        self.fc1 = nn.Linear(channels2 * 16, hidden)
        self.fc2 = nn.Linear(hidden, CLASSES)

    def forward(self, x: torch.Tensor, dropout: torch.Generator | None = None) -> torch.Tensor:
        """Dropout after fc1 only when a generator for its masks is given (in training)."""
        pool = (lambda y: F.max_pool2d(y, 2)) if torch.is_grad_enabled() else max_pool_2x2
        x = F.relu(pool(self.conv1(x)))
        x = F.relu(pool(self.conv2(x)))
        x = F.relu(self.fc1(x.flatten(1)))
        if dropout is not None:
            x = x * torch.empty_like(x).bernoulli_(1 - DROPOUT, generator=dropout) / (1 - DROPOUT)
        return self.fc2(x)


def new_classifier(gen: torch.Generator | None = None, widths: tuple[int, int, int] = WIDTHS["mnist"]) -> MNISTCnn:
    """The network with PyTorch's default initialisation drawn from gen, or unset weights to load into."""
    with torch.device("meta"):  # no memory and no global random draws until we initialise
        net = MNISTCnn(widths)
    net = net.to_empty(device="cpu")
    if gen is not None:
        for layer in (net.conv1, net.conv2, net.fc1, net.fc2):
            bound = 1 / math.sqrt(layer.weight[0].numel())
            nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
            nn.init.uniform_(layer.bias, -bound, bound, generator=gen)
    return net


@torch.no_grad()
def logits(net: MNISTCnn, images: torch.Tensor) -> torch.Tensor:
    net.eval()
    return torch.cat([net(batch) for batch in images.split(EVAL_BATCH)])


def class_frequencies(class_logits: torch.Tensor) -> np.ndarray:
    counts = torch.bincount(class_logits.argmax(dim=1), minlength=CLASSES)
    return (counts.double() / len(class_logits)).numpy()


def tvd(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance between two discrete distributions."""
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


@contextlib.contextmanager
def intra_op_threads(n: int):
    """torch's CPU kernels sum in an order that depends on the thread count: fix it for what must repeat."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ training

def train_classifier(dataset_name: str, out_path: Path, epochs: int = EPOCHS, seed: int = 0, threads: int = 1,
                     limit: int | None = None) -> dict:
    """Train on the training split (its first `limit` images when given), evaluate, write weights and JSON.

    The same arguments and thread count give the same bytes. Returns what the JSON holds.
    """
    from lpz.data.idx import load_idx_dataset

    _check_dataset(dataset_name)
    train, test = load_idx_dataset(dataset_name, "train"), load_idx_dataset(dataset_name, "test")
    images, labels = train.samples(slice(0, limit)), train.labels[:limit]
    purpose = (seed, dataset_name, "classifier")
    with intra_op_threads(threads):
        net = new_classifier(generator(*purpose, "init"), WIDTHS[dataset_name])
        optimiser = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(images), generator=generator(*purpose, epoch, "order"))
            dropout = generator(*purpose, epoch, "dropout")
            for batch in order.split(BATCH_SIZE):
                loss = F.cross_entropy(net(images[batch], dropout), labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        train_logits, test_logits = logits(net, images), logits(net, test.samples())

    weights = _serialised(net.state_dict())
    report = {
        "dataset": dataset_name,
        "accuracy": float((test_logits.argmax(dim=1) == test.labels).double().mean()),
        "fid_test_vs_train": frechet_distance(Statistics.of(test_logits), Statistics.of(train_logits)),
        "tvd_test_vs_train": tvd(class_frequencies(test_logits), class_frequencies(train_logits)),
        "widths": list(WIDTHS[dataset_name]),
        "epochs": epochs,
        "seed": seed,
        "threads": threads,
        "training_images": len(images),
        "sha256": sha256(weights),
        "torch": torch.__version__,
    }
    out_path = Path(out_path)
    write_atomically(out_path, weights)
    write_atomically(out_path.with_suffix(".json"), (json.dumps(report, indent=1) + "\n").encode())
    return report


def _serialised(state: dict) -> bytes:
    # Through a buffer: torch.save names the archive after the file, and the bytes must not depend on the name.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------ loading

def weights_file(dataset_name: str) -> Path:
    """The classifier of a dataset: the data directory's, else the one shipped with lpz."""
    _check_dataset(dataset_name)
    name = f"{dataset_name}_classifier.pt"
    for folder in (data_dir(), ASSETS):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"no classifier for {dataset_name} in {data_dir()} or in lpz's assets; train one with "
                    f"`lpz scorer train {dataset_name}` (it needs the {dataset_name} files in LPZ_DATA_DIR), "
                    f"or set score.type: none")


def load_classifier(path: Path) -> tuple[MNISTCnn, dict]:
    """The network in eval mode and its JSON, after checking the weights' sha256 against the JSON."""
    path = Path(path)
    info_path = path.with_suffix(".json")
    try:
        info = json.loads(info_path.read_text())
        expected = info["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{info_path}: missing or unreadable ({e.__class__.__name__}); it must record the "
                        f"weights' sha256: train the classifier again with `lpz scorer train`") from None
    weights = path.read_bytes()
    actual = sha256(weights)
    if actual != expected:
        raise UserError(f"{path}: its sha256 is {actual[:16]}..., {info_path.name} says {str(expected)[:16]}...: "
                        f"a damaged or mismatched file; train the classifier again with `lpz scorer train`")
    widths = info.get("widths", list(WIDTHS["mnist"]))
    if (not isinstance(widths, list) or len(widths) != 3
            or not all(type(w) is int and 1 <= w <= MAX_WIDTH for w in widths)):
        raise UserError(f"{info_path}: widths {excerpt(widths)} are not three whole numbers from 1 to {MAX_WIDTH}; "
                        f"train the classifier again with `lpz scorer train`")
    net = new_classifier(widths=tuple(widths))
    try:
        net.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True), strict=True)
    except Exception as e:  # another format, other layers, or pickled objects weights_only refuses
        raise UserError(f"{path}: not the weights of lpz's MNIST classifier ({first_sentence(e)}); "
                        f"train it again with `lpz scorer train`") from None
    return net.requires_grad_(False).eval(), info


def _check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"no classifier scorer for {name!r}: it exists for {', '.join(DATASETS)}")


# ------------------------------------------------------------------ the scorer

def classifier_scorer(dataset: Dataset) -> Scorer:
    """FID on the classifier's logits against the real training images; details: {"tvd": ...}.

    `extra_samples` is left 0: make_scorer sets it to the run's score_sample_size, so the TVD is
    measured on a fresh draw as large as the FID's.
    """
    path = weights_file(dataset.name)
    net, info = load_classifier(path)
    real, real_frequencies = real_statistics(dataset, net, info["sha256"])

    def tvd_of_logits(sample_logits: torch.Tensor) -> dict:
        return {"tvd": tvd(class_frequencies(sample_logits), real_frequencies)}

    return Scorer(SCORER_NAME, lambda samples: logits(net, samples), real,
                  lambda samples: tvd_of_logits(logits(net, samples)), extra_samples=0,
                  extra_of_features=tvd_of_logits)


def real_statistics(dataset: Dataset, net: MNISTCnn, weights_sha256: str) -> tuple[Statistics, np.ndarray]:
    """Mean and covariance of the logits of the real images, and their predicted class frequencies."""
    def compute():
        with intra_op_threads(1):  # the same bytes whichever process computes (and caches) them first
            real_logits = torch.cat([logits(net, chunk) for chunk in dataset.chunks()])
        stats = Statistics.of(real_logits)
        return {"mean": stats.mean, "cov": stats.cov, "frequencies": class_frequencies(real_logits)}

    path = data_dir() / ".cache" / f"stats-{dataset.name}-{SCORER_NAME}-{weights_sha256[:12]}.npz"
    arrays = cached_arrays(path, len(dataset), compute)
    return Statistics(arrays["mean"], arrays["cov"]), arrays["frequencies"]
