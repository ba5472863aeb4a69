"""The Starlette app (the route table, the event stream, the screen's files, behind security.py's checks) and
uvicorn serving it in a background thread on a socket bound first (so port 0 works and Host is known)."""
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge_agent.app.agent import NoSession, NotReady
from edge_agent.api import security
from edge_agent.api.events import Changes, event_stream
from edge_agent.api.routes import BadRequest, routes
from edge_agent.ledger.errors import LedgerUnwritable
from edge_agent.rules.refusal import Refusal

log = logging.getLogger("edge_agent.api")
SCREEN_DIR = Path(__file__).resolve().parent.parent / "screen"
SCREEN_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SCREEN_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[a-z]+)$")     # one plain file name: no dots, no slashes
PAGES = [("GET", "/"), ("GET", "/screen/{name}"), ("GET", "/api/events")]   # served beside the route table
NO_CLIENT = ("This client has no session token: open the locker's screen first (GET / sets it).")
UNWRITABLE = "The locker cannot write its records: its storage is full. Call the supplier."


def _json(status, body, headers=None):
    return Response(json.dumps(body), status, headers=dict(headers or {}, **{"Cache-Control": "no-store"}),
                    media_type="application/json")


class _Anyone:
    """Stands in for the agent when only the route table's keys are wanted."""

    def __getattr__(self, name):
        return None


def route_table():
    """Every (method, path) the API answers: the JSON routes, the event stream and the screen's files."""
    return sorted(set(routes(_Anyone())) | set(PAGES))


def _run(handler, call, body, method, path):
    """One route's job, its exceptions turned into answers (on a worker thread of the pool, not the loop)."""
    try:
        return handler(call, body)
    except (BadRequest, ValueError) as e:     # ValueError: a flow refused a value (a condition, hours)
        return 400, {"ok": False, "message": str(e)}
    except Refusal as e:                      # every flow says no the same way (with the field it is about)
        field = {"field": e.details["field"]} if "field" in e.details else {}
        return 403, {"ok": False, "reason": e.reason, "message": e.words, **field}
    except NoSession as e:
        return 401, {"ok": False, "message": str(e)}
    except NotReady as e:
        return 503, {"ok": False, "message": str(e)}
    except LedgerUnwritable:                  # a disk full under a write that moves nothing (a refusal row)
        log.exception("%s %s failed", method, path)
        return 503, {"ok": False, "reason": "ledger_unwritable", "message": UNWRITABLE}
    except Exception as e:  # noqa: BLE001 - the screen gets a message; the log gets the trace
        log.exception("%s %s failed", method, path)
        return 500, {"ok": False, "message": "The locker had a problem: %s" % e}


def _screen_file(request, agent):
    """A file of the web app: only a plain name directly inside edge_agent/screen, of a known type. Loading
    the page gives the client its token (kept when it has one) and makes it the cabinet's screen."""
    path = request.url.path
    name = "index.html" if path == "/" else urllib.parse.unquote(path[len("/screen/"):])
    match = SCREEN_NAME.match(name)
    file = SCREEN_DIR / name
    if not match or match.group(1) not in SCREEN_TYPES or file.resolve().parent != SCREEN_DIR \
            or not file.is_file():
        return _json(404, {"ok": False, "message": "no such file: %s" % path})
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
               "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"}  # nothing from elsewhere
    response = Response(file.read_bytes(), headers=headers, media_type=SCREEN_TYPES[match.group(1)])
    if path == "/":
        token = security.client_of(request.cookies) or security.new_token()
        response.headers["Set-Cookie"] = security.cookie_header(token)
        agent.screen_opened(token)
    return response


def build_app(agent, hosts, port, changes):
    table = routes(agent)

    async def endpoint(request):
        method, path = request.method, request.url.path
        handler = table.get((method, path))
        if handler is None:
            return _json(405, {"ok": False, "message": "no such endpoint: %s %s" % (method, path)})
        client = security.client_of(request.cookies)
        try:
            if method == "POST":
                body = await security.json_body(request)
                if not client:
                    raise security.Rejected(401, "no_client", NO_CLIENT)
            else:                                   # query parameters, each given once: ?location=B1
                body = dict(request.query_params)
        except security.Rejected as e:
            return _json(e.status, e.body())

        def call(fn, *args, **kwargs):
            return agent.call(fn, *args, as_client=client, **kwargs)

        status, answer = await run_in_threadpool(_run, handler, call, body, method, path)
        return _json(status, answer)

    async def screen(request):
        return _screen_file(request, agent)

    async def events(request):
        return event_stream(agent, changes, security.client_of(request.cookies))

    async def not_found(request, exc):         # 404 no such path, 405 not with this method
        return _json(exc.status_code, {"ok": False, "message": "no such endpoint: %s %s" % (
            request.method, request.url.path)})

    paths = {}
    for method, path in table:
        paths.setdefault(path, []).append(method)
    app = Starlette(routes=[Route("/", screen), Route("/screen/{name:path}", screen), Route("/api/events", events)]
                    + [Route(path, endpoint, methods=methods) for path, methods in sorted(paths.items())],
                    exception_handlers={404: not_found, 405: not_found})
    return _Guard(app, hosts, port)


class _Guard:
    """ASGI middleware: every HTTP request passes security.check_request (Host, Origin) before any route."""

    def __init__(self, app, hosts, port):
        self.app, self.hosts, self.port = app, hosts, port

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            request = Request(scope)
            try:
                security.check_request(request.headers, self.hosts, self.port)
            except security.Rejected as e:
                return await _json(e.status, e.body())(scope, receive, send)
        await self.app(scope, receive, send)


class Server:
    """uvicorn in a background thread: server_address, shutdown() (which also ends the event streams)."""

    def __init__(self, agent, host, port):
        if not security.is_loopback(host):
            raise ValueError("the API listens on a loopback address only (127.0.0.1, ::1, localhost), not %r: "
                             "it has no authentication for other hosts (docs/decisions/0020)" % host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP; without
        # it every answer after the first on a kept-alive connection waited ~40 ms for the browser's delayed ACK.
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(64)
        self.server_address = (host, self.socket.getsockname()[1])
        self.changes = Changes()
        agent.watch(self.changes.push)
        app = build_app(agent, security.allowed_hosts(host, self.server_address[1]), self.server_address[1],
                        self.changes)
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, proxy_headers=False,
                                server_header=False, http="h11", ws="none", timeout_graceful_shutdown=1)
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self.socket]}, name="api",
                                        daemon=True)

    def start(self, timeout=10):
        self._thread.start()
        end, pause = time.monotonic() + timeout, threading.Event()
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the API server did not start")
            pause.wait(0.01)     # not time.sleep: under libfaketime (a Pi weeks behind) it fails with EINVAL
        return self

    def shutdown(self):
        self.changes.close()
        self._uvicorn.should_exit = True
        self._thread.join(5)

    def server_close(self):
        self.socket.close()

    def connection_sockets(self):
        """The sockets of the connections open now, to look at their options (TCP_NODELAY: see __init__)."""
        return [c.transport.get_extra_info("socket") for c in list(self._uvicorn.server_state.connections)]


def serve(agent, host="127.0.0.1", port=8080):
    """Start the API in a background thread; returns the server (server.server_address has the port)."""
    return Server(agent, host, port).start()
