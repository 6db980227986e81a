"""Image quality with the papers' settings: FID and TVD of a grid against a plain GAN, over seeds.

MNIST trains configs/neurips2018/mnist-{grid}.yml, Fashion-MNIST configs/fashion-mnist.yml with the grid
set (four-layer perceptrons, bce, batch 100, Adam 0.0002, population 1, no selection, mixture sigma
0.01, one epoch per generation; `--set trainer.params.enable_selection=true` for the old system's
tournaments); the 1x1 grid, which keeps every trained copy (`replacement: always`), is a plain GAN with
the same gradient steps per generation as each cell of the grid, with selection or without.

Runs live in a store of their own (--store, default bench/out/runs) under ids made of the dataset,
grid, seed, generations and overrides: a finished run is picked up instead of trained again, an
interrupted one is continued (as `lpz run --resume` would), so long runs can be trained across
sessions and scored later. Each run keeps its public states every 10 generations (general.keep_every).

Written to --out: per generation, the FID and TVD of the best cell's mixture on score_sample_size
(1,000) samples, as the run measured them (`<stem>-per-generation.csv`); every 10 generations and at
the end, the same mixture scored again on final_sample_size (10,000) samples (`<stem>-every10.csv`);
the final mixtures and, for grids, the papers' optimised ensemble of all cells (`<stem>-final.csv`);
and a plot of the 10,000-sample curves (`<stem>.png`). It prints the table for the README.
--keep-results copies each run's run.json and mixture/ (its final generators and weights, a few MB)
to bench/results/<dataset>-<generations>/<grid>-seed<k>/ (the folder's name ends in -<tag> with --set
overrides: mnist-200-fe06a9 holds the runs with selection), a store `lpz sample` reads, with its
numbers in summary.json there; a later session whose store lacks the run takes its numbers from that file (a
session's machine, and with it the store, does not outlive the session).

    python bench/quality_mnist.py --generations 20                          # one seed, ~10 min on 2 cores
    python bench/quality_mnist.py --generations 200 --seeds 2 --keep-results
    python bench/quality_mnist.py --dataset fashion-mnist --generations 40 --seeds 2
    python bench/quality_mnist.py --generations 200 --grids 1x1,2x2,3x3 --seeds 2 --only-measured  # tables only

For reference, the papers report on MNIST after 200 generations (with their classifier): one GAN
FID 38.8, 4x4 grid 37.3, 5x5 grid 34.3, 5x5 with an optimised ensemble 26.3. Not a test.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpz.config import load_config, resolved, validate  # noqa: E402
from lpz.engine.local import run_local  # noqa: E402
from lpz.runs import Run  # noqa: E402
from lpz.store import LocalStore  # noqa: E402

EVERY = 10


def config_for(dataset: str, grid: str, seed: int, generations: int, overrides: dict):
    rows, cols = map(int, grid.split("x"))
    settings = {"trainer.generations": generations, "general.seed": seed, "general.keep_every": EVERY, **overrides}
    if dataset == "mnist":
        return load_config(ROOT / "configs" / "neurips2018" / f"mnist-{grid}.yml", settings)
    size = {"grid.rows": rows, "grid.cols": cols}
    if rows * cols == 1:
        size["trainer.params.tournament_size"] = 1  # a neighbourhood of one
    return load_config(ROOT / "configs" / f"{dataset}.yml", {**size, **settings})


def tag(overrides: dict) -> str:
    """A short name for a set of overrides ("" for none)."""
    return "-" + hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:6] if overrides else ""


def for_grid(dataset: str, grid: str, overrides: dict) -> dict:
    """The overrides that change a grid's run: not those that set what its config already sets (the
    configs train without selection, so `enable_selection=true` names the papers' runs), nor those that
    train the same bytes (tests/test_determinism.py, tests/test_own_share.py): selection or own_share on a
    1x1 grid, and on a 2x2 an own_share of a third or none (its uniform draw gives the partner a third)."""
    shipped = config_for(dataset, grid, 1, 1, {}).model_dump()

    def value(key: str):
        node = shipped
        for part in key.split("."):
            node = node[part]
        return node

    def same_bytes(key: str, v) -> bool:
        if grid == "1x1":
            return key in ("trainer.params.enable_selection", "trainer.params.own_share")
        return grid == "2x2" and key == "trainer.params.own_share" and {v, value(key)} <= {None, 1 / 3}

    return {key: v for key, v in overrides.items() if v != value(key) and not same_bytes(key, v)}


def run_id(dataset: str, grid: str, seed: int, generations: int, overrides: dict) -> str:
    return f"{dataset}-{grid}-seed{seed}-g{generations}{tag(overrides)}"


def trained(store: LocalStore, config, name: str) -> Run:
    """The run of that name: picked up when finished, continued when interrupted, else trained."""
    if store.exists(f"runs/{name}/run.json"):
        run = Run.open(store, name)
        if run.config.model_dump(mode="json") != config.model_dump(mode="json"):  # defaults added since count as equal
            raise SystemExit(f"run {name} in {store.root} was trained with another config: move it away")
        if run.finished():
            print(f"{name}: finished before, picked up", flush=True)
            return run
        print(f"{name}: continuing from generation {run.last_complete_generation()}", flush=True)
    else:
        run = Run.create(store, config, run_id=name)
    start = time.perf_counter()
    run_local(run)
    print(f"{name}: trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return run


def per_generation(run: Run) -> list[dict]:
    """The best cell's mixture of each generation, as the run scored it (score_sample_size samples)."""
    rows = []
    for generation, cells in sorted(run.all_metrics().items()):
        best = min(cells.values(), key=lambda m: m.score)
        rows.append({"generation": generation, "fid": best.score, "tvd": best.score_details.get("tvd"),
                     "best_cell": best.cell})
    return rows


def scored_again(run: Run, generation: int, cell: int) -> tuple[float, float]:
    """FID and TVD of a cell's mixture at a kept generation, on final_sample_size samples."""
    import torch
    from lpz.algorithm import mixture, nets
    from lpz.seeding import generator
    from lpz.engine.work import read_state, run_dataset
    from lpz.scoring import make_scorer

    config, n = run.config, run.config.score.final_sample_size
    dataset = run_dataset(run)
    scorer = make_scorer(config, dataset, sample_size=n)
    hood = run.grid.neighbourhood(cell)
    weights = read_state(run, generation, cell, public=True).mixture_weights
    members = [nets.loaded(config.network, dataset.shape, read_state(run, generation, c, public=True)
                           .best_generator().weights, "g") for c in hood]
    torch.set_num_threads(config.general.threads)
    z = members[0].latent(n, generator(config.general.seed, "final", "score-noise"))
    samples = mixture.sample(members, weights, z)
    features = scorer.features_of(samples)
    return scorer.distance(features), scorer.details(members, weights, None, features=features)["tvd"]


def every_tenth(run: Run, rows: list[dict]) -> list[dict]:
    best = {r["generation"]: r["best_cell"] for r in rows}
    out = []
    for generation in [g for g in best if g % EVERY == 0 or g == run.generations]:
        fid, tvd = scored_again(run, generation, best[generation])
        out.append({"generation": generation, "fid": fid, "tvd": tvd, "best_cell": best[generation]})
    return out


def ensemble(store: LocalStore, run: Run) -> dict:
    """The same trained grid assembled as the papers' optimised ensemble: the best generator of every
    cell, weights tuned by the ES (final_mixture: grid, optimize_mixture). It copies what the assembly
    reads (run.json with those settings, the last generation's checkpoints and markers: the private
    state holds the sums of trainer.params.final_average) to a run of its own, so the trained run is
    left as it is."""
    from lpz.engine.assemble import assemble

    derived = f"{run.id}-ensemble"
    if not store.exists(f"runs/{derived}/mixture/mixture.json"):
        trainer = run.config.trainer
        params = trainer.params.model_copy(update={
            "final_mixture": "grid", "optimize_mixture": trainer.params.optimize_mixture.model_copy(update={"enabled": True})})
        config = validate(resolved(run.config.model_copy(update={"trainer": trainer.model_copy(update={"params": params})})))
        info = run.info.model_copy(update={"id": derived, "config": resolved(config)})
        store.put_json(f"runs/{derived}/run.json", info.to_json())
        for cell in run.grid.cells:
            for name in ("public.pt", "state.pt", "metrics.json"):
                store.put(f"runs/{derived}/gen/{run.generations}/cell/{cell}/{name}",
                          store.get(run.cell_key(run.generations, cell, name)))
    result = assemble(Run.open(store, derived))
    return {"fid": result.score, "tvd": result.details.get("tvd")}


def measure(store: LocalStore, config, name: str) -> dict:
    """Train (or pick up) a run and measure it: per-generation rows, 10,000-sample rows every 10
    generations, and the FID and TVD of the best neighbourhood's mixture (fid, tvd) and, for grids, of
    the optimised ensemble of all cells (ensemble_fid, ensemble_tvd), whichever of the two the run's
    config makes its result (`shipped`)."""
    from lpz.engine.assemble import best_candidate

    run = trained(store, config, name)
    rows = per_generation(run)
    result = run.read_result()
    params = run.config.trainer.params
    if run.grid.size == 1:
        final = {"fid": result.score, "tvd": result.details.get("tvd"), "shipped": "neighbourhood"}
    elif params.final_mixture == "grid" and params.optimize_mixture.enabled:
        hood = best_candidate(result.cells)  # the assembly judged every neighbourhood on the same samples
        final = {"fid": hood.score, "tvd": hood.details.get("tvd"), "ensemble_fid": result.score,
                 "ensemble_tvd": result.details.get("tvd"), "shipped": "grid"}
    else:
        e = ensemble(store, run)
        final = {"fid": result.score, "tvd": result.details.get("tvd"), "ensemble_fid": e["fid"],
                 "ensemble_tvd": e["tvd"], "shipped": "neighbourhood"}
    return {"per_generation": rows, "every10": every_tenth(run, rows), "final": final}


def keep_result(store: LocalStore, run: Run, kept: Path) -> Path:
    """run.json and mixture/ into <kept>/runs/<id>/: a store `lpz sample` reads."""
    target = kept / "runs" / run.id
    source = Path(store.root) / "runs" / run.id
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "run.json", target / "run.json")
    shutil.copytree(source / "mixture", target / "mixture", dirs_exist_ok=True)
    return target


def plot(rows: list[dict], finals: list[dict], path: Path, dataset: str) -> None:
    """The last generation's mixture every 10 generations, one line per grid, the run's best neighbourhood
    (with trainer.params.final_average, its averaged generators) as a star at the last generation, and the
    ES-tuned mixture of all cells as an open diamond beside it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = len({r["seed"] for r in rows})
    fig, (fid_ax, tvd_ax) = plt.subplots(1, 2, figsize=(10, 4.3), dpi=100)
    for grid in sorted({r["grid"] for r in rows}):
        gens = sorted({r["generation"] for r in rows if r["grid"] == grid})
        n = len({r["seed"] for r in rows if r["grid"] == grid})
        for ax, key in ((fid_ax, "fid"), (tvd_ax, "tvd")):
            values = [[r[key] for r in rows if r["grid"] == grid and r["generation"] == g] for g in gens]
            line, = ax.plot(gens, [statistics.fmean(v) for v in values], label=f"{grid}, {n} seed{'s' * (n > 1)}",
                            marker=".")
            if seeds > 1:
                ax.fill_between(gens, [min(v) for v in values], [max(v) for v in values],
                                color=line.get_color(), alpha=0.15)
            results = [f[key] for f in finals if f["grid"] == grid]
            if results:
                ax.plot([gens[-1]] * len(results), results, marker="*", markersize=12, linestyle="none",
                        color=line.get_color())
            ensembles = [f[f"ensemble_{key}"] for f in finals if f["grid"] == grid and f"ensemble_{key}" in f]
            if ensembles:
                ax.plot([gens[-1] + 4] * len(ensembles), ensembles, marker="D", markersize=6, linestyle="none",
                        color=line.get_color(), markerfacecolor="none")
    over = "mean over seeds (band: min to max) of " if seeds > 1 else ""
    name = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[dataset]
    fig.suptitle(f"{name}: {over}the last generation's mixture every 10 generations;\n"
                 f"at the end the averaged results: star, the best neighbourhood; diamond, all cells ES-tuned",
                 fontsize=10)
    fid_ax.set(yscale="log", xlabel="generation", ylabel="FID, 10,000 samples", title=f"{name} FID")
    tvd_ax.set(xlabel="generation", ylabel="TVD of class frequencies", title=f"{name} TVD")
    for ax in (fid_ax, tvd_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--grids", default="1x1,2x2")
    parser.add_argument("--seeds", type=int, default=1, help="train each grid with N seeds")
    parser.add_argument("--first-seed", type=int, default=1, help="the seeds are FIRST..FIRST+N-1")
    parser.add_argument("--store", type=Path, default=ROOT / "bench" / "out" / "runs",
                        help="where the runs are trained, picked up and continued")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--keep-results", action="store_true",
                        help="copy each run's final mixture to bench/results/<dataset>-<generations>/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of every run, e.g. trainer.params.replacement=elitist")
    parser.add_argument("--only-measured", action="store_true",
                        help="train nothing: report the runs in --store or kept in bench/results, skip the rest")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}

    args.out.mkdir(parents=True, exist_ok=True)
    store = LocalStore(args.store)
    grids = args.grids.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    curves, tenths, finals = [], [], []
    for grid in grids:
        changes = for_grid(args.dataset, grid, overrides)
        for seed in seeds:
            name = run_id(args.dataset, grid, seed, args.generations, changes)
            kept = ROOT / "bench" / "results" / f"{args.dataset}-{args.generations}{tag(changes)}" / f"{grid}-seed{seed}"
            if not store.exists(f"runs/{name}/run.json") and (kept / "summary.json").is_file():
                summary = json.loads((kept / "summary.json").read_text())  # measured in an earlier session
                print(f"{name}: from {kept.relative_to(ROOT)}/summary.json", flush=True)
            elif args.only_measured and not store.exists(f"runs/{name}/mixture/mixture.json"):
                print(f"{name}: not measured yet, left out (--only-measured)", flush=True)
                continue
            else:
                summary = measure(store, config_for(args.dataset, grid, seed, args.generations, changes), name)
            curves += [{"grid": grid, "seed": seed, **r} for r in summary["per_generation"]]
            tenths += [{"grid": grid, "seed": seed, **r} for r in summary["every10"]]
            final = {"grid": grid, "seed": seed, "run": name, **summary["final"]}
            finals.append(final)
            print(f"{grid} seed {seed}: FID {final['fid']:.2f}, TVD {final['tvd']:.3f}"
                  + (f"; optimised ensemble FID {final['ensemble_fid']:.2f}, TVD {final['ensemble_tvd']:.3f}"
                     if "ensemble_fid" in final else ""), flush=True)
            if args.keep_results and store.exists(f"runs/{name}/run.json"):
                target = keep_result(store, Run.open(store, name), kept)
                (kept / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
                print(f"  kept in {target.relative_to(ROOT)} (and its numbers in summary.json)")

    stem = (f"quality_{args.dataset.replace('-', '_')}_{args.generations}g_{args.seeds}seeds"
            + "".join(f"-{k.split('.')[-1]}={v}" for k, v in overrides.items()))
    write_csv(args.out / f"{stem}-per-generation.csv", curves)
    write_csv(args.out / f"{stem}-every{EVERY}.csv", tenths)
    write_csv(args.out / f"{stem}-final.csv", finals)
    plot(tenths, finals, args.out / f"{stem}.png", args.dataset)

    print("\n| grid | FID (10,000 samples) | TVD | per seed (FID / TVD) |")
    print("|---|---|---|---|")
    for grid in grids:
        mine = [f for f in finals if f["grid"] == grid]
        if not mine:
            print(f"| {grid} | not measured | | |")
            continue
        print(f"| {grid} | {spread([f['fid'] for f in mine], '.1f')} | {spread([f['tvd'] for f in mine], '.3f')} "
              f"| {per_seed(mine, 'fid', 'tvd')} |")
        if any("ensemble_fid" in f for f in mine):
            print(f"| {grid}, optimised ensemble of all cells | {spread([f['ensemble_fid'] for f in mine], '.1f')} "
                  f"| {spread([f['ensemble_tvd'] for f in mine], '.3f')} | {per_seed(mine, 'ensemble_fid', 'ensemble_tvd')} |")
    print(f"\n{args.dataset}, {args.generations} generations, seeds {seeds[0]}..{seeds[-1]}; "
          f"wrote {args.out}/{stem}*")


def spread(values: list[float], fmt: str) -> str:
    """mean ± standard deviation, or the one value."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def per_seed(results: list[dict], fid: str, tvd: str) -> str:
    return ", ".join(f"{r[fid]:.0f} / {r[tvd]:.2f}" for r in results)


if __name__ == "__main__":
    main()
