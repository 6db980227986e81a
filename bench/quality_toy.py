"""Quality on the 2-D Gaussian mixtures: a grid's mixture against one GAN of the same budget.

For each problem and seed, train the grid (2x2 on the 8-mode ring, 3x3 on the
25-mode grid) and a plain GAN (a 1x1 grid: with the default `replacement: always`
it keeps every trained copy), each also with elitist replacement (a trained copy
enters only when fitter), all with the same generations and batches per
generation, i.e. the same number of gradient steps per cell; report modes covered
and the high-quality fraction of each final mixture (2,500 samples).

    python bench/quality_toy.py                       # both problems, all four, 10 seeds
    python bench/quality_toy.py --problem gaussian8 --seeds 3 --variants grid,1x1
    python bench/quality_toy.py --problem quickstart --variants grid   # configs/quickstart.yml, 10 seeds

Writes bench/out/quality_toy.json and prints a Markdown table (docs/benchmarks.md's) and the machine;
for the quickstart also how many seeds reach the README's 7 of 8 modes and 75% high-quality samples.
Not a test: all of it takes about an hour on 2 cores (under a minute per 1x1 seed, 1-3 minutes per grid seed).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from lpz.config import load_config
from lpz.devices import platform
from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = {"gaussian8": ROOT / "configs" / "gaussian8.yml", "gaussian25": ROOT / "configs" / "gaussian25.yml",
            "quickstart": ROOT / "configs" / "quickstart.yml"}
QUICKSTART_BAR = (7, 0.75)  # the README's promise: at least 7 of 8 modes and 75% high-quality samples


SINGLE = {"grid.rows": 1, "grid.cols": 1, "trainer.params.tournament_size": 1}
ELITIST = {"trainer.params.replacement": "elitist"}
VARIANTS = {"grid": {}, "1x1": SINGLE, "grid-elitist": ELITIST, "1x1-elitist": {**SINGLE, **ELITIST}}


def train(config_file: Path, seed: int, variant: str, workers: int, overrides: dict) -> dict:
    config = load_config(config_file, {"general.seed": seed, **overrides, **VARIANTS[variant]})
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(root)
        run = Run.create(store, config)
        start = time.perf_counter()
        result = run_local(run, workers=workers)
        seconds = time.perf_counter() - start
    return {"seed": seed, "seconds": seconds, "score": result.score, **result.details}


def summarise(rows: list[dict]) -> dict:
    modes = [r["modes_covered"] for r in rows]
    quality = [r["high_quality"] for r in rows]
    return {"modes_mean": statistics.fmean(modes), "modes_std": statistics.pstdev(modes),
            "high_quality_mean": statistics.fmean(quality), "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=[*PROBLEMS, "both"], default="both")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="which to train, of grid (the config's grid), 1x1 (a plain GAN), grid-elitist and 1x1-elitist")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality_toy.json")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of every run, e.g. trainer.params.mixture_sigma=0.05")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}

    problems = ["gaussian8", "gaussian25"] if args.problem == "both" else [args.problem]
    print(f"machine: {platform('cpu')}, {os.cpu_count()} cores", flush=True)
    results = {}
    for problem in problems:
        config = load_config(PROBLEMS[problem])
        grid = f"{config.rows}x{config.cols}"
        labels = {"grid": grid, "1x1": "1x1-plain-GAN", "grid-elitist": f"{grid}-elitist", "1x1-elitist": "1x1-elitist"}
        for variant in args.variants.split(","):
            label, rows = labels[variant], []
            for seed in range(args.seeds):
                rows.append(train(PROBLEMS[problem], seed, variant, args.workers, overrides))
                r = rows[-1]
                print(f"{problem} {label} seed {seed}: {r['modes_covered']}/{r['modes']} modes, "
                      f"{100 * r['high_quality']:.0f}% high-quality, {r['seconds']:.0f} s", flush=True)
            results[f"{problem} {label}"] = summarise(rows)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    steps = {p: (lambda c: c.trainer.generations * c.dataloader.n_batches)(load_config(PROBLEMS[p])) for p in problems}
    print(f"\n| problem | grid | modes covered (mean ± std over {args.seeds} seeds) | high-quality samples |")
    print("|---|---|---|---|")
    for key, summary in results.items():
        problem, grid = key.split()
        modes = summary["runs"][0]["modes"]
        print(f"| {problem} ({steps[problem]} steps per cell) | {grid} | "
              f"{summary['modes_mean']:.1f} ± {summary['modes_std']:.1f} of {modes} | "
              f"{100 * summary['high_quality_mean']:.0f}% |")
    if "quickstart" in problems:
        modes, quality = QUICKSTART_BAR
        for key, summary in results.items():
            met = sum(r["modes_covered"] >= modes and r["high_quality"] >= quality for r in summary["runs"])
            print(f"{key}: {met} of {len(summary['runs'])} seeds reach {modes}/8 modes and "
                  f"{100 * quality:.0f}% high-quality")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
