"""trainer.params.lr_decay: every learning rate falls linearly over the run, from the full rate in the
first generation to lr_decay times it in the last; without it, no schedule."""
import pytest

from lpz.algorithm.cell import lr_factor
from lpz.engine.local import run_local
from lpz.engine.work import read_state
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import tiny_config


@pytest.mark.unit
def test_the_schedule_falls_linearly_from_the_full_rate_to_lr_decay_at_the_last_generation():
    config = tiny_config(**{"trainer.generations": 5, "trainer.params.lr_decay": 0.2})
    assert [lr_factor(config, g) for g in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert {lr_factor(tiny_config(**{"trainer.generations": 5}), g) for g in range(5)} == {1.0}
    assert lr_factor(tiny_config(**{"trainer.generations": 1, "trainer.params.lr_decay": 0.2}), 0) == 1.0


@pytest.mark.parametrize("decay, factor", [(None, 1.0), (0.25, 0.25)])
def test_the_last_generation_steps_each_optimiser_at_the_scheduled_rate(tmp_path, decay, factor):
    run = Run.create(LocalStore(tmp_path), tiny_config(**{"trainer.params.lr_decay": decay}), run_id="decay")
    run_local(run, workers=1)
    last = run.generations
    for cell in run.grid.cells:
        state = read_state(run, last, cell)
        for individual in state.generators + state.discriminators:
            stepped = [group["lr"] for group in individual.adam["param_groups"]]
            assert stepped == [pytest.approx(individual.lr * factor, rel=1e-12)]
