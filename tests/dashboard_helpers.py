"""`lpz dashboard` in a subprocess, and where Debian's chromium is: shared by tests/test_dashboard.py and
bench/dashboard.py (which puts the checkout on sys.path), so that the benchmark imports no test module."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """`lpz dashboard` in a subprocess on a free loopback port; .url is the URL it printed (with its token).
    env: the subprocess's environment (default: this process's), without LPZ_DASHBOARD_TOKEN unless token
    gives one."""

    def __init__(self, store: Path, *flags: str, env: dict | None = None, token: str | None = None):
        self.port = free_port()
        env = {k: v for k, v in (env or os.environ).items() if k != "LPZ_DASHBOARD_TOKEN"}
        if token:
            env["LPZ_DASHBOARD_TOKEN"] = token
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from lpz.cli import entry; entry()", "dashboard", "--store", str(store),
             "--port", str(self.port), *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = self.process.stdout.readline().strip().rsplit(" ", 1)[-1]
        self.token = self.url.partition("?token=")[2]
        deadline = time.time() + 30
        ready = {"X-LPZ-Token": self.token} if self.token else {}  # off loopback every request needs it
        while self.get("/api/runs", headers=ready)[0] != 200:
            assert time.time() < deadline and self.process.poll() is None, self.process.stderr.read()
            time.sleep(0.2)

    def get(self, path: str, method: str = "GET", headers: dict | None = None,
            address: str = "127.0.0.1") -> tuple[int, str]:
        """The status and body for a raw path (sent as is: nothing normalises it), asked at address."""
        connection = http.client.HTTPConnection(address, self.port, timeout=30)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        except ConnectionRefusedError:
            return 0, ""
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
