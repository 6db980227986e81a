"""`lpz data push` and the worker's pull of a dataset it lacks, through a real S3 server."""
import hashlib

import torch

import pytest

from lpz.config import validate
from lpz.data.sync import DamagedDataset, pull, push
from lpz.errors import UserError
from lpz.runs import Run, keys
from lpz.store import open_store
from lpz.engine.work import run_dataset
from tests.helpers import lpz, tiny

MNIST_FILES = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}


def test_push_uploads_the_files_and_a_manifest(data_env, mnist_dir, s3_bucket, tmp_path):
    store = f"s3://{s3_bucket}"
    out = lpz("data", "push", "mnist", "--store", store)
    assert "pushed mnist: 4 files" in out.stdout
    manifest = open_store(store).get_json(keys.manifest("mnist"))
    assert set(manifest["files"]) == MNIST_FILES
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((mnist_dir / name).read_bytes()).hexdigest()


def test_a_worker_without_the_data_pulls_it_verified(data_env, mnist_dir, s3_bucket, tmp_path, monkeypatch):
    store = open_store(f"s3://{s3_bucket}")
    push(store, "mnist")
    empty = tmp_path / "worker-data"
    monkeypatch.setenv("LPZ_DATA_DIR", str(empty))  # a worker that has never seen MNIST
    run = Run.create(store, validate(tiny(**{"dataloader.dataset_name": "mnist",
                                              "network.name": "four_layer_perceptron"})), run_id="pulls")
    dataset = run_dataset(run)
    assert len(dataset) == 60000 and dataset.shape == (1, 28, 28) and dataset.stored.dtype == torch.uint8
    for name in MNIST_FILES:
        assert (empty / "mnist" / name).read_bytes() == (mnist_dir / name).read_bytes()


def test_a_damaged_pushed_file_is_refused(data_env, s3_bucket, tmp_path, monkeypatch):
    store = open_store(f"s3://{s3_bucket}")
    push(store, "mnist")
    store.put("data/mnist/files/train-labels-idx1-ubyte.gz", b"not the labels")
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path / "worker-data"))
    with pytest.raises(DamagedDataset, match="train-labels.*sha256 differs"):
        pull(store, "mnist")
    assert not (tmp_path / "worker-data" / "mnist" / "train-labels-idx1-ubyte.gz").exists()


def flipped(data: bytes) -> bytes:
    """The same number of bytes, one of them changed."""
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    return bytes(damaged)


def test_a_pushed_file_damaged_without_changing_its_size_is_refused(data_env, mnist_dir, s3_bucket, tmp_path,
                                                                      monkeypatch):
    store = open_store(f"s3://{s3_bucket}")
    push(store, "mnist")
    labels = "train-labels-idx1-ubyte.gz"
    store.put(f"data/mnist/files/{labels}", flipped((mnist_dir / labels).read_bytes()))  # only its sha256 tells
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path / "worker-data"))
    with pytest.raises(DamagedDataset, match="train-labels.*sha256 differs"):
        pull(store, "mnist")
    assert not (tmp_path / "worker-data" / "mnist" / labels).exists()


def test_a_local_copy_damaged_without_changing_its_size_is_pulled_again(data_env, mnist_dir, s3_bucket, tmp_path,
                                                                         monkeypatch):
    store = open_store(f"s3://{s3_bucket}")
    push(store, "mnist")
    labels = "train-labels-idx1-ubyte.gz"
    copy = tmp_path / "worker-data" / "mnist" / labels
    copy.parent.mkdir(parents=True)
    copy.write_bytes(flipped((mnist_dir / labels).read_bytes()))
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path / "worker-data"))
    pull(store, "mnist")
    assert copy.read_bytes() == (mnist_dir / labels).read_bytes()


def test_a_dataset_neither_here_nor_pushed_is_a_clear_error(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("LPZ_DATA_DIR", str(tmp_path))
    with pytest.raises(UserError, match="lpz data push mnist"):
        pull(open_store(f"s3://{s3_bucket}"), "mnist")
