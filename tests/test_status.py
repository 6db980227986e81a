"""`lpz status` (human, --json, --watch) on finished, half-done and failed runs."""
import json

from lpz.config import validate
from lpz.engine.local import run_local
from lpz.engine.leases import Lease, cell_lease
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.views.console import details
from lpz.engine.work import compute_cell
from tests.helpers import lpz, tiny


def status_json(run_id, store) -> dict:
    return json.loads(lpz("status", run_id, "--store", store, "--json").stdout)


def test_status_of_a_finished_run(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny(**{"trainer.generations": 3})), run_id="done")
    run_local(run, workers=1)
    info = status_json("done", tmp_path)
    assert info["state"] == "finished" and info["generation"] == 3
    assert [c["state"] for c in info["cells"]] == ["done"] * 4
    assert all(c["generation"] == 3 and c["score"] is not None and c["lr_generator"] > 0 for c in info["cells"])
    assert info["timing"]["seconds_per_generation"] > 0 and info["timing"]["seconds_left"] is None
    assert len(info["best"]["trend"]) == 3 and info["best"]["score"] == min(info["best"]["trend"])
    assert info["mixture"]["best_cell"] in range(4)
    # Mode counts are counts: a cell's as the mixture's (issue 25 item 6: "0.0/8.0 modes" beside "7/8 modes").
    assert all(type(row["best_details"][key]) is int for row in info["history"] for key in ("modes", "modes_covered"))

    shown = lpz("status", "done", "--store", tmp_path).stdout
    assert "finished: 3/3 generations" in shown and "cell 3 done" in shown and "trend" in shown
    assert "/8 modes" in shown and "/8.0 modes" not in shown
    watched = lpz("status", "done", "--store", tmp_path, "--watch", timeout=60)  # ends with the run
    assert "cell 0 done" in watched.stdout


def test_counts_kept_as_floats_by_an_older_store_show_as_counts():
    assert details({"modes_covered": 7.0, "modes": 8.0, "high_quality": 0.74}) == "7/8 modes, 74% high-quality"
    assert details({"modes_covered": 7, "modes": 8, "high_quality": 0.5, "tvd": 0.25}) == \
        "7/8 modes, 50% high-quality, TVD 0.250"


def test_status_of_a_run_half_way_through_a_generation(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="half")
    for cell in (0, 1):
        compute_cell(run, 0, cell)
    with Lease(run, cell_lease(run, 1, 2), task="t-1", period=30):
        info = status_json("half", tmp_path)
        shown = lpz("status", "half", "--store", tmp_path).stdout
    assert info["state"] == "running" and info["generation"] == 0 and info["next_generation_cells_done"] == 2
    assert [(c["state"], c["worker"]) for c in info["cells"]] == [
        ("done", None), ("done", None), ("running", info["cells"][2]["worker"]), ("waiting", None)]
    assert info["cells"][2]["worker"] and info["cells"][3]["score"] is None
    assert "running: 0/2 generations complete, 2/4 cells of the next" in shown
    assert "cell 2 running on" in shown and "cell 3 waiting" in shown


def test_status_of_a_failed_run(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="broken")
    compute_cell(run, 0, 0)
    run.set_control("failed", error="UserError: mnist: train-images-idx3-ubyte(.gz) not found", generation=1,
                    cell=3, worker="gpu-7")
    info = status_json("broken", tmp_path)
    assert info["state"] == "failed" and info["control"]["error"].startswith("UserError")
    assert info["cells"][3]["state"] == "failed" and info["cells"][3]["worker"] == "gpu-7"
    shown = lpz("status", "broken", "--store", tmp_path).stdout
    assert "failed at generation 1 cell 3 on gpu-7: UserError: mnist" in shown and "lpz resume broken" in shown


def test_a_watcher_sees_new_commits_without_rereading_old_ones(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="watched")
    for cell in (0, 1):
        compute_cell(run, 0, cell)
    watcher = Run.open(store, "watched")
    assert {g: sorted(c) for g, c in watcher.all_metrics().items()} == {1: [0, 1]}
    for cell in (2, 3):
        compute_cell(run, 0, cell)
    compute_cell(run, 1, 0)
    (tmp_path / "runs/watched/gen/1/cell/0/metrics.json").unlink()  # read once already: not read again
    assert {g: sorted(c) for g, c in watcher.all_metrics().items()} == {1: [0, 1, 2, 3], 2: [0]}


# Terminal escapes a store may hold: a clipboard write (OSC 52), a window title, a screen clear, hidden
# text, a bidi override, a C1 control; and Rich markup, which must show as written.
HOSTILE = ("\x1b]52;c;SGVsbG8=\x07\x1b]0;title\x07\x1b[2J\x1b[8mhidden\u202e\x9b"
           "[red]red[/][link=https://evil.example]x[/link]")
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


def test_status_and_list_show_a_hostile_store_s_text_escaped_and_without_markup(tmp_path):
    store = LocalStore(tmp_path)
    run = Run.create(store, validate(tiny()), run_id="hostile")
    run.set_control("failed", error="boom " + HOSTILE, generation=1, cell=2, worker="gpu\x1b]0;owned\x07[red]")

    shown = lpz("status", "hostile", "--store", tmp_path).stdout
    listed = lpz("list", "--store", tmp_path).stdout
    for output in (shown, listed):
        assert not any(raw in output for raw in RAW), repr(output)
    assert ("failed at generation 1 cell 2 on gpu\\x1b]0;owned\\x07[red]: boom \\x1b]52;c;SGVsbG8=\\x07\\x1b]0;"
            "title\\x07\\x1b[2J\\x1b[8mhidden\\u202e\\x9b[red]red[/][link=https://evil.example]x[/link]") in shown
    assert "cell 2 failed on gpu\\x1b]0;owned\\x07[red]" in shown  # the grid's table, laid out on what is shown
    assert "hostile" in listed and "failed" in listed

    as_json = status_json("hostile", tmp_path)  # JSON escapes them itself, and keeps them as they are
    assert as_json["control"]["error"] == "boom " + HOSTILE
    assert as_json["control"]["worker"] == "gpu\x1b]0;owned\x07[red]"
    assert not any(raw in lpz("status", "hostile", "--store", tmp_path, "--json").stdout for raw in RAW)
