"""`lpz dashboard`: check where it may listen and which host names it answers, print its URL, serve until Ctrl-C.

The server is uvicorn's h11 protocol with two bounds uvicorn lacks (it times out only an idle connection
after a response): a request head must arrive within HEAD_SECONDS of connecting or of the previous answer,
however slowly its bytes trickle in, and connections beyond MAX_CONNECTIONS are answered 503 and closed.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lpz.dashboard.app import create_app, host_name, new_token
from lpz.errors import UserError
from lpz.store.hosts import is_loopback
from lpz.store.base import Store

TOKEN_VARIABLE = "LPZ_DASHBOARD_TOKEN"
HEAD_SECONDS = 10
MAX_CONNECTIONS = 100
TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n"
            b"connection: close\r\n\r\ntoo many connections")


def serve(store: Store, host: str, port: int, allow_actions: bool, allowed_hosts: Iterable[str] = (),
          say=print) -> None:
    token = os.environ.get("LPZ_DASHBOARD_TOKEN") or (new_token() if allow_actions else None)
    loopback = is_loopback(host)
    if not loopback and not token:
        raise UserError(f"--host {host} would show the store to the network without a token: set "
                        f"{TOKEN_VARIABLE} (or give --allow-actions, which makes one), or keep the default "
                        f"127.0.0.1")
    app = create_app(store, token, allow_actions, token_for_reads=not loopback,
                     hosts=answered_hosts(host, allowed_hosts))
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={token}" if token else ""
    mode = "actions allowed with the token" if allow_actions else "read-only"
    say(f"lpz dashboard of {store.url} ({mode}): http://{shown}:{port}/{query}")
    server(app, host, port).run()


def answered_hosts(host: str, allowed: Iterable[str]) -> frozenset[str] | None:
    """The host names answered besides loopback's (None: any). On loopback, the --allowed-host names; elsewhere
    any name (the token guards every request) unless some are given: then those and the address listened on."""
    names = set()
    for given in allowed:
        name = host_name(given) or host_name(f"[{given}]")  # an IPv6 address may come without brackets
        if name is None:
            raise UserError(f"--allowed-host {given!r}: give a host name or address, such as dash.example.org")
        names.add(name)
    if is_loopback(host):
        return frozenset(names)
    return frozenset(names | {host_name(host) or host_name(f"[{host}]") or host}) if names else None


def server(app, host: str, port: int, head_seconds: float = HEAD_SECONDS,
           max_connections: int = MAX_CONNECTIONS) -> uvicorn.Server:
    """A uvicorn server of app whose connections have head_seconds to send each request head, at most
    max_connections of them open at once."""

    class Protocol(H11Protocol):
        head_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(TOO_MANY)
                transport.close()
            else:
                self.wait_for_head()

        def wait_for_head(self) -> None:
            """Close the connection unless the next request head arrives within head_seconds."""
            self.stop_waiting()
            self.head_timer = self.loop.call_later(head_seconds, self.transport.close)

        def stop_waiting(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request head arrived (the app answers it, however long that takes)
                self.stop_waiting()

        def on_response_complete(self) -> None:
            self.wait_for_head()  # before uvicorn reads a pipelined request, which stops the wait
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self.stop_waiting()
            super().connection_lost(exc)

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, http=Protocol, log_level="warning",
                                         server_header=False))
