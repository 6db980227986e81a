"""The dashboard's web app: the pages, a JSON API over lpz.dashboard.reading, and the actions.

Every URL is checked before the store is read: run ids with lpz.runs.check_run_id, generations and
cells as integers within the run, file names with lpz.safe_names and a fixed list; nothing is ever
served from a path built out of a URL. Reads are open on loopback; bound anywhere else every request
needs the token (the `?token=` of the printed URL, kept in a cookie). The actions (cancel, resume)
exist only with --allow-actions and need the token in the X-LPZ-Token header, which no other site's
page can send. Tokens are compared as UTF-8 bytes: one that is not ASCII is a mismatch, never an error.
Against DNS rebinding (another site's name resolving to 127.0.0.1), a request's Host header must name
loopback or an allowed host (lpz.dashboard.serve.answered_hosts says which).
"""
from __future__ import annotations

import html
import ipaddress
import json
import re
import secrets
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from lpz.dashboard.actions import ACTIONS
from lpz.dashboard.reading import Reader
from lpz.errors import RunNotFound, UserError
from lpz.store.hosts import is_loopback
from lpz.runs import DamagedRun
from lpz.safe_names import check_relative
from lpz.store.base import Store
from lpz.views.status import json_ready

STATIC = resources.files("lpz.dashboard") / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}
STATIC_FILES = {f.name for f in STATIC.iterdir() if f.name.endswith(tuple(STATIC_TYPES))}
SAMPLE_FILES = {"samples.png"}
# What a wrong address is answered with: the addresses there are (docs/dashboard.md says the same).
PAGES = {"/": "every run in the store", "/run/<id>": "a run: its progress, torus map, curves and samples",
         "/run/<id>/cell/<cell>": "a cell of the run (cells count from 0, row by row)"}
API = {"/api/runs": "every run's summary",
       "/api/runs/<id>/status": "the run's status, as `lpz status <id> --json` prints it",
       "/api/runs/<id>/info": "the run's resolved configuration and whether actions are allowed",
       "/api/runs/<id>/series?after=<generation>": "every cell's numbers per generation after one",
       "/api/runs/<id>/samples": "the generations and cells that drew a sample picture",
       "/api/runs/<id>/cells/<cell>": "a cell's metrics over the generations",
       "/files/<id>/<generation>/<cell>/samples.png": "a cell's sample picture at a generation",
       "/api/runs/<id>/cancel, /api/runs/<id>/resume": "POST, with --allow-actions and the token"}
TOKEN_COOKIE = "lpz_token"
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                      "frame-ancestors 'none'; form-action 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(given: str, token: str) -> bool:
    """Whether given is the token, in constant time; text that is not ASCII is a mismatch, never an error."""
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))


_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::[0-9]{1,5})?")


def host_name(host: str) -> str | None:
    """The host of a Host header, "name[:port]" or "[ipv6][:port]": lower case, an IPv6 address without its
    brackets; None when it is neither."""
    found = _HOST.fullmatch(host)
    if found is None:
        return None
    if found["ipv6"] is None:
        return found["name"].lower()
    try:
        return str(ipaddress.IPv6Address(found["ipv6"]))
    except ValueError:
        return None


class Problem(Exception):
    def __init__(self, code: int, message: str):
        self.code, self.message = code, message


def create_app(store: Store, token: str | None = None, allow_actions: bool = False,
               token_for_reads: bool = False, hosts: frozenset[str] | None = frozenset()) -> Starlette:
    """The app over one store. token: guards the actions (and with token_for_reads, every request).
    hosts: the host names (as host_name gives them) answered besides loopback's; None: any."""
    if (allow_actions or token_for_reads) and not token:
        raise ValueError("actions and a non-loopback host need a token")
    reader = Reader(store)

    def page(name: str):
        async def serve(request: Request) -> Response:
            run_id = request.path_params.get("run_id")
            if run_id is not None:
                await _call(reader.run, run_id)  # a page for a run that exists, only
            return _static(name)
        return serve

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise Problem(404, "no such file")
        return _static(name)

    async def runs(request: Request) -> Response:
        return _json(await _call(reader.runs))

    async def status(request: Request) -> Response:
        return _json((await _call(reader.status, request.path_params["run_id"])).to_json())

    async def info(request: Request) -> Response:
        found = await _call(reader.info, request.path_params["run_id"])
        return _json({**found, "actions": allow_actions})

    async def series(request: Request) -> Response:
        after = request.query_params.get("after", "0")
        if not (after.isdigit() and len(after) < 7):
            raise Problem(400, "after: a generation number")
        return _json(await _call(reader.series, request.path_params["run_id"], int(after)))

    async def samples(request: Request) -> Response:
        return _json(await _call(reader.samples, request.path_params["run_id"]))

    async def cell(request: Request) -> Response:
        found = await _call(reader.cell, request.path_params["run_id"], request.path_params["cell"])
        if found is None:
            raise Problem(404, "the run has no such cell")
        return _json(found)

    async def sample_file(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            check_relative(name, "file name")
        except UserError as e:
            raise Problem(400, str(e)) from None
        if name not in SAMPLE_FILES:
            raise Problem(404, "no such file")
        p = request.path_params
        data = await _call(reader.sample, p["run_id"], p["generation"], p["cell"])
        if data is None:
            raise Problem(404, "no picture of that cell-generation")
        return Response(data, media_type="image/png")

    async def action(request: Request) -> Response:
        if not allow_actions:
            raise Problem(403, "this dashboard is read-only: start it with --allow-actions")
        if not same_token(request.headers.get("x-lpz-token", ""), token):
            raise Problem(403, "the action needs the token of the URL `lpz dashboard` printed")
        run_id, name = request.path_params["run_id"], request.path_params["action"]
        if name not in ACTIONS:
            raise Problem(404, "no such action")
        done = await _call(ACTIONS[name], await _call(reader.run, run_id))
        reader.forget(run_id)
        return _json({"done": done})

    routes = [
        Route("/", page("runs.html")),
        Route("/run/{run_id}", page("run.html")),
        Route("/run/{run_id}/cell/{cell:int}", page("cell.html")),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),  # no icon, and no 404 in the console
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}/status", status),
        Route("/api/runs/{run_id}/info", info),
        Route("/api/runs/{run_id}/series", series),
        Route("/api/runs/{run_id}/samples", samples),
        Route("/api/runs/{run_id}/cells/{cell:int}", cell),
        Route("/files/{run_id}/{generation:int}/{cell:int}/{name}", sample_file),
        Route("/api/runs/{run_id}/{action:str}", action, methods=["POST"]),
    ]
    guard = Middleware(BaseHTTPMiddleware, dispatch=_guard(token if token_for_reads else None, hosts))
    return Starlette(routes=routes, middleware=[guard],
                     exception_handlers={Problem: _problem, 404: _not_found, 405: _not_found})


async def _call(function, *args):
    """function(*args) in a worker thread (it reads the store), its errors as HTTP answers."""
    from starlette.concurrency import run_in_threadpool
    try:
        return await run_in_threadpool(function, *args)
    except RunNotFound as e:
        raise Problem(404, str(e)) from None
    except DamagedRun as e:
        raise Problem(409, str(e)) from None
    except UserError as e:  # a malformed id, or an action that does not apply
        raise Problem(400, str(e)) from None


def _guard(token: str | None, hosts: frozenset[str] | None):
    def host_allowed(request: Request) -> bool:
        given = request.headers.getlist("host")
        name = host_name(given[0]) if len(given) == 1 else None
        return name is not None and (is_loopback(name) or name in hosts)

    async def dispatch(request: Request, call_next) -> Response:
        if hosts is not None and not host_allowed(request):
            return _headers(PlainTextResponse("lpz dashboard does not answer to this host name: open it at localhost "
                                              "or 127.0.0.1, or allow the name with --allowed-host", status_code=400))
        given = request.query_params.get("token") or request.headers.get("x-lpz-token") \
            or request.cookies.get(TOKEN_COOKIE) or ""
        if token and not same_token(given, token):
            return _headers(PlainTextResponse("this dashboard needs the token of the URL `lpz dashboard` printed",
                                              status_code=403))
        response = _headers(await call_next(request))
        if token and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response
    return dispatch


def _headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def _static(name: str) -> Response:
    suffix = name[name.rfind("."):]
    return Response((STATIC / name).read_bytes(), media_type=STATIC_TYPES[suffix])


def _json(value) -> Response:
    return Response(json.dumps(json_ready(value)), media_type="application/json")


async def _problem(request: Request, error: Problem) -> Response:
    if error.code == 404 and _is_page(request.url.path):  # e.g. a run page for a run the store lacks
        return _lost(request.url.path, error.message)
    return PlainTextResponse(error.message, status_code=error.code)


async def _not_found(request: Request, error) -> Response:
    return _lost(request.url.path, None)


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/files/", "/static/"))


def _lost(path: str, message: str | None) -> Response:
    """404 for an address nothing answers: what exists, as JSON for the API, else as a page that links home."""
    said = message or f"nothing here: {path}"
    if not _is_page(path):
        return Response(json.dumps({"error": said, "addresses": {**API, **PAGES}}), status_code=404,
                        media_type="application/json")
    hint = ""
    if path.startswith("/runs/") and path.count("/") == 2:
        target = "/run/" + path.split("/")[2]
        hint = f'<p>A run\'s page is <a href="{html.escape(target)}">{html.escape(target)}</a>.</p>'
    rows = "".join(f"<tr><td><code>{html.escape(address)}</code></td><td>{html.escape(what)}</td></tr>"
                   for address, what in {**PAGES, **API}.items())
    body = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lpz: not found</title>'
            f'<link rel="stylesheet" href="/static/dashboard.css"></head><body>'
            f'<header><a href="/">lpz dashboard</a></header><h1>Not found</h1>'
            f'<p class="error">{html.escape(said)}</p>{hint}'
            f'<p><a href="/">Every run in the store</a> links to its page. The addresses there are:</p>'
            f'<table>{rows}</table></body></html>')
    return HTMLResponse(body, status_code=404)
