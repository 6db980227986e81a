"""The Store contract, held by every implementation: a local directory and a real S3 bucket."""
from __future__ import annotations

import pytest
import torch

from lpz.errors import ObjectMissing
from lpz.store import LocalStore
from tests.store_fixtures import random_bytes


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.cluster)])
def store(request, tmp_path):
    """A store nobody has written to yet (no directory, no bucket)."""
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return request.getfixturevalue("s3_store")


def test_put_get_round_trip(store):
    payloads = {"empty": b"", "text": b"hello", "binary": bytes(range(256)) * 3, "random": random_bytes(100_000)}
    for name, data in payloads.items():
        store.put(f"objects/{name}", data)
    for name, data in payloads.items():
        assert store.get(f"objects/{name}") == data


def test_overwrite_replaces_the_object(store):
    store.put("runs/r/run.json", b"first version, longer")
    store.put("runs/r/run.json", b"second")
    assert store.get("runs/r/run.json") == b"second"


def test_exists_follows_put_and_delete(store):
    assert not store.exists("a/b")
    store.put("a/b", b"x")
    assert store.exists("a/b")
    assert not store.exists("a")  # a folder-like prefix is not an object
    store.delete("a/b")
    assert not store.exists("a/b")


def test_list_is_recursive_sorted_and_keeps_to_the_prefix(store):
    keys = ["runs/a/gen/2/cell/0/state.pt", "runs/a/gen/10/cell/1/metrics.json", "runs/a/run.json",
            "runs/a/gen/1/cell/0/public.pt", "runs/ab/run.json", "other/runs/a/x"]
    for key in keys:
        store.put(key, key.encode())
    inside = sorted(k for k in keys if k.startswith("runs/a/"))
    assert store.list("runs/a/") == inside
    assert store.list("runs/a/ge") == [k for k in inside if k.startswith("runs/a/ge")]
    assert store.list("runs/a/gen/1/") == ["runs/a/gen/1/cell/0/public.pt"]
    assert store.list("") == sorted(keys)
    assert store.list("nothing/here/") == []


def test_list_and_exists_on_a_store_never_written(store):
    assert store.list("") == []
    assert not store.exists("runs/r/run.json")


def test_delete_is_idempotent(store):
    store.delete("never/written")
    store.put("k", b"v")
    store.delete("k")
    store.delete("k")
    assert store.list("") == []


def test_missing_object_raises_object_missing(store):
    with pytest.raises(ObjectMissing) as missing:
        store.get("runs/nope/run.json")
    assert missing.value.args[0] == "runs/nope/run.json"
    store.put("runs/other/run.json", b"{}")
    with pytest.raises(ObjectMissing):
        store.get("runs/nope/run.json")


def test_json_round_trip(store):
    value = {"seed": 7, "grid": [2, 2], "nested": {"lr": 0.0002, "names": ["a", "b"]}, "none": None}
    store.put_json("runs/r/run.json", value)
    assert store.get_json("runs/r/run.json") == value


def test_tensors_round_trip(store):
    g = torch.Generator().manual_seed(3)
    value = {"weights": {"w": torch.randn(4, 3, generator=g), "b": torch.zeros(3)},
             "steps": torch.tensor([1, 2, 3]), "lr": 0.001, "names": ["g", "d"]}
    written = store.put_tensors("runs/r/gen/1/cell/0/state.pt", value)
    assert store.get("runs/r/gen/1/cell/0/state.pt") == written
    back = store.get_tensors("runs/r/gen/1/cell/0/state.pt")
    assert torch.equal(back["weights"]["w"], value["weights"]["w"])
    assert torch.equal(back["weights"]["b"], value["weights"]["b"])
    assert torch.equal(back["steps"], value["steps"])
    assert (back["lr"], back["names"]) == (0.001, ["g", "d"])
