"""`lpz dashboard`: the real server in a subprocess over a real store, driven by Debian's chromium (Playwright)
and by plain HTTP. The pages must show exactly what `lpz status --json` prints."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import sync_playwright

from lpz.engine.engine import cancel, fail
from lpz.engine.local import run_local
from lpz.errors import UserError
from lpz.runs import Run
from lpz.store import LocalStore
from tests.dashboard_helpers import CHROMIUM, Dashboard, free_port
from tests.helpers import lpz, tiny, tiny_config, unavailable, wait_until

SECRET = "TOPSECRET-outside-the-store"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A finished toy run, a cancelled one and a failed one, and a file beside the store that must never be served."""
    root = tmp_path_factory.mktemp("dashboard")
    (root / "secret.txt").write_text(SECRET)
    the_store = LocalStore(root / "store")
    done = Run.create(the_store, tiny_config(**{"trainer.generations": 3, "general.sample_every": 1}), run_id="toy-done")
    run_local(done, workers=1)
    cancel(Run.create(the_store, tiny_config(), run_id="toy-cancelled"))
    fail(Run.create(the_store, tiny_config(), run_id="toy-failed"), UserError("out of memory"), 1, 2, "worker-1")
    return root / "store"


@pytest.fixture(scope="module")
def dashboard(store):
    server = Dashboard(store, "--allow-actions")
    yield server
    server.stop()


def status_json(store: Path, run_id: str) -> dict:
    return json.loads(lpz("status", run_id, "--json", "--store", store).stdout)


# ------------------------------------------------------------------ over HTTP

def test_the_api_gives_lpz_status_json(dashboard, store):
    for run_id in ("toy-done", "toy-cancelled", "toy-failed"):
        code, body = dashboard.get(f"/api/runs/{run_id}/status")
        assert code == 200
        shown, printed = json.loads(body), status_json(store, run_id)
        assert {k: v for k, v in shown.items() if k != "cells"} == {k: v for k, v in printed.items() if k != "cells"}
    runs = {r["id"]: r for r in json.loads(dashboard.get("/api/runs")[1])}
    assert {r: runs[r]["state"] for r in runs} == {"toy-done": "finished", "toy-cancelled": "cancelled",
                                                   "toy-failed": "failed"}


@pytest.mark.parametrize("path", [
    "/run/..", "/run/..%2F..%2Fsecret.txt", "/run/%2e%2e", "/api/runs/..%2Fsecret.txt/status",
    "/api/runs/Toy-Done/status", "/api/runs/a..b/status", "/api/runs/toy-done%2F..%2F..%2Fsecret.txt/info",
    "/api/runs/no-such-run/status", "/files/toy-done/1/0/run.json", "/files/toy-done/1/0/..%2F..%2F..%2Frun.json",
    "/files/toy-done/1/0/.samples.png", "/files/toy-done/1/0/state.pt", "/files/toy-done/9/0/samples.png",
    "/files/toy-done/1/99/samples.png", "/files/..%2F..%2Fsecret.txt/1/0/samples.png",
    "/static/..%2F..%2F..%2Fsecret.txt", "/static/app.py", "/static/%2e%2e/app.py", "/api/runs/toy-done/cells/99",
    "/api/runs/toy-done/series?after=..%2F", "/../secret.txt", "/%2e%2e/%2e%2e/secret.txt",
])
def test_no_url_reaches_outside_the_store(dashboard, path):
    code, body = dashboard.get(path)
    assert code in (400, 404), (path, code)
    assert SECRET not in body and '"config"' not in body and "import" not in body


def test_a_wrong_address_is_answered_with_the_addresses_that_exist(dashboard):
    code, body = dashboard.get("/runs/toy-done")  # a run page is /run/<id>
    assert code == 404 and "/run/toy-done" in body and "/run/&lt;id&gt;/cell/&lt;cell&gt;" in body
    code, body = dashboard.get("/run/no-such-run")
    assert code == 404 and "no-such-run" in body and 'href="/"' in body
    code, body = dashboard.get("/run/<script>x</script>/nothing")
    assert code == 404 and "<script>" not in body
    code, body = dashboard.get("/api/run/toy-done/status")
    answer = json.loads(body)
    assert code == 404 and answer["error"] and "/api/runs/<id>/status" in answer["addresses"]


def test_a_sample_picture_is_served_as_png(dashboard):
    code, body = dashboard.get("/files/toy-done/3/0/samples.png")
    assert code == 200 and body.startswith("\ufffdPNG")


def test_actions_need_the_token(dashboard, store):
    Run.create(LocalStore(store), tiny_config(), run_id="toy-to-cancel")
    assert dashboard.get("/api/runs/toy-to-cancel/cancel", "POST")[0] == 403
    assert dashboard.get("/api/runs/toy-to-cancel/cancel", "POST", {"X-LPZ-Token": "guess"})[0] == 403
    assert dashboard.get(f"/api/runs/toy-to-cancel/cancel?token={dashboard.token}", "POST")[0] == 403  # header only
    assert status_json(store, "toy-to-cancel")["state"] != "cancelled"
    code, body = dashboard.get("/api/runs/toy-to-cancel/cancel", "POST", {"X-LPZ-Token": dashboard.token})
    assert code == 200, body
    assert status_json(store, "toy-to-cancel")["state"] == "cancelled"
    code, body = dashboard.get("/api/runs/toy-to-cancel/resume", "POST", {"X-LPZ-Token": dashboard.token})
    assert code == 400 and "lpz run --resume toy-to-cancel" in body  # a local run resumes where it trains
    assert dashboard.get("/api/runs/toy-done/cancel", "POST", {"X-LPZ-Token": dashboard.token})[0] == 400


def test_a_read_only_dashboard_refuses_actions(store):
    server = Dashboard(store)
    try:
        assert "token" not in server.url
        assert server.get("/api/runs/toy-failed/cancel", "POST", {"X-LPZ-Token": "anything"})[0] == 403
        assert json.loads(server.get("/api/runs/toy-failed/info")[1])["actions"] is False
    finally:
        server.stop()


def test_a_non_loopback_host_without_a_token_is_refused(store):
    env = {k: v for k, v in os.environ.items() if k != "LPZ_DASHBOARD_TOKEN"}
    result = lpz("dashboard", "--store", store, "--host", "0.0.0.0", "--port", free_port(), check=False, env=env,
                 timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "LPZ_DASHBOARD_TOKEN" in result.stderr


def test_a_cancelled_cluster_run_is_resumed_with_the_token_only(cluster, redis_url, tmp_path):
    """The resume action sends a cancelled cluster run to the workers again, as `lpz resume` does: here the
    tasks of its first generation land on the test broker's queue (no worker takes them)."""
    import base64

    store = LocalStore(tmp_path / "store")
    run = Run.create(store, tiny_config(), run_id="toy-cluster", executor="cluster")
    cluster.submit(run)
    cancel(run)
    cluster.redis.delete("gpu")  # what was sent before the cancel is gone
    server = Dashboard(tmp_path / "store", "--allow-actions",
                       env={**os.environ, "LPZ_BROKER_URL": cluster.app.conf.broker_url})
    try:
        for headers in ({}, {"X-LPZ-Token": "guess"}):
            assert server.get("/api/runs/toy-cluster/resume", "POST", headers)[0] == 403
        assert cluster.redis.llen("gpu") == 0 and status_json(tmp_path / "store", "toy-cluster")["state"] == "cancelled"
        code, body = server.get("/api/runs/toy-cluster/resume", "POST", {"X-LPZ-Token": server.token})
        assert code == 200 and json.loads(body)["done"] == "resumed toy-cluster from generation 0", body
        assert json.loads(server.get("/api/runs/toy-cluster/status")[1])["state"] != "cancelled"
        assert status_json(tmp_path / "store", "toy-cluster")["state"] != "cancelled"
        sent = [json.loads(base64.b64decode(json.loads(m)["body"]))[1] for m in cluster.redis.lrange("gpu", 0, -1)]
        assert sorted((m["run_id"], m["generation"], m["cell"]) for m in sent) == \
            [("toy-cluster", 0, c) for c in run.grid.cells]  # the tasks count generations from 0
    finally:
        server.stop()
        cluster.redis.flushdb()


# ------------------------------------------------------------------ in chromium

@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed; `make install-test` installs Debian's package")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def watched_page(browser, errors: list):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def number(text: str):
    return None if text == "" else float(text)


@pytest.mark.browser
def test_the_pages_show_what_lpz_status_says(dashboard, store, browser, tmp_path):
    errors = []
    page = watched_page(browser, errors)
    page.goto(dashboard.url)
    page.wait_for_selector('tr[data-run="toy-done"]')
    for run_id in ("toy-done", "toy-cancelled", "toy-failed"):
        row, printed = page.locator(f'tr[data-run="{run_id}"]'), status_json(store, run_id)
        assert row.locator(".c-state").inner_text() == printed["state"]
        assert number(row.locator(".c-generation").get_attribute("data-value")) == printed["generation"]
        best = printed["best"]["score"] if printed["best"] else None
        assert number(row.locator(".c-best").get_attribute("data-value")) == best
    page.screenshot(path=tmp_path / "runs.png", full_page=True)

    page.click('a[href="/run/toy-done"]')
    page.wait_for_function("() => document.getElementById('state').textContent === 'finished'")
    page.wait_for_selector("#torus-map rect.cell")
    page.wait_for_selector("#pictures img")
    printed = status_json(store, "toy-done")
    assert number(page.get_attribute("#generation", "data-value")) == printed["generation"] == 3
    assert number(page.get_attribute("#best", "data-value")) == printed["best"]["score"]
    assert number(page.get_attribute("#mixture-score", "data-value")) == printed["mixture"]["score"]
    assert not page.get_by_text("next generation").is_visible()  # a finished run has none
    picture = page.locator("#pictures img").first  # 2-D samples legible, and a link to the picture itself
    assert picture.bounding_box()["width"] >= 300
    assert page.locator("#pictures a").first.get_attribute("href").endswith("/3/0/samples.png")
    y_ticks = page.locator("#scores svg text.tick-y").all_text_contents()  # more than the ends of each axis
    assert len(y_ticks) >= 4 and page.locator("#scores svg text.tick-x").all_text_contents() == ["1", "2", "3"], y_ticks
    assert page.locator("#torus-map rect.cell").count() == 4
    assert '"dataset_name": "gaussian8"' in page.inner_text("#config")
    page.hover("#scores svg", position={"x": 300, "y": 150})
    assert "generation" in page.inner_text("#scores .tip")
    assert page.is_visible("#cancel")  # started with --allow-actions
    page.select_option("#colour", "worker")
    page.screenshot(path=tmp_path / "run.png", full_page=True)

    assert page.locator("#scores .legend .name").all_inner_texts() == ["bold: best mixture", "each cell"]

    page.click('#torus-map rect.cell[data-cell="1"]')
    page.wait_for_selector("#g-fitness svg")
    assert number(page.get_attribute("#committed", "data-value")) == 3
    assert number(page.get_attribute("#score", "data-value")) == printed["cells"][1]["score"]
    page.wait_for_selector("#pictures img")
    check_cell_page(page, Run.open(LocalStore(store), "toy-done"), 1)
    page.screenshot(path=tmp_path / "cell.png", full_page=True)
    assert errors == []


def check_cell_page(page, run: Run, cell: int) -> None:
    """The cell page's legends name what the metrics hold, and its table of origins is the metrics', per generation."""
    metrics = {g: by_cell[cell] for g, by_cell in run.all_metrics().items()}
    last = metrics[max(metrics)]
    legend = lambda chart: page.locator(f"#{chart} .legend .name").all_inner_texts()  # noqa: E731
    assert legend("weights") == [f"cell {c}" for c in sorted(run.grid.neighbourhood(cell))]
    assert set(legend("phases")) == set(last.seconds) and len(last.seconds) > 1
    assert legend("lrs") == [f"generator {i}" for i in range(len(last.generators))] + \
        [f"discriminator {i}" for i in range(len(last.discriminators))]
    assert legend("g-fitness") == [f"generator {i}" for i in range(len(last.generators))]
    assert legend("d-fitness") == [f"discriminator {i}" for i in range(len(last.discriminators))]
    rows = page.locator("#origins tr[data-generation]")
    assert [int(g) for g in rows.evaluate_all("rows => rows.map(r => r.dataset.generation)")] == sorted(metrics, reverse=True)
    for g, m in metrics.items():
        row = page.locator(f'#origins tr[data-generation="{g}"]')
        assert json.loads(row.locator(".g-origin").get_attribute("data-value")) == [list(i.origin) for i in m.generators]
        assert json.loads(row.locator(".d-origin").get_attribute("data-value")) == \
            [list(i.origin) for i in m.discriminators]
        migrated = any(i.origin[0] != cell for i in [*m.generators, *m.discriminators])
        assert ("migrated" in (row.get_attribute("class") or "")) == migrated
        assert (row.locator(".migrated-mark").count() > 0) == migrated


@pytest.mark.browser
@pytest.mark.slow
def test_a_new_generation_appears_without_reload(dashboard, store, browser, tmp_path):
    config = tmp_path / "long.yml"
    config.write_text(yaml.safe_dump(tiny(**{"name": "live", "trainer.generations": 40})))
    before = set(os.listdir(store / "runs"))
    training = subprocess.Popen([sys.executable, "-c", "from lpz.cli import entry; entry()", "run", str(config),
                                 "--store", str(store), "--workers", "1"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        def new_run() -> set:
            assert training.poll() is None, "lpz run exited"
            return set(os.listdir(store / "runs")) - before
        run_id = wait_until(new_run, 60, "lpz run to create its run").pop()
        errors = []
        page = watched_page(browser, errors)
        page.goto(f"{dashboard.url.split('?')[0]}run/{run_id}")
        page.wait_for_function("() => document.getElementById('generation').dataset.value !== undefined")
        page.evaluate("window.notReloaded = true")
        seen = int(page.get_attribute("#generation", "data-value"))
        page.wait_for_function(f"() => Number(document.getElementById('generation').dataset.value) > {seen}", timeout=60000)
        assert page.evaluate("window.notReloaded") is True
        assert page.inner_text("#state") == "running"
        page.screenshot(path=tmp_path / "live.png", full_page=True)
        assert errors == []
    finally:
        training.terminate()
        training.wait(timeout=30)
