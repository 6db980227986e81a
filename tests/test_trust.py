"""Damage is detected and recomputed; what comes from the store never writes outside where it belongs.

Real stores (a local folder and the S3 server on loopback), the real `lpz` command line, real runs.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import torch

from lpz.config import validate
from lpz.data.sync import BadManifest, pull
from lpz.engine.local import run_local
from lpz.runs import Run, keys
from lpz.safe_names import UnsafeName
from lpz.store import LocalStore
from lpz.engine.work import compute_cell
from tests.helpers import lpz, lpz_measured, one_line_error, tiny

GENERATIONS = 3


class CodeInAPickle:
    """Unpickling this would create a folder: the safe loader must refuse it first."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def finished_run(folder: Path, run_id: str = "r") -> Run:
    store = LocalStore(folder)
    run = Run.create(store, validate(tiny(**{"trainer.generations": GENERATIONS})), run_id=run_id)
    run_local(Run.open(store, run_id), workers=1)
    return run


def final_bytes(run: Run) -> dict[str, bytes]:
    names = [run.cell_key(g, c, name) for g in (2, GENERATIONS) for c in run.grid.cells for name in ("state.pt", "public.pt")]
    return {key: run.store.get(key) for key in names + [run.key("mixture", "generators.pt")]}


def recommit(run: Run, generation: int, cell: int, name: str, data: bytes) -> None:
    """Replace a checkpoint and record its sha256 in the commit marker, as a forger would."""
    run.store.put(run.cell_key(generation, cell, name), data)
    metrics = run.store.get_json(run.cell_key(generation, cell, "metrics.json"))
    metrics["files"][name] = hashlib.sha256(data).hexdigest()
    run.store.put_json(run.cell_key(generation, cell, "metrics.json"), metrics)


@pytest.mark.slow
def test_garbage_markers_and_forged_checkpoints_are_recomputed_to_the_same_bytes(tmp_path):
    reference = final_bytes(finished_run(tmp_path / "reference"))

    store = LocalStore(tmp_path / "damaged")
    run = Run.create(store, validate(tiny(**{"trainer.generations": GENERATIONS})), run_id="r")
    for g in range(2):
        for c in run.grid.cells:
            compute_cell(run, g, c)
    store.put(run.cell_key(2, 0, "metrics.json"), b"\xff\x00 not JSON, not even UTF-8")
    buffer = io.BytesIO()
    torch.save({"cell": 1, "generation": 2, "trap": CodeInAPickle(tmp_path / "pwned")}, buffer)
    recommit(run, 2, 1, "state.pt", buffer.getvalue())  # a pickle with code, its sha256 "committed"
    buffer = io.BytesIO()
    torch.save({"cell": 3, "generation": 1, "generators": []}, buffer)
    recommit(run, 1, 3, "public.pt", buffer.getvalue())  # plain tensors, but not a cell state

    status = lpz("status", "r", "--store", store.root)  # a damaged marker is not a crash of the status
    assert "running" in status.stdout
    lpz("run", "--resume", "r", "--store", store.root)

    assert final_bytes(run) == reference
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_flipped_bytes_in_a_local_checkpoint_are_detected_and_recomputed_to_the_same_bytes(tmp_path):
    """A local store has no checksum of its own: the sha256 in the commit marker is all that catches a
    checkpoint whose bytes changed (these flips still load as tensors, only with other values)."""
    store = LocalStore(tmp_path / "store")
    run = Run.create(store, validate(tiny()), run_id="r")  # 2 generations: generation 1 committed, 2 to come
    for c in run.grid.cells:
        compute_cell(run, 0, c)
    damaged = {run.cell_key(1, 0, "state.pt"): None, run.cell_key(1, 1, "public.pt"): None}
    for key in damaged:
        path = Path(store.root, key)
        damaged[key] = good = path.read_bytes()
        flipped = bytearray(good)
        flipped[len(flipped) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))  # the marker (metrics.json) is left as it was

    resumed = lpz("run", "--resume", "r", "--store", store.root)

    for key, good in damaged.items():
        assert f"{key} is corrupt: its sha256 differs from the one committed" in resumed.stderr
        assert store.get(key) == good  # recomputed, byte for byte
    assert run.finished()


def test_a_committed_cell_generation_whose_marker_is_garbage_is_recomputed_not_taken_as_committed(tmp_path):
    """The work unit both transports run (a task delivered twice, `lpz run`) meets a commit marker it
    cannot read: it computes the cell-generation again and commits a sound marker, not the garbage."""
    store = LocalStore(tmp_path / "store")
    run = Run.create(store, validate(tiny()), run_id="r")
    committed = compute_cell(run, 0, 0)
    state = store.get(run.cell_key(1, 0, "state.pt"))
    garbage = b"\xff\x00 not JSON, not even UTF-8"
    store.put(run.cell_key(1, 0, "metrics.json"), garbage)

    again = compute_cell(run, 0, 0)

    marker = store.get(run.cell_key(1, 0, "metrics.json"))
    assert marker != garbage and run.metrics(1, 0) == again  # a sound marker, the one returned
    assert again.committed_at > committed.committed_at  # committed anew, after the first commit
    assert again.files == committed.files and store.get(run.cell_key(1, 0, "state.pt")) == state


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_damaged_result_is_refused_and_lpz_assemble_rebuilds_it(tmp_path, kind, s3_store, raw_s3):
    run = finished_run(tmp_path / "local")
    store = run.store
    if kind == "s3":  # the same run, copied into the S3 store
        for key in store.list("runs/"):
            s3_store.put(key, store.get(key))
        store = s3_store
    key = run.key("mixture", "generators.pt")
    good = store.get(key)
    damaged = bytearray(good)
    damaged[len(damaged) // 3] ^= 0x01
    if kind == "s3":  # behind the store's back: the object's own checksum still matches
        recorded = hashlib.sha256(bytes(damaged)).hexdigest()
        raw_s3.put_object(s3_store.bucket, key, io.BytesIO(bytes(damaged)), len(damaged),
                          metadata={"sha256": recorded})
    else:
        Path(store.root, key).write_bytes(bytes(damaged))

    env = {**os.environ, "LPZ_STORE": store.url}
    refused = lpz("sample", "r", "-n", 50, "-o", tmp_path / "samples", env=env, check=False)
    assert "its result is damaged" in one_line_error(refused.returncode, refused.stderr)
    assert not (tmp_path / "samples").exists()
    status = lpz("status", "r", env=env)
    assert "damaged" in status.stdout and "lpz assemble r" in status.stdout

    lpz("assemble", "r", env=env)
    assert store.get(key) == good
    lpz("sample", "r", "-n", 50, "-o", tmp_path / "samples", env=env)
    assert (tmp_path / "samples" / "samples.npy").is_file()


def test_lpz_assemble_refuses_a_run_that_has_not_finished_its_generations(tmp_path):
    store = LocalStore(tmp_path / "store")
    Run.create(store, validate(tiny()), run_id="half")
    result = lpz("assemble", "half", "--store", store.root, check=False)
    assert "has completed 0 of 2 generations" in one_line_error(result.returncode, result.stderr)


# ---------------------------------------------------------------- dataset manifests

HOSTILE_NAMES = {"absolute": "/tmp/lpz-pwned-{0}/x.pth", "up the tree": "../../lpz-pwned-{0}.pth",
                 "through a link": "link/lpz-pwned.pth"}


def put_where_the_name_points(store, raw_s3, name: str, data: bytes) -> None:
    """data under the key a manifest's file name makes, written behind the store's back (lpz's stores refuse
    such keys): where a pull that checked no names would fetch it from."""
    key = keys.dataset_file("mnist", name)
    if isinstance(store, LocalStore):
        path = Path(store.root) / key  # the file system resolves '..'; '//' is one '/'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    elif ".." not in key.split("/"):  # S3 clients send no object name with '..': there is nothing to fetch
        raw_s3.put_object(store.bucket, store.prefix + key, io.BytesIO(data), len(data),
                          metadata={"sha256": hashlib.sha256(data).hexdigest()})


@pytest.mark.parametrize("kind", ["local", "s3"])
@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_a_hostile_manifest_writes_nothing_outside_the_data_directory(tmp_path, monkeypatch, kind, hostile,
                                                                      s3_store, raw_s3):
    store = s3_store if kind == "s3" else LocalStore(tmp_path / "store")
    data_dir, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (data_dir / "mnist").mkdir(parents=True)
    (data_dir / "mnist" / "link").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("LPZ_DATA_DIR", str(data_dir))
    name = HOSTILE_NAMES[hostile].format(tmp_path.name)
    payload = b"import os; os.mkdir('/tmp/lpz-pwned')\n"
    store.put_json(keys.manifest("mnist"), {"files": {name: {"sha256": hashlib.sha256(payload).hexdigest(),
                                                            "size": len(payload)}}})
    put_where_the_name_points(store, raw_s3, name, payload)
    try:
        pull(store, "mnist")
        refused = None
    except Exception as e:  # what was written is checked first, whatever pull raised
        refused = e
    assert list(outside.iterdir()) == []
    assert not Path(f"/tmp/lpz-pwned-{tmp_path.name}").exists() and not Path("/tmp/lpz-pwned").exists()
    assert not (tmp_path / f"lpz-pwned-{tmp_path.name}.pth").exists()
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == ["link"]
    # Refused by lpz.data.sync itself: a name that leaves the folder when the manifest is read (before any
    # fetch), a link below the folder when the file would be written. The store's own key check would
    # also stop the first two (UnsafeName at the fetch), but only as a second line.
    assert type(refused) is (UnsafeName if hostile == "through a link" else BadManifest), refused
    assert len(str(refused).splitlines()) == 1


def test_store_keys_never_leave_the_store(tmp_path):
    store = LocalStore(tmp_path / "store")
    for key in ["../outside", "/etc/passwd", "runs/../../x", "runs//x", "runs/./x"]:
        with pytest.raises(UnsafeName):
            store.put(key, b"x")
        with pytest.raises(UnsafeName):
            store.get(key)
    assert not (tmp_path / "outside").exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- a run whose dataset is missing

def test_lpz_run_of_a_config_whose_dataset_is_missing_creates_nothing(tmp_path):
    config = tmp_path / "celeba.yml"
    config.write_text(Path("configs/celeba.yml").read_text())
    env = {**os.environ, "LPZ_DATA_DIR": str(tmp_path / "no-data")}
    result = lpz("run", config, "--store", tmp_path / "store", env=env, check=False)
    line = one_line_error(result.returncode, result.stderr)
    assert "dataset celeba is neither in" in line and "lpz data download celeba" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["celeba.yml"]


# ---------------------------------------------------------------- writes that fail

@pytest.mark.slow
def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path):
    run = finished_run(tmp_path / "store")
    denied = lpz("sample", run.id, "-o", "/sys/lpz-samples", "--store", run.store.root, check=False)
    assert "cannot use /sys/lpz-samples" in one_line_error(denied.returncode, denied.stderr)
    out = tmp_path / "full"
    out.mkdir()
    (out / "samples.npy").symlink_to("/dev/full")  # a disk that is full
    full = lpz("sample", run.id, "-o", out, "--store", run.store.root, check=False)
    line = one_line_error(full.returncode, full.stderr)
    assert "no space left on device" in line and "free some space" in line


# ---------------------------------------------------------------- TLS that does not match

def test_tls_to_a_plain_http_s3_server_names_lpz_s3_secure(s3_settings, s3_bucket):
    env = {**os.environ, **s3_settings, "LPZ_S3_SECURE": "true"}
    result = lpz("list", "--store", f"s3://{s3_bucket}", env=env, check=False)
    line = one_line_error(result.returncode, result.stderr)
    assert "TLS" in line and "set LPZ_S3_SECURE=false" in line


def test_plain_http_to_a_tls_server_names_lpz_s3_secure(tmp_path, s3_settings):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():  # a TLS server: whatever plain HTTP arrives fails its handshake
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            try:
                context.wrap_socket(connection, server_side=True).close()
            except (ssl.SSLError, OSError):
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        env = {**os.environ, **s3_settings, "LPZ_S3_ENDPOINT": f"127.0.0.1:{port}", "LPZ_S3_SECURE": "false"}
        result = lpz("list", "--store", "s3://lpz-tls", env=env, check=False)
    finally:
        server.close()
    line = one_line_error(result.returncode, result.stderr)
    assert "set LPZ_S3_SECURE=true if it serves TLS" in line


def test_a_commit_marker_too_big_to_be_one_is_damage_not_a_crash(tmp_path):
    """A metrics.json larger than any lpz writes is refused before it is read whole."""
    run = finished_run(tmp_path / "store")
    path = Path(run.store.root, run.cell_key(1, 0, "metrics.json"))
    with open(path, "wb") as f:
        f.truncate(5 * 2**20)  # 5 MB of zeros: bigger than any metrics.json
    assert json.loads(lpz("status", run.id, "--store", run.store.root, "--json").stdout)["state"] == "finished"


def test_a_report_leaves_out_pictures_that_are_damaged_or_too_large(tmp_path):
    import struct
    import zlib
    from PIL import Image

    run = finished_run(tmp_path / "store")
    pictures = sorted(key for key in run.store.list(run.key("gen") + "/") if key.endswith("samples.png"))
    assert pictures, "the tiny run draws sample pictures"
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    png[16:24] = struct.pack(">II", 100_000, 100_000)  # a header that claims 10^10 pixels
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    for key in pictures:
        run.store.put(key, bytes(png) if "/gen/3/" in key else b"not a picture")
    code, _, stderr, peak = lpz_measured("report", run.id, "-o", tmp_path / "report", "--store", run.store.root)
    assert code == 0, stderr
    assert (tmp_path / "report" / "report.html").is_file() and peak < 600 * 2**20
