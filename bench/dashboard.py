"""The dashboard on a long run: first paint of the run page of a 10x10 grid with 200 generations.

    python bench/dashboard.py                # a generated store in a temporary folder
    python bench/dashboard.py --store DIR    # keep (or reuse) the generated store

The store is written directly with the Run API (commit markers with made-up numbers, a small
picture every 20 generations; no training, no checkpoints). `lpz dashboard` serves it in a
subprocess; headless chromium (Debian's, driven by Playwright) opens the run page twice, against a
server that has read nothing yet (cold) and again (warm), and reports: first contentful paint, and
the time until the torus map and the score curves are drawn with every cell's data.
"""
from __future__ import annotations

import argparse
import io
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from lpz.records import CellMetrics  # noqa: E402
from lpz.runs import Run, keys  # noqa: E402
from lpz.store import LocalStore  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402
from tests.dashboard_helpers import CHROMIUM, Dashboard  # noqa: E402

ROWS, GENERATIONS, PICTURE_EVERY = 10, 200, 20
RUN_ID = "bench-10x10"


def generate(root: Path) -> None:
    store = LocalStore(root)
    if store.exists(keys.run(RUN_ID, "run.json")):
        return
    config = tiny_config(**{"grid.rows": ROWS, "grid.cols": ROWS, "trainer.generations": GENERATIONS})
    run = Run.create(store, config, run_id=RUN_ID)
    rng, start = random.Random(0), time.time() - GENERATIONS * 60
    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (200, 220, 240)).save(buffer, "PNG")
    for g in range(1, GENERATIONS + 1):
        for c in run.grid.cells:
            individual = {"fitness": rng.random(), "lr": 0.001 * rng.random(), "origin": [c, g - 1], "loss": "bce"}
            metrics = CellMetrics(
                cell=c, generation=g, score=3 * math.exp(-g / 50) + rng.random() * 0.1, score_details={},
                mixture={"cells": run.grid.neighbourhood(c), "weights": [0.2] * 5, "accepted": True},
                losses={"generator": rng.random(), "discriminator": rng.random()},
                generators=[individual], discriminators=[individual],
                seconds={"train": 50.0, "score": 5.0, "io": 1.0}, started_at=start + g * 60 - 59, device="cuda:0",
                files={"state.pt": "0" * 64, "public.pt": "0" * 64}, committed_at=start + g * 60)
            store.put_json(run.cell_key(g, c, keys.MARKER), metrics.to_json())
            if g % PICTURE_EVERY == 0:
                store.put(run.cell_key(g, c, "samples.png"), buffer.getvalue())


def measure(page, url: str) -> dict:
    began = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => document.querySelectorAll('#torus-map rect.cell').length === {ROWS * ROWS} "
                           f"&& document.querySelector('#scores svg') !== null", timeout=120000)
    drawn = time.perf_counter() - began
    paint = page.evaluate("() => performance.getEntriesByName('first-contentful-paint')[0].startTime")
    return {"first_paint_s": paint / 1000, "drawn_s": drawn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="where to write (or find) the generated store")
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="lpz-dashboard-bench-"))
    began = time.perf_counter()
    generate(root)
    print(f"store {root}: {ROWS}x{ROWS} grid, {GENERATIONS} generations ({time.perf_counter() - began:.0f} s)")
    from playwright.sync_api import sync_playwright
    server = Dashboard(root)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for label in ("cold", "warm"):
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                found = measure(page, f"{server.url}run/{RUN_ID}")
                print(f"{label}: first paint {found['first_paint_s']:.2f} s, torus map and score curves drawn "
                      f"{found['drawn_s']:.2f} s")
                page.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
