"""One cell-generation of the papers' MNIST networks on the real MNIST files."""
import torch

from lpz.config import validate
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.engine.work import compute_cell, read_state
from tests.helpers import tiny

MNIST = {"dataloader.dataset_name": "mnist", "dataloader.batch_size": 100, "dataloader.n_batches": 3,
         "network.name": "four_layer_perceptron", "score.score_sample_size": 200, "score.final_sample_size": 200}


def test_one_generation_of_one_cell_on_mnist(tmp_path, data_env):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny(**MNIST)), run_id="mnist-cell")
    metrics = compute_cell(run, 0, 0)

    assert metrics.generation == 1 and metrics.cell == 0
    assert metrics.score is not None and metrics.score > 0
    assert set(metrics.seconds) >= {"fitness", "training", "replacement", "mixture", "io"}
    state = read_state(run, 1, 0)
    g = state.generators[0]
    assert g.weights["body.0.weight"].shape == (256, 64)       # latent 64 -> 256
    assert g.weights["body.4.weight"].shape == (784, 256)      # -> 784 pixels
    assert state.discriminators[0].weights["body.5.weight"].shape == (1, 256)
    assert g.adam is not None or g.origin == (0, 0)  # trained copies carry their Adam state
    public = torch.load(tmp_path / "runs/mnist-cell/gen/1/cell/0/public.pt", weights_only=True)
    assert all("adam" not in ind for ind in public["generators"] + public["discriminators"])


def test_rerunning_a_committed_cell_changes_nothing(tmp_path, data_env):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny(**MNIST)), run_id="mnist-cell")
    compute_cell(run, 0, 1)
    files = sorted((tmp_path / "runs/mnist-cell/gen/1/cell/1").iterdir())
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    compute_cell(run, 0, 1)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    assert before == after
