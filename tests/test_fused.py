"""general.fused_cells: a generation's cells trained as one batched computation compute what the per-cell
path computes (within float tolerance), deterministically, and configs it cannot train are refused."""
import pytest
import torch

from lpz.errors import ConfigError
from lpz.engine.local import run_local
from lpz.errors import UserError
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.store.base import tensors_from
from tests.helpers import checkpoint_bytes, lpz_here, one_line_error, tiny, tiny_config


def trained(root, config, run_id="run") -> tuple[Run, dict]:
    run = Run.create(LocalStore(root), config, run_id=run_id)
    run_local(run, workers=1)
    return run, {key: tensors_from(data) for key, data in checkpoint_bytes(root, run_id).items()}


def assert_close(fused, per_cell, path=""):
    """Every tensor within float tolerance, every other value equal (learning rates, origins, losses).

    Batched products round differently from single ones, and Adam magnifies the difference where a
    gradient is near 0 (its step is lr * m / sqrt(v) whatever the gradient's size): on MNIST after 4
    steps weights differ by up to 4e-4 of their norm and Adam's moments by up to 0.5% (a different seed
    moves them by their whole size)."""
    if isinstance(per_cell, torch.Tensor):
        if not per_cell.dtype.is_floating_point or per_cell.dim() == 0:
            assert torch.equal(fused, per_cell), path
            return
        tolerance = 2e-2 if "/adam/" in path else 1e-3
        difference = float((fused - per_cell).norm() / per_cell.norm().clamp(min=1e-12))
        assert difference <= tolerance, f"{path}: differs by {difference:.2e} of its norm"
    elif isinstance(per_cell, dict):
        assert fused.keys() == per_cell.keys(), path
        for key in per_cell:
            assert_close(fused[key], per_cell[key], f"{path}/{key}")
    elif isinstance(per_cell, (list, tuple)):
        assert len(fused) == len(per_cell), path
        for i, (a, b) in enumerate(zip(fused, per_cell)):
            assert_close(a, b, f"{path}[{i}]")
    elif isinstance(per_cell, float) and path.endswith(("fitness", "score")):
        assert fused == pytest.approx(per_cell, rel=1e-4), path
    else:
        assert fused == per_cell, path


@pytest.mark.slow
@pytest.mark.parametrize("loss, lr_decay", [("bce", None), ("mse", None), ("bce", 0.25)])
def test_fused_cells_train_what_the_per_cell_path_trains(tmp_path, loss, lr_decay):
    # Skipped discriminator steps and a migrant's fresh Adam next to an own copy's kept one included.
    settings = {"network.loss": loss, "trainer.params.discriminator_skip_each_nth_step": 1,
                "trainer.params.lr_decay": lr_decay}
    _, per_cell = trained(tmp_path / "per-cell", tiny_config(**settings))
    run, fused = trained(tmp_path / "fused", tiny_config(**settings, **{"general.fused_cells": True}))

    assert fused.keys() == per_cell.keys() and len(fused) == 2 * 2 * 4  # state and public, 2 generations, 4 cells
    for key in per_cell:
        assert_close(fused[key], per_cell[key], key)
    steps = [fused["2/cell/0/state.pt"]["generators"][0]["adam"]["state"][0]["step"],
             fused["2/cell/0/state.pt"]["discriminators"][0]["adam"]["state"][0]["step"]]
    assert float(steps[0]) in (5.0, 10.0) and float(steps[1]) in (3.0, 6.0)  # 5 G and 3 D steps a generation
    assert run.finished() and all(len(cells) == 4 for cells in run.all_metrics().values())


@pytest.mark.slow
def test_fused_cells_on_real_mnist_match_the_per_cell_path(tmp_path, data_env):
    mnist = {"dataloader.dataset_name": "mnist", "dataloader.batch_size": 50, "dataloader.n_batches": 4,
             "network.name": "four_layer_perceptron", "trainer.generations": 1, "score.score_sample_size": 100,
             "score.final_sample_size": 100, "trainer.params.fitness.fitness_sample_size": 100}
    _, per_cell = trained(tmp_path / "per-cell", tiny_config(**mnist))
    _, fused = trained(tmp_path / "fused", tiny_config(**mnist, **{"general.fused_cells": True}))
    for key in per_cell:
        assert_close(fused[key], per_cell[key], key)


def test_a_fused_generation_resumed_after_some_cells_committed_gives_the_same_bytes(tmp_path):
    config = tiny_config(**{"general.fused_cells": True})
    run, _ = trained(tmp_path, config)
    whole = checkpoint_bytes(tmp_path, "run")
    for cell in (1, 3):  # as if the process died after committing cells 0 and 2 of generation 2
        run.uncommit(2, cell)
        for name in ("state.pt", "public.pt"):
            (tmp_path / "runs" / "run" / "gen" / "2" / "cell" / str(cell) / name).unlink()
    run.unfinish()
    run_local(Run.open(LocalStore(tmp_path), "run"))
    assert checkpoint_bytes(tmp_path, "run") == whole


def test_configs_fused_cells_cannot_train_are_refused_in_one_line():
    for setting, named in [({"trainer.params.population_size": 2, "trainer.params.tournament_size": 2}, "population_size"),
                           ({"network.loss": "wgan"}, "wgan"),
                           ({"trainer.params.enable_selection": False}, "enable_selection")]:
        with pytest.raises(ConfigError) as error:
            tiny_config(**setting, **{"general.fused_cells": True})
        assert "general.fused_cells" in str(error.value) and named in str(error.value)


def test_fused_runs_refuse_several_workers_and_the_cluster(tmp_path):
    run = Run.create(LocalStore(tmp_path), tiny_config(**{"general.fused_cells": True}), run_id="fused")
    with pytest.raises(UserError, match="--workers"):
        run_local(run, workers=2)

    config_file = tmp_path / "fused.yml"
    import yaml
    config_file.write_text(yaml.safe_dump(tiny(**{"general.fused_cells": True})))
    code, _, err = lpz_here("submit", str(config_file), "--store", str(tmp_path / "store"))
    assert "only `lpz run`" in one_line_error(code, err)
