"""`lpz dashboard` against hostile clients: DNS rebinding (a Host header naming another site), tokens that are
not ASCII, and connections that never finish their request. Real servers on free ports, real HTTP."""
from __future__ import annotations

import http.client
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from lpz.runs import Run
from lpz.store import LocalStore
from tests.dashboard_helpers import Dashboard, free_port
from tests.helpers import tiny_config, wait_until

REFUSED = (400, 403)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dashboard-hosts") / "store"
    Run.create(LocalStore(root), tiny_config(), run_id="toy-hosts")
    return root


@pytest.fixture(scope="module")
def on_loopback(store):
    server = Dashboard(store, "--allow-actions", "--allowed-host", "dash.example")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def off_loopback(store):
    """Listening on every address: the token guards every request, whatever the Host."""
    server = Dashboard(store, "--allow-actions", "--host", "0.0.0.0")
    yield server
    server.stop()


# ------------------------------------------------------------------ DNS rebinding (the Host header)

def test_a_loopback_dashboard_answers_only_loopback_and_allowed_host_names(on_loopback):
    port = on_loopback.port
    for host in ("localhost", f"localhost:{port}", "LocalHost", f"127.0.0.1:{port}", "127.1.2.3", "[::1]",
                 f"[::1]:{port}", "dash.example", f"DASH.example:{port}"):
        code, body = on_loopback.get("/api/runs", headers={"Host": host})
        assert code == 200 and "toy-hosts" in body, (host, code)
    for host in ("attacker.example", f"attacker.example:{port}", "localhost.attacker.example",
                 "127.0.0.1.attacker.example", "dash.example.attacker.example", "192.168.1.10", "[::2]",
                 "localhost:abc", "[::1", "localhost@attacker.example", ""):
        code, body = on_loopback.get("/api/runs", headers={"Host": host})
        assert code in REFUSED and "toy-hosts" not in body and len(body.splitlines()) <= 1, (host, code, body)
    for path in ("/", "/run/toy-hosts", "/static/app.js"):  # the pages too, not only the API
        assert on_loopback.get(path, headers={"Host": "attacker.example"})[0] in REFUSED
    code, _ = on_loopback.get("/api/runs/toy-hosts/cancel", "POST",
                              {"Host": "attacker.example", "X-LPZ-Token": on_loopback.token})
    assert code in REFUSED


def test_a_request_without_a_host_header_is_refused_on_loopback(on_loopback):
    with socket.create_connection(("127.0.0.1", on_loopback.port), timeout=10) as s:
        s.sendall(b"GET /api/runs HTTP/1.0\r\n\r\n")
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer.split(b" ", 2)[1] in (b"400", b"403") and b"toy-hosts" not in answer


def test_off_loopback_the_token_still_guards_whatever_the_host(off_loopback):
    token = {"X-LPZ-Token": off_loopback.token}
    assert off_loopback.get("/api/runs", headers={"Host": "dash.example"})[0] == 403
    assert off_loopback.get("/api/runs", headers={"Host": "dash.example", **token})[0] == 200


def network_address() -> str:
    """This machine's IPv4 address on its network (the source of a route out: no packet is sent), or
    loopback's when it has no route out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def test_a_read_only_dashboard_off_loopback_serves_nothing_without_the_token(store):
    """`LPZ_DASHBOARD_TOKEN=... lpz dashboard --host 0.0.0.0` without actions: every page and read needs the
    token, asked through the machine's network address as another machine would."""
    server = Dashboard(store, "--host", "0.0.0.0", token="token-for-reads")
    address = network_address()
    try:
        for path in ("/api/runs", "/api/runs/toy-hosts/status", "/", "/run/toy-hosts", "/static/app.js"):
            code, body = server.get(path, address=address)
            assert code == 403 and "toy-hosts" not in body, (address, path, code)
        assert server.get("/api/runs", headers={"X-LPZ-Token": "token-wrong-here"}, address=address)[0] == 403
        code, body = server.get("/api/runs", headers={"X-LPZ-Token": "token-for-reads"}, address=address)
        assert code == 200 and "toy-hosts" in body
        assert server.get("/api/runs?token=token-for-reads", address=address)[0] == 200
    finally:
        server.stop()


def test_off_loopback_allowed_host_names_are_the_only_ones_answered(store):
    server = Dashboard(store, "--allow-actions", "--host", "0.0.0.0", "--allowed-host", "dash.example")
    try:
        token = {"X-LPZ-Token": server.token}
        for host in ("dash.example", f"dash.example:{server.port}", "0.0.0.0", "localhost"):
            assert server.get("/api/runs", headers={"Host": host, **token})[0] == 200, host
        assert server.get("/api/runs", headers={"Host": "attacker.example", **token})[0] in REFUSED
    finally:
        server.stop()


def test_a_malformed_allowed_host_is_refused_in_one_line(store):
    from tests.helpers import lpz
    result = lpz("dashboard", "--store", store, "--port", free_port(), "--allowed-host", "http://x/", check=False,
                 timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--allowed-host 'http://x/'" in result.stderr


# ------------------------------------------------------------------ tokens that are not ASCII

def test_a_token_that_is_not_ascii_is_refused_not_an_error(on_loopback, off_loopback):
    # the action's header on loopback (sent as UTF-8 bytes, and as Latin-1)
    for value in ("jeton-é".encode(), "jeton-é", "∞".encode()):
        assert on_loopback.get("/api/runs/toy-hosts/cancel", "POST", {"X-LPZ-Token": value})[0] == 403, value
    # off loopback every request: the header, the query and the cookie
    assert off_loopback.get("/api/runs", headers={"X-LPZ-Token": "jeton-é".encode()})[0] == 403
    assert off_loopback.get("/api/runs?token=jeton-%C3%A9")[0] == 403
    assert off_loopback.get("/api/runs?token=%E2%88%9E")[0] == 403
    assert off_loopback.get("/api/runs", headers={"Cookie": "lpz_token=jeton-é".encode()})[0] == 403
    assert off_loopback.get("/api/runs", headers={"X-LPZ-Token": off_loopback.token})[0] == 200


# ------------------------------------------------------------------ connections that never finish a request

@contextmanager
def served(store: Path, **limits):
    """The dashboard's own uvicorn server (lpz.dashboard.serve.server) in a thread, on a free loopback port."""
    from lpz.dashboard.app import create_app
    from lpz.dashboard.serve import server

    running = server(create_app(LocalStore(store)), "127.0.0.1", free_port(), **limits)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    def started() -> bool:
        assert thread.is_alive(), "the dashboard's server stopped"
        return running.started
    wait_until(started, 30, "the dashboard's server to start", interval=0.05)
    try:
        yield running.config.port
    finally:
        running.should_exit = True
        thread.join(timeout=30)


def half_sent(port: int, count: int) -> list[socket.socket]:
    """count connections that each send the start of a request head, never its end."""
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /api/runs HTTP/1.1\r\nHost: localhost\r\n")
        s.setblocking(False)
        sockets.append(s)
    return sockets


def closed_by_server(s: socket.socket) -> bool:
    try:
        while s.recv(65536):  # an answer (a 503), then the end
            pass
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def wait_closed(sockets: list[socket.socket], seconds: float, count: int | None = None) -> set[socket.socket]:
    """Those of sockets the server closed within seconds (stop early once all, or count, are)."""
    closed, deadline = set(), time.time() + seconds
    while time.time() < deadline and len(closed) < (len(sockets) if count is None else count):
        closed |= {s for s in sockets if s not in closed and closed_by_server(s)}
        time.sleep(0.1)
    return closed


def get(port: int, path: str = "/api/runs") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_request_head_that_never_ends_is_closed(store):
    with served(store, head_seconds=1, max_connections=1000) as port:
        sockets = half_sent(port, 200)
        trickle = sockets[0]  # it sends one more byte every 0.1 s, which must not keep it open
        try:
            assert get(port) == 200  # a normal request meanwhile
            closed, deadline = set(), time.time() + 10
            while len(closed) < len(sockets) and time.time() < deadline:
                if trickle not in closed:
                    try:
                        trickle.send(b"a")
                    except OSError:
                        pass
                closed |= {s for s in sockets if s not in closed and closed_by_server(s)}
                time.sleep(0.1)
            assert trickle in closed, "a request head sent a byte at a time was held open for 10 s"
            assert len(closed) == 200, f"{200 - len(closed)} of 200 unfinished requests held open for 10 s"
            assert get(port) == 200
        finally:
            for s in sockets:
                s.close()


def test_connections_beyond_the_bound_are_closed_at_once(store):
    with served(store, head_seconds=60, max_connections=20) as port:
        sockets = half_sent(port, 30)
        try:
            closed = wait_closed(sockets, 10, count=10)
            assert len(closed) == 10, f"{30 - len(closed)} connections open, the bound is 20"
            assert not wait_closed([s for s in sockets if s not in closed], 0.5)  # the first 20 wait their minute
        finally:
            for s in sockets:
                s.close()
        # the bound counts open connections only
        wait_until(lambda: get(port) == 200, 10, "an answer once the connections closed", interval=0.1)
