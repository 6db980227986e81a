"""The MNIST scorer: FID on a small classifier's logits and the TVD of its predicted classes, on real MNIST."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from lpz.algorithm import mixture, nets
from lpz.config import Network
from lpz.data.base import Dataset
from lpz.data.idx import load_idx_dataset
from lpz.errors import UserError
from lpz.scoring import make_scorer
from lpz.scoring.classifier import (ASSETS, SCORER_NAME, classifier_scorer, intra_op_threads, logits,
                                    max_pool_2x2, new_classifier, train_classifier)
from lpz.scoring.frechet import Statistics, frechet_distance
from lpz.seeding import generator, numpy_rng
from tests.helpers import lpz, tiny_config, unavailable

SHIPPED = ASSETS / "mnist_classifier.pt"


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_idx_dataset("mnist", "train", mnist_dir), load_idx_dataset("mnist", "test", mnist_dir)


@pytest.fixture(scope="module")
def data_home(mnist_dir, tmp_path_factory):
    """A data directory of its own holding real MNIST, so the statistics cache starts empty."""
    home = tmp_path_factory.mktemp("data")
    (home / "mnist").symlink_to(mnist_dir)
    return home


@pytest.fixture(scope="module")
def scorer(mnist, data_home):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LPZ_DATA_DIR", str(data_home))
        return classifier_scorer(mnist[0])


def test_shipped_weights_match_their_json_and_reach_its_accuracy(mnist):
    info = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == info["sha256"]
    assert SHIPPED.stat().st_size < 150_000
    net = new_classifier()
    net.load_state_dict(torch.load(SHIPPED, weights_only=True))

    test = mnist[1]
    with intra_op_threads(info["threads"]):
        predicted = logits(net, test.samples()).argmax(dim=1)
    accuracy = float((predicted == test.labels).double().mean())
    assert accuracy >= 0.985
    assert abs(accuracy - info["accuracy"]) <= 1e-9


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist (make installs it)


def test_shipped_fashion_mnist_weights_reach_90_percent_and_a_low_fid_floor(tmp_path, monkeypatch):
    if not FASHION.is_dir():
        unavailable("Debian's dataset-fashion-mnist is not installed (make install-test installs it)")
    shipped = ASSETS / "fashion-mnist_classifier.pt"
    info = json.loads(shipped.with_suffix(".json").read_text())
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == info["sha256"]
    train, test = load_idx_dataset("fashion-mnist", "train", FASHION), load_idx_dataset("fashion-mnist", "test", FASHION)
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path))  # no weights there: the shipped ones are used
    scorer = classifier_scorer(train)

    with intra_op_threads(info["threads"]):
        test_logits = scorer.features(test.samples())
    accuracy = float((test_logits.argmax(dim=1) == test.labels).double().mean())
    assert accuracy >= 0.90 and abs(accuracy - info["accuracy"]) <= 1e-9
    assert 0 < scorer.distance(test_logits) < 2


def test_scoring_pools_with_the_same_bits_as_max_pool2d(mnist):
    """The scorer pools with max_pool_2x2 (no gradient), training with F.max_pool2d: the same logits."""
    net = new_classifier()
    net.load_state_dict(torch.load(SHIPPED, weights_only=True))
    images = mnist[1].samples(slice(0, 500))
    with torch.no_grad():
        fast = net(images)
    with torch.enable_grad():
        reference = net(images).detach()
    assert torch.equal(fast, reference)
    ties = torch.tensor([[[[1.0, 1.0, -2.0, float("nan")], [1.0, 0.5, -3.0, 0.0]]]])
    assert torch.equal(max_pool_2x2(ties).isnan(), torch.nn.functional.max_pool2d(ties, 2).isnan())
    assert max_pool_2x2(ties)[0, 0, 0, 0] == 1.0


def test_real_test_set_is_close_to_the_real_training_set(scorer, mnist):
    assert 0 < scorer.score(mnist[1].samples()) < 2
    assert scorer.extra(mnist[1].samples())["tvd"] < 0.02


def test_one_class_only_is_far_in_tvd(scorer, mnist):
    test = mnist[1]
    ones = test.samples()[test.labels == 1]
    same_one = ones[:1].expand(500, -1, -1, -1)
    assert scorer.extra(same_one)["tvd"] == pytest.approx(0.9, abs=0.02)  # 1 - (share of its class, ~ a tenth)
    assert scorer.score(ones) > 20 * scorer.score(test.samples())


def test_statistics_of_the_real_data_are_cached_and_reused(scorer, mnist, data_home, tmp_path, monkeypatch):
    sha = json.loads(SHIPPED.with_suffix(".json").read_text())["sha256"]
    name = f".cache/stats-mnist-{SCORER_NAME}-{sha[:12]}.npz"
    with np.load(data_home / name, allow_pickle=False) as saved:
        assert np.array_equal(saved["mean"], scorer.real.mean) and np.array_equal(saved["cov"], scorer.real.cov)
        assert saved["frequencies"].shape == (10,) and saved["frequencies"].sum() == pytest.approx(1)
        shifted = {key: saved[key] for key in saved.files} | {"mean": saved["mean"] + 1}

    # A second scorer reads the file instead of passing the 60,000 images again: a shifted copy shows it.
    (tmp_path / ".cache").mkdir()
    np.savez(tmp_path / name, **shifted)
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path))
    assert np.array_equal(classifier_scorer(mnist[0]).real.mean, scorer.real.mean + 1)


def test_frechet_distance_matches_the_closed_form_for_commuting_covariances():
    rng = numpy_rng("test", "frechet")
    rotation, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    a, b = rng.uniform(0.1, 5, size=10), rng.uniform(0.1, 5, size=10)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    one = Statistics(mu1, rotation @ np.diag(a) @ rotation.T)
    two = Statistics(mu2, rotation @ np.diag(b) @ rotation.T)

    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(one, two) == pytest.approx(expected, rel=1e-6)


def test_a_mixture_weighing_only_one_generator_scores_as_that_generator(scorer):
    network = Network(name="four_layer_perceptron")
    first, _ = nets.build(network, (1, 28, 28), generator("test", "first"))
    second, _ = nets.build(network, (1, 28, 28), generator("test", "second"))
    z = first.latent(500, generator("test", "z"))

    mixed = scorer.score(mixture.sample([first, second], [1.0, 0.0], z))
    assert mixed == scorer.score(first(z).detach())
    assert mixed != scorer.score(second(z).detach())


def test_make_scorer_uses_the_classifier_for_mnist_and_refuses_rgb(scorer, mnist, data_home, monkeypatch):
    monkeypatch.setenv("LPZ_DATA_DIR", str(data_home))
    config = tiny_config(**{"score.score_sample_size": 300})
    made = make_scorer(config, mnist[0])
    assert made.name == SCORER_NAME and made.extra_samples == 300   # TVD on as many samples as the score
    assert made.score(mnist[1].samples()) == scorer.score(mnist[1].samples())
    with pytest.raises(UserError, match="Inception"):
        make_scorer(config, Dataset("cifar10", torch.zeros(4, 3, 32, 32)))


def test_training_gives_the_same_bytes_twice(data_env, tmp_path):
    first = train_classifier("mnist", tmp_path / "a" / "c.pt", epochs=1, limit=2000)
    again = train_classifier("mnist", tmp_path / "b" / "c.pt", epochs=1, limit=2000)
    other_seed = train_classifier("mnist", tmp_path / "c" / "c.pt", epochs=1, limit=2000, seed=1)

    weights = (tmp_path / "a" / "c.pt").read_bytes()
    assert weights == (tmp_path / "b" / "c.pt").read_bytes()
    assert first == again and first["sha256"] == hashlib.sha256(weights).hexdigest()
    assert other_seed["sha256"] != first["sha256"]
    assert first["training_images"] == 2000 and 0.2 < first["accuracy"] < 0.985  # learnt, not all


def test_training_without_the_dataset_files_is_a_one_line_error(tmp_path):
    result = lpz("scorer", "train", "mnist", check=False, env=os.environ | {"LPZ_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "lpz data download mnist" in result.stderr


def pytorch_fid_distance(a: Statistics, b: Statistics) -> float:
    """FID as pytorch-fid computes it: scipy's sqrtm of the product of the covariances."""
    root = linalg.sqrtm(a.cov @ b.cov).real
    return float((a.mean - b.mean) @ (a.mean - b.mean) + np.trace(a.cov) + np.trace(b.cov) - 2 * np.trace(root))


def test_frechet_distance_matches_pytorch_fids_square_root():
    rng = numpy_rng("test", "sqrtm")
    real = Statistics.of(rng.normal(size=(400, 60)) @ rng.normal(size=(60, 60)))
    generated = Statistics.of(rng.normal(size=(300, 60)) @ rng.normal(size=(60, 60)) + 0.3)
    assert frechet_distance(generated, real) == pytest.approx(pytorch_fid_distance(generated, real), rel=1e-9)


def test_a_collapsed_sample_scores_without_a_ridge():
    """All samples alike (a collapsed generator): the product of the covariances is zero, the distance
    the squared distance of the means plus the real data's variance."""
    real = Statistics.of(numpy_rng("test", "collapsed").normal(size=(400, 20)))
    collapsed = Statistics.of(np.ones((100, 20)))
    expected = float((1 - real.mean) @ (1 - real.mean) + np.trace(real.cov))
    assert frechet_distance(collapsed, real) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("samples", [100, 25])  # the usual trace, and the one from fewer samples than features
def test_samples_that_are_not_finite_are_infinitely_far(bad, samples):
    """A diverged generator's NaN or infinite samples score worst (and so compare with every other score),
    where the eigenvalue solver would raise."""
    rng = numpy_rng("test", "not-finite")
    real = Statistics.of(rng.normal(size=(400, 60)))
    features = rng.normal(size=(samples, 60))
    features[3, 7] = bad
    assert frechet_distance(Statistics.of(features), real) == np.inf


def test_frechet_distance_with_fewer_samples_than_features_matches_scipys_square_root():
    rng = numpy_rng("test", "low-rank")
    real = Statistics.of(rng.normal(size=(400, 60)) @ rng.normal(size=(60, 60)))
    few = rng.normal(size=(25, 60)) @ rng.normal(size=(60, 60)) + 0.3
    fast = Statistics.of(few)
    assert fast.low is not None
    assert frechet_distance(fast, real) == pytest.approx(pytorch_fid_distance(fast, real), rel=1e-6)
    assert Statistics.of(rng.normal(size=(100, 60))).low is None  # as many samples as features: the usual way
