"""`lpz data ...`: fetch datasets into the data directory and see which are there."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from lpz.errors import UserError

data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Datasets: download them into the data directory (LPZ_DATA_DIR), list what is here.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DIR_HELP = "Data directory to fill (default: LPZ_DATA_DIR, else ~/.cache/lpz/data); files go into DIR/NAME/."


@data_app.command()
def download(name: str = typer.Argument(..., help="mnist, fashion-mnist, cifar10 (or celeba: where to get it)."),
             data_dir: Optional[Path] = typer.Option(None, "--dir", help=DIR_HELP)):
    """Download a dataset, resuming a broken download and checking its SHA-256."""
    from lpz.data import DATASETS, download as fetching
    from lpz.data.base import data_dir as default_data_dir
    from lpz.data.places import SYSTEM_DATASETS

    root = (data_dir or default_data_dir()).expanduser()
    if name == "celeba":
        console.print(fetching.celeba_instructions(root), highlight=False)
        return
    if name not in fetching.SOURCES:
        raise UserError(_not_downloadable(name, DATASETS, fetching.SOURCES))
    found = fetching.local_copy(name)
    if data_dir is None and found is not None and found.is_relative_to(SYSTEM_DATASETS):
        console.print(f"already on this machine: {found} (a system package's copy, which lpz reads); "
                      f"nothing to download", highlight=False)
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=err, transient=True)
    with progress:
        results = fetching.download(name, root, progress)
    for path, downloaded in results:
        console.print(f"{'downloaded' if downloaded else 'already here'}: {path} (sha256 checked)", highlight=False)


def _not_downloadable(name: str, datasets, sources: dict) -> str:
    downloadable = ", ".join([*sources, "celeba"])
    if package := datasets.package(name):
        return f"{name} comes from the package {package}, which loads its own data; see its documentation"
    if name == "imagefolder":
        return "imagefolder is your own images: set dataloader.path in the config to their folder"
    if name in datasets and datasets[name].kind == "points":
        return f"{name} is generated from the run's seed; there is nothing to download"
    return f"no dataset {name!r} to download; use one of {downloadable}"


@data_app.command("list")
def list_datasets():
    """The datasets lpz knows and where each one is on this machine (see lpz data download)."""
    from lpz.data import DATASETS, download as fetching
    from lpz.data.base import data_dir

    console.print(f"data directory: {data_dir()}", highlight=False)
    width = max(map(len, DATASETS))
    console.print(f"{'dataset':<{width}}  where", style="bold", highlight=False)
    for name, spec in DATASETS.items():
        if package := DATASETS.package(name):
            where = f"loaded by the package {package}"
        elif spec.kind == "points":
            where = "generated"
        elif name == "imagefolder":
            where = "dataloader.path"
        else:
            found = fetching.local_copy(name)
            where = str(found) if found else f"missing (lpz data download {name})"
        console.print(f"{name:<{width}}  {where}", highlight=False)  # no table: it would cut long paths


@data_app.command()
def push(name: str = typer.Argument(..., help="mnist, fashion-mnist, cifar10 or celeba, from this machine."),
         store: Optional[str] = typer.Option(None, help="Store URL (default: LPZ_STORE, else ./lpz-store).")):
    """Upload a dataset to the store once; workers that lack it pull it from there, checksum-verified."""
    from lpz.data.sync import push as push_dataset
    from lpz.store import open_store, store_url

    the_store = open_store(store_url(store))
    the_store.check()
    sizes = []
    manifest = push_dataset(the_store, name, on_file=lambda relative, size: sizes.append(size))
    console.print(f"pushed {name}: {len(manifest['files'])} files, {sum(sizes) / 1e6:.1f} MB to {the_store.url}",
                  highlight=False)
