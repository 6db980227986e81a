"""`lpz dashboard`: check where it may listen, print its URL, serve until Ctrl-C."""
from __future__ import annotations

import os

from lpz.dashboard.app import create_app, new_token
from lpz.errors import UserError
from lpz.hosts import is_loopback
from lpz.store.base import Store

TOKEN_VARIABLE = "LPZ_DASHBOARD_TOKEN"


def serve(store: Store, host: str, port: int, allow_actions: bool, say=print) -> None:
    token = os.environ.get("LPZ_DASHBOARD_TOKEN") or (new_token() if allow_actions else None)
    loopback = is_loopback(host)
    if not loopback and not token:
        raise UserError(f"--host {host} would show the store to the network without a token: set "
                        f"{TOKEN_VARIABLE} (or give --allow-actions, which makes one), or keep the default "
                        f"127.0.0.1")
    import uvicorn
    app = create_app(store, token, allow_actions, token_for_reads=not loopback)
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={token}" if token else ""
    mode = "actions allowed with the token" if allow_actions else "read-only"
    say(f"lpz dashboard of {store.url} ({mode}): http://{shown}:{port}/{query}")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
