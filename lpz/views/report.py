"""`lpz report ID`: one self-contained HTML page about a run, finished, running, stalled or failed.

    <out>/report.html   inline CSS, every picture inside it as a data: URI; it references nothing outside itself
    <out>/score.png, heatmap.png, lr.png, weights.png, phases.png, samples.png   the pictures it shows,
                        those the run has data for (weights.png once the run has finished)

Everything comes from the store (run.json, the cells' metrics.json and samples.png, mixture.json),
so a report works the same for local and cluster runs, and at any moment of a run.
"""
from __future__ import annotations

import base64
import html
import io
import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from PIL import Image

from lpz import __version__
from lpz.views import report_figures as figures
from lpz.errors import CorruptObject, ObjectMissing, UserError
from lpz.records import MixtureResult
from lpz.runs import Run
from lpz.runs.base import MAX_PICTURE_BYTES
from lpz.views.status import RunStatus, generation_seconds, run_status
from lpz.views.console import details, fmt, state_line

log = logging.getLogger("lpz")
PICTURES = ("score.png", "heatmap.png", "lr.png", "weights.png", "phases.png", "samples.png")
MAX_SAMPLE_PICTURES = 12


class _Snapshot(Run):
    """The run with its metrics read once, so the status and the pictures describe the same moment."""

    @cached_property
    def _snapshot(self) -> figures.Metrics:
        return Run.all_metrics(self)

    def all_metrics(self) -> figures.Metrics:
        return self._snapshot


@dataclass
class RunRecord:
    """What a report shows, read from the store."""
    run: Run
    status: RunStatus
    metrics: figures.Metrics         # generation -> cell -> metrics.json
    samples: dict[int, set[int]]     # generation -> cells that drew a samples.png


def read(run: Run) -> RunRecord:
    snapshot = _Snapshot(run.store, run.id)
    status = run_status(snapshot)
    samples: dict[int, set[int]] = {}
    for key in run.store.list(run.key("gen") + "/"):
        found = run.cell_file(key)
        if found and found[2] == "samples.png":
            samples.setdefault(found[0], set()).add(found[1])
    return RunRecord(snapshot, status, snapshot.all_metrics(), samples)


# ------------------------------------------------------------------ writing

def parse_generations(text: str | None) -> list[int] | None:
    """'1,10,20' -> [1, 10, 20]; None stays None (the default choice)."""
    if text is None:
        return None
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        chosen = []
    if not chosen:
        raise UserError(f"--heatmap-generations {text!r} is malformed: give generation numbers "
                        f"separated by commas, e.g. 1,10,20")
    return chosen


def write_report(run: Run, out: Path, heatmap_generations: list[int] | None = None) -> Path:
    """Write out/report.html and the PNGs it shows; return the page's path."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give -o a folder for the report")
    record = read(run)
    chosen = heatmap_choice(heatmap_generations, record.metrics, run.generations)
    pictures = draw(record, chosen)
    page_path = out / "report.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        if page_path.exists():  # pictures of the earlier report there that this one lacks would mislead
            for name in set(PICTURES) - set(pictures):
                (out / name).unlink(missing_ok=True)
        for name, png in pictures.items():
            (out / name).write_bytes(png)
        page_path.write_text(page(record, pictures, chosen), encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return page_path


def heatmap_choice(requested: list[int] | None, metrics: figures.Metrics, total: int) -> list[int]:
    """The generations the heat map shows: those asked for, else the first, middle and last committed."""
    present = sorted(metrics)
    if requested is None:
        return sorted({present[0], present[len(present) // 2], present[-1]}) if present else []
    for g in requested:
        if not 1 <= g <= total:
            raise UserError(f"--heatmap-generations: generation {g} is outside the run's 1..{total}")
        if g not in metrics:
            reached = f"1..{present[-1]}" if present else "none yet"
            raise UserError(f"--heatmap-generations: generation {g} has no committed cell "
                            f"(generations with one: {reached})")
    return requested


def draw(record: RunRecord, heatmap_generations: list[int]) -> dict[str, bytes]:
    """The PNGs the run has data for, by file name, in the order of the page."""
    run, metrics, final = record.run, record.metrics, record.status.mixture
    if not metrics:
        return {}
    pictures = {}
    if _scored(metrics):
        pictures["score.png"] = figures.scores(metrics, run.grid.size, run.generations, final)
        pictures["heatmap.png"] = figures.heatmaps(metrics, run.grid.rows, run.grid.cols, heatmap_generations)
    pictures["lr.png"] = figures.learning_rates(metrics, run.grid.size)
    if final:
        pictures["weights.png"] = figures.mixture_weights(final)
    pictures["phases.png"] = figures.timings(metrics, generation_seconds(metrics))
    samples = sample_pictures(record)
    if samples:
        pictures["samples.png"] = figures.sample_sheet(samples)
    return pictures


def _scored(metrics: figures.Metrics) -> bool:
    return any(m.score is not None for by_cell in metrics.values() for m in by_cell.values())


def sample_pictures(record: RunRecord) -> list[tuple[str, bytes]]:
    """The best cell's samples.png at each generation that has them (at most MAX_SAMPLE_PICTURES, spread evenly)."""
    best = {row.generation: row.best_cell for row in record.status.history}
    generations = _spread(sorted(record.samples), MAX_SAMPLE_PICTURES)
    pictures = []
    for g in generations:
        cells = record.samples[g]
        cell = best.get(g) if best.get(g) in cells else min(cells)
        caption = f"generation {g}, cell {cell}" + (" (best)" if cell == best.get(g) else "")
        picture = _stored_png(record.run, record.run.cell_key(g, cell, "samples.png"))
        if picture is not None:
            pictures.append((caption, picture))
    return pictures


MAX_PICTURE_SIDE = 4096  # lpz's own pictures are a few hundred pixels wide


def _stored_png(run: Run, key: str) -> bytes | None:
    """A picture from the store, if it is a PNG of sane size (one that is not is left out, with a warning):
    a damaged or hostile file must not stop the report, nor decode into gigabytes."""
    try:
        data = run.store.get(key, max_bytes=MAX_PICTURE_BYTES)
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or max(image.size) > MAX_PICTURE_SIDE:
                raise ValueError(f"not a PNG of at most {MAX_PICTURE_SIDE} pixels a side")
            image.verify()
    except (CorruptObject, ObjectMissing, OSError, ValueError, Image.DecompressionBombError) as e:
        log.warning("run %s: %s left out of the report: %s", run.id, key, e)
        return None
    return data


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def phase_totals(metrics: figures.Metrics) -> dict[str, float]:
    """phase -> seconds summed over every committed cell-generation."""
    return {phase: sum(m.seconds.get(phase, 0.0) for by_cell in metrics.values() for m in by_cell.values())
            for phase in figures.PHASES}


# ------------------------------------------------------------------ the page

def page(record: RunRecord, pictures: dict[str, bytes], heatmap_generations: list[int]) -> str:
    run, status = record.run, record.status
    grid = run.grid
    meta = (f"{status.dataset} · {status.network} · {grid.rows}×{grid.cols} grid ({grid.topology}) · "
            f"{run.generations} generations · seed {run.info.seed} · created {status.created}")
    unscored = ("Scoring is off for this run (score.type: none)." if record.metrics
                else "No generation has been committed yet.")
    sections = [
        _figure_section("scores", "Scores", pictures, "score.png",
                        "The score of each cell's neighbourhood mixture per generation (lower is better); the "
                        "bold line follows the best cell" + (
                            f"; the star is the final mixture, scored on {status.mixture.sample_size} "
                            "samples." if status.mixture else "."),
                        missing=unscored),
        _figure_section("grid", "The grid", pictures, "heatmap.png",
                        f"Scores laid out as the torus ({grid.rows} rows × {grid.cols} columns, cell numbers "
                        f"row-major) at generations {', '.join(map(str, heatmap_generations))}; "
                        "grey cells have not committed.",
                        missing=unscored),
        _figure_section("lr", "Learning rates", pictures, "lr.png",
                        "Each cell's Adam learning rates (mean over its population) as mutation moves them."),
        _figure_section("mixture", "Final mixture", pictures, "weights.png",
                        _mixture_caption(status.mixture),
                        missing="The mixture is assembled when the run finishes."),
        _figure_section("samples", "Samples", pictures, "samples.png",
                        "Samples of the best cell's mixture at the generations where cells drew them "
                        "(general.sample_every).",
                        missing="No cell has drawn samples yet (general.sample_every)."),
        _timings_section(record, pictures),
        _config_section(run),
    ]
    nav = "".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in
                  (("scores", "Scores"), ("grid", "Grid"), ("lr", "Learning rates"), ("mixture", "Mixture"),
                   ("samples", "Samples"), ("timings", "Timings"), ("config", "Config")))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lpz run {_e(run.id)}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>Run {_e(run.id)}</h1>
<p class="meta">{_e(meta)}</p>
<p class="state-line">{_state(status)}</p>
</header>
{_cards(record)}
<nav>{nav}</nav>
{''.join(sections)}
<footer>lpz {_e(__version__)} report of {_e(run.store.url)}, written {time.strftime('%Y-%m-%d %H:%M:%S %Z')}</footer>
</main>
</body>
</html>
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _state(status: RunStatus) -> str:
    """A badge with the run's state, then the rest of `lpz status`'s line about it."""
    label = status.state
    line = state_line(status).plain
    if line.startswith(label):
        line = line[len(label):].lstrip(": ")
    return f'<span class="state {_e(label.replace(" ", "-"))}">{_e(label)}</span> {_e(line)}'


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"


def _span(metrics: figures.Metrics) -> float | None:
    """Seconds from the first cell's start to the last commit."""
    all_metrics = [m for by_cell in metrics.values() for m in by_cell.values()]
    starts = [m.started_at for m in all_metrics if m.started_at is not None]
    commits = [m.committed_at for m in all_metrics]
    return max(commits) - min(starts) if starts and commits else None


def _cards(record: RunRecord) -> str:
    status, run = record.status, record.run
    cells = run.grid.size
    progress = f"{status.generation}/{status.generations}"
    progress_note = "generations complete"
    if status.state != "finished" and status.next_generation_cells_done:
        progress_note += f"; {status.next_generation_cells_done}/{cells} cells of the next"
    scored = [row for row in status.history if row.best_score is not None]
    best = min(scored, key=lambda row: row.best_score) if scored else None
    final = status.mixture
    committed = sum(len(by_cell) for by_cell in record.metrics.values())
    span = _span(record.metrics)
    cards = [
        ("Progress", progress, progress_note),
        ("Best cell score", fmt(best.best_score) if best else "-",
         f"generation {best.generation}, cell {best.best_cell}" if best else "no score yet"),
        ("Final mixture", fmt(final.score) if final else "-",
         (f"cell {final.best_cell}, {final.sample_size} samples"
          + (f"; {details(final.details)}" if details(final.details) else ""))
         if final else "assembled when the run finishes"),
        ("Cell-generations", f"{committed}/{cells * run.generations}", "committed"),
        ("Time", _duration(span) if span is not None else "-", "first start to last commit"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
        f'<div class="note">{_e(note)}</div></div>' for label, value, note in cards) + "</div>"


def _img(pictures: dict[str, bytes], name: str, alt: str) -> str:
    width, height = Image.open(io.BytesIO(pictures[name])).size
    data = base64.b64encode(pictures[name]).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}" width="{width}" height="{height}">')


def _figure_section(anchor: str, title: str, pictures: dict[str, bytes], name: str, caption: str,
                    missing: str = "No generation has been committed yet.") -> str:
    if name in pictures:
        body = f"<figure>{_img(pictures, name, title)}<figcaption>{_e(caption)}</figcaption></figure>"
    else:
        body = f'<p class="note">{_e(missing)}</p>'
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>\n'


def _mixture_caption(final: MixtureResult | None) -> str:
    if not final:
        return ""
    extra = details(final.details)
    return (f"The run's mixture is cell {final.best_cell}'s: its weights over its neighbourhood, scoring "
            f"{fmt(final.score)} on {final.sample_size} samples" + (f" ({extra})" if extra else "") + ".")


def _timings_section(record: RunRecord, pictures: dict[str, bytes]) -> str:
    if "phases.png" not in pictures:
        return _figure_section("timings", "Timings", pictures, "phases.png", "")
    totals = phase_totals(record.metrics)
    count = sum(len(by_cell) for by_cell in record.metrics.values())
    everything = sum(totals.values()) or 1.0
    rows = "".join(f"<tr><td>{_e(phase)}</td><td>{seconds:.1f}</td><td>{seconds / count:.3f}</td>"
                   f"<td>{100 * seconds / everything:.1f}%</td></tr>" for phase, seconds in totals.items())
    wall = generation_seconds(record.metrics)
    span = _span(record.metrics)
    summary = [f"{count} cell-generations committed"]
    if span is not None:
        summary.append(f"{_duration(span)} from the first start to the last commit")
    if wall:
        summary.append(f"{_duration(sum(wall.values()) / len(wall))} per generation on average")
    caption = ("Left: seconds per generation, from one generation's last commit to the next's. Right: where a "
               "cell's time goes, per phase of its step (mean over the cells of each generation).")
    return (f'<section id="timings"><h2>Timings</h2><figure>{_img(pictures, "phases.png", "Timings")}'
            f'<figcaption>{_e(caption)}</figcaption></figure>'
            f'<p>{_e("; ".join(summary))}.</p>'
            '<table><thead><tr><th>phase</th><th>cell-seconds</th><th>per cell-generation</th>'
            f'<th>share</th></tr></thead><tbody>{rows}</tbody>'
            f'<tfoot><tr><td>all</td><td>{sum(totals.values()):.1f}</td>'
            f'<td>{sum(totals.values()) / count:.3f}</td><td>100%</td></tr></tfoot></table></section>\n')


def _config_section(run: Run) -> str:
    info = run.info
    facts = [("config file", info.config_file or "-"), ("seed", info.seed), ("created", info.created),
             ("lpz version", info.lpz_version or "-"), ("store", run.store.url)]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    config = yaml.safe_dump(info.config, sort_keys=False, default_flow_style=False)
    return (f'<section id="config"><h2>Config</h2><table class="facts">{rows}</table>'
            f'<p class="note">The resolved config, every default filled in (run.json):</p>'
            f"<pre>{_e(config)}</pre></section>\n")


CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #fff; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 28px 18px 40px; }
h1 { font-size: 1.55rem; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 0 0 10px; }
.meta, .note, figcaption, footer { color: var(--muted); }
.note { font-size: .88rem; }
.state-line { margin: 10px 0 0; }
.state { display: inline-block; padding: 1px 10px; margin-right: 6px; border-radius: 999px; font-size: .8rem;
         font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.state.finished { background: #dcfce7; color: #166534; }
.state.running { background: #fef3c7; color: #92400e; }
.state.failed, .state.stalled, .state.damaged { background: #fee2e2; color: #991b1b; }
.state.cancelled { background: #e5e7eb; color: #374151; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 22px 0 14px; }
.card, section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.card { padding: 10px 14px; }
.card .label { color: var(--muted); font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 1.3rem; font-weight: 600; }
nav { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 14px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { padding: 16px 20px; margin: 0 0 16px; }
figure { margin: 0; }
img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: .88rem; margin-top: 8px; }
table { border-collapse: collapse; margin-top: 10px; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 14px 4px 0; text-align: right; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child, .facts th, .facts td { text-align: left; }
.facts th { font-weight: 600; color: var(--muted); }
tfoot td { font-weight: 600; border-bottom: 0; }
pre { background: #f3f4f6; border-radius: 6px; padding: 12px 14px; font-size: 12.5px; line-height: 1.4;
      overflow: auto; max-height: 520px; }
footer { font-size: .8rem; margin-top: 24px; text-align: center; }
@media (max-width: 640px) { main { padding: 14px 10px; } section { padding: 12px; } h1 { font-size: 1.25rem; } }
"""
