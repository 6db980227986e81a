"""FID's InceptionV3: the network pytorch-fid scores images with, and its weights.

The network is torchvision's Inception3 as pytorch-fid patches it to match
the TensorFlow graph the FID paper used (Heusel et al. 2017): average pools
in the mixed blocks leave the zero padding out of the mean, and the last
block (Mixed_7c) max-pools its pool branch. Module and parameter names follow
the weights file `pt_inception-2015-12-05-6726825d.pth` key for key, so it
loads with strict=True. The features are the 2048 numbers after the final
average pool ("pool3"); `fc` is never applied but kept for the file's layout.

Weights are looked up at --inception-weights, then in the data directory, and
downloaded once into the data directory as a last resort. A file whose name
ends in a hash (torch hub's convention, `name-<hex>.pth`) must have a sha256
starting with that hex; the FID file's own name stands for its full published
sha256, which a download must match too.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lpz.data.base import data_dir
from lpz.errors import UserError, first_sentence
from lpz.files import DownloadFailed, download, sha256_file

FILENAME = "pt_inception-2015-12-05-6726825d.pth"
URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FILENAME
# The file's digest as its users publish it (torch-fidelity mirrors the same 95,628,359 bytes).
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
DOWNLOAD_TIMEOUT_S = 5     # per connection attempt and per read: offline machines fail fast
FEATURES = 2048
INPUT_SIZE = 299
CLASSES = 1008             # the TensorFlow graph's 1000 ImageNet classes plus 8 unused

log = logging.getLogger(__name__)


def _average_pool(x):
    # TensorFlow leaves the padding out of the mean (pytorch-fid's patch of torchvision).
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _max_pool(x):
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **conv):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_average_pool(x)),
        ], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_average_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        seven = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            seven = layer(seven)
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            seven,
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], 1)


class InceptionE(nn.Module):
    def __init__(self, in_channels: int, pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(three), self.branch3x3_2b(three),
            self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double),
            self.branch_pool(self.pool(x)),
        ], 1)


class FIDInceptionV3(nn.Module):
    """Images in [-1, 1], N x 3 x H x W, to N x 2048 pool3 features."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool=_average_pool)
        self.Mixed_7c = InceptionE(2048, pool=_max_pool)  # pytorch-fid: the TF graph max-pools here
        self.fc = nn.Linear(2048, CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"FID Inception takes N x 3 x H x W images, not {tuple(images.shape)}")
        x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
        """N x 2048 float32 features on the CPU, computed batch by batch on the network's device."""
        self.eval()
        device = self.fc.weight.device
        batches = [self(batch.to(device, torch.float32)).cpu() for batch in images.split(batch_size)]
        return torch.cat(batches) if batches else torch.empty(0, FEATURES)


def fid_inception(gen: torch.Generator | None = None) -> FIDInceptionV3:
    """The network on the CPU in eval mode: random weights drawn from gen, or unset ones to load into."""
    with torch.device("meta"):  # no memory and no global random draws until we initialise
        network = FIDInceptionV3()
    network = network.to_empty(device="cpu")
    for layer in network.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.reset_parameters()  # weight 1, bias 0, running mean 0 and variance 1: no randomness
        elif gen is not None and isinstance(layer, (nn.Conv2d, nn.Linear)):
            fan_in = layer.weight[0].numel()
            nn.init.normal_(layer.weight, 0.0, (2 / fan_in) ** 0.5, generator=gen)  # He: keeps activations O(1)
    if gen is not None:
        nn.init.zeros_(network.fc.bias)
    return network.requires_grad_(False).eval()


def load_fid_inception(weights: Path | None = None, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """FID's Inception with its pretrained weights, on device, ready for `features`."""
    path = _weights_file(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, another format, or pickled objects weights_only refuses
        raise UserError(f"{path}: not a readable weights file ({first_sentence(e)}); fetch {URL} again") from None
    network = fid_inception()
    try:
        if not isinstance(state, dict):
            raise TypeError(f"it holds a {type(state).__name__}, not a state dict")
        network.load_state_dict(state, strict=True)
    except (TypeError, RuntimeError) as e:
        raise UserError(f"{path}: not the FID Inception weights ({first_sentence(e)}); fetch {URL}") from None
    return network.to(device)


def _weights_file(explicit: Path | None) -> Path:
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"--inception-weights {path}: no such file")
        return _verified(path)
    cached = data_dir() / FILENAME
    if cached.is_file():
        return _verified(cached)
    return _download(cached)


def _expected_sha256(name: str) -> str | None:
    """What a file's name promises of its sha256: the hex before the extension, the whole digest for FID's file."""
    match = re.search(r"-([0-9a-f]{8,64})\.[^.]+$", name)
    if match is None:
        return None
    prefix = match.group(1)
    return SHA256 if SHA256.startswith(prefix) else prefix


def _verified(path: Path) -> Path:
    expected = _expected_sha256(path.name)
    if expected is not None:
        actual = sha256_file(path)
        if not actual.startswith(expected):
            raise UserError(f"{path}: its sha256 is {actual[:16]}..., its name promises {expected[:16]}...: "
                            f"a damaged or different file; replace it with a fresh copy of {URL}")
    return path


def _download(target: Path) -> Path:
    """Fetch the weights into target, all or nothing: a checked partial file renamed into place."""
    log.info("downloading the FID Inception weights from %s to %s", URL, target)
    part = target.with_name(target.name + ".part")
    try:
        download(URL, part, DOWNLOAD_TIMEOUT_S)
    except (DownloadFailed, OSError) as e:
        raise UserError(f"FID needs the Inception weights {FILENAME}, and downloading them failed "
                        f"({first_sentence(e)}): fetch {URL} into {target.parent} (LPZ_DATA_DIR), "
                        f"or point --inception-weights at the file") from None
    actual = sha256_file(part)
    if actual != SHA256:
        part.unlink()
        raise UserError(f"{URL} sent a file whose sha256 is {actual[:16]}..., not {SHA256[:16]}...; "
                        f"try again, or fetch it by hand and point --inception-weights at it")
    os.replace(part, target)
    return target


# ------------------------------------------------------------------ the scorer

REAL_SAMPLES = 50_000  # real images the statistics are computed on (all of a smaller dataset)
SCORER_NAME = "inception-pool3"
RANDOM_SCORER_NAME = "inception-pool3-random-init"  # not FID: the architecture without the published weights


def inception_scorer(dataset, device: str = "cpu", weights: Path | None = None, random_init: bool = False):
    """FID on InceptionV3 pool3 features against (up to 50,000 of) the real training images; with
    random_init, the same network with He-random weights from a fixed seed instead of the published ones
    (its numbers compare only with each other: the scorer's name says so)."""
    from lpz.data.base import data_dir
    from lpz.scoring.base import Scorer
    from lpz.scoring.cache import cached_arrays
    from lpz.scoring.frechet import Statistics
    from lpz.seeding import generator

    if random_init:
        network, name = fid_inception(generator("fid-inception", "random-init")).to(device), RANDOM_SCORER_NAME
    else:
        network, name = load_fid_inception(weights, device), SCORER_NAME
    count = min(len(dataset), REAL_SAMPLES)
    chosen = torch.randperm(len(dataset), generator=generator("fid-real", dataset.name))[:count].sort().values

    def compute():
        features = torch.cat([network.features(dataset.samples(chosen[i:i + 500])) for i in range(0, count, 500)])
        stats = Statistics.of(features)
        return {"mean": stats.mean, "cov": stats.cov}

    shape = "x".join(map(str, dataset.shape))
    # Two image folders share the name "imagefolder": the images chosen tell them apart.
    images = hashlib.sha256(dataset.stored[chosen[:256]].numpy().tobytes()).hexdigest()[:8]
    path = data_dir() / ".cache" / f"stats-{dataset.name}-{shape}-{images}-{name}-{SHA256[:12]}.npz"
    arrays = cached_arrays(path, count, compute)
    return Scorer(name, network.features, Statistics(arrays["mean"], arrays["cov"]))
