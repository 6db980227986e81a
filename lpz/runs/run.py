"""A run as it lives in the store (docs/design.md section 3; the keys are in lpz.runs.keys).

A Run reads and writes its records and checkpoints, and checks everything it reads: the store is
untrusted (docs/design.md section 4). Each concern is a class of its own module, and Run is all of them:

    lpz.runs.base            its id and run.json (RunInfo): config, grid, keys, creation
    lpz.runs.progress        what is committed; the last complete generation
    lpz.runs.control         control.json (cancelled, failed) and the active list
    lpz.runs.checkpoints     a cell-generation's commit marker and checkpoints; pruning
    lpz.runs.metrics_cache   every committed metrics.json, read once
    lpz.runs.result          the result (mixture/): the run is finished
    lpz.runs.ensembles       ensembles built from the finished run
    lpz.runs.mixtures        what the result and the ensembles share: mixtures written and read checked

Reading a run's records imports no torch (`lpz status` and `lpz list` answer at once); reading or
writing checkpoints does.
"""
from __future__ import annotations

from lpz.runs.base import MAX_PICTURE_BYTES, MAX_RECORD_BYTES, DamagedRun, check_run_id, new_run_id
from lpz.runs.checkpoints import DamagedCheckpoint
from lpz.runs.control import Control
from lpz.runs.ensembles import Ensembles, check_ensemble_name
from lpz.runs.metrics_cache import MetricsCache
from lpz.runs.mixtures import DamagedResult
from lpz.runs.result import Result

__all__ = ["MAX_PICTURE_BYTES", "MAX_RECORD_BYTES", "DamagedCheckpoint", "DamagedResult", "DamagedRun", "Run",
           "check_ensemble_name", "check_run_id", "new_run_id"]


class Run(Result, Ensembles, MetricsCache, Control):
    """A run in the store: Run.create(store, config) makes one, Run.open(store, id) reads one."""
