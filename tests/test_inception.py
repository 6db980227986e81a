"""FID's Inception network: its layout against the FID weights file, its features, and finding its weights.

No test downloads anything from the internet: "offline" is a closed port on
loopback, and the downloader is exercised against a real HTTP server on
loopback serving a freshly built network's weights.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import pathlib
import shutil
import socket
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lpz.errors import UserError
from lpz.scoring import inception
from lpz.scoring.inception import FILENAME, fid_inception, load_fid_inception
from lpz.seeding import generator

# From torchvision's Inception3 and pytorch-fid's fid_inception_v3(): 94 conv+batch-norm
# units (weight; bn weight, bias, running_mean, running_var, num_batches_tracked) and fc.
FID_WEIGHTS_KEYS = 94 * 6 + 2
# torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits (3,326,696)
# and with 1008 classes instead of 1000 (+8 x 2049): 23,850,960.
FID_WEIGHTS_PARAMETERS = 23_850_960
EXPECTED_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1),
    "Mixed_5b.branch1x1.bn.num_batches_tracked": (),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two threads per forward pass run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def network():
    return fid_inception(generator(0, "test-inception"))


@pytest.fixture(scope="module")
def weights_file(network, tmp_path_factory):
    """The random network's weights, saved under a name that carries its own sha256 prefix."""
    folder = tmp_path_factory.mktemp("weights")
    saved = folder / "saved.pth"
    torch.save(network.state_dict(), saved)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    return saved.rename(folder / f"random-inception-{digest[:8]}.pth")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def images(n, size, seed=1):
    return torch.rand(n, 3, size, size, generator=generator(seed, "test-inception-images")) * 2 - 1


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{FILENAME}"


@pytest.fixture
def serve(tmp_path):
    """serve(file) -> the URL of that file on a real HTTP server on loopback."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def start(file):
        served = tmp_path / "served"
        served.mkdir()
        shutil.copy(file, served / FILENAME)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=served))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/{FILENAME}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def assert_one_line(error: UserError) -> str:
    message = str(error)
    assert message and "\n" not in message
    return message


# ---- the network ----

def test_state_dict_has_the_fid_weights_file_layout(network):
    state = network.state_dict()
    assert len(state) == FID_WEIGHTS_KEYS
    assert sum(p.numel() for p in network.parameters()) == FID_WEIGHTS_PARAMETERS
    for key, shape in EXPECTED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(key.startswith("AuxLogits") for key in state)


@pytest.mark.parametrize("size", [64, 32])
def test_images_map_to_2048_features(network, size):
    features = network.features(images(2, size))
    assert features.shape == (2, 2048)
    assert features.dtype == torch.float32
    assert torch.isfinite(features).all()
    assert not features.requires_grad
    assert features.std(dim=0).mean() > 0     # different images, different features


# Per image, the mean of each Mixed_7c branch's pooled features (1x1, 3x3, 3x3 double, pool) for
# images(2, 32) through the seeded network: recorded when this module's output was checked bit for bit
# against pytorch-fid's own blocks (torchvision's Inception3 with FIDInceptionA/C/E_1/E_2).
REFERENCE_BRANCH_MEANS = [[0.375715, 0.368478], [0.364594, 0.358985], [0.381736, 0.375897], [0.541342, 0.533839]]


def test_features_match_the_reference_recorded_against_pytorch_fid(network):
    features = network.features(images(2, 32))
    branch_means = [group.mean(dim=1) for group in features.split([320, 768, 768, 192], dim=1)]
    torch.testing.assert_close(torch.stack(branch_means), torch.tensor(REFERENCE_BRANCH_MEANS),
                               rtol=1e-3, atol=1e-5)


def test_pool_branches_are_patched_like_pytorch_fid(network):
    """Average pools leave the padding out (TensorFlow's way); Mixed_7c max-pools instead."""
    exclude_padding = lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    max_pool = lambda x: F.max_pool2d(x, 3, stride=1, padding=1)
    blocks = {"Mixed_5b": (192, exclude_padding), "Mixed_5c": (256, exclude_padding),
              "Mixed_6b": (768, exclude_padding), "Mixed_6e": (768, exclude_padding),
              "Mixed_7b": (1280, exclude_padding), "Mixed_7c": (2048, max_pool)}
    for name, (channels, pool) in blocks.items():
        block = getattr(network, name)
        x = torch.randn(1, channels, 5, 5, generator=generator(3, name))
        pool_features = block.branch_pool.conv.out_channels
        torch.testing.assert_close(block(x)[:, -pool_features:], block.branch_pool(pool(x)), msg=name)


def test_images_are_resized_bilinearly_to_299_inside(network):
    small = images(2, 64)
    resized = F.interpolate(small, size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(network.features(small), network.features(resized))


def test_features_do_not_depend_on_batch_size_or_change_the_network(network):
    before = {k: v.clone() for k, v in network.state_dict().items()}
    x = images(2, 32, seed=2)
    torch.testing.assert_close(network.features(x, batch_size=1), network.features(x, batch_size=2),
                               rtol=1e-4, atol=1e-5)
    after = network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_random_weights_come_from_the_given_generator(network):
    again = fid_inception(generator(0, "test-inception")).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in network.state_dict().items())
    other = fid_inception(generator(1, "test-inception")).state_dict()
    assert not torch.equal(other["Mixed_7c.branch_pool.conv.weight"],
                           network.state_dict()["Mixed_7c.branch_pool.conv.weight"])


# ---- finding and loading the weights ----

def test_weights_saved_from_a_network_load_back(network, weights_file, data_dir):
    loaded = load_fid_inception(weights_file, device="cpu")
    expected = network.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_a_file_without_a_hash_in_its_name_loads_unverified(network, weights_file, tmp_path, data_dir):
    plain = tmp_path / "inception.pth"
    plain.symlink_to(weights_file)
    expected = network.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in load_fid_inception(plain).state_dict().items())


def test_missing_weights_offline_give_one_line_naming_the_flag(data_dir, monkeypatch):
    monkeypatch.setattr(inception, "URL", closed_port_url())
    with pytest.raises(UserError) as caught:
        load_fid_inception()
    message = assert_one_line(caught.value)
    assert "--inception-weights" in message and FILENAME in message and str(data_dir) in message
    assert not data_dir.exists() or not any(data_dir.iterdir())  # no partial download left behind


def test_a_missing_explicit_file_is_reported_not_replaced(tmp_path, data_dir):
    with pytest.raises(UserError) as caught:
        load_fid_inception(tmp_path / "nowhere.pth")
    assert "--inception-weights" in assert_one_line(caught.value)
    assert not data_dir.exists()


@pytest.mark.parametrize("where", ["explicit", "data_dir"])
def test_a_file_whose_sha256_contradicts_its_name_is_refused_and_kept(where, weights_file, tmp_path, data_dir):
    folder = tmp_path if where == "explicit" else data_dir
    folder.mkdir(exist_ok=True)
    impostor = folder / FILENAME  # loadable weights, but not the file that name stands for
    impostor.symlink_to(weights_file)
    with pytest.raises(UserError) as caught:
        load_fid_inception(impostor if where == "explicit" else None)
    message = assert_one_line(caught.value)
    assert "sha256" in message and str(impostor) in message
    assert impostor.is_file()


def test_a_name_promises_a_sha256_prefix_and_the_fid_name_its_full_digest():
    assert inception._expected_sha256(FILENAME) == inception.SHA256
    assert inception.SHA256.startswith("6726825d") and len(inception.SHA256) == 64
    assert inception._expected_sha256("random-inception-0123abcd.pth") == "0123abcd"
    assert inception._expected_sha256("inception.pth") is None


class TouchOnUnpickle:
    """Unpickling this creates a file: proof that code from the weights file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_weights_files_are_never_unpickled(tmp_path, data_dir):
    marker = tmp_path / "code-ran"
    booby_trapped = tmp_path / "trapped.pth"
    torch.save({"fc.weight": TouchOnUnpickle(marker)}, booby_trapped)
    with pytest.raises(UserError) as caught:
        load_fid_inception(booby_trapped)
    assert str(booby_trapped) in assert_one_line(caught.value)
    assert not marker.exists()


def test_files_that_are_not_the_weights_are_refused(tmp_path, data_dir):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00 not a torch file")
    partial = tmp_path / "partial.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, partial)
    for path in (garbage, partial):
        with pytest.raises(UserError) as caught:
            load_fid_inception(path)
        message = assert_one_line(caught.value)
        assert str(path) in message and "weights_only=False" not in message


def test_download_lands_atomically_in_the_data_dir(weights_file, serve, data_dir, monkeypatch):
    monkeypatch.setattr(inception, "URL", serve(weights_file))
    monkeypatch.setattr(inception, "SHA256", hashlib.sha256(weights_file.read_bytes()).hexdigest())
    load_fid_inception()
    assert [p.name for p in data_dir.iterdir()] == [FILENAME]
    assert (data_dir / FILENAME).read_bytes() == weights_file.read_bytes()


def test_a_download_with_the_wrong_sha256_leaves_nothing(weights_file, serve, data_dir, monkeypatch):
    monkeypatch.setattr(inception, "URL", serve(weights_file))
    with pytest.raises(UserError) as caught:
        load_fid_inception()
    assert "sha256" in assert_one_line(caught.value)
    assert not any(data_dir.iterdir())


# ---- the scorer ----

@pytest.mark.long
@pytest.mark.slow  # two FIDs on 2048-d features: scipy's sqrtm of 2048 x 2048 matrices
def test_the_inception_scorer_caches_real_statistics_and_ranks_samples(weights_file, data_dir):
    from lpz.data.base import Dataset
    from lpz.scoring.inception import inception_scorer

    pixels = (torch.rand(12, 3, 32, 32, generator=generator(2, "real")) * 64 + 96).to(torch.uint8)
    real = Dataset("rgb-test", pixels)
    scorer = inception_scorer(real, weights=weights_file)
    caches = list((data_dir / ".cache").glob("stats-rgb-test-3x32x32-*-inception-pool3-*.npz"))
    assert len(caches) == 1
    like_real = real.samples(slice(0, 6))
    noise = images(6, 32, seed=5)
    assert scorer.score(like_real) < scorer.score(noise)

    before = caches[0].stat().st_mtime_ns
    again = inception_scorer(real, weights=weights_file)  # statistics read back, not recomputed
    assert caches[0].stat().st_mtime_ns == before
    assert (again.real.mean == scorer.real.mean).all() and (again.real.cov == scorer.real.cov).all()


def test_random_init_inception_needs_no_weights_and_says_so_in_its_name(data_dir, monkeypatch):
    """score.inception: random-init scores RGB data offline with the architecture alone, under a name
    (and a statistics cache) of its own, and the same weights every time."""
    from lpz.data.base import Dataset
    from lpz.scoring import make_scorer
    from lpz.scoring.inception import RANDOM_SCORER_NAME, fid_inception
    from tests.helpers import tiny_config

    monkeypatch.setattr(inception, "URL", "http://127.0.0.1:9/unreachable")  # the published weights: nowhere
    pixels = (torch.rand(8, 3, 32, 32, generator=generator(3, "real")) * 255).to(torch.uint8)
    real = Dataset("rgb-random-init", pixels)
    with pytest.raises(UserError):
        make_scorer(tiny_config(), real)
    scorer = make_scorer(tiny_config(**{"score.inception": "random-init"}), real)

    assert scorer.name == RANDOM_SCORER_NAME
    assert len(list((data_dir / ".cache").glob(f"stats-rgb-random-init-3x32x32-*-{RANDOM_SCORER_NAME}-*.npz"))) == 1
    same = fid_inception(generator("fid-inception", "random-init")).features(real.samples(slice(0, 2)))
    assert torch.equal(scorer.features(real.samples(slice(0, 2))), same)
    assert scorer.real.mean.shape == (2048,) and np.isfinite(scorer.real.mean).all()
