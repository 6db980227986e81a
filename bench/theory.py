"""Theory experiments: coevolution on the 1-D Gaussian-mixture game, spatial grid vs one panmictic population.

Re-runs the experiments of Al-Dujaili et al. 2018, "Towards distributed coevolutionary GANs" (old code:
ALFA-group/lipizzaner-gan, theoretical_experiments/), on lpz/theory.py: every algorithm (spatial,
panmictic) x population size x mutation scale x start (random generators, or every generator collapsed
onto the target mode at +2), several seeds each, every run with the same budget of payoff evaluations.
See docs/theory.md.

    python bench/theory.py                  # the full grid, 720 runs: about a minute on 2 cores
    python bench/theory.py --seeds 2 --sizes 4 --sigmas 1 --evaluations 2000 --out /tmp/theory

Writes into --out (docs/ by default) theory_runs.csv (one row per run), theory_trace.csv (per setting,
the best generator's tvd against evaluations spent: median and quartiles over seeds), theory_summary.csv
(one row per setting) and theory.png, and prints the summary as a Markdown table.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from math import isqrt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lpz.theory import TARGET, Settings, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALGORITHMS = ("panmictic", "spatial")
STARTS = {"random": None, "collapsed": (TARGET[1], TARGET[1])}
SUCCESS = 0.05   # a run succeeds when its generator ends within this total variation of the target
COLOURS = {"panmictic": "tab:orange", "spatial": "tab:blue"}
DASHES = ("-", "--")


def one_run(job) -> tuple[dict, list[dict]]:
    """A run as CSV rows: the run's row and its trace rows."""
    key, settings, seed, checkpoints = job
    result = run(settings, seed, checkpoints)
    row = {**key, "seed": seed, "generations": result["generations"], "evaluations": result["evaluations"],
           "tvd": result["tvd"], "mean_error": result["mean_error"], "collapsed": int(result["collapsed"]),
           "escaped_at": np.inf if result["escaped_at"] is None else result["escaped_at"],
           "population_tvd": result["population_tvd"], "population_collapsed": result["population_collapsed"],
           "m1": result["means"][0], "m2": result["means"][1]}
    trace = [{**key, "seed": seed, "evaluations": spent, "tvd": value} for spent, value in result["trace"]]
    return row, trace


def summarise(rows: list[dict]) -> dict:
    tvds = np.array([r["tvd"] for r in rows])
    return {"runs": len(rows), "generations": rows[0]["generations"],
            "tvd_median": np.median(tvds), "tvd_q25": np.quantile(tvds, 0.25), "tvd_q75": np.quantile(tvds, 0.75),
            "success": np.mean(tvds < SUCCESS), "collapsed": np.mean([r["collapsed"] for r in rows]),
            "escaped_at_median": np.quantile([r["escaped_at"] for r in rows], 0.5, method="inverted_cdf"),
            "mean_error_median": np.median([r["mean_error"] for r in rows]),
            "population_tvd_median": np.median([r["population_tvd"] for r in rows])}


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)


def table(summary: list[dict]) -> str:
    lines = ["| start | algorithm | size | sigma | generations | median tvd (IQR) | tvd < 0.05 | collapsed |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['start']} | {s['algorithm']} | {s['size']} | {s['sigma']:g} | {s['generations']} | "
                     f"{s['tvd_median']:.3f} ({s['tvd_q25']:.3f}-{s['tvd_q75']:.3f}) | "
                     f"{s['success']:.0%} | {s['collapsed']:.0%} |")
    return "\n".join(lines)


def curves(trace: list[dict], settings: list[dict]) -> list[dict]:
    """The median and quartiles over seeds of the best generator's tvd at each checkpoint, per setting."""
    rows = []
    for key in settings:
        points = [t for t in trace if all(t[k] == v for k, v in key.items())]
        for spent in sorted({t["evaluations"] for t in points}):
            q25, median, q75 = np.quantile([t["tvd"] for t in points if t["evaluations"] == spent], [0.25, 0.5, 0.75])
            rows.append({**key, "evaluations": spent, "tvd_median": median, "tvd_q25": q25, "tvd_q75": q75})
    return rows


def plot_curves(ax, curve_rows: list[dict], lines: list[tuple[dict, str]]) -> None:
    """One median line and IQR band per (setting, dash); the colour is the algorithm's."""
    for key, dash in lines:
        points = [c for c in curve_rows if all(c[k] == v for k, v in key.items())]
        if not points:
            continue
        spent = [c["evaluations"] for c in points]
        colour = COLOURS[key["algorithm"]]
        ax.plot(spent, [c["tvd_median"] for c in points], color=colour, ls=dash,
                label=f"{key['algorithm']}, {key['start']} start")
        ax.fill_between(spent, [c["tvd_q25"] for c in points], [c["tvd_q75"] for c in points], color=colour, alpha=0.12)
    ax.legend(fontsize=8)


def bars(ax, rows: list[dict], start: str, column: str) -> None:
    """Median (IQR as error bars) of a run column per size, one bar per algorithm and sigma; quantiles are
    observed values, so that runs at inf (never escaped) count without breaking the arithmetic."""
    sizes = sorted({r["size"] for r in rows})
    sigmas = sorted({r["sigma"] for r in rows})
    width = 0.8 / (len(ALGORITHMS) * len(sigmas))
    for i, (algorithm, sigma) in enumerate(itertools.product(ALGORITHMS, sigmas)):
        groups = {n: [r[column] for r in rows if (r["algorithm"], r["start"], r["sigma"], r["size"]) ==
                      (algorithm, start, sigma, n)] for n in sizes}
        groups = {n: np.quantile(v, [0.25, 0.5, 0.75], method="inverted_cdf") for n, v in groups.items() if v}
        ax.bar([sizes.index(n) - 0.4 + (i + 0.5) * width for n in groups], [q[1] for q in groups.values()], width,
               yerr=[[q[1] - q[0] for q in groups.values()], [q[2] - q[1] for q in groups.values()]],
               error_kw={"lw": 0.8}, color=COLOURS[algorithm],
               alpha=0.3 + 0.7 * (sigmas.index(sigma) + 1) / len(sigmas), label=f"{algorithm}, sigma {sigma:g}")
    ax.set_xticks(range(len(sizes)), [f"{n} ({isqrt(n)}x{isqrt(n)} grid)" for n in sizes])
    ax.set(yscale="log", xlabel="individuals per side")
    ax.legend(fontsize=7, ncol=2)


def plot(path: Path, curve_rows: list[dict], rows: list[dict], size: int, sigma: float) -> None:
    """Top: one size and sigma on the way, and the collapsed starts' escape; bottom: the final tvds."""
    starts = [start for start in STARTS if any(r["start"] == start for r in rows)]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True)
    plot_curves(axes[0, 0], curve_rows, [({"algorithm": a, "start": start, "size": size, "sigma": sigma}, DASHES[i])
                                      for i, start in enumerate(starts) for a in ALGORITHMS])
    axes[0, 0].set(yscale="log", xlabel="payoff evaluations", ylabel="total variation to target (median, IQR)",
                   title=f"the best generator on the way: size {size}, sigma {sigma:g}")
    if "collapsed" in starts:
        bars(axes[0, 1], rows, "collapsed", "escaped_at")
        axes[0, 1].set(ylabel="payoff evaluations (median, IQR)",
                       title="collapsed start: evaluations to leave the mode for good")
    for ax, start in zip(axes[1], starts):
        bars(ax, rows, start, "tvd")
        ax.set(ylabel="final total variation (median, IQR)", title=f"{start} start: after the whole budget")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", default="4,9,16", help="individuals per side: square numbers (the grid)")
    parser.add_argument("--sigmas", default="0.5,1,3", help="mutation scales")
    parser.add_argument("--starts", default=",".join(STARTS), help="of " + ", ".join(STARTS))
    parser.add_argument("--evaluations", type=int, default=50_000, help="payoff evaluations per run")
    parser.add_argument("--checkpoints", type=int, default=20, help="points of each run's trace")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    sigmas = [float(x) for x in args.sigmas.split(",")]
    settings = [{"start": start, "algorithm": algorithm, "size": size, "sigma": sigma} for start, algorithm, size, sigma
                in itertools.product(args.starts.split(","), ALGORITHMS, sizes, sigmas)]
    jobs = [(key, Settings(algorithm=key["algorithm"], size=key["size"], sigma=key["sigma"],
                           evaluations=args.evaluations, start=STARTS[key["start"]]), seed, args.checkpoints)
            for key in settings for seed in range(args.seeds)]

    began = time.perf_counter()
    pool = ProcessPoolExecutor(args.workers) if args.workers > 1 else None
    results = pool.map(one_run, jobs, chunksize=4) if pool else map(one_run, jobs)
    rows, trace, summary = [], [], []
    for i, key in enumerate(settings, 1):
        group = [next(results) for _ in range(args.seeds)]
        rows += [row for row, _ in group]
        trace += [point for _, points in group for point in points]
        summary.append({**key, **summarise([row for row, _ in group])})
        print(f"[{i}/{len(settings)}] {' '.join(f'{k} {v}' for k, v in key.items())}: "
              f"median tvd {summary[-1]['tvd_median']:.3f}, {time.perf_counter() - began:.0f} s", flush=True)
    if pool:
        pool.shutdown()
    seconds = time.perf_counter() - began

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "theory_runs.csv", rows)
    curve_rows = curves(trace, settings)
    write_csv(args.out / "theory_trace.csv", curve_rows)
    write_csv(args.out / "theory_summary.csv", summary)
    plot(args.out / "theory.png", curve_rows, rows, sizes[len(sizes) // 2], sigmas[len(sigmas) // 2])
    print(table(summary))
    print(f"{len(jobs)} runs of {args.evaluations} evaluations in {seconds:.0f} s; wrote theory_runs.csv, "
          f"theory_trace.csv, theory_summary.csv and theory.png to {args.out}")


if __name__ == "__main__":
    main()
