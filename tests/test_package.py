"""The package is whole: what `pip install lpz` gives works without the checkout.

The sdist is built from the files git knows (a clean clone's), the wheel from that sdist (as pip and
`python -m build` do), and the wheel is installed with its declared dependencies into a fresh venv
outside the checkout. From a folder that is not the checkout (and holds a `tasks.py` of its own, as
many Celery projects do), that install runs `lpz --help`, serves the dashboard's pages and static
files, loads the shipped classifiers, and finds the Celery app and its tasks.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "lpz" / "dashboard" / "static"
ASSETS = ROOT / "lpz" / "assets"


def run(*args, cwd: Path, env: dict | None = None, timeout: int = 900) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from it, out of a copy of the files git knows."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a file deleted in the working tree is still in the index
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    run(sys.executable, "-m", "build", "--outdir", out, source, cwd=source)
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict:
    """A fresh venv with the wheel and its dependencies (torch pinned by constraints.txt); a folder
    outside the checkout with a `tasks.py` of its own to work in; an empty data directory. The venv
    (a GB with torch) is removed afterwards."""
    venv, here = tmp_path_factory.mktemp("venv"), tmp_path_factory.mktemp("elsewhere")
    run(sys.executable, "-m", "venv", venv, cwd=here)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "LPZ_DASHBOARD_TOKEN"}}
    env |= {"LPZ_DATA_DIR": str(tmp_path_factory.mktemp("data")), "PATH": f"{venv}/bin:{env['PATH']}"}
    run(venv / "bin" / "pip", "install", "-q", "-c", ROOT / "constraints.txt", dist["wheel"], cwd=here, env=env)
    (here / "tasks.py").write_text("raise SystemExit('the tasks.py of the folder lpz runs in was imported')\n")
    yield {"bin": venv / "bin", "here": here, "env": env}
    shutil.rmtree(venv, ignore_errors=True)


def in_venv(installed: dict, code: str):
    """What the code prints as JSON, run by the venv's Python in the folder outside the checkout."""
    out = run(installed["bin"] / "python", "-c", f"import json\n{code}", cwd=installed["here"], env=installed["env"])
    return json.loads(out)


def test_the_sdist_and_the_wheel_hold_the_data_files(dist):
    data = {f"lpz/dashboard/static/{p.name}" for p in STATIC.iterdir()} | {f"lpz/assets/{p.name}" for p in ASSETS.iterdir()}
    with tarfile.open(dist["sdist"]) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        in_wheel = set(wheel.namelist())
        top_level = wheel.read(next(n for n in in_wheel if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert data - in_sdist == set(), "missing from the sdist"
    assert data - in_wheel == set(), "missing from the wheel"
    assert top_level == ["lpz"], "the wheel installs a top-level package besides lpz"
    assert not [name for name in in_wheel if name.startswith("tasks/")]


def test_the_installed_cli_answers(installed):
    out = run(installed["bin"] / "lpz", "--help", cwd=installed["here"], env=installed["env"])
    assert "Usage: lpz" in out and "dashboard" in out
    where = in_venv(installed, "import lpz; print(json.dumps(lpz.__file__))")
    assert where.startswith(str(installed["bin"].parent)), f"lpz imported from {where}, not the venv"


def test_the_installed_dashboard_serves_its_pages_and_static_files(installed, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([installed["bin"] / "lpz", "dashboard", "--store", tmp_path / "store", "--port", str(port)],
                              cwd=installed["here"], env=installed["env"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)

    def get(path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError:
            return 0, b""
        finally:
            connection.close()

    try:
        def answers() -> bool:
            assert server.poll() is None, f"lpz dashboard exited: {server.stderr.read()[-2000:]}"
            return get("/api/runs")[0] == 200
        wait_until(answers, 60, "lpz dashboard to answer")
        assert get("/") == (200, (STATIC / "runs.html").read_bytes())
        for path in sorted(STATIC.iterdir()):
            assert get(f"/static/{path.name}") == (200, path.read_bytes()), path.name
        assert json.loads(get("/api/runs")[1]) is not None
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_installed_package_loads_the_shipped_classifiers(installed):
    loaded = in_venv(installed, "from lpz.scoring.classifier import load_classifier, weights_file\n"
                                "paths = {name: weights_file(name) for name in ('mnist', 'fashion-mnist')}\n"
                                "print(json.dumps({name: [str(path), type(load_classifier(path)[0]).__name__]\n"
                                "                  for name, path in paths.items()}))")
    for name, (path, network) in loaded.items():
        assert path.startswith(str(installed["bin"].parent)) and network == "MNISTCnn", (name, path, network)


def test_the_installed_package_has_the_celery_app_and_its_tasks(installed):
    """`celery -A lpz worker` imports the tasks with its working folder first on sys.path: a `tasks.py`
    there (here one that exits) must not stand in for lpz's."""
    found = in_venv(installed, "from celery.app.utils import find_app\n"
                               "import lpz.celery\n"
                               "app = find_app('lpz')\n"
                               "app.loader.import_default_modules()\n"
                               "import lpz.tasks.cells as cells\n"
                               "print(json.dumps({'same app': app is lpz.celery.app, 'tasks': sorted(app.tasks),\n"
                               "                  'module': cells.__file__}))")
    assert found["same app"] and {"lpz.train_cell", "lpz.assemble"} <= set(found["tasks"]), found
    assert found["module"].startswith(str(installed["bin"].parent)), found["module"]
