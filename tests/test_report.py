"""`lpz report ID`: a self-contained HTML page and the PNGs it shows, for finished runs and runs in progress."""
from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from lpz.engine.local import run_local
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.engine.work import compute_cell
from tests.helpers import lpz, tiny_config, unavailable

# A 2x2 grid, 3 generations, samples every generation: the default heat map shows generations 1, 2, 3
# (one row of panels) and the sample sheet 3 pictures (one row).
PNG_SIZES = {"score.png": (900, 450), "heatmap.png": (900, 300), "lr.png": (900, 360),
             "weights.png": (900, 320), "phases.png": (900, 360), "samples.png": (900, 330)}
REFERENCE = re.compile(r"""(?<=\s)(?:src|href|srcset|action|poster|data)\s*=\s*["']?([^"'\s>]*)""", re.I)
DATA_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def report_config():
    return tiny_config(**{"trainer.generations": 3, "general.sample_every": 1})


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished toy run and the folder `lpz report` wrote for it."""
    root = tmp_path_factory.mktemp("finished")
    store = LocalStore(root / "store")
    run = Run.create(store, report_config(), run_id="toy-report")
    run_local(run, workers=1)
    out = root / "report"
    lpz("report", run.id, "-o", out, "--store", root / "store")
    return out


@pytest.fixture
def half_done(tmp_path) -> tuple[Path, Run]:
    """A run whose first generation has 2 of its 4 cells committed."""
    store = LocalStore(tmp_path / "store")
    run = Run.create(store, report_config(), run_id="toy-half")
    for cell in (0, 1):
        compute_cell(run, 0, cell)
    return tmp_path / "store", run


def external_references(page: str) -> list[str]:
    """Every attribute value that points somewhere other than a data: URI or an anchor of the page."""
    refs = [value for value in REFERENCE.findall(page) if not value.startswith(("data:", "#"))]
    return refs + re.findall(r"url\(|@import", page, re.I)


def test_a_finished_run_gets_a_page_and_its_pngs_at_fixed_sizes(finished):
    assert sorted(p.name for p in finished.glob("*.png")) == sorted(PNG_SIZES)
    for name, size in PNG_SIZES.items():
        with Image.open(finished / name) as image:
            image.verify()
        with Image.open(finished / name) as image:
            assert image.format == "PNG", name
            assert image.size == size, name
    page = (finished / "report.html").read_text()
    assert "Run toy-report" in page
    assert "gaussian8" in page and "2×2 grid" in page
    assert '<span class="state finished">finished</span>' in page
    assert "3/3 generations" in page


def test_the_page_embeds_every_png_and_references_nothing_outside_itself(finished):
    page = (finished / "report.html").read_text()
    embedded = [base64.b64decode(data) for data in DATA_PNG.findall(page)]
    assert sorted(embedded) == sorted(p.read_bytes() for p in finished.glob("*.png"))
    assert external_references(page) == []
    assert "<script" not in page.lower()
    anchors = set(re.findall(r'href="#([^"]+)"', page))
    assert anchors and anchors <= set(re.findall(r'id="([^"]+)"', page))


def test_each_sample_panel_is_titled_once(tmp_path, monkeypatch):
    """A cell's stored picture is captioned where it is shown (the report's sheet, the dashboard), so it draws no
    title of its own: the sheet showed "generation 1, cell 0" twice, its caption over the picture's (issue 25)."""
    from matplotlib.axes import Axes
    from lpz.views import report, report_figures
    titles, set_title = [], Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda ax, label, *a, **k: titles.append(label) or set_title(ax, label, *a, **k))
    run = Run.create(LocalStore(tmp_path), report_config(), run_id="titled")
    for cell in (0, 1):
        compute_cell(run, 0, cell)  # each draws its samples.png
    sheet = report.sample_pictures(report.read(run))
    report_figures.sample_sheet(sheet)
    assert len(sheet) == 1  # the generation's best cell
    assert titles == [caption for caption, _ in sheet], titles


def test_the_reference_check_sees_what_would_leave_the_page():
    leaky = ('<link rel="stylesheet" href="https://cdn.example/x.css"><img src="plot.png">'
             '<style>body { background: url(x.png) }</style><a href="#top">top</a><img src="data:image/png;base64,AA==">')
    assert external_references(leaky) == ["https://cdn.example/x.css", "plot.png", "url("]


def test_a_run_in_progress_gets_a_report_that_says_so(half_done, tmp_path):
    store, run = half_done
    out = tmp_path / "report"
    lpz("report", run.id, "-o", out, "--store", store)
    page = (out / "report.html").read_text()
    assert '<span class="state running">running</span>' in page
    assert "0/3 generations complete, 2/4 cells of the next" in page
    assert "The mixture is assembled when the run finishes." in page
    assert not (out / "weights.png").exists()
    assert (out / "score.png").is_file() and (out / "samples.png").is_file()
    embedded = [base64.b64decode(data) for data in DATA_PNG.findall(page)]
    assert sorted(embedded) == sorted(p.read_bytes() for p in out.glob("*.png"))
    assert external_references(page) == []

    run.set_control("failed", generation=1, cell=2, worker="w1", error="CUDA out of memory")
    lpz("report", run.id, "-o", out, "--store", store)
    page = (out / "report.html").read_text()
    assert '<span class="state failed">failed</span>' in page
    assert "cell 2 on w1: CUDA out of memory" in page


def test_heatmap_generations_are_chosen_and_checked(half_done, tmp_path):
    store, run = half_done
    out = tmp_path / "report"
    lpz("report", run.id, "-o", out, "--store", store, "--heatmap-generations", "1")
    assert "at generations 1;" in (out / "report.html").read_text()
    for bad, message in (("2", "generation 2 has no committed cell"), ("0", "outside the run's 1..3"),
                         ("1,x", "is malformed")):
        result = lpz("report", run.id, "-o", out, "--store", store, "--heatmap-generations", bad, check=False)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_unknown_run_or_a_file_as_output_is_one_line_error(half_done, tmp_path):
    store, run = half_done
    result = lpz("report", "no-such-run", "--store", store, check=False)
    assert result.returncode == 2 and "no run 'no-such-run'" in result.stderr
    a_file = tmp_path / "taken"
    a_file.write_text("")
    result = lpz("report", run.id, "-o", a_file, "--store", store, check=False)
    assert result.returncode == 2 and "is a file" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------ in a real browser

def chromium() -> str:
    """Debian's chromium, which `make install-test` installs (never a test: it takes minutes)."""
    found = shutil.which("chromium")
    if not found:
        unavailable("chromium is not installed; `make install-test` installs Debian's package")
    return found


def screenshot(page: Path, workdir: Path) -> tuple[Path, list[str]]:
    """A headless chromium screenshot of a page, and the console messages the page logged."""
    shot = workdir / "shot.png"
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={workdir / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", "--window-size=1280,2000", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return shot, console


@pytest.mark.browser
def test_chromium_renders_the_report_without_console_errors(finished, tmp_path):
    shot, console = screenshot(finished / "report.html", tmp_path / "report")
    assert console == []
    with Image.open(shot) as image:
        assert image.format == "PNG"
        assert image.size == (1280, 2000)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 100  # the page and its plots, not a blank

    # The same command does hear a page that logs errors: the check above can fail.
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<!DOCTYPE html><script>console.error('boom'); notDefined();</script>")
    _, console = screenshot(noisy, tmp_path / "noisy")
    assert any("boom" in line for line in console) and any("Uncaught" in line for line in console)
