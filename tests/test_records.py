"""The run's records as models (lpz.records): stores written before still read, and what is written has
the keys and bytes it always had; the last complete generation has one definition."""
import json
from pathlib import Path

import pytest

from lpz.config import validate
from lpz.records import ControlRecord, InvalidRecord, MixtureResult, RunInfo, checked
from lpz.runs import Run
from lpz.runs.progress import last_complete
from lpz.store import LocalStore
from tests.helpers import tiny

ROOT = Path(__file__).resolve().parents[1]
KEPT = sorted(ROOT.glob("bench/results/*/*-seed*/runs/*"))


def as_stored(value) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()  # lpz.store.base.Store.put_json


@pytest.mark.parametrize("run_dir", KEPT[:4], ids=lambda p: p.name)
def test_records_kept_from_earlier_sessions_read_and_write_back_the_same_bytes(run_dir):
    for name, model in (("run.json", RunInfo), ("mixture/mixture.json", MixtureResult)):
        raw = json.loads((run_dir / name).read_text())
        assert as_stored(checked(model, raw).to_json()) == as_stored(raw), name


def test_a_record_is_written_with_the_fields_set_and_read_back_equal(tmp_path):
    record = ControlRecord(state="cancelled", at="2026-12-06T10:00:00+00:00")
    assert record.to_json() == {"state": "cancelled", "at": "2026-12-06T10:00:00+00:00"}
    assert checked(ControlRecord, record.to_json()) == record
    with pytest.raises(InvalidRecord, match="state"):
        checked(ControlRecord, {"state": "paused"})


def test_a_run_json_reads_as_its_model(tmp_path):
    run = Run.create(LocalStore(tmp_path), validate(tiny()), run_id="r")
    info = Run.open(run.store, "r").info
    assert isinstance(info, RunInfo) and info.id == "r" and info.grid.cells == 4 and info.executor == "local"
    assert validate(info.config) == run.config


def test_a_control_record_is_none_a_model_or_a_damaged_one_that_says_how_to_clear_it(tmp_path):
    run = Run.create(LocalStore(tmp_path), validate(tiny()), run_id="r")
    assert run.control() is None
    run.set_control("failed", error="boom", generation=1, cell=2, worker="w")
    assert (run.control().state, run.control().cell, run.control().worker) == ("failed", 2, "w")
    run.store.put("runs/r/control.json", b"{not json")
    assert run.control().state == "failed" and "lpz run --resume r" in run.control().error


def test_the_last_complete_generation():
    committed = {1: {0, 1}, 2: {0, 1}, 3: {0}, 4: {0, 1}}
    assert last_complete(lambda g: committed.get(g, ()), 2) == 2
    assert last_complete(lambda g: committed.get(g, ()), 3) == 0
    assert last_complete(lambda g: committed.get(g, ()), 2, after=3) == 4
    assert last_complete(lambda g: {0, 1}, 2, last=7) == 7
