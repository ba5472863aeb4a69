"""The agent's local HTTP API: what the touchscreen (and a test, or a driver's phone on the site network)
uses to act at the cabinet. JSON in and out, standard library only, loopback by default.

    GET  /api/state                       readiness, who is logged in, whether a PIN is awaited, the doors
                                           standing open and an open weigh-bin take's live count
    POST /api/badge    {"badge"}           what a keyboard-wedge reader typed (PC/SC and serial readers tap
                                           by themselves); while an issue waits for a supervisor, their
                                           badge approves it ({"approved_by"}) instead of logging in
    POST /api/pin      {"user_id", "pin"}  PIN login, or the PIN after a badge that needs one
    POST /api/logout
    POST /api/approve  {"badge"} or {"user_id", "pin"}   a supervisor approves the next issue
    POST /api/issue    {"location", "quantity", "work_order", "machine_id", "cost_center"}   lane, door
                                           (a returnable tool is lent) or scan-only bin; cost_center
                                           replaces the person's own for this take
    POST /api/take/begin  (as issue)       a weigh bin: the weight before the person reaches in
    POST /api/take/finish                  the weight after: what was taken (409 while it still moves)
    POST /api/return   {"location", "condition"}   a lent tool back, good or damaged
    GET  /api/loans                        the person's tools out (with each SKU's description)
    GET  /api/refill                       a route driver's pick list
    POST /api/refill/open {"location"}     unlock a locker door for refilling
    POST /api/refill/bin  {"location"}     a weigh bin before refilling (take/finish counts it)
    POST /api/refill   {"location", "added", "counted"}   units put in, and the count after (optional)
    POST /api/count    {"location", "counted", "reason"}  supervisor: cycle count
    POST /api/adjust   {"location", "delta", "reason"}    supervisor: adjustment with a reason
    POST /api/quarantine {"location", "quantity", "disposition"}  supervisor: restock or scrap
    POST /api/lane/clear {"location"}      supervisor: a jammed lane back in service
    GET  /api/alerts                       supervisor: the open alerts (location, kind, detail), oldest first
    GET  /api/stock                        supervisor: every stock location with on_hand and quarantine
    GET  /api/health                      installer (supervisor, customer_admin, supplier_admin): the cabinet link
                                           (firmware, boot id), each door, lane and bin as the firmware reports
    POST /api/selftest/door {"location"}   installer: pulse a door's latch (intent, UNLOCK, outcome; nothing
                                           charged); the state then shows it open until it closes
    POST /api/selftest/lane {"location"}   installer: one test turn of a lane (an item that drops is recorded
                                           as taken by the installer)
    POST /api/bin/tare {"location"}        installer: zero an empty weigh bin (intent, TARE, outcome)
    POST /api/bin/calibrate {"location", "known_g"}   installer: calibrate with a known weight in the bin; the
                                           bin's baseline is cleared (the next weighing adopts one)
    GET  /api/bin/read?location=B1         installer: a stable reading of a weigh bin (409 while it moves)
    GET  /api/items                        what the person may choose: lane, door, weigh-bin and scan-only
                                           locations with stock whose SKU their role may take, their usual
                                           items first, each with category and what it needs (choices.py)
    GET  /api/events                       Server-Sent Events: the state (as /api/state) each time it changes
    GET  /  and  /screen/<file>            the touchscreen's web app (edge_agent/screen), nothing else

Every answer is a JSON object. Errors: 400 bad request (the message names the field), 401 nobody logged in,
403 refused (the reason code and the words to show), 503 the locker is starting up. The agent, not the page,
decides every permission.
"""
import dataclasses
import json
import logging
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from edge_agent.access import NeedPin, Person, Refused
from edge_agent.agent import Approved, NoSession, NotReady
from edge_agent.permissions import Decision
from edge_agent.weighing import NotStable, Take

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
SCREEN_DIR = Path(__file__).resolve().parent / "screen"
SCREEN_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SCREEN_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[a-z]+)$")     # one plain file name: no dots, no slashes
EVENTS_POLL_S = 0.2        # how often an event stream looks at the agent's state
EVENTS_KEEPALIVE_S = 10    # a comment line this often: a page that went away is noticed


class BadRequest(Exception):
    pass


def _field(body, name, kind, required=True, default=None):
    if name not in body or body[name] is None:
        if required:
            raise BadRequest("%s is required" % name)
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest("%s must be %s" % (name, "a whole number" if kind is int else "text"))
    return value


def _answer(value, **extra):
    """(status, JSON) for whatever a flow returned: a refusal is 403 with its reason and plain words."""
    if isinstance(value, Person):
        return 200, {"ok": True, "person": dataclasses.asdict(value)}
    if isinstance(value, Approved):
        return 200, {"ok": True, "approved_by": dataclasses.asdict(value.approver)}
    if isinstance(value, NeedPin):
        return 200, {"ok": True, "need_pin_for": value.user_id}
    if isinstance(value, (Refused, Decision)):
        return 403, {"ok": False, "reason": value.reason, "message": value.message}
    if isinstance(value, Take):
        return 200, {"ok": True, "location": value.location["id"], "weight_before_mg": value.before.weight_mg,
                     "unexplained": dataclasses.asdict(value.unexplained) if value.unexplained else None}
    body = dataclasses.asdict(value)
    refused = getattr(value, "refused", None)
    if refused is not None:
        body.update(ok=False, reason=refused.reason, message=refused.message)
        return 403, body
    body["ok"] = getattr(value, "ok", True)
    body.update(extra)
    return 200, body


def _listing(name, rows):
    return 200, {"ok": True, name: [dataclasses.asdict(row) for row in rows]}


def _not_negative(body, *names):
    for name in names:
        if body.get(name) is not None and isinstance(body[name], int) and body[name] < 0:
            raise BadRequest("%s must not be negative" % name)


def routes(agent):
    """{(method, path): handler(body) -> (status, json)}: each handler runs its job on the agent's worker."""
    def text(body, name, required=True):
        return _field(body, name, str, required)

    def number(body, name, required=True, default=None):
        return _field(body, name, int, required, default)

    def issue_terms(body):
        quantity = number(body, "quantity", required=False, default=1)
        if quantity < 1:
            raise BadRequest("quantity must be 1 or more")
        return (text(body, "location"), quantity, text(body, "work_order", False), text(body, "machine_id", False),
                text(body, "cost_center", False))

    def logout(_):
        agent.call(agent.logout)
        return 200, {"ok": True}

    def approve(body):
        if body.get("badge") is not None:
            return _answer(agent.call(agent.approve, badge=text(body, "badge")))
        return _answer(agent.call(agent.approve, user_id=text(body, "user_id"), pin=text(body, "pin")))

    def take_finish(_):
        try:
            return _answer(agent.call(agent.take_finish))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Take your "
                                                                         "hand out and press done again. (%s)" % e}

    def refill(body):
        _not_negative(body, "added", "counted")
        return _answer(agent.call(agent.refill, text(body, "location"), number(body, "added"),
                                  number(body, "counted", required=False)))

    def count(body):
        _not_negative(body, "counted")
        found = agent.call(agent.cycle_count, text(body, "location"), number(body, "counted"),
                           text(body, "reason", False))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "difference": found})

    def adjust(body):
        found = agent.call(agent.adjust, text(body, "location"), number(body, "delta"), text(body, "reason", False))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "on_hand": found})

    def quarantine(body):
        _not_negative(body, "quantity")
        found = agent.call(agent.release_quarantine, text(body, "location"), number(body, "quantity"),
                           text(body, "disposition"))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "quarantine": found})

    def calibrate(body):
        known = body.get("known_g")
        if known is None:
            raise BadRequest("known_g is required")
        if not isinstance(known, (int, float)) or isinstance(known, bool) or not 0 < known <= 100000:
            raise BadRequest("known_g must be a weight in grams, more than 0")
        return _answer(agent.call(agent.calibrate_bin, text(body, "location"), round(known * 1000)))

    def read_bin(body):
        try:
            found = agent.call(agent.read_bin, text(body, "location"))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Keep hands "
                                                                         "off and read again. (%s)" % e}
        return _answer(found) if isinstance(found, Decision) else (200, dict(found, ok=True))

    def health(_):
        found = agent.call(agent.health)
        return _answer(found) if isinstance(found, Decision) else (200, dict(found, ok=True))

    def supervisor_listing(name, fn):
        def handler(_):
            found = agent.call(fn)
            return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, name: list(found)})
        return handler

    return {
        ("GET", "/api/state"): lambda _: (200, agent.call(agent.state)),
        ("POST", "/api/badge"): lambda b: _answer(agent.call(agent.wedge, text(b, "badge"))),
        ("POST", "/api/pin"): lambda b: _answer(agent.call(agent.pin, text(b, "user_id"), text(b, "pin"))),
        ("POST", "/api/logout"): logout,
        ("POST", "/api/approve"): approve,
        ("POST", "/api/issue"): lambda b: _answer(agent.call(agent.issue, *issue_terms(b))),
        ("POST", "/api/take/begin"): lambda b: _answer(agent.call(agent.take_begin, *issue_terms(b))),
        ("POST", "/api/take/finish"): take_finish,
        ("POST", "/api/return"): lambda b: _answer(agent.call(agent.give_back, text(b, "location"),
                                                              text(b, "condition", False) or "good")),
        ("GET", "/api/loans"): lambda _: (200, {"ok": True, "loans": agent.call(agent.loans)}),
        ("GET", "/api/refill"): lambda _: _listing("pick_list", agent.call(agent.pick_list)),
        ("POST", "/api/refill/open"): lambda b: _answer(agent.call(agent.open_for_refill, text(b, "location"))),
        ("POST", "/api/refill/bin"): lambda b: _answer(agent.call(agent.refill_begin, text(b, "location"))),
        ("POST", "/api/refill"): refill,
        ("POST", "/api/count"): count,
        ("POST", "/api/adjust"): adjust,
        ("POST", "/api/quarantine"): quarantine,
        ("POST", "/api/lane/clear"): lambda b: _answer(agent.call(agent.clear_lane, text(b, "location"))),
        ("GET", "/api/alerts"): supervisor_listing("alerts", agent.open_alerts),
        ("GET", "/api/stock"): supervisor_listing("stock", agent.stock),
        ("GET", "/api/health"): health,
        ("POST", "/api/selftest/door"): lambda b: _answer(agent.call(agent.test_door, text(b, "location"))),
        ("POST", "/api/selftest/lane"): lambda b: _answer(agent.call(agent.test_lane, text(b, "location"))),
        ("POST", "/api/bin/tare"): lambda b: _answer(agent.call(agent.tare_bin, text(b, "location"))),
        ("POST", "/api/bin/calibrate"): calibrate,
        ("GET", "/api/bin/read"): read_bin,
        ("GET", "/api/items"): lambda _: (200, {"ok": True, "items": agent.call(agent.items)}),
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "locker-agent"
    protocol_version = "HTTP/1.1"

    def _answer(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        handler = self.server.routes.get((method, self.path.split("?")[0]))
        if handler is None:
            return self._answer(404, {"ok": False, "message": "no such endpoint: %s %s" % (method, self.path)})
        try:
            body = {}
            if method == "GET":                   # query parameters, each given once: ?location=B1
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = {name: values[-1] for name, values in query.items()}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise BadRequest("request body too large")
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    raise BadRequest("the body is not JSON") from None
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object")
            status, answer = handler(body)
        except (BadRequest, ValueError) as e:     # ValueError: a flow refused a value (a condition, hours)
            status, answer = 400, {"ok": False, "message": str(e)}
        except NoSession as e:
            status, answer = 401, {"ok": False, "message": str(e)}
        except NotReady as e:
            status, answer = 503, {"ok": False, "message": str(e)}
        except Exception as e:  # noqa: BLE001 - the screen gets a message; the log gets the trace
            log.exception("%s %s failed", method, self.path)
            status, answer = 500, {"ok": False, "message": "The locker had a problem: %s" % e}
        self._answer(status, answer)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/" or path.startswith("/screen/"):
            return self._static(path)
        if path == "/api/events":
            return self._events()
        self._dispatch("GET")

    def _static(self, path):
        """A file of the web app: only a plain name directly inside edge_agent/screen, of a known type."""
        name = "index.html" if path == "/" else urllib.parse.unquote(path[len("/screen/"):])
        match = SCREEN_NAME.match(name)
        file = SCREEN_DIR / name
        if not match or match.group(1) not in SCREEN_TYPES or file.resolve().parent != SCREEN_DIR \
                or not file.is_file():
            return self._answer(404, {"ok": False, "message": "no such file: %s" % path})
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", SCREEN_TYPES[match.group(1)])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", "default-src 'self'")   # nothing from any other host
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def _events(self):
        """Server-Sent Events: the agent's state now, then again each time it changes, until the page goes
        away or the server stops. The stream polls the worker; the page is pushed to, never reloads."""
        agent, stopping = self.server.agent, self.server.stopping
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        last, quiet_since = None, time.monotonic()
        try:
            while not stopping.is_set():
                try:
                    state = agent.call(agent.state, timeout=5)
                except Exception:  # noqa: BLE001 - the agent stopped or is stuck: the page reconnects
                    return
                if state != last:
                    self.wfile.write(b"data: " + json.dumps(state).encode("utf-8") + b"\n\n")
                    self.wfile.flush()
                    last, quiet_since = state, time.monotonic()
                elif time.monotonic() - quiet_since > EVENTS_KEEPALIVE_S:
                    self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
                    quiet_since = time.monotonic()
                stopping.wait(EVENTS_POLL_S)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return

    def do_POST(self):
        self._dispatch("POST")

    def log_message(self, fmt, *args):
        log.debug("api: " + fmt, *args)


class _Server(ThreadingHTTPServer):
    """One thread per connection (daemon: a page's event stream never holds the process); shutdown() also
    ends the event streams."""
    daemon_threads = True

    def __init__(self, address, agent):
        super().__init__(address, _Handler)
        self.agent = agent
        self.stopping = threading.Event()
        self.routes = routes(agent)

    def shutdown(self):
        self.stopping.set()
        super().shutdown()


def serve(agent, host="127.0.0.1", port=8080):
    """Start the API in a background thread; returns the server (server.server_address has the port)."""
    server = _Server((host, port), agent)
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server
