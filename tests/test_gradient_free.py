"""Gradient-free trainers (trainer.name ea-parallel, ea-alternating, nes): they replace only the training
phase of a cell's step, change weights without an optimiser, and keep lpz's guarantees."""
from pathlib import Path

import pytest
import torch

from lpz.algorithm import gradient_free
from lpz.seeding import generator
from lpz.config import load_config, resolved, validate
from lpz.engine.local import run_local
from lpz.engine.work import read_state
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import checkpoint_bytes, lpz, tiny

ROOT = Path(__file__).resolve().parents[1]
GRADIENT_FREE = ("ea-parallel", "ea-alternating", "nes")


def gradient_free_config(name: str, **overrides) -> dict:
    """TINY with a gradient-free trainer: no Adam learning rate, small populations and searches."""
    data = tiny(**{"trainer.name": name, **overrides})
    del data["trainer"]["params"]["default_adam_learning_rate"]  # gradient training's only
    if name == "nes":
        data["trainer"]["nes"] = {"population_size": 4, "sigma": 0.05, "alpha": 0.01}
    else:
        data["trainer"]["params"]["population_size"] = 2
        data["trainer"]["ea"] = {"sigma": 1.0, "alpha": 0.05, "tournament_size": 2, "n_replacements": 1}
    return data


def trained(root: Path, data: dict, workers: int = 1) -> Run:
    run = Run.create(LocalStore(root), validate(data), run_id="gradient-free")
    run_local(run, workers=workers)
    return run


@pytest.mark.parametrize("name", GRADIENT_FREE)
def test_a_gradient_free_grid_changes_its_weights_without_an_optimiser(tmp_path, name):
    run = trained(tmp_path, gradient_free_config(name, **{"trainer.generations": 1}))
    lr0 = run.config.trainer.params.default_adam_learning_rate
    moved = []
    for cell in range(4):
        start, end = read_state(run, 0, cell), read_state(run, 1, cell)
        for before, after in zip(start.generators + start.discriminators, end.generators + end.discriminators):
            assert after.adam is None and after.lr == lr0  # no optimiser state, no learning-rate mutation
            moved.append(max((a - b).abs().max().item() for a, b in zip(before.weights.values(),
                                                                         after.weights.values())))
    assert max(moved) > 0
    metrics = run.all_metrics()[1][0]
    assert metrics.losses.generator is not None and metrics.losses.discriminator is not None
    assert run.finished() and run.read_result().score is not None


def test_a_mutation_moves_each_weight_with_its_probability_by_alpha_sigma():
    weights = torch.zeros(20_000)
    same = gradient_free.mutate(weights, sigma=2.0, alpha=0.5, probability=0.0, gen=generator(1, "m"))
    assert torch.equal(same, weights)
    moved = gradient_free.mutate(weights, sigma=2.0, alpha=0.5, probability=0.25, gen=generator(1, "m"))
    changed = moved != 0
    assert changed.double().mean().item() == pytest.approx(0.25, abs=0.01)
    assert moved[changed].std().item() == pytest.approx(1.0, rel=0.05)  # alpha * sigma


def test_an_ea_batch_never_makes_its_population_less_fit():
    target = torch.linspace(-1, 1, 8)

    def fitness_of(members):
        return [float((m - target).square().sum()) for m in members]

    config = validate(gradient_free_config("ea-parallel", **{"trainer.params.population_size": 6,
                                                             "trainer.ea.n_replacements": 3}))
    members = [torch.randn(8, generator=generator(2, "start", i)) for i in range(6)]
    selection, mutation = generator(2, "selection"), generator(2, "mutation")
    worst = [max(fitness_of(members))]
    for _ in range(30):
        members, fitness = gradient_free.evolve(members, fitness_of, config, selection, mutation)
        assert fitness == fitness_of(members)
        worst.append(max(fitness))
    assert all(later <= earlier for earlier, later in zip(worst, worst[1:]))
    assert worst[-1] < worst[0]


def test_nes_steps_along_its_estimated_gradient():
    target = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0])
    weights, opponent = torch.zeros(5), torch.zeros(3)

    def loss_of(w, v):  # the opponent's perturbation shifts every loss alike
        return float((w - target).square().sum() + v.sum())

    population, sigma, alpha = 30, 0.1, 0.05
    stepped = gradient_free.nes_step(weights, opponent, loss_of, population, sigma, alpha, generator(5, "nes"))

    # The estimate, replayed from the same draws: of the rows, the one whose worst loss is lowest.
    replay = generator(5, "nes")
    rows = []
    for _ in range(population):
        own, theirs = torch.randn(population, 5, generator=replay), torch.randn(population, 3, generator=replay)
        losses = torch.tensor([loss_of(weights + sigma * own[k], opponent + sigma * theirs[k])
                               for k in range(population)], dtype=torch.float64)
        rows.append((losses.max().item(), losses, own))
    _, losses, own = min(rows, key=lambda row: row[0])
    advantage = ((losses - losses.mean()) / losses.std()).float()
    assert torch.allclose(stepped, weights - alpha / (population * sigma) * own.T @ advantage)

    true_gradient = 2 * (weights - target)
    assert torch.nn.functional.cosine_similarity(weights - stepped, true_gradient, dim=0) > 0.5
    assert loss_of(stepped, opponent) < loss_of(weights, opponent)


def test_nes_estimates_nothing_from_losses_that_do_not_differ():
    noise = torch.randn(4, 3, generator=generator(0, "flat"))
    assert torch.equal(gradient_free.nes_gradient(torch.ones(4, dtype=torch.float64), noise, 0.1), torch.zeros(3))


def test_setting_and_reading_flat_weights_round_trips():
    from lpz.algorithm import nets
    config = validate(tiny())
    g, d = nets.build(config.network, (2,), generator(0, "init"))
    weights = gradient_free.flat_weights(d) + 1
    x = torch.randn(7, 2, generator=generator(0, "x"))
    before = gradient_free.with_weights(d, weights)(x)
    gradient_free.set_weights(d, weights)
    assert torch.equal(gradient_free.flat_weights(d), weights) and torch.equal(d(x), before)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ea-parallel", "nes"])
def test_gradient_free_checkpoints_are_byte_identical_across_worker_counts(tmp_path, name):
    data = gradient_free_config(name)  # 2x2, 2 generations, with selection over the neighbourhood
    trained(tmp_path / "one", data, 1), trained(tmp_path / "two", data, 2)
    a, b = checkpoint_bytes(tmp_path / "one", "gradient-free"), checkpoint_bytes(tmp_path / "two", "gradient-free")
    assert len(a) == 2 * 4 * 2 and a == b


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "gradient-free").glob("*.yml")), ids=lambda p: p.name)
def test_the_gradient_free_configs_load_and_their_stored_form_validates_again(path):
    config = load_config(path)
    assert validate(resolved(config)) == config  # as a run reads its run.json


def test_the_circular_data_is_the_old_systems_points():
    from lpz.data.toy import MIXTURES
    from lpz.scoring.toy import coverage
    circular = MIXTURES["circular"]
    points = circular.sample(12_000, generator(0, "circular"))
    assert len(circular.modes) == 11 and torch.allclose(points.norm(dim=1), torch.full((12_000,), 4.0))
    top = (points - torch.tensor([0.0, 4.0])).norm(dim=1) < 1e-5  # angle 0 and 2 pi: drawn twice as often
    assert top.double().mean().item() == pytest.approx(2 / 12, abs=0.01)
    assert coverage(points[:2500], circular) == {"modes_covered": 11, "modes": 11, "high_quality": 1.0}


def test_the_gaussian_data_is_the_old_systems_vectors():
    from lpz.data.toy import load_gaussian
    config = validate(tiny(**{"dataloader.dataset_name": "gaussian", "dataloader.data_size": 3,
                              "dataloader.n_samples": 20_000}))
    data = load_gaussian(config.dataloader, seed=0)
    assert data.shape == (3,) and len(data) == 20_000
    assert torch.allclose(data.samples().mean(dim=0), torch.full((3,), 5.0), atol=0.05)
    assert torch.allclose(data.samples().std(dim=0), torch.full((3,), 2.0), atol=0.05)


@pytest.mark.slow
def test_a_shipped_gradient_free_config_trains_through_lpz_run(tmp_path):
    """The old circular_ea_par experiment, one generation of it, as a user runs it."""
    done = lpz("run", str(ROOT / "configs" / "gradient-free" / "circular-ea-parallel.yml"), "--generations", "1",
               "--store", str(tmp_path), "--workers", "1")
    assert "done in" in done.stdout and "modes" in done.stdout
    (run_id,) = [p.name for p in (tmp_path / "runs").iterdir()]
    state = read_state(Run.open(LocalStore(tmp_path), run_id), 1, 0)
    assert len(state.generators) == 30 and all(g.adam is None and g.origin == (0, 1) for g in state.generators)
