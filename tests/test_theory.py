"""The theory experiments (lpz/theory.py, bench/theory.py): the game's exact optimum, and coevolution on it."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lpz import theory
from lpz.theory import TARGET, Settings

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = [(-1.0, 2.5), (2.0, 2.0), (-5.0, 3.0), (0.0, 0.1), (-2.5, 1.0), (3.0, 7.0)]


def numeric_tvd(means, target=TARGET):
    """1/2 the integral of |p - q| on a fine grid."""
    x = np.linspace(-40, 40, 400_001)
    return 0.5 * np.trapezoid(np.abs(theory.density(x, target) - theory.density(x, means)), x)


@pytest.mark.parametrize("means", GENERATORS)
def test_the_optimal_discriminator_is_the_tvd_and_beats_random_interval_sets(means):
    best = theory.optimal_discriminator(means)
    assert 1 <= len(best) <= 2 and np.all(np.diff(best.ravel()) >= 0)
    value = theory.payoff(np.array([means]), best[None])[0, 0]
    assert value == pytest.approx(numeric_tvd(means), abs=1e-7)
    assert value == pytest.approx(theory.tvd(means), abs=1e-12)

    rng = np.random.default_rng(0)
    genomes = np.column_stack([rng.uniform(-8, 8, 5000), rng.exponential(2.0, (5000, 3))])
    others = theory.payoff(np.array([means]), theory.disc_intervals(genomes))[0]
    assert others.max() < value
    assert value - others.max() < 0.05   # the random sets come close: the optimum is not an easy bound


def test_a_generator_at_the_target_has_payoff_zero():
    assert theory.tvd(TARGET) == pytest.approx(0, abs=1e-12)
    genomes = theory.random_discriminators(100, np.random.default_rng(1))
    assert np.abs(theory.payoff(np.array([TARGET]), theory.disc_intervals(genomes))).max() < 1e-12
    assert theory.tvd((TARGET[0] + 0.01, TARGET[1])) > 0


def test_collapse_means_both_means_on_one_target_mode():
    assert theory.collapsed((2.0, 2.5)) and theory.collapsed((-2.2, -1.5))
    assert not theory.collapsed(TARGET) and not theory.collapsed((-9.0, -8.0))
    assert theory.mean_error((1.0, -3.0)) == pytest.approx(1.0)


def test_mutation_keeps_genomes_valid():
    rng = np.random.default_rng(2)
    gens = theory.mutate_generators(theory.random_generators(1000, rng), rng, sigma=5.0, probability=1.0)
    means = theory.gen_means(gens)
    assert np.all(means[:, 0] <= means[:, 1]) and np.all(np.abs(means) <= theory.BOUND + 1e-9)
    discs = theory.mutate_discriminators(theory.random_discriminators(1000, rng), rng, sigma=5.0, probability=1.0)
    assert np.all(np.diff(theory.disc_intervals(discs).reshape(-1, 4), axis=1) >= 0)
    untouched = theory.mutate_generators(gens, rng, sigma=5.0, probability=0.0)
    assert np.array_equal(untouched, gens)


@pytest.mark.parametrize("algorithm", ["panmictic", "spatial"])
def test_a_run_is_a_function_of_its_seed_and_gets_closer_to_the_target(algorithm):
    settings = Settings(algorithm=algorithm, size=4, sigma=1.0, evaluations=8000)
    first, again, other = theory.run(settings, 3), theory.run(settings, 3), theory.run(settings, 4)
    assert first["trace"] == again["trace"] and np.array_equal(first["means"], again["means"])
    assert first["trace"] != other["trace"]
    assert first["generations"] > 10 and first["evaluations"] <= settings.evaluations
    assert first["trace"][0][1] > 0.3 and first["tvd"] < 0.1
    assert first["tvd"] == pytest.approx(theory.tvd(first["means"]))


@pytest.mark.parametrize("algorithm", ["panmictic", "spatial"])
def test_a_collapsed_start_escapes(algorithm):
    settings = Settings(algorithm=algorithm, size=9, evaluations=10_000, start=(2.0, 2.0))
    result = theory.run(settings, 0)
    assert result["trace"][0][1] == pytest.approx(theory.tvd((2.0, 2.0)))   # 0.477: half the mass misplaced
    assert not result["collapsed"] and 0 < result["escaped_at"] <= result["evaluations"]


def test_the_bench_writes_its_csvs_and_figure(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "theory.py"), "--seeds", "2", "--sizes", "4", "--sigmas", "1",
               "--evaluations", "1500", "--checkpoints", "3", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "theory_runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == 2 * 2 * 2   # starts x algorithms x seeds
    assert {r["algorithm"] for r in runs} == {"panmictic", "spatial"} and all(float(r["tvd"]) >= 0 for r in runs)
    with open(tmp_path / "theory_trace.csv") as f:
        assert len(list(csv.DictReader(f))) == 4 * 4   # settings x checkpoints
    with open(tmp_path / "theory_summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "theory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| collapsed | spatial | 4 | 1 |" in done.stdout
