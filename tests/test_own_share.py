"""trainer.params.own_share: without selection, the chance that a batch's opponent is the cell's own
partner rather than one of the neighbours' frozen networks (docs/grid-scaling.md)."""
import pytest
import torch

from lpz.algorithm.cell import pick_opponent
from tests.helpers import tiny_config
from tests.test_determinism import checkpoints

NEIGHBOURS, PARTNER = ["up", "down", "left", "right"], ["own"]


def partner_share(own_share, draws=4000) -> float:
    choice = torch.Generator().manual_seed(0)
    picks = [pick_opponent(NEIGHBOURS + PARTNER, 1, own_share, choice) for _ in range(draws)]
    return picks.count("own") / draws


@pytest.mark.unit
@pytest.mark.parametrize("own_share, expected", [(None, 0.2), (1 / 3, 1 / 3), (0.8, 0.8), (0.0, 0.0)])
def test_the_own_partner_is_drawn_with_its_share(own_share, expected):
    assert partner_share(own_share) == pytest.approx(expected, abs=0.025)


@pytest.mark.unit
def test_the_neighbours_are_drawn_alike_for_the_rest():
    choice = torch.Generator().manual_seed(0)
    picks = [pick_opponent(NEIGHBOURS + PARTNER, 1, 0.5, choice) for _ in range(4000)]
    for neighbour in NEIGHBOURS:
        assert picks.count(neighbour) / 4000 == pytest.approx(0.5 / 4, abs=0.025)


@pytest.mark.unit
def test_a_share_equal_to_the_uniform_draws_draws_the_same_opponents():
    uniform, shared = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    opponents = NEIGHBOURS[:2] + PARTNER  # a 2x2 grid's neighbourhood: the own partner's share is 1/3
    assert ([pick_opponent(opponents, 1, None, uniform) for _ in range(200)]
            == [pick_opponent(opponents, 1, 1 / 3, shared) for _ in range(200)])


def test_on_a_2x2_grid_own_share_one_third_trains_the_same_bytes_as_the_uniform_draw(tmp_path):
    """So the shipped 2x2 MNIST results stand for configs/mnist.yml with or without the setting."""
    without = {"trainer.params.enable_selection": False}
    uniform = checkpoints(tmp_path / "uniform", tiny_config(**without), workers=1)
    third = checkpoints(tmp_path / "third", tiny_config(**without, **{"trainer.params.own_share": 1 / 3}),
                        workers=1)
    assert uniform.keys() == third.keys() and len(uniform) == 2 * 4 * 2  # generations x cells x files
    assert uniform == third


def test_on_a_3x3_grid_own_share_changes_what_a_cell_trains(tmp_path):
    without = {"grid.rows": 3, "trainer.params.enable_selection": False, "trainer.generations": 1}
    uniform = checkpoints(tmp_path / "uniform", tiny_config(**without), workers=1)
    third = checkpoints(tmp_path / "third", tiny_config(**without, **{"trainer.params.own_share": 1 / 3}),
                        workers=1)
    assert uniform.keys() == third.keys()
    assert all(uniform[key] != third[key] for key in uniform if key.endswith("state.pt"))


def test_with_selection_own_share_changes_nothing(tmp_path):
    """A config that sets it (the shipped MNIST ones) turns the papers' selection on with one switch."""
    selection = {"grid.rows": 3, "trainer.generations": 1, "trainer.params.population_size": 2}  # 2 opponents
    plain = checkpoints(tmp_path / "plain", tiny_config(**selection), workers=1)
    shared = checkpoints(tmp_path / "shared", tiny_config(**selection, **{"trainer.params.own_share": 0.9}), workers=1)
    assert plain.keys() == shared.keys() and len(plain) == 9 * 2
    assert plain == shared
