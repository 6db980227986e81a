"""What each dataset is, without loading it: the config and the command line read this, and it
imports no torch, so a bad config is reported at once.

Besides the built-in datasets, installed packages may register their own: an entry point in the group
`lpz.datasets` whose name is the dataset's name and whose value is a DatasetSpec object, e.g. in the
package's pyproject.toml

    [project.entry-points."lpz.datasets"]
    rings = "lpz_example_rings:RINGS"

(docs/add-a-dataset.md; tests/plugin_example/ is a complete one). DATASETS finds them on its first use.
"""
from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Callable, Iterator

from lpz.errors import UserError, excerpt

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lpz.datasets"
KINDS = ("points", "images")
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str                                # "points" or "images"
    sample_shape: Callable[[object], tuple]  # dataloader config -> shape of one sample
    loader: str                              # "module:function" taking (dataloader config, run seed)
    summary: str

    def load(self, dataloader, seed: int):
        """The whole dataset (a lpz.data.base.Dataset), read from this machine's data directory."""
        return self.loader_function()(dataloader, seed)

    def loader_function(self) -> Callable:
        module, _, function = self.loader.partition(":")
        try:
            return getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as e:
            raise UserError(f"dataset {self.name}: cannot import its loader {self.loader} ({_one_line(e)}); "
                            f"install the package it comes from, or fix the loader of its DatasetSpec") from None


def data_dir() -> Path:
    """LPZ_DATA_DIR, or ~/.cache/lpz/data."""
    return Path(os.environ.get("LPZ_DATA_DIR") or Path.home() / ".cache" / "lpz" / "data").expanduser()


BUILT_IN: dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec("gaussian8", "points", lambda d: (2,), "lpz.data.toy:load_gaussian8",
                "8 Gaussians on a circle of radius 2, std 0.02"),
    DatasetSpec("gaussian25", "points", lambda d: (2,), "lpz.data.toy:load_gaussian25",
                "25 Gaussians on a 5x5 grid with spacing 2, std 0.05"),
    DatasetSpec("circular", "points", lambda d: (2,), "lpz.data.toy:load_circular",
                "11 exact points on a circle of radius 4, the old system's gradient-free toy problem"),
    DatasetSpec("gaussian", "points", lambda d: (d.data_size or 1000,), "lpz.data.toy:load_gaussian",
                "vectors of data_size (default 1000) values, each from N(5, 2^2), as the old system's"),
    DatasetSpec("mnist", "images", lambda d: (1, 28, 28), "lpz.data.idx:load_mnist",
                "MNIST handwritten digits, 60,000 training images, 1x28x28"),
    DatasetSpec("fashion-mnist", "images", lambda d: (1, 28, 28), "lpz.data.idx:load_fashion_mnist",
                "Fashion-MNIST clothing, 60,000 training images, 1x28x28"),
    DatasetSpec("cifar10", "images", lambda d: (3, 32, 32), "lpz.data.cifar:load_for_run",
                "CIFAR-10 objects in 10 classes, 50,000 training images, 3x32x32"),
    DatasetSpec("celeba", "images", lambda d: (3, 64, 64), "lpz.data.images:load_celeba",
                "CelebA aligned faces, 202,599 images, centre 178x178 resized to 3x64x64"),
    DatasetSpec("imagefolder", "images", lambda d: (3, d.image_size, d.image_size), "lpz.data.images:load_imagefolder",
                "your own images under dataloader.path (jpg, png, bmp, webp), 3 x image_size x image_size"),
]}


class PluginProblem(Exception):
    """A package's entry point in lpz.datasets that lpz cannot use; the message says how to fix it."""


class Datasets(Mapping):
    """The built-in datasets, then those that installed packages register (ENTRY_POINT_GROUP).

    Finding those imports the packages' modules, so it waits for the first lookup (`lpz --help` never
    pays for it) and happens once per process. A plugin that cannot be used is reported in one
    warning line and left out; it never hides a built-in dataset."""

    def __init__(self, built_in: dict[str, DatasetSpec]):
        self.built_in = built_in
        self._packages: dict[str, str] = {}  # dataset from a plugin -> the package that registers it
        self._all: dict[str, DatasetSpec] | None = None

    def _specs(self) -> dict[str, DatasetSpec]:
        if self._all is None:
            self._all = dict(self.built_in)  # before importing plugins: one of them may look a dataset up
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self._add(entry)
        return self._all

    def _add(self, entry: EntryPoint) -> None:
        package = entry.dist.name if entry.dist else "(unknown package)"
        try:
            spec = plugin_spec(entry, self._all, self._packages)
        except PluginProblem as problem:
            log.warning("ignoring dataset %s of package %s: %s", excerpt(entry.name, 70), package, problem)
            return
        self._all[spec.name] = spec
        self._packages[spec.name] = package

    def package(self, name: str) -> str | None:
        """The package that registers a dataset from a plugin; None for built-in or unknown names."""
        self._specs()
        return self._packages.get(name)

    def __getitem__(self, name: str) -> DatasetSpec:
        return self._specs()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())


def plugin_spec(entry: EntryPoint, known: dict[str, DatasetSpec], packages: dict[str, str]) -> DatasetSpec:
    """The DatasetSpec an entry point names, checked; else PluginProblem."""
    name = entry.name
    if not SAFE_NAME.fullmatch(name):
        raise PluginProblem("not a usable dataset name; name the entry point with 1-64 letters, digits, "
                            "'-' or '_' (and its DatasetSpec the same)")
    if name in known:
        owner = f"package {packages[name]}" if name in packages else "lpz itself"
        raise PluginProblem(f"{owner} already has a dataset {name}; rename the entry point and its DatasetSpec")
    try:
        spec = entry.load()
    except Exception as e:  # whatever a broken package raises, lpz and its other datasets go on
        raise PluginProblem(f"cannot import {excerpt(entry.value, 120)} ({_one_line(e)}); fix the entry point "
                            f"in the package's pyproject.toml, or reinstall or uninstall the package") from None
    if not isinstance(spec, DatasetSpec):
        raise PluginProblem(f"{excerpt(entry.value, 120)} is a {type(spec).__name__}, not a "
                            f"lpz.data.DatasetSpec; point the entry point at a DatasetSpec object")
    problem = next(spec_problems(spec, name), None)
    if problem:
        raise PluginProblem(f"its DatasetSpec {problem}")
    return spec


def spec_problems(spec: DatasetSpec, name: str) -> Iterator[str]:
    """What is wrong with a plugin's DatasetSpec for the entry point name, if anything."""
    if spec.name != name:
        yield f"is named {excerpt(spec.name)}; give the entry point and the DatasetSpec the same name"
    if spec.kind not in KINDS:
        yield f"has kind {excerpt(spec.kind)}; use one of {', '.join(KINDS)}"
    if not callable(spec.sample_shape):
        yield "has a sample_shape that is not a function; make it one from the dataloader config to a shape"
    if not isinstance(spec.loader, str) or not re.fullmatch(r"[\w.]+:\w+", spec.loader):
        yield f"has loader {excerpt(spec.loader)}; write it as 'module:function'"


def _one_line(error: Exception, limit: int = 200) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


DATASETS = Datasets(BUILT_IN)
