"""The S3 store against a real S3 server on loopback: buckets, multipart, checksums, errors, prefixes."""
from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lpz.errors import CorruptObject, ObjectMissing, StoreError
from lpz.store import open_store
from lpz.store.s3 import S3Settings, S3Store
from tests.store_fixtures import random_bytes, remove_bucket

MiB = 1024 * 1024


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_open_store_gives_an_s3_store(s3_settings, s3_bucket):
    store = open_store(f"s3://{s3_bucket}")
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == (s3_bucket, "", f"s3://{s3_bucket}")


def test_bucket_is_created_on_the_first_write_not_on_reads(s3_store, raw_s3):
    with pytest.raises(ObjectMissing):
        s3_store.get("runs/r/run.json")
    assert s3_store.list("runs/") == []
    s3_store.check()
    assert not raw_s3.bucket_exists(s3_store.bucket)
    s3_store.put("runs/r/run.json", b"{}")
    assert raw_s3.bucket_exists(s3_store.bucket)
    assert s3_store.get("runs/r/run.json") == b"{}"


def test_sha256_is_recorded_in_the_object_metadata(s3_store, raw_s3):
    data = random_bytes(1000)
    s3_store.put("k", data)
    stat = raw_s3.stat_object(s3_store.bucket, "k")
    assert stat.metadata["x-amz-meta-sha256"] == hashlib.sha256(data).hexdigest()


def test_large_objects_go_up_in_parts_and_round_trip(s3_bucket, raw_s3):
    store = S3Store(s3_bucket, multipart_threshold=6 * MiB, part_size=5 * MiB)
    try:
        large, small = random_bytes(12_000_000), random_bytes(6 * MiB - 1)
        store.put("large", large)
        store.put("small", small)
        # S3 marks a multipart object's ETag with its number of parts.
        assert raw_s3.stat_object(s3_bucket, "large").etag.endswith("-3")
        assert "-" not in raw_s3.stat_object(s3_bucket, "small").etag
        assert raw_s3.stat_object(s3_bucket, "large").metadata["x-amz-meta-sha256"] == hashlib.sha256(large).hexdigest()
        assert store.get("large") == large
        assert store.get("small") == small
    finally:
        remove_bucket(raw_s3, s3_bucket)


def test_bytes_that_do_not_match_their_sha256_are_corrupt(s3_store, raw_s3):
    original = b"generator weights, as written"
    s3_store.put("runs/r/gen/1/cell/0/state.pt", original)
    name = "runs/r/gen/1/cell/0/state.pt"
    recorded = raw_s3.stat_object(s3_store.bucket, name).metadata["x-amz-meta-sha256"]
    damaged = b"generator weights, DAMAGED"
    raw_s3.put_object(s3_store.bucket, name, io.BytesIO(damaged), len(damaged), metadata={"sha256": recorded})
    assert raw_s3.stat_object(s3_store.bucket, name).metadata["x-amz-meta-sha256"] == recorded
    with pytest.raises(CorruptObject) as corrupt:
        s3_store.get(name)
    assert corrupt.value.key == name


def test_objects_written_by_others_without_a_checksum_are_returned(s3_store, raw_s3):
    s3_store.put("ours", b"x")  # creates the bucket
    raw_s3.put_object(s3_store.bucket, "theirs", io.BytesIO(b"foreign bytes"), 13)
    assert s3_store.get("theirs") == b"foreign bytes"


class TruncatingProxy:
    """A TCP proxy to the S3 server that passes each response's headers but only half of its body."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            self._send_half(server, client)

    @staticmethod
    def _pump(source, sink):
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass

    @staticmethod
    def _send_half(server, client):
        received = b""
        while b"\r\n\r\n" not in received:
            received += server.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += server.recv(65536)
        client.sendall(head + b"\r\n\r\n" + body[:length // 2])
        for sock in (client, server):  # shutdown, not only close: the pump thread still reads them
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self):
        self.listener.close()


def test_a_truncated_body_is_corrupt_not_returned(s3_store, monkeypatch):
    data = random_bytes(200_000)
    s3_store.put("k", data)
    host, port = s3_store.settings.endpoint.rsplit(":", 1)
    proxy = TruncatingProxy((host, int(port)))
    try:
        monkeypatch.setenv("LPZ_S3_ENDPOINT", proxy.address)
        monkeypatch.setenv("LPZ_S3_REGION", "us-east-1")  # one request: no region look-up
        with pytest.raises(CorruptObject, match="truncated"):
            S3Store(s3_store.bucket).get("k")
    finally:
        proxy.close()


@pytest.mark.parametrize("variable, value", [("LPZ_S3_SECRET_KEY", "not-the-secret"),
                                             ("LPZ_S3_ACCESS_KEY", "nobody")])
def test_wrong_credentials_are_one_line_naming_them(s3_store, monkeypatch, variable, value):
    s3_store.put("k", b"v")
    monkeypatch.setenv(variable, value)
    refused = S3Store(s3_store.bucket)
    with pytest.raises(StoreError) as error:
        refused.check()
    assert "refused the credentials" in one_line(error)
    assert "LPZ_S3_ACCESS_KEY / LPZ_S3_SECRET_KEY" in one_line(error)
    for operation in (lambda: refused.get("k"), lambda: refused.put("k", b"w"), lambda: refused.list(""),
                      lambda: refused.exists("k"), lambda: refused.delete("k")):
        with pytest.raises(StoreError) as error:
            operation()
        assert "refused the credentials" in one_line(error)
    assert s3_store.get("k") == b"v"


@pytest.mark.timeout(60)  # a hang here means the retry budget is gone (minio's own retries take minutes)
def test_an_endpoint_nobody_listens_on_is_one_line(s3_settings, s3_bucket, monkeypatch):
    monkeypatch.setenv("LPZ_S3_ENDPOINT", "127.0.0.1:1")
    store = S3Store(s3_bucket)
    with pytest.raises(StoreError) as error:
        store.check()
    assert "127.0.0.1:1" in one_line(error)
    assert "is the S3 server running? check LPZ_S3_ENDPOINT" in one_line(error)
    for operation in (lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: store.list(""),
                      lambda: store.exists("k"), lambda: store.delete("k")):
        with pytest.raises(StoreError) as error:
            operation()
        assert "is the S3 server running?" in one_line(error)


@pytest.mark.parametrize("variable", ["LPZ_S3_ENDPOINT", "LPZ_S3_ACCESS_KEY", "LPZ_S3_SECRET_KEY"])
def test_missing_settings_name_the_variable(s3_settings, monkeypatch, variable):
    fallback = {"LPZ_S3_ENDPOINT": "AWS_ENDPOINT_URL", "LPZ_S3_ACCESS_KEY": "AWS_ACCESS_KEY_ID",
                "LPZ_S3_SECRET_KEY": "AWS_SECRET_ACCESS_KEY"}[variable]
    monkeypatch.delenv(variable)
    monkeypatch.delenv(fallback, raising=False)
    with pytest.raises(StoreError) as error:
        open_store("s3://some-bucket")
    assert f"set {variable}" in one_line(error)


def test_aws_variable_names_are_the_fallback(s3_settings, s3_bucket, raw_s3, monkeypatch):
    endpoint = s3_settings["LPZ_S3_ENDPOINT"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint if "://" in endpoint else f"http://{endpoint}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_settings["LPZ_S3_ACCESS_KEY"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_settings["LPZ_S3_SECRET_KEY"])
    for name in [*s3_settings, "LPZ_S3_SECURE"]:
        monkeypatch.delenv(name, raising=False)
    try:
        store = S3Store(s3_bucket)
        store.put("k", b"through AWS_* names")
        assert store.get("k") == b"through AWS_* names"
    finally:
        remove_bucket(raw_s3, s3_bucket)


@pytest.mark.parametrize("endpoint, secure_setting, host, secure", [
    ("127.0.0.1:9000", None, "127.0.0.1:9000", False),
    ("localhost:9000", None, "localhost:9000", False),
    ("[::1]:9000", None, "[::1]:9000", False),
    ("minio.example.org:9000", None, "minio.example.org:9000", True),
    ("http://minio.example.org:9000", None, "minio.example.org:9000", False),
    ("https://127.0.0.1:9000/", None, "127.0.0.1:9000", True),
    ("127.0.0.1:9000", "true", "127.0.0.1:9000", True),
    ("minio.example.org:9000", "false", "minio.example.org:9000", False),
])
def test_endpoint_and_tls_from_the_environment(monkeypatch, endpoint, secure_setting, host, secure):
    monkeypatch.setenv("LPZ_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("LPZ_S3_ACCESS_KEY", "a")
    monkeypatch.setenv("LPZ_S3_SECRET_KEY", "s")
    if secure_setting is None:
        monkeypatch.delenv("LPZ_S3_SECURE", raising=False)
    else:
        monkeypatch.setenv("LPZ_S3_SECURE", secure_setting)
    settings = S3Settings.from_env()
    assert (settings.endpoint, settings.secure) == (host, secure)


@pytest.mark.parametrize("variable, value", [("LPZ_S3_SECURE", "maybe"), ("LPZ_S3_ENDPOINT", "ftp://host:21"),
                                             ("LPZ_S3_ENDPOINT", "http://host:9000/path")])
def test_malformed_settings_are_one_line(s3_settings, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(StoreError) as error:
        S3Store("some-bucket")
    assert variable in one_line(error)


@pytest.mark.parametrize("url", ["s3://", "s3://Upper_Case", "s3://ab", "s3:///prefix-only"])
def test_invalid_bucket_names_are_one_line(s3_settings, url):
    with pytest.raises(StoreError) as error:
        open_store(url)
    assert "bucket name" in one_line(error)


def test_a_prefix_keeps_every_key_under_it(s3_bucket, raw_s3):
    try:
        store = open_store(f"s3://{s3_bucket}/teams//a/")
        assert store.url == f"s3://{s3_bucket}/teams/a"
        store.put("runs/r/run.json", b"{}")
        raw_s3.put_object(s3_bucket, "runs/foreign", io.BytesIO(b"x"), 1)
        raw_s3.put_object(s3_bucket, "teams/ab/foreign", io.BytesIO(b"x"), 1)
        assert [o.object_name for o in raw_s3.list_objects(s3_bucket, "teams/a/", recursive=True)] == \
            ["teams/a/runs/r/run.json"]
        assert store.list("") == ["runs/r/run.json"]
        assert store.list("runs/") == ["runs/r/run.json"]
        assert store.exists("runs/r/run.json") and not store.exists("runs/foreign")
        assert open_store(f"s3://{s3_bucket}").get("teams/a/runs/r/run.json") == b"{}"
        store.delete("runs/r/run.json")
        assert store.list("") == []
    finally:
        remove_bucket(raw_s3, s3_bucket)


def test_only_the_s3_store_imports_minio():
    lpz = Path(__file__).resolve().parents[1] / "lpz"
    importers = sorted(str(p.relative_to(lpz.parent)) for p in lpz.rglob("*.py")
                       if any(line.strip().startswith(("import minio", "from minio"))
                              for line in p.read_text().splitlines()))
    assert importers == ["lpz/store/s3.py"]
    imported = subprocess.run([sys.executable, "-c", "import sys, lpz.store; print('minio' in sys.modules)"],
                              capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"
