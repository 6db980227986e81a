"""A generator whose training diverged (its weights NaN) makes samples that are not numbers: its mixtures
score infinitely far from the data, the run goes on to its result, and the status says what happened,
where the Frechet distance used to raise and fail the cell's task on every retry."""
from __future__ import annotations

import io
import json
import math

import pytest
import torch

from lpz.config import validate
from lpz.engine.local import run_local
from lpz.engine.work import compute_cell
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.store.base import tensor_bytes
from lpz.views.console import sparkline
from tests.helpers import lpz, tiny
from tests.test_trust import recommit

GENERATIONS = 3


def diverged_run(tmp_path) -> Run:
    """A 2x2 run without selection whose cell 0 generator is NaN from generation 1 on, as a diverged
    training leaves it (committed like any other state: the checkpoint is sound, its numbers are not)."""
    config = tiny(**{"trainer.generations": GENERATIONS, "trainer.params.enable_selection": False})
    run = Run.create(LocalStore(tmp_path / "store"), validate(config), run_id="diverged")
    for cell in run.grid.cells:
        compute_cell(run, 0, cell)
    for name in ("state.pt", "public.pt"):
        state = torch.load(io.BytesIO(run.store.get(run.cell_key(1, 0, name))), weights_only=True)
        for individual in state["generators"]:
            for tensor in individual["weights"].values():
                tensor.fill_(math.nan)
        recommit(run, 1, 0, name, tensor_bytes(state))
    return run


def test_a_diverged_generator_scores_infinitely_far_and_the_run_finishes(tmp_path):
    run = diverged_run(tmp_path)
    result = run_local(run, workers=1)

    assert run.finished()
    assert result.score == math.inf  # without selection the NaN reaches every neighbourhood
    assert run.metrics(2, 3).score < math.inf  # the one neighbourhood without cell 0, a generation on
    assert all(run.metrics(GENERATIONS, cell).score == math.inf for cell in run.grid.cells)

    shown = lpz("status", run.id, "--store", run.store.root).stdout
    assert "warning: the mixtures of cells 0, 1, 2, 3 score infinitely far from the data at generation 3" in shown
    assert "default_adam_learning_rate" in shown
    plain = json.loads(lpz("status", run.id, "--store", run.store.root, "--json").stdout,
                       parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert plain["mixture"]["score"] is None and plain["history"][-1]["best_score"] is None


def test_the_trend_line_draws_an_infinite_score_as_the_worst():
    assert sparkline([3.0, 2.0, 1.0, math.inf]) == "█▅▁█"
    assert sparkline([math.inf, math.nan]) == "██"
    assert sparkline([]) == ""
