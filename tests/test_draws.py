"""A cell's seeded data draws (lpz.algorithm.draws): its share of the data and its mini-batches.

Training reaches these only through whole runs; these pin them in-process (and give mutmut, which
sees only in-process tests, something to kill their mutants with)."""
from types import SimpleNamespace

import torch

from lpz.algorithm.draws import batch_indices, cell_share, tournament
from lpz.seeding import generator


def config(batch_size=10, n_batches=0, sampling_ratio=1.0, seed=3):
    return SimpleNamespace(general=SimpleNamespace(seed=seed),
                           dataloader=SimpleNamespace(batch_size=batch_size, n_batches=n_batches,
                                                      sampling_ratio=sampling_ratio))


def test_a_full_share_is_all_the_data_in_order():
    assert cell_share(config(), 0, 37).tolist() == list(range(37))


def test_a_partial_share_is_a_sorted_seeded_subset_of_its_own():
    share = cell_share(config(sampling_ratio=0.25), 2, 100)
    assert len(share) == 25 and share.tolist() == sorted(set(share.tolist()))
    assert 0 <= min(share.tolist()) and max(share.tolist()) < 100
    assert share.tolist() != list(range(25))  # a random subset, not the first quarter
    assert share.tolist() == cell_share(config(sampling_ratio=0.25), 2, 100).tolist()
    assert share.tolist() != cell_share(config(sampling_ratio=0.25), 3, 100).tolist()
    assert share.tolist() != cell_share(config(sampling_ratio=0.25, seed=4), 2, 100).tolist()


def test_a_share_never_holds_less_than_one_batch():
    assert len(cell_share(config(batch_size=10, sampling_ratio=0.01), 0, 100)) == 10
    assert len(cell_share(config(batch_size=10, sampling_ratio=0.99), 0, 100)) == 99


def test_a_whole_epoch_is_one_shuffle_of_the_share():
    batches = list(batch_indices(config(batch_size=10), 1, 4, 100))
    assert [len(b) for b in batches] == [10] * 10
    joined = torch.cat(batches).tolist()
    assert sorted(joined) == list(range(100)) and joined != list(range(100))


def test_an_epoch_leaves_out_the_last_partial_batch():
    batches = list(batch_indices(config(batch_size=10), 0, 0, 25))
    assert [len(b) for b in batches] == [10, 10]
    assert len(set(torch.cat(batches).tolist())) == 20


def test_a_share_smaller_than_a_batch_still_gives_one_full_batch():
    batches = list(batch_indices(config(batch_size=10), 0, 0, 3))
    assert [len(b) for b in batches] == [10]
    values = batches[0].tolist()
    assert sorted(values[:3]) == sorted(values[3:6]) == sorted(values[6:9]) == [0, 1, 2]


def test_n_batches_runs_on_across_epochs_one_shuffle_at_a_time():
    batches = list(batch_indices(config(batch_size=10, n_batches=7), 0, 0, 25))
    assert [len(b) for b in batches] == [10] * 7
    joined = torch.cat(batches).tolist()
    assert sorted(joined[:25]) == sorted(joined[25:50]) == list(range(25))
    assert joined[:25] != joined[25:50]


def test_batches_come_from_the_cells_share_only():
    c = config(batch_size=10, sampling_ratio=0.3)
    share = set(cell_share(c, 5, 100).tolist())
    batches = list(batch_indices(c, 5, 0, 100))
    assert len(batches) == 3 and set(torch.cat(batches).tolist()) == share


def test_batches_are_seeded_by_run_cell_and_generation():
    def draw(seed=3, cell=0, generation=0):
        return [b.tolist() for b in batch_indices(config(seed=seed), cell, generation, 50)]
    assert draw() == draw()
    assert draw() != draw(generation=1)
    assert draw() != draw(cell=1)
    assert draw() != draw(seed=4)


def test_tournament_breaks_a_tie_by_the_lower_index():
    assert tournament([0.5, 0.5, 0.5], 3, 20, generator(0, "t")) == [0] * 20


def test_a_seeds_draws_stay_the_same_from_version_to_version():
    """The seed streams are named ("subset", "batches"): renaming one changes every run's data order,
    so a run resumed by a newer lpz would train on other batches than it began with."""
    assert cell_share(config(sampling_ratio=0.1), 2, 100).tolist() == [13, 22, 32, 36, 38, 39, 42, 50, 82, 99]
    assert next(batch_indices(config(batch_size=8), 1, 5, 100)).tolist() == [70, 61, 30, 20, 72, 99, 87, 76]
