"""A corpus of hostile input, each case run through the real `lpz` command line.

Every case is a kind of input an attacker or a careless user could hand lpz: config files (alias
bombs, devices, FIFOs, include trees, absurd numbers), run ids, dataset manifests in the store, and
damaged results and run records. Each must end in exit code 2 and one line that says what is wrong,
within a bounded peak memory (measured by the kernel for that process), and must write nothing
outside the store. Worker-side messages are in test_cluster_trust.py; recomputed checkpoints in
test_trust.py.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

from lpz.config import validate
from lpz.engine.local import run_local
from lpz.views.printable import printable
from lpz.runs import Run
from lpz.store import LocalStore
from tests.helpers import lpz_measured, one_line_error, tiny

MAX_RSS = 500 * 2**20
MINIMAL = "dataloader:\n  dataset_name: gaussian8\nnetwork:\n  name: mlp2d\n"
RUN_ID = "finished"


@dataclass(frozen=True)
class Case:
    kind: str                              # config, id, manifest or checkpoint
    name: str
    build: Callable[[Path], list]          # prepares the workspace, returns the lpz arguments
    expect: str                            # a piece of the one line
    absent: str = ""                       # what must appear nowhere in the output (an included file's secret)
    operator_store: bool = True            # LPZ_STORE set; False: the config's general.store is all there is


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def config(text: str, name: str = "attack.yml") -> Callable[[Path], list]:
    return lambda w: ["run", write(w / name, text).name]


def alias_bomb(target: str) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + target + "\n"


def fifo_config(w: Path) -> list:
    os.mkfifo(w / "fifo.yml")
    return ["run", "fifo.yml"]


def include_fifo(w: Path) -> list:
    os.mkfifo(w / "base.yml")
    write(w / "attack.yml", "include: base.yml\n" + MINIMAL)
    return ["run", "attack.yml"]


def include_directory(w: Path) -> list:
    (w / "base.yml").mkdir()
    write(w / "attack.yml", "include: base.yml\n" + MINIMAL)
    return ["run", "attack.yml"]


def include_fan_out(w: Path) -> list:
    for level in range(8):  # each file includes the next twice over: 2^8 reads of 9 small files
        write(w / f"f{level}.yml", f"include: [f{level + 1}.yml, f{level + 1}.yml]\n")
    write(w / "f8.yml", MINIMAL)
    return ["run", "f0.yml"]


def include_chain(w: Path) -> list:
    for i in range(40):
        write(w / f"c{i}.yml", f"include: c{i + 1}.yml\n")
    write(w / "c40.yml", MINIMAL)
    return ["run", "c0.yml"]


def include_heavy(w: Path) -> list:
    padding = "# " + "x" * 1000 + "\n"
    for i in range(5):
        write(w / f"h{i}.yml", (f"include: h{i + 1}.yml\n" if i < 4 else MINIMAL) + padding * 240)
    return ["run", "h0.yml"]


def include_cycle(w: Path) -> list:
    write(w / "b.yml", "include: attack.yml\n")
    return ["run", write(w / "attack.yml", "include: b.yml\n" + MINIMAL).name]


SECRET = "sk-SECRET-3b9f0d6c2a71e845"


def include_secret(included: str) -> Callable[[Path], list]:
    def build(w: Path) -> list:
        write(w / "secrets.yml", included)
        return ["run", write(w / "attack.yml", "include: secrets.yml\n").name]
    return build


def nested(depth: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n" + MINIMAL


CONFIGS = [
    Case("config", "alias bomb in the run name", config(alias_bomb("name: *a8") + MINIMAL), "expands to more than"),
    Case("config", "alias bomb as the includes", config(alias_bomb("include: *a8") + MINIMAL), "expands to more than"),
    Case("config", "alias bomb in a number field",
         config(alias_bomb("") + "dataloader:\n  dataset_name: gaussian8\n  batch_size: *a8\nnetwork:\n  name: mlp2d\n"),
         "expands to more than"),
    Case("config", "a recursive alias", config("a: &a [*a]\n" + MINIMAL), "contains itself"),
    Case("config", "include of /dev/zero", config("include: /dev/zero\n" + MINIMAL), "is not a config file"),
    Case("config", "include of /dev/urandom", config("include: /dev/urandom\n" + MINIMAL), "is not a config file"),
    Case("config", "include of /etc/shadow", config("include: /etc/shadow\n" + MINIMAL), "is not a config file"),
    Case("config", "include of an absolute path", config("include: /tmp/base.yml\n" + MINIMAL), "is absolute"),
    Case("config", "include of a FIFO", include_fifo, "not a regular file"),
    Case("config", "include of a directory", include_directory, "is a directory"),
    Case("config", "the config is a FIFO", fifo_config, "not a regular file"),
    Case("config", "the config is /dev/zero", lambda w: ["run", "/dev/zero"], "not a regular file"),
    Case("config", "a fan-out tree of includes", include_fan_out, "more than 32 files"),
    Case("config", "a chain of 40 includes", include_chain, "more than 32 files"),
    Case("config", "includes adding up to more than 1 MB", include_heavy, "at most 1024 KB"),
    Case("config", "a cycle of includes", include_cycle, "makes a cycle"),
    Case("config", "brackets nested 3,000 deep", config("a: " + "[" * 3000 + "]" * 3000 + "\n" + MINIMAL),
         "nested"),
    Case("config", "mappings nested 20 deep", config(nested(20)), "nested deeper than 16"),
    Case("config", "a file of 300 KB", config(MINIMAL + ("# " + "x" * 998 + "\n") * 300), "at most 256 KB"),
    Case("config", "a number of 5,000 digits",
         config("dataloader:\n  dataset_name: gaussian8\n  batch_size: " + "9" * 5000 + "\nnetwork:\n  name: mlp2d\n"),
         "number too long"),
    Case("config", "tabs for indentation", config("dataloader:\n\tdataset_name: gaussian8\n"), "not tabs"),
    Case("config", "bytes that are not UTF-8", lambda w: ["run", write(w / "attack.yml", b"name: \xff\xfe\n").name],
         "not UTF-8"),
    Case("config", "NUL bytes", config("name: a\x00b\n" + MINIMAL), "not valid YAML"),
    Case("config", "n_batches 1e12",
         config("dataloader:\n  dataset_name: gaussian8\n  n_batches: 1e12\nnetwork:\n  name: mlp2d\n"),
         "n_batches: 1000000000000.0 is not a whole number"),
    Case("config", "n_batches of a trillion",
         config("dataloader:\n  dataset_name: gaussian8\n  n_batches: 1000000000000\nnetwork:\n  name: mlp2d\n"),
         "it must be at most 1,000,000"),
    Case("config", "mixture_sigma 1e308", config(MINIMAL + "trainer:\n  params:\n    mixture_sigma: 1e308\n"),
         "mixture_sigma: 1e+308 is too large; it must be at most 1"),
    Case("config", "alpha .inf", config(MINIMAL + "trainer:\n  params:\n    alpha: .inf\n"), "not a finite number"),
    Case("config", "a learning rate .nan",
         config(MINIMAL + "trainer:\n  params:\n    default_adam_learning_rate: .nan\n"), "not a finite number"),
    Case("config", "a network no machine holds",
         config("dataloader:\n  dataset_name: gaussian8\n  batch_size: 65536\ntrainer:\n  params:\n"
                "    population_size: 64\nnetwork:\n  name: mlp2d\n  hidden_size: 8192\n"), "one cell would need about"),
    Case("config", "a grid of a billion rows", config(MINIMAL + "grid:\n  rows: 1000000000\n"), "at most 64"),
    Case("config", "keep_generations 1e18", config(MINIMAL + "general:\n  keep_generations: 1000000000000000000\n"),
         "at most 100,000"),
    Case("config", "a run name of 100,000 characters", config(f"name: {'x' * 100_000}\n" + MINIMAL),
         "is not a valid run name"),
    Case("config", "a key of 100,000 characters", config(f"? {'k' * 100_000}\n: 1\n" + MINIMAL), "unknown key"),
    Case("config", "a dataset name of 5,000 characters",
         config(f"dataloader:\n  dataset_name: {'d' * 5000}\nnetwork:\n  name: mlp2d\n"), "at most 64"),
    Case("config", "terminal escapes in a value", config("name: \"\\e[31mred\\e[0m\"\n" + MINIMAL), "\\x1b"),
    Case("config", "a secret in an included file, as a dataset name",
         include_secret(f"dataloader:\n  dataset_name: {SECRET}\nnetwork:\n  name: mlp2d\n"),
         "dataloader.dataset_name: the value (not quoted from an included file) is not a dataset", absent=SECRET[:6]),
    Case("config", "a secret in an included file, as a number",
         include_secret(f"dataloader:\n  dataset_name: gaussian8\n  batch_size: {SECRET}\nnetwork:\n  name: mlp2d\n"),
         "batch_size: the value (not quoted from an included file) is not a whole number", absent=SECRET[:6]),
    Case("config", "a store outside the working directory", config(MINIMAL + "general:\n  store: ../elsewhere\n"),
         "general.store names a folder outside the working directory", operator_store=False),
]

IDS = [
    Case("id", "a path up the tree", lambda w: ["status", "../../etc"], "is malformed"),
    Case("id", "an absolute path", lambda w: ["sample", "/etc/passwd"], "is malformed"),
    Case("id", "an id of 500 characters", lambda w: ["report", "a" * 500], "ids have at most 80"),
    Case("id", "terminal escapes", lambda w: ["resume", "a\x1b[31mred"], "\\x1b"),
    Case("id", "an empty id", lambda w: ["cancel", ""], "is empty"),
    Case("id", "upper case and a slash", lambda w: ["assemble", "Run/1"], "is malformed"),
    Case("id", "two dots", lambda w: ["score", "a..b"], "is malformed"),
    Case("id", "an id that is not there", lambda w: ["status", "nope"], "no run 'nope'"),
]


# ---------------------------------------------------------------- manifests in the store

MNIST_CONFIG = "dataloader:\n  dataset_name: mnist\nnetwork:\n  name: four_layer_perceptron\nscore:\n  type: none\n"


def manifest(files: dict | str) -> Callable[[Path], list]:
    def build(w: Path) -> list:
        text = files if isinstance(files, str) else json.dumps({"files": files})
        write(w / "store" / "data" / "mnist" / "manifest.json", text)
        return ["run", write(w / "mnist.yml", MNIST_CONFIG).name]
    return build


GOOD_ENTRY = {"sha256": "0" * 64, "size": 10}


def symlink_in_the_data_dir(w: Path) -> list:
    (w / "outside").mkdir()
    (w / "data" / "mnist").mkdir(parents=True)
    (w / "data" / "mnist" / "link").symlink_to(w / "outside", target_is_directory=True)
    return manifest({"link/train-images-idx3-ubyte.gz": GOOD_ENTRY})(w)


def symlink_in_the_store(w: Path) -> list:
    content = b"root:x:0:0"
    files = w / "store" / "data" / "mnist" / "files"
    files.mkdir(parents=True)
    (files / "train-images-idx3-ubyte.gz").symlink_to("/etc/passwd")
    return manifest({"train-images-idx3-ubyte.gz": {"sha256": hashlib.sha256(content).hexdigest(),
                                                    "size": len(content)}})(w)


MANIFESTS = [
    Case("manifest", "an absolute file name", manifest({"/tmp/lpz-pwned.pth": GOOD_ENTRY}), "is absolute"),
    Case("manifest", "a file name up the tree", manifest({"../../lpz-pwned.pth": GOOD_ENTRY}), "'..'"),
    Case("manifest", "a name through a link in the data dir", symlink_in_the_data_dir, "is a symbolic link"),
    Case("manifest", "a file that is a link in the store", symlink_in_the_store, "symbolic link"),
    Case("manifest", "not JSON", manifest("{not json"), "is not JSON"),
    Case("manifest", "no files", manifest("{\"files\": 3}"), "has no files"),
    Case("manifest", "a negative size", manifest({"a.gz": {"sha256": "0" * 64, "size": -1}}), "has a size of -1"),
    Case("manifest", "a size of a petabyte", manifest({"a.gz": {"sha256": "0" * 64, "size": 10**15}}),
         "sizes are 0 to"),
    Case("manifest", "a sha256 that is not one", manifest({"a.gz": {"sha256": "zz", "size": 1}}), "no valid sha256"),
    Case("manifest", "a hidden file name", manifest({".bashrc": GOOD_ENTRY}), "starts with '.'"),
]


# ---------------------------------------------------------------- damaged results and run records

def in_finished_run(damage: Callable[[Run, Path], None], command: str) -> Callable[[Path], list]:
    def build(w: Path) -> list:
        shutil.copytree(w.parent / "finished-store", w / "store")
        damage(Run.open(LocalStore(w / "store"), RUN_ID), w)
        return [command, RUN_ID]
    return build


def flip_generators(run: Run, w: Path) -> None:
    path = Path(run.store.root) / run.key("mixture", "generators.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def replace_generators(value) -> Callable[[Run, Path], None]:
    """generators.pt replaced by other contents, with mixture.json's sha256 updated to match."""
    def damage(run: Run, w: Path) -> None:
        buffer = io.BytesIO()
        torch.save(value(w), buffer)
        data = buffer.getvalue()
        run.store.put(run.key("mixture", "generators.pt"), data)
        result = run.store.get_json(run.key("mixture", "mixture.json"))
        result["files"]["generators.pt"] = hashlib.sha256(data).hexdigest()
        run.store.put_json(run.key("mixture", "mixture.json"), result)
    return damage


class CodeInAPickle:
    """Unpickling this would create a file: the safe loader must refuse it before."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def code_in_a_pickle(w: Path):
    return {"cells": [0], "weights": [1.0], "generators": [CodeInAPickle(w / "pwned")]}


def wrong_shapes(w: Path):
    return {"cells": [0], "weights": [1.0], "generators": [{"body.0.weight": torch.zeros(3, 3)}]}


def overwrite(key: Callable[[Run], str], data: bytes) -> Callable[[Run, Path], None]:
    return lambda run, w: run.store.put(key(run), data)


def bad_config_in_run_json(run: Run, w: Path) -> None:
    info = run.store.get_json(run.key("run.json"))
    info["config"]["dataloader"]["batch_size"] = -1
    run.store.put_json(run.key("run.json"), info)


def escapes_in_run_json(run: Run, w: Path) -> None:
    info = run.store.get_json(run.key("run.json"))
    info["grid"] = "\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202e"  # a clipboard write, a screen clear, a bidi override
    run.store.put_json(run.key("run.json"), info)


def linked_generations(run: Run, w: Path) -> None:
    """The run's gen folder replaced by a link to a folder outside the store."""
    gen = Path(run.store.root) / run.key("gen")
    shutil.rmtree(gen)
    (w / "outside").mkdir()
    gen.symlink_to(w / "outside", target_is_directory=True)


def file_for_generations(run: Run, w: Path) -> None:
    gen = Path(run.store.root) / run.key("gen")
    shutil.rmtree(gen)
    gen.write_text("not a folder")


def created_yesterday(run: Run, w: Path) -> None:
    info = run.store.get_json(run.key("run.json"))
    run.store.put_json(run.key("run.json"), {**info, "created": "yesterday"})


def huge_generators(run: Run, w: Path) -> None:
    with open(Path(run.store.root) / run.key("mixture", "generators.pt"), "r+b") as f:
        f.truncate(3 * 2**30)  # sparse: no disk used


CHECKPOINTS = [
    Case("checkpoint", "flipped bytes in the result's generators", in_finished_run(flip_generators, "sample"),
         "its result is damaged (generators.pt: its sha256 differs"),
    Case("checkpoint", "flipped bytes, scored", in_finished_run(flip_generators, "score"), "lpz assemble finished"),
    Case("checkpoint", "code in the result's pickle", in_finished_run(replace_generators(code_in_a_pickle), "sample"),
         "the safe loader refuses it"),
    Case("checkpoint", "weights of another network", in_finished_run(replace_generators(wrong_shapes), "sample"),
         "does not hold the mixture"),
    Case("checkpoint", "a result record that is not JSON",
         in_finished_run(overwrite(lambda r: r.key("mixture", "mixture.json"), b"\x00garbage"), "sample"),
         "mixture.json: runs/finished/mixture/mixture.json is corrupt: it is not JSON"),
    Case("checkpoint", "a run record that is not JSON",
         in_finished_run(overwrite(lambda r: r.key("run.json"), b"\xff\xfe"), "status"), "its run.json is damaged"),
    Case("checkpoint", "a run record of another shape",
         in_finished_run(overwrite(lambda r: r.key("run.json"), b"[1, 2]"), "report"), "its run.json is damaged"),
    Case("checkpoint", "a run record with terminal escapes", in_finished_run(escapes_in_run_json, "status"),
         "its run.json is damaged"),
    Case("checkpoint", "a run record with a bad config", in_finished_run(bad_config_in_run_json, "sample"),
         "run finished: its run.json is damaged (config: dataloader.batch_size: -1 is too small"),
    Case("checkpoint", "a run record created 'yesterday'", in_finished_run(created_yesterday, "status"),
         "its run.json is damaged (created: value error"),
    Case("checkpoint", "the generations folder a link outside the store",
         in_finished_run(linked_generations, "report"), "runs/finished/gen is a symbolic link"),
    Case("checkpoint", "the generations folder a file", in_finished_run(file_for_generations, "report"),
         "runs/finished/gen is not a folder"),
    Case("checkpoint", "a result of 3 GB", in_finished_run(huge_generators, "sample"),
         "bytes, more than the"),
]

CASES = CONFIGS + IDS + MANIFESTS + CHECKPOINTS


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory) -> Path:
    """A store holding one finished tiny run, copied into each checkpoint case's workspace."""
    root = tmp_path_factory.mktemp("hostile")
    store = LocalStore(root / "finished-store")
    Run.create(store, validate(tiny()), run_id=RUN_ID)
    run_local(Run.open(store, RUN_ID), workers=1)
    return root


def snapshot(folder: Path, skip: Path) -> dict[str, bytes | str]:
    """Every path under folder but skip, with the bytes of files."""
    seen = {}
    for path in sorted(folder.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        seen[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else "other"
    return seen


def test_the_corpus_covers_every_kind():
    kinds = {case.kind for case in CASES}
    assert kinds == {"config", "id", "manifest", "checkpoint"} and len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


# Cases that load torch (a run's data or result) take seconds each: the quick loop leaves them out.
@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.slow) if case.kind in ("manifest", "checkpoint")
                                  else case for case in CASES], ids=lambda case: f"{case.kind}: {case.name}")
def test_hostile_input_gives_one_line_and_writes_nothing_outside_the_store(case, finished_store, tmp_path):
    workspace = finished_store / tmp_path.name
    workspace.mkdir()
    (workspace / "data").mkdir()
    store = workspace / "store"
    args = case.build(workspace)
    before = snapshot(workspace, store)
    env = {**os.environ, "LPZ_STORE": str(store), "LPZ_DATA_DIR": str(workspace / "data")}
    if not case.operator_store:
        del env["LPZ_STORE"]

    code, stdout, stderr, peak = lpz_measured(*args, env=env, cwd=workspace, timeout=60)

    line = one_line_error(code, stderr)
    assert case.expect in line, line
    assert printable(stdout + stderr) == stdout + stderr, "raw control characters reach the terminal"
    assert not case.absent or case.absent not in stdout + stderr
    assert len(line) < 1200, f"the error echoes too much: {len(line)} characters"
    assert peak < MAX_RSS, f"peak memory {peak / 2**20:.0f} MB"
    assert snapshot(workspace, store) == before
    assert not (workspace / "pwned").exists() and not Path("/tmp/lpz-pwned.pth").exists()
