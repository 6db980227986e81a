"""MNIST quality with the papers' settings: FID and TVD per generation of a 1x1 and a 2x2 grid.

Trains configs/neurips2018/mnist-{1x1,2x2}.yml (four-layer perceptrons, bce, batch 100, Adam 0.0002,
population 1, tournament 2, mixture sigma 0.01, one epoch per generation) for a given number of
generations and seeds; the single GAN and each cell of the grid get the same number of gradient steps
per generation. Writes, per grid, seed and generation, the FID and TVD of the best cell's mixture (on
score_sample_size = 1,000 samples, lpz's MNIST classifier) to CSV, a plot of both (mean over seeds) to
PNG, and prints the final mixtures' FID and TVD on 10,000 samples, as mean ± standard deviation over
the seeds; for grids, also those of the same trained grid assembled as the papers' optimised ensemble
(every cell's best generator, weights tuned by the ES). One seed is not enough to compare grids: GAN
training is noisy, and at 20 generations the same config differs by more between seeds than the
grids differ on average.

    python bench/quality_mnist.py --generations 20            # one seed, about 10 minutes on 2 cores
    python bench/quality_mnist.py --generations 20 --seeds 5  # about 50 minutes on 2 cores
    python bench/quality_mnist.py --generations 200 --grids 1x1,2x2,3x3

For reference, the papers report after 200 generations (with their classifier): one GAN FID 38.8,
4x4 grid 37.3, 5x5 grid 34.3, 5x5 with an optimised ensemble 26.3. Not a test.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from lpz.config import load_config
from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore

ROOT = Path(__file__).resolve().parents[1]


def train(grid: str, seed: int, generations: int, workers: int | None, root: Path,
          overrides: dict) -> tuple[list[dict], dict]:
    config = load_config(ROOT / "configs" / "neurips2018" / f"mnist-{grid}.yml",
                         {"trainer.generations": generations, "general.seed": seed, **overrides})
    store = LocalStore(root / f"{grid}-{seed}")
    run = Run.create(store, config)
    start = time.perf_counter()
    result = run_local(run, workers=workers)
    rows = []
    for generation, cells in sorted(run.all_metrics().items()):
        best = min(cells.values(), key=lambda m: m["score"])
        rows.append({"grid": grid, "seed": seed, "generation": generation, "fid": best["score"],
                     "tvd": best["score_details"].get("tvd"), "best_cell": best["cell"]})
    final = {"grid": grid, "seed": seed, "fid": result["score"], "tvd": result["details"].get("tvd"),
             "seconds": time.perf_counter() - start, "run": run.id}
    if run.grid.size > 1:
        final["ensemble"] = ensemble(store, run.id)
    return rows, final


def ensemble(store: LocalStore, run_id: str) -> dict:
    """The same trained grid, assembled as the papers' optimised ensemble: the best generator of every
    cell, weights tuned by the ES (trainer.params.final_mixture: grid, optimize_mixture). It copies what
    the assembly reads (run.json with those settings, the last generation's public states and metrics)
    to a run of its own and assembles that, so the trained run is left as it is."""
    from lpz.engine.assemble import assemble
    from lpz.config import validate

    run = Run.open(store, run_id)
    derived = f"{run_id}-ensemble"
    info = dict(run.info, id=derived)
    params = info["config"]["trainer"]["params"]
    info["config"] = {**info["config"], "trainer": {**info["config"]["trainer"], "params": {
        **params, "final_mixture": "grid", "optimize_mixture": {**params["optimize_mixture"], "enabled": True}}}}
    validate(info["config"])
    store.put_json(f"runs/{derived}/run.json", info)
    last = run.generations
    for cell in run.grid.cells:
        for name in ("public.pt", "metrics.json"):
            store.put(f"runs/{derived}/gen/{last}/cell/{cell}/{name}", store.get(run.cell_key(last, cell, name)))
    result = assemble(store, derived)
    return {"fid": result["score"], "tvd": result["details"].get("tvd"), "kept": result["optimized"]["kept"]}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = len({r["seed"] for r in rows})
    fig, (fid_ax, tvd_ax) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for grid in sorted({r["grid"] for r in rows}):
        gens = sorted({r["generation"] for r in rows if r["grid"] == grid})
        for ax, key in ((fid_ax, "fid"), (tvd_ax, "tvd")):
            values = [[r[key] for r in rows if r["grid"] == grid and r["generation"] == g] for g in gens]
            line, = ax.plot(gens, [statistics.fmean(v) for v in values], label=grid)
            if seeds > 1:
                ax.fill_between(gens, [min(v) for v in values], [max(v) for v in values],
                                color=line.get_color(), alpha=0.15)
    over = f", mean of {seeds} seeds (band: min to max)" if seeds > 1 else ""
    fid_ax.set(yscale="log", xlabel="generation", ylabel="FID (best cell's mixture)", title=f"MNIST FID{over}")
    tvd_ax.set(xlabel="generation", ylabel="TVD of class frequencies", title=f"MNIST TVD{over}")
    for ax in (fid_ax, tvd_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--grids", default="1x1,2x2")
    parser.add_argument("--seeds", type=int, default=1, help="train each grid with N seeds")
    parser.add_argument("--first-seed", type=int, default=1, help="the seeds are FIRST..FIRST+N-1")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of every run, e.g. trainer.params.enable_selection=true")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}

    args.out.mkdir(parents=True, exist_ok=True)
    rows, finals = [], []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        for grid in args.grids.split(","):
            for seed in seeds:
                grid_rows, final = train(grid, seed, args.generations, args.workers, Path(tmp), overrides)
                rows += grid_rows
                finals.append(final)
                print(f"{grid} seed {seed}: FID {final['fid']:.2f}, TVD {final['tvd']:.3f} after "
                      f"{args.generations} generations ({final['seconds'] / 60:.1f} min)", flush=True)
                if "ensemble" in final:
                    e = final["ensemble"]
                    print(f"{grid} seed {seed} optimised ensemble: FID {e['fid']:.2f}, TVD {e['tvd']:.3f}",
                          flush=True)
    stem = ("quality_mnist" + (f"-{args.seeds}seeds" if args.seeds > 1 else "")
            + "".join(f"-{k.split('.')[-1]}={v}" for k, v in overrides.items()))
    csv_path, png_path = args.out / f"{stem}.csv", args.out / f"{stem}.png"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, png_path)
    print("\n| grid | FID (10,000 samples) | TVD | per seed (FID / TVD) | minutes per seed |")
    print("|---|---|---|---|---|")
    for grid in args.grids.split(","):
        mine = [f for f in finals if f["grid"] == grid]
        minutes = statistics.fmean(f["seconds"] for f in mine) / 60
        print(f"| {grid} | {spread([f['fid'] for f in mine], '.1f')} | {spread([f['tvd'] for f in mine], '.3f')} "
              f"| {per_seed(mine)} | {minutes:.1f} |")
        ensembles = [f["ensemble"] for f in mine if "ensemble" in f]
        if ensembles:
            print(f"| {grid}, optimised ensemble of all cells | {spread([e['fid'] for e in ensembles], '.1f')} "
                  f"| {spread([e['tvd'] for e in ensembles], '.3f')} | {per_seed(ensembles)} | |")
    print(f"\n{args.generations} generations, seeds {seeds[0]}..{seeds[-1]}; wrote {csv_path} and {png_path}")


def spread(values: list[float], fmt: str) -> str:
    """mean ± standard deviation, or the one value."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def per_seed(results: list[dict]) -> str:
    return ", ".join(f"{r['fid']:.0f} / {r['tvd']:.2f}" for r in results)


if __name__ == "__main__":
    main()
