"""WGAN cells: critics trained several steps per generator step with clipped weights and RMSprop,
inside the same cell step (fitness, selection, replacement, mixture) and with the same guarantees."""
from pathlib import Path

import pytest
import torch

from lpz.algorithm import losses
from lpz.algorithm.individual import Individual, NotACellState
from lpz.algorithm.nets import parameter_shapes
from lpz.config import load_config, validate
from lpz.engine.local import run_local
from lpz.engine.work import compute_cell, read_state
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import checkpoint_bytes, tiny

ROOT = Path(__file__).resolve().parents[1]
WGAN = {"network.loss": "wgan", "trainer.params.critic_steps": 5, "trainer.params.weight_clip": 0.01,
        "trainer.generations": 3, "dataloader.n_batches": 15}


def test_the_critic_loss_is_the_wasserstein_estimate():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert losses.discriminator_loss("wgan", real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert losses.generator_loss("wgan", fake).item() == pytest.approx(0.5)


def trained_run(root: Path, workers: int = 1, **overrides) -> Run:
    run = Run.create(LocalStore(root), validate(tiny(**{**WGAN, **overrides})), run_id="wgan")
    run_local(run, workers=workers)
    return run


def test_a_wgan_grid_trains_with_clipped_critics_and_rmsprop(tmp_path):
    run = trained_run(tmp_path)
    metrics = run.all_metrics()
    critic_losses = [metrics[g][0].losses.discriminator for g in (1, 2, 3)]
    assert len(set(critic_losses)) == 3  # the critic loss moves from generation to generation
    for cell in range(4):
        start, end = read_state(run, 0, cell), read_state(run, 3, cell)
        for critic in end.discriminators:
            assert max(w.abs().max().item() for w in critic.weights.values()) <= 0.01
            assert critic.origin[1] >= 1 and "square_avg" in critic.adam["state"][0]  # RMSprop trained it
        moved = [(a - b).abs().max().item() for a, b in zip(start.generators[0].weights.values(),
                                                            end.generators[0].weights.values())]
        assert max(moved) > 0
    # 15 batches with critic_steps 5: 3 generator steps, 15 critic steps each generation.
    generator = read_state(run, 1, 0).generators[0]
    assert int(generator.adam["state"][0]["step"]) == 3
    assert int(read_state(run, 1, 0).discriminators[0].adam["state"][0]["step"]) == 15


def test_wgan_checkpoints_are_byte_identical_across_worker_counts(tmp_path):
    trained_run(tmp_path / "one", 1), trained_run(tmp_path / "two", 2)
    a, b = checkpoint_bytes(tmp_path / "one", "wgan"), checkpoint_bytes(tmp_path / "two", "wgan")
    assert len(a) == 3 * 4 * 2 and a == b


def individual_of_tiny(optimiser_class, role: str = "d") -> tuple[dict, dict]:
    """The plain form of an individual of the tiny config, with the state of one step of the optimiser."""
    shapes = parameter_shapes(validate(tiny()).network, (2,), role)
    weights = {name: torch.zeros(shape) for name, shape in shapes.items()}
    params = [torch.nn.Parameter(w.clone()) for w in weights.values()]
    optimiser = optimiser_class(params)
    sum(p.sum() for p in params).backward()
    optimiser.step()
    return {"weights": weights, "lr": 0.001, "fitness": 0.5, "origin": [0, 1], "loss": "bce",
            "adam": optimiser.state_dict()}, shapes


def test_an_optimiser_state_of_the_wrong_kind_is_refused():
    plain, shapes = individual_of_tiny(torch.optim.RMSprop)
    assert Individual.from_dict(plain, shapes, optimiser="rmsprop").adam is not None
    with pytest.raises(NotACellState, match="optimiser state"):
        Individual.from_dict(plain, shapes, optimiser="adam")


def test_a_gradient_free_individual_may_hold_no_optimiser_state():
    plain, shapes = individual_of_tiny(torch.optim.Adam, "g")
    assert Individual.from_dict({**plain, "adam": None}, shapes, optimiser=None).adam is None
    with pytest.raises(NotACellState, match="optimiser state"):
        Individual.from_dict(plain, shapes, optimiser=None)


def test_the_shipped_mnist_wgan_config_trains_a_cell_on_mnist(tmp_path, data_env):
    config = load_config(ROOT / "configs" / "wgan" / "mnist.yml", {
        "dataloader.n_batches": 10, "score.score_sample_size": 200, "score.final_sample_size": 200,
        "trainer.params.fitness.fitness_sample_size": 200})
    run = Run.create(LocalStore(tmp_path), config, run_id="mnist-wgan")
    metrics = compute_cell(run, 0, 0)
    assert metrics.score is not None and metrics.losses.discriminator is not None
    critic = read_state(run, 1, 0).discriminators[0]
    assert critic.loss == "wgan"
    assert max(w.abs().max().item() for w in critic.weights.values()) <= 0.01


def test_a_resolved_config_validates_again_whatever_the_loss():
    """run.json holds the resolved config (defaults filled in); the WGAN keys' defaults must not trip
    the check that they are set only with loss wgan."""
    from lpz.config import resolved
    for loss in ("bce", "wgan"):
        config = validate(tiny(**{"network.loss": loss}))
        assert validate(resolved(config)) == config
