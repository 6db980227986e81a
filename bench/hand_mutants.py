"""Hand mutants: one deliberate bug at a time, in a scratch clone, and the test that must fail on it.

    python bench/hand_mutants.py            # every mutant (about 8 minutes on 2 loaded cores)
    python bench/hand_mutants.py 4 8a       # only those whose label starts so

Each mutant of issue 26 is an exact text replacement in one file of lpz. The script clones the
repository's committed HEAD into a temporary folder (the working tree is never touched), then for each
mutant runs its killing test there clean (it must pass), applies the replacement, runs the test again
(it must fail), and restores the file. The clone's lpz is imported through PYTHONPATH, subprocesses
and Celery workers included. The cluster mutants (8a, 8b) need the suite's services: run
`. .services/env` first (infra/services.sh start). A replacement whose text is no longer in its file
(the code moved) is reported as "stale": update its text here. Not a test: see docs/testing.md.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# label, file, text, replaced by, the test that must fail
CANCELLED_CHECK = '''        return {"refused": True}
    if control := run.control():
        return {"skipped": control.state}
    generation, cell'''
MUTANTS = [
    ("1", "lpz/runs/checkpoints.py", "        if recorded != sha256(data):",
     "        if False and recorded != sha256(data):",
     "tests/test_trust.py::test_flipped_bytes_in_a_local_checkpoint_are_detected_and_recomputed_to_the_same_bytes"),
    ("2", "lpz/engine/work.py", "        run.uncommit(generation, cell)\n        return None\n",
     "        return CellMetrics.model_construct(generation=generation, cell=cell)\n",
     "tests/test_trust.py::test_a_committed_cell_generation_whose_marker_is_garbage_is_recomputed_not_taken_as_"
     "committed"),
    ("3", "lpz/config/files.py", "MAX_VALUES = 10_000 ", "MAX_VALUES = 10_000_000 ",
     "tests/test_config.py::test_the_values_after_alias_expansion_are_bounded_at_ten_thousand"),
    ("4", "lpz/dashboard/serve.py", "token_for_reads=not loopback,", "token_for_reads=not loopback and allow_actions,",
     "tests/test_dashboard_hosts.py::test_a_read_only_dashboard_off_loopback_serves_nothing_without_the_token"),
    ("5", "lpz/algorithm/cell.py", 'always = p.replacement == "always"', "always = True",
     "tests/test_evolution.py::test_elitist_replacement_in_the_cell_step_keeps_a_local_individual_fitter_than_its_"
     "trained_copy"),
    ("6a", "lpz/data/sync.py", "if len(data) != entry.size or sha256(data) != entry.sha256:",
     "if len(data) != entry.size:",
     "tests/test_datasync.py::test_a_pushed_file_damaged_without_changing_its_size_is_refused"),
    ("6b", "lpz/data/sync.py", "if target.is_file() and target.stat().st_size == entry.size and \\\n"
                               "                sha256(target.read_bytes()) == entry.sha256:",
     "if target.is_file() and target.stat().st_size == entry.size:",
     "tests/test_datasync.py::test_a_local_copy_damaged_without_changing_its_size_is_pulled_again"),
    ("7", "lpz/views/sampling.py", "mixture.sample(generators, weights, z)",
     "mixture.sample(generators, [1.0] * len(weights), z)",
     "tests/test_cli_run.py::test_lpz_sample_draws_from_each_generator_by_its_mixture_weight"),
    ("8a", "lpz/tasks/cells.py", CANCELLED_CHECK, CANCELLED_CHECK.replace(
        '    if control := run.control():\n        return {"skipped": control.state}\n', ""),
     "tests/test_cluster.py::test_work_queued_for_a_cancelled_run_is_dropped_by_the_worker"),
    ("8b", "lpz/tasks/cells.py", CANCELLED_CHECK, CANCELLED_CHECK.replace(
        '    if control := run.control():\n        return {"skipped": control.state}\n', ""),
     "tests/test_cluster.py::test_cancel_then_resume"),
    ("9", "lpz/data/toy.py", "from lpz.seeding import generator\n",
     "from lpz.seeding import generator\nfrom lpz.algorithm.draws import tournament\n",
     "tests/test_layout.py::test_layers_import_only_what_lies_below_them"),
]


def pytest(clone: Path, test: str) -> tuple[int, str]:
    """The test's exit status and its first assertion line (or last line)."""
    env = {**os.environ, "PYTHONPATH": str(clone)}
    if "LPZ_TEST_MNIST" not in env and (ROOT.parent / "shared" / "data" / "mnist").is_dir():
        env["LPZ_TEST_MNIST"] = str(ROOT.parent / "shared" / "data" / "mnist")  # not beside the clone
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test],
                            cwd=clone, env=env, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines() or [result.stderr.strip()[-200:]]
    return result.returncode, next((line for line in lines if line.startswith("E ")), lines[-1])[:160]


def main(only: list[str]) -> int:
    wrong = 0
    with tempfile.TemporaryDirectory(prefix="lpz-mutants-") as folder:
        clone = Path(folder) / "lpz"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        for label, path, text, mutated, test in MUTANTS:
            if only and not any(label.startswith(o) for o in only):
                continue
            source = (clone / path).read_text()
            if source.count(text) != 1:
                print(f"{label}: stale (the text to replace is not in {path} once)", flush=True)
                wrong += 1
                continue
            clean = pytest(clone, test)
            try:
                (clone / path).write_text(source.replace(text, mutated))
                failed = pytest(clone, test)
            finally:
                (clone / path).write_text(source)
            killed = clean[0] == 0 and failed[0] == 1
            wrong += not killed
            print(f"{label}: {'killed' if killed else 'NOT KILLED'} by {test}\n"
                  f"    clean: exit {clean[0]}; mutated: exit {failed[0]}, {failed[1]}", flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
