"""Fetching datasets into the data directory: resumable, checksummed, atomic.

A file downloads into <name>.part (resumed with an HTTP Range request when a
.part is already there), is checked against its published SHA-256, and only
then renamed to its final name, so a loader never sees half a file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lpz.data.places import IDX_FILES, celeba_folder, find_file, idx_folders, locate_cifar
from lpz.data.specs import data_dir
from lpz.errors import UserError
from lpz.files import DownloadFailed, download as download_url, sha256_file

TIMEOUT_S = 15  # connecting, and any stall while reading


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


def _idx_sources(base_url: str, sha256s: list[str]) -> list[Source]:
    """The four .gz files, in the order train images, train labels, test images, test labels."""
    stems = [*IDX_FILES["train"], *IDX_FILES["test"]]
    return [Source(f"{base_url}{stem}.gz", sha256) for stem, sha256 in zip(stems, sha256s, strict=True)]


# The SHA-256 of the files as their servers publish them (MNIST's are those of
# LeCun's original .gz files, which the ossci mirror serves byte for byte).
SOURCES: dict[str, list[Source]] = {
    "mnist": _idx_sources("https://ossci-datasets.s3.amazonaws.com/mnist/", [
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ]),
    "fashion-mnist": _idx_sources("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", [
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    ]),
    "cifar10": [Source("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                       "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")],
}

CELEBA_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def celeba_instructions(root: Path) -> str:
    target = root / "celeba"
    return (f"CelebA cannot be downloaded automatically (it sits on Google Drive behind a confirmation page).\n"
            f"1. From {CELEBA_PAGE} follow 'Align&Cropped Images' and download img_align_celeba.zip (1.4 GB).\n"
            f"2. Unzip it into {target}/ so that the images are {target / 'img_align_celeba'}/000001.jpg ...\n"
            f"The first run decodes the 202,599 JPEGs once (a few minutes) and caches them in {root / '.cache'}/.")


class ChecksumMismatch(UserError):
    pass


class Unreachable(UserError):
    def __init__(self, host: str):
        self.host = host
        super().__init__(f"cannot reach {host}")


def verify(path: Path, expected_sha256: str) -> None:
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ChecksumMismatch(f"{path}: sha256 is {actual}, expected {expected_sha256}: "
                               f"a damaged or different file")


def fetch(source: Source, folder: Path, progress=None) -> bool:
    """Download one file into folder unless a verified copy is there; True when it downloaded.

    It arrives in <name>.part (resumed when one is there), is checked, and only then renamed."""
    target = folder / source.filename
    if target.is_file() and sha256_file(target) == source.sha256:
        return False
    part = folder / (source.filename + ".part")
    task = progress.add_task(source.filename, total=None) if progress else None
    on_bytes = (lambda done, total: progress.update(task, completed=done, total=total)) if progress else None
    try:
        download_url(source.url, part, TIMEOUT_S, on_bytes)
    except DownloadFailed as e:
        if not e.reachable:
            raise Unreachable(urlsplit(source.url).hostname) from None
        raise UserError(f"{source.url}: {e}; run the command again to resume, or download it by hand "
                        f"into {folder}") from None
    try:
        verify(part, source.sha256)
    except ChecksumMismatch as e:
        part.unlink()
        raise ChecksumMismatch(f"{e}; it came from {source.url} and is removed: run the command again") from None
    os.replace(part, target)
    return True


def download(name: str, root: Path | None = None, progress=None) -> list[tuple[Path, bool]]:
    """Every file of dataset name into root/name/ (root: the data directory); (path, downloaded) for each."""
    folder = (root or data_dir()) / name
    results = []
    for source in SOURCES[name]:
        try:
            results.append((folder / source.filename, fetch(source, folder, progress)))
        except Unreachable as e:
            missing = [s.url for s in SOURCES[name] if not (folder / s.filename).is_file()]
            raise UserError(f"cannot reach {e.host} (no network?): download {'these files' if len(missing) > 1 else 'it'} "
                            f"by hand into {folder}, then run this again to check them: {' '.join(missing)}") from None
    return results


def local_copy(name: str) -> Path | None:
    """Where the data of a downloadable or manual dataset is on this machine, if it is."""
    if name in ("mnist", "fashion-mnist"):
        try:
            return find_file(idx_folders(name), IDX_FILES["train"][0], name).parent
        except UserError:
            return None
    if name == "cifar10":
        return locate_cifar()
    if name == "celeba":
        folder = celeba_folder()
        return folder if folder.is_dir() and any(folder.glob("*.jpg")) else None
    return None
