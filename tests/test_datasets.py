"""The real-image datasets (CIFAR-10, CelebA, image folders, Fashion-MNIST) and `lpz data`."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lpz.config import Dataloader, validate
from lpz.data import DATASETS, cifar, download, images
from lpz.errors import ConfigError, UserError
from tests.helpers import lpz, tiny, unavailable

RECORDS = 20  # per batch in the small CIFAR-10 files the tests write


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("LPZ_DATA_DIR", str(folder))
    return folder


# ------------------------------------------------------------------ CIFAR-10

def cifar_batch(batch: int, records: int = RECORDS) -> bytes:
    """Record i: label (batch + i) % 10; red plane i * 7, green 255 - i * 7, blue batch * 40."""
    rows = []
    for i in range(records):
        red = np.full(1024, i * 7 % 256, np.uint8)
        rows.append(np.concatenate([[(batch + i) % 10], red, 255 - red, np.full(1024, batch * 40)]).astype(np.uint8))
    return np.stack(rows).tobytes()


def cifar_files(records: int = RECORDS) -> dict[str, bytes]:
    files = {f"data_batch_{b}.bin": cifar_batch(b, records) for b in range(1, 6)}
    files["test_batch.bin"] = cifar_batch(0, records)
    return files


def write_cifar_archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            member = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
    return path


def test_cifar10_from_the_binary_archive(tmp_path):
    write_cifar_archive(tmp_path / cifar.ARCHIVE, cifar_files())
    dataset = cifar.load_cifar10(tmp_path, records_per_batch=RECORDS)

    assert dataset.stored.dtype == torch.uint8  # pixels are kept as bytes, scaled batch by batch
    assert dataset.samples().shape == (5 * RECORDS, 3, 32, 32) and dataset.samples().dtype == torch.float32
    expected_labels = [(b + i) % 10 for b in range(1, 6) for i in range(RECORDS)]
    assert dataset.labels.tolist() == expected_labels
    record = 2 * RECORDS + 3  # batch 3, record 3
    red = 3 * 7 / 127.5 - 1
    assert torch.allclose(dataset.samples()[record, 0], torch.full((32, 32), red))
    assert torch.allclose(dataset.samples()[record, 1], torch.full((32, 32), (255 - 21) / 127.5 - 1))
    assert torch.allclose(dataset.samples()[record, 2], torch.full((32, 32), 3 * 40 / 127.5 - 1))
    assert dataset.samples().min() == -1.0 and dataset.samples().max() <= 1.0


def test_cifar10_from_the_extracted_folder_matches_the_archive(tmp_path):
    files = cifar_files()
    from_archive = cifar.load_cifar10(write_cifar_archive(tmp_path / cifar.ARCHIVE, files).parent,
                                      records_per_batch=RECORDS)
    extracted = tmp_path / "extracted" / cifar.FOLDER
    extracted.mkdir(parents=True)
    for name, content in files.items():
        (extracted / name).write_bytes(content)
    from_folder = cifar.load_cifar10(extracted.parent, records_per_batch=RECORDS)
    assert torch.equal(from_folder.samples(), from_archive.samples())
    assert torch.equal(from_folder.labels, from_archive.labels)


def test_cifar10_through_the_registry_expects_batches_of_10000_records(data_dir):
    (data_dir / "cifar10").mkdir()
    archive = write_cifar_archive(data_dir / "cifar10" / cifar.ARCHIVE, cifar_files())
    assert DATASETS["cifar10"].sample_shape(None) == (3, 32, 32)
    with pytest.raises(UserError) as caught:
        DATASETS["cifar10"].load(None, 0)
    message = str(caught.value)
    assert str(archive) in message and "data_batch_1.bin" in message
    assert f"expected {10_000 * 3073}" in message and "download it again" in message


def test_truncated_archive_is_a_clear_error(tmp_path):
    archive = write_cifar_archive(tmp_path / cifar.ARCHIVE, cifar_files())
    whole = archive.read_bytes()
    archive.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(UserError) as caught:
        cifar.load_cifar10(tmp_path, records_per_batch=RECORDS)
    message = str(caught.value)
    assert "\n" not in message
    assert str(archive) in message and "not a complete tar.gz archive" in message and "download it again" in message


def test_truncated_batch_file_is_a_clear_error(tmp_path):
    extracted = tmp_path / cifar.FOLDER
    extracted.mkdir()
    for name, content in cifar_files().items():
        (extracted / name).write_bytes(content[:-100] if name == "data_batch_4.bin" else content)
    with pytest.raises(UserError) as caught:
        cifar.load_cifar10(tmp_path, records_per_batch=RECORDS)
    message = str(caught.value)
    assert str(extracted / "data_batch_4.bin") in message
    assert f"holds {RECORDS * 3073 - 100} bytes" in message and "download it again" in message


def test_missing_cifar10_says_how_to_get_it(data_dir):
    with pytest.raises(UserError, match=r"lpz data download cifar10"):
        DATASETS["cifar10"].load(None, 0)


# ------------------------------------------------------------------ CelebA

def celeba_like(path: Path, shade: int) -> None:
    """178x218 like the aligned faces: white bands of 20 rows at the top and the bottom;
    between them the left half black, the right half grey `shade` (greys survive JPEG nearly exactly)."""
    pixels = np.full((218, 178, 3), 255, np.uint8)
    pixels[20:198, :89] = 0
    pixels[20:198, 89:] = shade
    Image.fromarray(pixels).save(path, quality=95)


SHADES = (40, 100, 160)


@pytest.fixture
def celeba_dir(data_dir) -> Path:
    folder = data_dir / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i, shade in enumerate(SHADES, start=1):
        celeba_like(folder / f"{i:06d}.jpg", shade)
    return folder


def test_celeba_is_the_centre_square_at_64x64(celeba_dir):
    samples = DATASETS["celeba"].load(None, 0).samples()
    assert samples.shape == (3, 3, 64, 64)
    assert DATASETS["celeba"].sample_shape(None) == (3, 64, 64)
    pixels = (samples + 1) * 127.5
    for i, shade in enumerate(SHADES):
        # the white bands lie outside the centred 178x178 square: no row of the result shows them
        assert pixels[i, :, :, :28].max() < 12
        assert (pixels[i, :, :, 36:] - shade).abs().max() < 12


def cache_files(data_dir: Path, name: str) -> list[Path]:
    return sorted((data_dir / ".cache").glob(f"{name}-*.npy"))


def test_celeba_is_decoded_once_then_read_from_the_cache(celeba_dir, data_dir):
    first = images.load_celeba().samples()
    assert len(cache_files(data_dir, "celeba")) == 1

    # Garbage of the same size and mtime: a load that opened the JPEG would fail on it.
    jpeg = celeba_dir / "000002.jpg"
    stat = jpeg.stat()
    jpeg.write_bytes(b"\0" * stat.st_size)
    os.utime(jpeg, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert torch.equal(images.load_celeba().samples(), first)

    # A changed mtime is a changed file: decoded again, and the garbage is reported.
    os.utime(jpeg, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(UserError, match=r"000002\.jpg: cannot read it as an image"):
        images.load_celeba()


@pytest.mark.parametrize("damage", ["not an image", "cut in half"])
def test_unreadable_jpeg_is_a_clear_error_naming_the_first_bad_file(celeba_dir, data_dir, damage):
    for name in ("000003.jpg", "000002.jpg"):
        jpeg = celeba_dir / name
        whole = jpeg.read_bytes()
        jpeg.write_bytes(b"this is text" if damage == "not an image" else whole[:len(whole) // 2])
    with pytest.raises(UserError) as caught:
        images.load_celeba()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{celeba_dir / '000002.jpg'}: cannot read it as an image")
    assert "replace or remove the file" in message
    assert cache_files(data_dir, "celeba") == []


def test_missing_celeba_says_how_to_get_it(data_dir):
    with pytest.raises(UserError, match=r"img_align_celeba not found; run `lpz data download celeba`"):
        images.load_celeba()


# ------------------------------------------------------------------ image folders

def solid(path: Path, size: tuple[int, int], colour, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_imagefolder_reads_pngs_of_any_size_and_mode_below_the_folder(tmp_path, data_dir):
    folder = tmp_path / "mine"
    solid(folder / "a.png", (40, 30), (255, 0, 0))
    solid(folder / "b" / "c.png", (100, 100), (0, 0, 255))
    solid(folder / "b" / "d.PNG", (64, 80), (0, 255, 0, 255), "RGBA")
    solid(folder / "e.png", (33, 50), 255, "L")
    (folder / "notes.txt").write_text("not an image")
    solid(folder / ".hidden" / "x.png", (10, 10), (1, 2, 3))
    loader = Dataloader(dataset_name="imagefolder", path=str(folder), image_size=32)

    dataset = DATASETS["imagefolder"].load(loader, 0)
    assert dataset.samples().shape == (4, 3, 32, 32) == (4, *DATASETS["imagefolder"].sample_shape(loader))
    means = ((dataset.samples() + 1) * 127.5).mean(dim=(2, 3)).round().tolist()
    assert means == [[255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 255]]  # sorted by path
    assert len(cache_files(data_dir, "imagefolder")) == 1


def test_imagefolder_crop_takes_the_centre_square(tmp_path, data_dir):
    folder = tmp_path / "framed"
    pixels = np.zeros((60, 90, 3), np.uint8)  # black frame, a white 40x40 square in the middle
    pixels[10:50, 25:65] = 255
    folder.mkdir()
    Image.fromarray(pixels).save(folder / "framed.png")
    cropped = images.load_imagefolder(Dataloader(dataset_name="imagefolder", path=str(folder), image_size=16,
                                                 crop=40)).samples()
    whole = images.load_imagefolder(Dataloader(dataset_name="imagefolder", path=str(folder), image_size=16)).samples()
    assert torch.equal(cropped, torch.ones(1, 3, 16, 16))
    assert whole.min() == -1.0  # the default crop (the shorter side, 60) keeps some of the frame

    too_big = Dataloader(dataset_name="imagefolder", path=str(folder), image_size=16, crop=61)
    with pytest.raises(UserError, match=r"framed\.png: 90x60 is smaller than dataloader.crop 61"):
        images.load_imagefolder(too_big)


def test_imagefolder_without_path_or_images_is_a_clear_error(tmp_path, data_dir):
    with pytest.raises(UserError, match=r"set dataloader.path"):
        DATASETS["imagefolder"].load(Dataloader(dataset_name="imagefolder"), 0)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(UserError, match=r"empty: no images \(\.jpg, .*\) in it or below it"):
        DATASETS["imagefolder"].load(Dataloader(dataset_name="imagefolder", path=str(tmp_path / "empty")), 0)
    with pytest.raises(UserError, match=r"is not a folder"):
        DATASETS["imagefolder"].load(Dataloader(dataset_name="imagefolder", path=str(tmp_path / "nowhere")), 0)


def test_config_takes_the_image_options_and_checks_the_shape_they_give():
    conv = {"dataloader.dataset_name": "imagefolder", "dataloader.path": "faces", "network.name": "convolutional",
            "network.loss": "bce"}
    config = validate(tiny(**conv, **{"dataloader.image_size": 32, "dataloader.crop": 100}))
    assert (config.dataloader.path, config.dataloader.image_size, config.dataloader.crop) == ("faces", 32, 100)
    assert validate(tiny(**conv)).dataloader.image_size == 64
    with pytest.raises(ConfigError, match=r"network.name: convolutional needs 32x32 or 64x64"):
        validate(tiny(**conv, **{"dataloader.image_size": 48}))
    with pytest.raises(ConfigError, match=r"dataloader.image_size"):
        validate(tiny(**conv, **{"dataloader.image_size": 4}))
    with pytest.raises(ConfigError, match=r"dataloader.crop"):
        validate(tiny(**conv, **{"dataloader.crop": 0}))


# ------------------------------------------------------------------ Fashion-MNIST

def test_fashion_mnist_reads_idx_files_under_its_own_name(mnist_dir, data_dir):
    (data_dir / "fashion-mnist").mkdir()
    for path in mnist_dir.glob("*-ubyte.gz"):
        shutil.copy(path, data_dir / "fashion-mnist" / path.name)
    dataset = DATASETS["fashion-mnist"].load(None, 0)
    assert dataset.name == "fashion-mnist" and dataset.samples().shape == (60_000, 1, 28, 28)
    assert torch.bincount(dataset.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert dataset.samples().min() == -1.0 and dataset.samples().max() == 1.0

    listing = lpz("data", "list", env={**os.environ, "LPZ_DATA_DIR": str(data_dir)}).stdout
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in listing.splitlines()[2:]}
    assert rows["fashion-mnist"].strip() == str(data_dir / "fashion-mnist")
    assert rows["mnist"].startswith("missing") and rows["cifar10"].startswith("missing")


SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist (make installs it)


def test_fashion_mnist_is_found_where_debians_package_puts_it(tmp_path):
    if not SYSTEM_FASHION.is_dir():
        unavailable("Debian's dataset-fashion-mnist is not installed (make install-test installs it)")
    env = {**os.environ, "LPZ_DATA_DIR": str(tmp_path)}  # an empty data directory
    listing = lpz("data", "list", env=env).stdout
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in listing.splitlines()[2:]}
    assert rows["fashion-mnist"].strip() == str(SYSTEM_FASHION)

    downloading = lpz("data", "download", "fashion-mnist", env=env)
    assert "already on this machine: /usr/share/datasets/fashion-mnist" in downloading.stdout

    loading = ("from lpz.data import DATASETS; d = DATASETS['fashion-mnist'].load(None, 0); "
               "print(len(d), d.labels.bincount().tolist())")
    out = subprocess.run([sys.executable, "-c", loading], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split(maxsplit=1) == ["60000", "[6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000]\n"]


# ------------------------------------------------------------------ lpz data download

def test_download_offline_is_one_line_naming_every_file_needed(tmp_path):
    result = lpz("data", "download", "mnist", "--dir", tmp_path, check=False, timeout=120)
    assert result.returncode == 2
    base = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]
    assert result.stderr.strip() == (
        f"error: cannot reach ossci-datasets.s3.amazonaws.com (no network?): download these files by hand into "
        f"{tmp_path / 'mnist'}, then run this again to check them: " + " ".join(base + name for name in files))


def test_download_celeba_says_where_to_get_it_and_where_to_unzip(tmp_path):
    result = lpz("data", "download", "celeba", "--dir", tmp_path)
    assert "img_align_celeba.zip" in result.stdout and download.CELEBA_PAGE in result.stdout
    assert f"{tmp_path / 'celeba' / 'img_align_celeba'}/000001.jpg" in result.stdout


def test_verify_detects_a_checksum_mismatch(tmp_path):
    path = tmp_path / "file.gz"
    path.write_bytes(b"the bytes the server sent")
    right = hashlib.sha256(b"the bytes the server sent").hexdigest()
    download.verify(path, right)
    wrong = hashlib.sha256(b"the bytes it published").hexdigest()
    with pytest.raises(download.ChecksumMismatch) as caught:
        download.verify(path, wrong)
    assert str(path) in str(caught.value) and right in str(caught.value) and wrong in str(caught.value)


CONTENT = bytes(range(256)) * 12_000  # 3 MB: several chunks


@pytest.fixture
def http_server():
    """A real HTTP server on loopback serving CONTENT at /file.bin, with or without Range support."""
    seen: list[str | None] = []
    settings = {"ranges": True}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            wanted = self.headers.get("Range")
            seen.append(wanted)
            start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and settings["ranges"] else 0
            if start >= len(CONTENT):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}")
            self.send_header("Content-Length", str(len(CONTENT) - start))
            self.end_headers()
            self.wfile.write(CONTENT[start:])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/file.bin", seen, settings
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("already", [0, 1_000_003, len(CONTENT)])
@pytest.mark.parametrize("ranges", [True, False])
def test_download_resumes_a_part_file_then_verifies_and_renames(http_server, tmp_path, already, ranges):
    url, seen, settings = http_server
    settings["ranges"] = ranges
    (tmp_path / "file.bin.part").write_bytes(CONTENT[:already])
    source = download.Source(url, hashlib.sha256(CONTENT).hexdigest())

    assert download.fetch(source, tmp_path) is True
    assert seen == [f"bytes={already}-" if already else None]
    assert (tmp_path / "file.bin").read_bytes() == CONTENT
    assert not (tmp_path / "file.bin.part").exists()
    assert download.fetch(source, tmp_path) is False  # a verified copy is there: no second request
    assert len(seen) == 1


def test_download_with_the_wrong_checksum_keeps_nothing(http_server, tmp_path):
    url, _, _ = http_server
    source = download.Source(url, hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(download.ChecksumMismatch, match=r"it came from http://127\.0\.0\.1:\d+/file\.bin"):
        download.fetch(source, tmp_path)
    assert list(tmp_path.iterdir()) == []
