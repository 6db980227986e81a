"""Same config and seed, same checkpoint bytes: whatever the worker count or the order of the cells."""
from pathlib import Path

import pytest

from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import shipped_grid_scheme, tiny_config


def checkpoints(root: Path, config, workers: int, order: str = "forward") -> dict[str, bytes]:
    """Every checkpoint of the run, by its path under gen/."""
    store = LocalStore(root)
    run = Run.create(store, config, run_id="same-run")
    run_local(run, workers=workers, order=order)
    gen = root / "runs" / "same-run" / "gen"
    return {str(p.relative_to(gen)): p.read_bytes() for p in sorted(gen.rglob("*.pt"))}


def result(root: Path) -> bytes:
    """The generators of the result of the run checkpoints() trained there."""
    return (root / "runs" / "same-run" / "mixture" / "generators.pt").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("scheme", [None, "mnist-3x3", "mnist-4x4"],
                         ids=["selection", "shipped 3x3 scheme", "shipped 4x4 scheme"])
def test_state_files_are_byte_identical_across_workers_and_order(tmp_path, scheme):
    config = tiny_config(**(shipped_grid_scheme(scheme) if scheme else {}))
    one = checkpoints(tmp_path / "one", config, workers=1)
    two = checkpoints(tmp_path / "two", config, workers=2)
    backwards = checkpoints(tmp_path / "reverse", config, workers=1, order="reverse")

    states = [k for k in one if k.endswith("state.pt")]
    assert len(states) == 2 * config.rows * config.cols  # 2 generations x every cell
    assert one.keys() == two.keys() == backwards.keys()
    for key in one:
        assert one[key] == two[key], f"{key} differs between 1 and 2 workers"
        assert one[key] == backwards[key], f"{key} differs when cells run in reverse order"
    assert result(tmp_path / "one") == result(tmp_path / "two") == result(tmp_path / "reverse")


def test_a_different_seed_gives_different_checkpoints(tmp_path):
    a = checkpoints(tmp_path / "a", tiny_config(), workers=1)
    b = checkpoints(tmp_path / "b", tiny_config(**{"general.seed": 4}), workers=1)
    assert a["2/cell/0/state.pt"] != b["2/cell/0/state.pt"]


def test_always_replacement_keeps_every_trained_copy(tmp_path):
    config = tiny_config(**{"trainer.generations": 4, "trainer.params.replacement": "always"})
    store = LocalStore(tmp_path)
    run = Run.create(store, config, run_id="always")
    run_local(run, workers=1)
    for generation, cells in run.all_metrics().items():
        for cell, metrics in cells.items():
            assert metrics.generators[0].origin == (cell, generation)
            assert metrics.discriminators[0].origin == (cell, generation)


def test_a_single_cell_trains_the_same_bytes_with_selection_or_without(tmp_path):
    """A 1x1 grid is a plain GAN either way, so its results stand for both settings (bench/quality_mnist.py)."""
    single = {"grid.rows": 1, "trainer.params.tournament_size": 1}
    with_selection = checkpoints(tmp_path / "with", tiny_config(**single), workers=1)
    without = checkpoints(tmp_path / "without", tiny_config(**single, **{"trainer.params.enable_selection": False}),
                          workers=1)
    assert with_selection.keys() == without.keys() and len(with_selection) == 4  # 2 generations x 2 files
    assert with_selection == without
