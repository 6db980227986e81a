"""The `lpz` command line."""
from __future__ import annotations

import errno
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.segment import Segment
from rich.table import Table

from lpz.cli.data import data_app
from lpz.cli.scorer import scorer_app
from lpz.config import load_config
from lpz.errors import UserError
from lpz.views.printable import guard_logging, printable
from lpz.store import open_store, store_url

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Spatially distributed coevolutionary GAN training (Lipizzaner), on one machine or a cluster.")


class _Terminal(Console):
    """A console that shows the control characters of what it prints as escapes (lpz.views.printable): a run's
    records, a worker's refusal, an error quoting them never reach the terminal as escape sequences. Rich's
    own styles and cursor moves are its control segments and styles, untouched. (Tables escape their
    cells' text before, with printable, so that their columns are laid out on what is shown.)"""

    def render(self, renderable, options=None):
        for segment in super().render(renderable, options):
            if segment.control is None and (shown := printable(segment.text)) != segment.text:
                segment = Segment(shown, segment.style)
            yield segment


console = _Terminal(soft_wrap=True)
err = _Terminal(stderr=True, soft_wrap=True)

TENSORBOARD_HELP = "Also write TensorBoard event files under DIR/ID/ (needs the tensorboard package)."
STORE_HELP = "Store URL: file:///path, a plain path, or s3://bucket (default: LPZ_STORE, else ./lpz-store)"


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more: every cell as it commits."),
         quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results.")):
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    guard_logging()  # what a log line quotes from the store is escaped and bounded
    if not verbose:  # its retries are ours to report, in one line
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def _store_of(config: Path, cfg, store: Optional[str]) -> str:
    """--store, else LPZ_STORE, else the config's general.store, else ./lpz-store. The operator's choice is
    trusted; a config's is not (it may come from anyone): it may name an s3:// store (its credentials come
    from the environment) or a folder inside the working directory, never a place elsewhere on this machine."""
    import os
    url = store_url(store, cfg.general.store)
    configured = cfg.general.store
    if store or os.environ.get("LPZ_STORE") or not configured or "://" in configured and \
            not configured.startswith("file://"):
        return url
    here = os.path.realpath(os.getcwd())
    where = os.path.realpath(os.path.expanduser(configured.removeprefix("file://")))
    if os.path.commonpath([here, where]) != here:
        raise UserError(f"{config}: general.store names a folder outside the working directory {here}; a config "
                        f"may only name one inside it or an s3:// store: to write elsewhere, pass --store or set "
                        f"LPZ_STORE")
    return url


def _workers_that_fit(cfg, wanted: int) -> int:
    """As many worker processes as wanted, or as fit in this machine's memory (lpz.config.footprint); a
    config of which not even one cell fits is refused before anything is created."""
    from lpz.config.models import beyond_this_machine
    at_once = cfg.cells_per_process
    if why := beyond_this_machine(cfg, at_once):
        raise UserError(f"this config does not fit this machine: {why}")
    fitting = wanted
    while fitting > 1 and beyond_this_machine(cfg, fitting * at_once):
        fitting -= 1
    if fitting < wanted:
        err.print(f"{wanted} worker processes would not fit in this machine's memory: using {fitting}", highlight=False)
    return fitting


def _open_run(run_id: str, store: Optional[str]):
    from lpz.runs import Run, check_run_id
    check_run_id(run_id)
    return Run.open(open_store(store_url(store)), run_id)


# ------------------------------------------------------------------ run

def _load_run_config(config: Path, generations: int | None, seed: int | None):
    overrides = {}
    if generations:
        overrides["trainer.generations"] = generations
    if seed is not None:
        overrides["general.seed"] = seed
    cfg = load_config(config, overrides)
    return cfg if cfg.name else cfg.model_copy(update={"name": config.stem})


@app.command()
def run(config: Optional[Path] = typer.Argument(None, help="YAML config, e.g. configs/quickstart.yml"),
        store: Optional[str] = typer.Option(None, help=STORE_HELP),
        workers: Optional[int] = typer.Option(None, min=1, help="Processes training cells (default: one per core, at most one per cell)."),
        generations: Optional[int] = typer.Option(None, min=1, help="Override trainer.generations."),
        seed: Optional[int] = typer.Option(None, min=0, help="Override general.seed."),
        resume: Optional[str] = typer.Option(None, help="Continue run ID from its last complete generation."),
        tensorboard: Optional[Path] = typer.Option(None, help=TENSORBOARD_HELP)):
    """Train a run on this machine: no Redis, no S3, a process pool over the cells."""
    if resume and config:
        raise UserError("give either CONFIG (a new run) or --resume ID, not both")
    if resume and (generations or seed is not None):
        raise UserError("--generations and --seed belong to a new run; a resumed run keeps its own")
    cfg = _load_run_config(config, generations, seed) if config else None  # bad configs fail before torch loads
    from lpz.engine.local import Interrupted, Terminated, default_workers, run_local
    from lpz.runs import Run

    if resume:
        the_run = _open_run(resume, store)
        n_workers = _workers_that_fit(the_run.config, workers or default_workers(the_run.config))
    elif cfg:
        from lpz.data.sync import require_available
        the_store = open_store(_store_of(config, cfg, store))
        the_store.check()
        require_available(cfg.dataloader, the_store)
        n_workers = _workers_that_fit(cfg, workers or default_workers(cfg))
        the_run = Run.create(the_store, cfg, config_file=str(config))
    else:
        raise UserError("give a config file (lpz run configs/quickstart.yml) or --resume ID")

    grid, total_gens = the_run.grid, the_run.generations
    console.print(f"run [bold]{the_run.id}[/] in {the_run.store.url}: {grid.rows}x{grid.cols} grid, "
                  f"{total_gens} generations, {n_workers} worker process{'es' if n_workers > 1 else ''}")
    done = sum(len(c) for g, c in the_run.committed_cells().items() if g <= total_gens)
    start = time.perf_counter()
    best_score = None

    progress = Progress(TextColumn("[bold]gen {task.fields[gen]}/{task.fields[gens]}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("cells  best score {task.fields[score]}"),
                        TimeElapsedColumn(), console=console, transient=False)

    board = _tensorboard(tensorboard, the_run)

    from lpz.views.console import fmt

    def on_cell(generation, cell, metrics):
        nonlocal best_score
        if board:
            board.cell(generation, cell, metrics)
            if sum(g == generation for g, _ in board.written) == grid.size:
                board.generation_done(generation)
        if metrics.score is not None and (best_score is None or metrics.score < best_score):
            best_score = metrics.score
        progress.update(task, advance=1, gen=generation, score=fmt(best_score))
        logging.getLogger("lpz").info("generation %d cell %d committed, score %s", generation, cell,
                                      fmt(metrics.score))

    def on_stop():
        progress.console.print("[yellow]stopping: letting the cells in flight commit "
                               "(Ctrl-C again to abort them)[/]")

    with progress:
        task = progress.add_task("train", total=grid.size * total_gens, completed=done,
                                 gen=the_run.last_complete_generation(), gens=total_gens, score="-")
        try:
            result = run_local(the_run, n_workers, on_cell=on_cell, on_stop_requested=on_stop)
        except Interrupted as stopped:
            progress.stop()
            err.print(f"[yellow]{stopped}[/]")
            raise typer.Exit(130)
        except KeyboardInterrupt as abort:  # a second Ctrl-C, or SIGTERM (Terminated)
            progress.stop()
            terminated = isinstance(abort, Terminated)
            err.print(f"[yellow]{'terminated' if terminated else 'aborted'}; the cells in flight will be "
                      f"recomputed. Resume with: lpz run --resume {the_run.id}[/]")
            raise typer.Exit(143 if terminated else 130)
        finally:
            if board:
                board.close()
    seconds = time.perf_counter() - start
    _print_result(the_run, result, seconds)


def _tensorboard(folder: Path | None, the_run):
    if folder is None:
        return None
    from lpz.views.tensorboard import TensorBoardExport
    board = TensorBoardExport(folder, the_run.id)
    board.catch_up(the_run)
    console.print(f"TensorBoard: tensorboard --logdir {folder}", highlight=False)
    return board


def _print_result(the_run, result, seconds: float) -> None:
    from lpz.views.console import mixture_summary
    where = the_run.store.url.removeprefix("file://") + f"/runs/{the_run.id}/"
    console.print(f"[green]done[/] in {seconds:.0f} s: {mixture_summary(result)}")
    console.print(f"results: {where}")
    console.print(f"next:    lpz sample {the_run.id}" + _store_flag(the_run))


def _store_flag(the_run) -> str:
    import os
    from lpz.store import DEFAULT_STORE
    url = the_run.store.url
    if os.environ.get("LPZ_STORE") or url == open_store(DEFAULT_STORE).url:
        return ""
    return f" --store {url}"


# ------------------------------------------------------------------ status

ENDED = ("finished", "failed", "cancelled", "damaged")


@app.command()
def status(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
           store: Optional[str] = typer.Option(None, help=STORE_HELP),
           json_output: bool = typer.Option(False, "--json", help="Print the status as JSON."),
           watch: bool = typer.Option(False, "--watch", "-w", help="Refresh in place until the run ends."),
           interval: float = typer.Option(2.0, min=0.2, help="Seconds between refreshes with --watch.")):
    """Where a run is and how good it is: generation reached, score history, best cell, workers."""
    import json
    from lpz.views.console import render
    from lpz.views.status import json_ready

    the_run = _open_run(run_id, store)
    run_status = _status_reader(the_run)
    if json_output:
        print(json.dumps(json_ready(run_status().to_json()), indent=1))
        return
    if not watch:
        console.print(render(run_status()))
        return
    from rich.live import Live
    info = run_status()
    with Live(render(info), console=console, refresh_per_second=4) as live:
        try:
            while info.state not in ENDED:
                time.sleep(interval)
                info = run_status()
                live.update(render(info))
        except KeyboardInterrupt:
            pass


def _status_reader(the_run):
    """A function that reads the run's status from the store; for a cluster run in progress also, from
    the broker when it answers, why workers refused its tasks (the broker is looked up only then)."""
    from lpz.views.status import run_status
    broker = {}

    def read():
        info = run_status(the_run)
        if the_run.executor == "cluster" and info.state in ("running", "stalled"):
            try:
                from lpz.engine.broker import redis_client
                from lpz.engine.cluster import refusals
                broker.setdefault("client", redis_client(timeout=3))
                info = info.model_copy(update={"refused": refusals(broker["client"], the_run.id)})
            except Exception:  # the broker does not answer from here: the store's view is all there is
                pass
        return info

    return read


def _follow(the_run, interval: float = 1.0, board=None):
    """A progress bar until the run ends; returns its last status. Workers that refuse the run are named."""
    from lpz.views.console import fmt
    run_status = _status_reader(the_run)
    warned: set[str] = set()

    cells, total_gens = the_run.grid.size, the_run.generations
    progress = Progress(TextColumn("[bold]gen {task.fields[gen]}/{task.fields[gens]}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("cells  best score {task.fields[score]}"),
                        TimeElapsedColumn(), console=console)
    info = run_status()
    with progress:
        task = progress.add_task("run", total=cells * total_gens, gen=0, gens=total_gens, score="-")
        while True:
            done = sum(row.cells_done for row in info.history)
            best = min((row.best_score for row in info.history if row.best_score is not None), default=None)
            progress.update(task, completed=done, gen=info.generation, score=fmt(best))
            if board:
                board.catch_up(the_run)
            if info.state in ENDED:
                return info
            for refusal in info.refused:
                if refusal.worker not in warned:
                    warned.add(refusal.worker)
                    progress.console.print(f"[red]worker {escape(printable(refusal.worker))} refuses this "
                                           f"run:[/] {escape(printable(refusal.reason))}")
            time.sleep(interval)
            info = run_status()


# ------------------------------------------------------------------ the cluster

@app.command()
def submit(config: Path = typer.Argument(..., help="YAML config, e.g. configs/celeba.yml"),
           store: Optional[str] = typer.Option(None, help=STORE_HELP + "; workers must reach it (use s3://)"),
           generations: Optional[int] = typer.Option(None, min=1, help="Override trainer.generations."),
           seed: Optional[int] = typer.Option(None, min=0, help="Override general.seed."),
           wait: bool = typer.Option(False, "--wait", help="Show progress until the run ends."),
           tensorboard: Optional[Path] = typer.Option(None, help=TENSORBOARD_HELP + " Implies --wait."),
           workers_have_data: bool = typer.Option(
               False, "--workers-have-data",
               help="Skip the check that the dataset is here or pushed to the store: every worker has it.")):
    """Send a run to the Celery workers (`celery -A lpz worker -Q gpu`) and print its id."""
    cfg = _load_run_config(config, generations, seed)  # bad configs fail before torch loads
    if cfg.fused:
        raise UserError(f"{config}: general.fused_cells trains all cells in one process, which only `lpz run` "
                        f"does; train it with `lpz run`, or set general.fused_cells: false to submit it")
    from lpz.celery import app as celery_app
    from lpz.data.sync import require_available
    from lpz.engine.broker import check_broker
    from lpz.engine.cluster import Cluster
    from lpz.runs import Run

    the_store = open_store(_store_of(config, cfg, store))
    check_broker()
    the_store.check()
    if not workers_have_data:
        require_available(cfg.dataloader, the_store, for_workers=True)
    the_run = Run.create(the_store, cfg, config_file=str(config), executor="cluster")
    try:
        Cluster(celery_app).submit(the_run)
    except BaseException:
        the_store.delete(the_run.key("run.json"))  # nothing half-created is left behind
        raise
    console.print(the_run.id, highlight=False)
    if wait or tensorboard:
        board = _tensorboard(tensorboard, the_run)
        try:
            _end_of_wait(the_run, _follow(the_run, board=board))
        finally:
            if board:
                board.close()


def _end_of_wait(the_run, info) -> None:
    from lpz.views.console import state_line
    console.print(state_line(info))
    if info.state == "failed":
        raise typer.Exit(1)


@app.command()
def cancel(run_id: str = typer.Argument(..., metavar="ID"), store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """Stop a cluster run: no new cell tasks start (those running finish their cell)."""
    from lpz.engine import control
    console.print(control.cancel(_open_run(run_id, store)))


@app.command()
def resume(run_id: str = typer.Argument(..., metavar="ID"), store: Optional[str] = typer.Option(None, help=STORE_HELP),
           wait: bool = typer.Option(False, "--wait", help="Show progress until the run ends.")):
    """Send a stalled, cancelled or failed cluster run again, from its last complete generation."""
    from lpz.engine import control
    the_run = _open_run(run_id, store)
    from lpz.celery import app as celery_app  # the broker is an edge: loaded only to use it
    console.print(control.resume(the_run, celery_app))
    if wait:
        _end_of_wait(the_run, _follow(the_run))


@app.command("assemble")
def assemble_run(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
                 store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """Build a run's result (its final mixture) again from its last generation, on this machine:
    for a result that is damaged, or one that a lost worker never wrote."""
    from lpz.engine import engine

    the_run = _open_run(run_id, store)
    complete = the_run.last_complete_generation()
    if complete < the_run.generations:
        raise UserError(f"run {run_id} has completed {complete} of {the_run.generations} generations; "
                        f"its result is assembled after the last (lpz run --resume / lpz resume {run_id})")
    the_run.store.check()
    the_run.unfinish()
    start = time.perf_counter()
    result = engine.finish(the_run)
    _print_result(the_run, result, time.perf_counter() - start)


# ------------------------------------------------------------------ sample

ENSEMBLE_HELP = "Draw from an ensemble built with `lpz ensemble` instead of the run's own mixture."


@app.command()
def sample(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
           n: int = typer.Option(1000, "-n", min=1, max=1_000_000, help="How many samples."),
           out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder (default: samples/ID)."),
           seed: int = typer.Option(0, min=0, help="Which draw: the same seed gives the same samples."),
           ensemble: Optional[str] = typer.Option(None, "--ensemble", metavar="NAME", help=ENSEMBLE_HELP),
           store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """Draw N samples from a finished run's mixture: a PNG (scatter plot or image grid) and an .npy."""
    from lpz.views import sampling

    the_run = _open_run(run_id, store)
    samples = sampling.draw(the_run, n, seed, ensemble)
    default_out = Path("samples") / (the_run.id if ensemble is None else f"{the_run.id}-{ensemble}")
    written = sampling.write(the_run, samples, out or default_out)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def report(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
           out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output folder (default: reports/ID)."),
           heatmap_generations: Optional[str] = typer.Option(
               None, "--heatmap-generations", help="Generations of the grid's heat map, e.g. 1,10,20 "
                                                   "(default: the first, middle and last)."),
           store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """A self-contained HTML report of a run, finished or not: scores, grid, learning rates, samples, timings."""
    from lpz.views.report import parse_generations, write_report

    chosen = parse_generations(heatmap_generations)
    the_run = _open_run(run_id, store)
    console.print(f"wrote {write_report(the_run, out or Path('reports') / the_run.id, chosen)}")


@app.command()
def score(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
          n: int = typer.Option(10_000, "-n", min=10, max=1_000_000, help="Samples to score."),
          seed: int = typer.Option(0, min=0, help="Which draw of samples."),
          inception_weights: Optional[Path] = typer.Option(None, help="FID Inception weights file (RGB data)."),
          ensemble: Optional[str] = typer.Option(None, "--ensemble", metavar="NAME", help=ENSEMBLE_HELP),
          store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """Score a finished run's mixture on N samples: FID, and TVD where defined (MNIST-like data)."""
    from lpz.views import sampling
    from lpz.scoring import scorer_for
    from lpz.views.console import details
    from lpz.engine.work import run_dataset

    the_run = _open_run(run_id, store)
    samples = sampling.draw(the_run, n, seed, ensemble)
    # RGB data: the Inception the run was scored with (score.inception), unless a weights file is given.
    random_init = inception_weights is None and the_run.config.score.inception == "random-init"
    scorer = scorer_for(run_dataset(the_run), inception_weights=inception_weights, random_inception=random_init)
    fid = scorer.score(samples)
    # Toy coverage is defined on 2,500 samples; draw() shuffled them, so a prefix is a fair draw.
    extra = details(scorer.extra(samples[:scorer.extra_samples or n]) if scorer.extra else {})
    console.print(f"FID {fid:.4g} on {n:,} samples ({scorer.name} features)" + (f"; {extra}" if extra else ""),
                  highlight=False)


# ------------------------------------------------------------------ ensemble

@app.command()
def ensemble(run_id: str = typer.Argument(..., metavar="ID", help="Run id (see lpz list)."),
             method: str = typer.Option("greedy-iterative", "--method", "-m",
                                        help="greedy-iterative, greedy-random, ga-reo or ga-nreo."),
             max_size: int = typer.Option(5, "--max-size", min=1, max=10, help="At most this many generators."),
             name: Optional[str] = typer.Option(None, "--name", help="What to call it (default: the method)."),
             samples: int = typer.Option(5000, "--samples", min=100, max=100_000,
                                         help="Samples per generator the search scores weightings on."),
             replace: bool = typer.Option(False, "--replace", help="Build again over an ensemble of that name."),
             store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """Build an ensemble from all generators of a finished run's last generation (greedy or genetic
    search), score it as the run's own mixture is scored, and keep it beside that mixture."""
    from lpz.engine.ensembles import build, check_request
    from lpz.views.console import details

    the_run = _open_run(run_id, store)
    name = name or method
    check_request(the_run, method, name, replace)
    with Progress(TextColumn("{task.description}"), TextColumn("{task.completed} weightings scored"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(f"{method} over {the_run.grid.size} cells' generators")
        record = build(the_run, method, name, max_size, samples, replace, progress=lambda: bar.advance(task))
    own = the_run.read_result()
    table = Table(box=None)
    for column in ("mixture", "generators", "score", "more"):
        table.add_column(column, no_wrap=True)
    table.add_row("the run's own", str(len(own.weights)), _number(own.score), details(own.details))
    table.add_row(f"ensemble {name}", str(len(record.weights)), _number(record.score), details(record.details))
    console.print(table)
    members = ", ".join(f"cell {m.cell}: {w:.2f}" for m, w in zip(record.members, record.weights))
    console.print(f"members: {members}", highlight=False)
    console.print(f"search:  {record.search.evaluations:,} weightings scored on {samples:,} samples per "
                  f"generator in {record.search.seconds:.0f} s", highlight=False)
    console.print(f"next:    lpz sample {the_run.id} --ensemble {name}" + _store_flag(the_run))


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


# ------------------------------------------------------------------ list

@app.command("list")
def list_runs(store: Optional[str] = typer.Option(None, help=STORE_HELP)):
    """The runs in the store, with where each stands (`lpz status ID` says more)."""
    from lpz.engine import engine
    from lpz.runs import Run, keys

    the_store = open_store(store_url(store))
    ids = keys.run_ids(the_store.list("runs/"))
    if not ids:
        console.print(f"no runs in {the_store.url}")
        return
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=max(map(len, ids)))  # ids are copied: never cut them
    for column in ("created", "grid", "generations", "state"):
        table.add_column(column, no_wrap=True)
    for run_id in ids:
        try:
            r = Run.open(the_store, run_id)
            state = engine.standing(r, check_result=False).state
            table.add_row(run_id, r.info.created[:16].replace("T", " "), f"{r.grid.rows}x{r.grid.cols}",
                          f"{r.last_complete_generation()}/{r.generations}", state)
        except UserError:  # its run.json is damaged
            table.add_row(run_id, "-", "-", "-", "damaged")
    console.print(table)


# ------------------------------------------------------------------ dashboard

@app.command()
def dashboard(store: Optional[str] = typer.Option(None, help=STORE_HELP),
              host: str = typer.Option("127.0.0.1", help="Address to listen on; other than loopback it needs a token."),
              port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
              allow_actions: bool = typer.Option(False, "--allow-actions",
                                                 help="Allow cancel and resume, with the token printed in the URL."),
              allowed_host: Optional[list[str]] = typer.Option(
                  None, "--allowed-host", metavar="NAME",
                  help="A host name the dashboard also answers to (repeatable): the name in the URL you open when it "
                       "is not localhost, 127.0.0.1 or [::1]. Requests naming any other host are refused (DNS "
                       "rebinding); off loopback, giving names restricts the answered hosts to them.")):
    """A live web dashboard of the runs in the store (read-only unless --allow-actions)."""
    the_store = open_store(store_url(store))
    from lpz.dashboard.serve import serve  # the web stack loads only here
    serve(the_store, host, port, allow_actions, allowed_host or (),
          say=lambda line: console.print(line, highlight=False, soft_wrap=True))


app.add_typer(data_app, name="data")
app.add_typer(scorer_app, name="scorer")


# ------------------------------------------------------------------ entry point

# Typer may vendor its own click: find its exception classes through a public one.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


CANNOT_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _cannot_write(error: OSError) -> str:
    where = error.filename or "a file"
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free some space there, or choose another folder (--out, --store, LPZ_DATA_DIR)"
    else:
        fix = "choose a folder you may write (--out, --store, LPZ_DATA_DIR) or fix its permissions"
    return f"cannot use {where}: {error.strerror.lower()}; {fix}"


def entry() -> None:
    """Console script: user errors become one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UserError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except _UsageError as e:
        if type(e).__name__.startswith("NoArgsIsHelp"):
            console.print(e.ctx.get_help() if e.ctx else "lpz --help", highlight=False)
            sys.exit(0)
        command = e.ctx.command_path if e.ctx else "lpz"
        err.print(f"[red]error:[/] {escape(e.format_message())} (see {command} --help)", highlight=False,
                  soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except OSError as e:
        if e.errno not in CANNOT_WRITE:
            raise
        err.print(f"[red]error:[/] {escape(_cannot_write(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
