"""Datasets from other packages (entry point group lpz.datasets): the worked example of
docs/add-a-dataset.md installed for real, broken plugins, and the checks on what a loader returns."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import lpz.data as data_package
from lpz.config import validate
from lpz.data import DatasetSpec, load_dataset
from lpz.data.base import Dataset, check_loaded
from lpz.errors import UserError
from tests.helpers import lpz, tiny_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "plugin_example"
EXAMPLE_FILES = ["pyproject.toml", "lpz_example_rings/__init__.py", "lpz_example_rings/data.py", "rings.yml"]
DOC = ROOT / "docs" / "add-a-dataset.md"

# A package with nothing but broken entry points: entry point name -> (value, what its warning says).
BROKEN = {
    "missing": ("lpz_no_such_module:SPEC", "cannot import 'lpz_no_such_module:SPEC' (ModuleNotFoundError"),
    "mnist": ("lpz_example_rings:RINGS", "lpz itself already has a dataset mnist; rename"),
    "rings": ("lpz_example_rings:RINGS", "package lpz-example-rings already has a dataset rings; rename"),
    "wrong-type": ("json:dumps", "is a function, not a lpz.data.DatasetSpec; point the entry point at"),
    "other": ("lpz_example_rings:RINGS", "its DatasetSpec is named 'rings'; give the entry point and"),
    "bad.name": ("lpz_example_rings:RINGS", "not a usable dataset name; name the entry point with 1-64"),
}


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """The example package installed by pip into a folder of its own, for PYTHONPATH: the venv stays as it is."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, root / "source")  # pip builds in the source folder: not in the checkout
    target = root / "site-packages"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--disable-pip-version-check", "--target", target, source],
                         capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stderr
    return target


def install_broken(folder: Path) -> Path:
    """A package with the BROKEN entry points, as an installer leaves its metadata (no code of its own)."""
    info = folder / "lpz_broken_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lpz-broken-plugins\nVersion: 1.0\n")
    entries = "".join(f"{name} = {value}\n" for name, (value, _) in BROKEN.items())
    (info / "entry_points.txt").write_text(f"[lpz.datasets]\n{entries}")
    return folder


def env_with(tmp_path: Path, *folders: Path) -> dict:
    """The environment of an lpz that also finds the packages in folders (in this order)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, folders)), "LPZ_DATA_DIR": str(tmp_path / "data")}


@pytest.mark.slow
def test_lpz_trains_on_a_dataset_from_another_package(installed_example, tmp_path):
    store = tmp_path / "store"
    result = lpz("run", EXAMPLE / "rings.yml", "--store", store, "--workers", "1",
                 env=env_with(tmp_path, installed_example), timeout=180)
    run_id = result.stdout.split("run ", 1)[1].split()[0]
    assert run_id.startswith("rings-") and "done in" in result.stdout
    assert (store / "runs" / run_id / "mixture" / "mixture.json").is_file()


def test_broken_plugins_are_one_line_each_and_the_rest_works(installed_example, tmp_path):
    env = env_with(tmp_path, installed_example, install_broken(tmp_path / "broken"))
    listed = lpz("data", "list", env=env)
    assert re.search(r"^rings +loaded by the package lpz-example-rings$", listed.stdout, re.M)
    for built_in in ("gaussian8", "mnist", "imagefolder"):
        assert re.search(rf"^{built_in} ", listed.stdout, re.M)
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == len(BROKEN) and "Traceback" not in listed.stderr, listed.stderr
    for name, (_, says) in BROKEN.items():
        line = next((w for w in warnings if w.startswith(f"WARNING lpz.data.specs: ignoring dataset '{name}' ")),
                    "")
        assert "of package lpz-broken-plugins: " in line and says in line, (name, listed.stderr)

    # config validation sees the plugin and the built-ins alike
    check = ("from lpz.config import load_config; "
             "print(*(load_config(f).dataloader.dataset_name for f in ('configs/quickstart.yml', "
             "'tests/plugin_example/rings.yml')))")
    checked = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, cwd=ROOT,
                             timeout=60)
    assert checked.returncode == 0 and checked.stdout.split() == ["gaussian8", "rings"], checked.stderr
    download = lpz("data", "download", "rings", env=env, check=False)
    assert "rings comes from the package lpz-example-rings, which loads its own data" in download.stderr


def spec(kind: str = "points", shape: tuple = (2,), loader: str = "tests.test_dataset_plugin:no_loader"):
    return DatasetSpec("mine", kind, lambda dataloader: shape, loader, "a test dataset")


@pytest.mark.parametrize("returned, kind, says", [
    (torch.zeros(10, 2), "points", "returned a Tensor; it must return a lpz.data.base.Dataset"),
    (Dataset("mine", torch.zeros(10, 2, dtype=torch.float64)), "points",
     "stored points as torch.float64; store them as torch.float32"),
    (Dataset("mine", torch.zeros(10, 3)), "points", "returned samples of shape (3,); its DatasetSpec promises (2,)"),
    (Dataset("mine", torch.zeros(10, 2)), "images", "stored images as torch.float32; store them as torch.uint8"),
    (Dataset("mine", torch.zeros(0, 2)), "points", "returned no samples"),
])
def test_what_a_loader_returns_is_checked(returned, kind, says):
    with pytest.raises(UserError, match=re.escape(says)) as error:
        check_loaded(returned, spec(kind), None)
    assert str(error.value).startswith("dataset mine: its loader tests.test_dataset_plugin:no_loader ")


def wrong_shape(dataloader, seed: int) -> Dataset:
    return Dataset("mine", torch.zeros(10, 3))


def test_a_run_loads_its_data_checked(monkeypatch):
    dataloader = tiny_config().dataloader
    monkeypatch.setattr(data_package, "_loaded", {})
    monkeypatch.setattr(data_package, "DATASETS", {"gaussian8": spec(loader="tests.test_dataset_plugin:wrong_shape")})
    with pytest.raises(UserError, match=re.escape("returned samples of shape (3,); its DatasetSpec promises (2,)")):
        load_dataset(dataloader, 0)


def test_a_loader_that_cannot_be_imported_is_one_line():
    with pytest.raises(UserError, match="dataset mine: cannot import its loader lpz_no_such_module:load "
                                        r"\(ModuleNotFoundError: No module named 'lpz_no_such_module'\)"):
        spec(loader="lpz_no_such_module:load").load(None, 0)


def test_the_doc_shows_the_example_the_tests_run():
    doc = DOC.read_text()
    for name in EXAMPLE_FILES:
        assert f"`tests/plugin_example/{name}`" in doc and (EXAMPLE / name).read_text() in doc, name


def test_the_docs_imagefolder_config_validates():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    config = validate(yaml.safe_load(next(b for b in blocks if "dataset_name: imagefolder" in b)))
    assert (config.dataloader.path, config.dataloader.image_size, config.dataloader.crop) == \
        ("~/pictures/flowers", 64, 400)
