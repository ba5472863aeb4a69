"""The agent's local HTTP API: what the touchscreen (and a test, or a driver's phone on the site network)
uses to act at the cabinet. JSON in and out, standard library only, loopback by default.

    GET  /api/state                       readiness, who is logged in, whether a PIN is awaited
    POST /api/badge   {"badge": "..."}    what a keyboard-wedge reader typed (PC/SC and serial readers tap
                                          by themselves)
    POST /api/pin     {"user_id", "pin"}  PIN login, or the PIN after a badge that needs one
    POST /api/logout
    POST /api/issue   {"location", "quantity", "work_order", "machine_id"}
    GET  /api/refill                      a route driver's pick list
    POST /api/refill  {"location", "added", "counted"}   units put in, and the count after (optional)

Every answer is a JSON object. Errors: 400 bad request (the message names the field), 401 nobody logged in,
403 refused (the reason code and the words to show), 503 the locker is starting up. The agent, not the page,
decides every permission.
"""
import dataclasses
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_agent.access import NeedPin, Person, Refused
from edge_agent.agent import NoSession, NotReady
from edge_agent.permissions import Decision

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024


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


def _login_answer(answer):
    if isinstance(answer, Person):
        return 200, {"ok": True, "person": dataclasses.asdict(answer)}
    if isinstance(answer, NeedPin):
        return 200, {"ok": True, "need_pin_for": answer.user_id}
    if isinstance(answer, Refused):
        return 403, {"ok": False, "reason": answer.reason, "message": answer.message}
    raise TypeError(answer)


def _issue_answer(result):
    body = {"ok": result.ok, "location": result.location, "asked": result.asked, "given": result.given,
            "outcomes": result.outcomes, "unknown": result.unknown}
    if result.refused is not None:
        body.update(reason=result.refused.reason, message=result.refused.message)
        return 403, body
    return 200, body


def routes(agent):
    """{(method, path): handler(body) -> (status, json)}: each handler runs its job on the agent's worker."""
    def state(_):
        return 200, agent.call(agent.state)

    def badge(body):
        return _login_answer(agent.call(agent.wedge, _field(body, "badge", str)))

    def pin(body):
        return _login_answer(agent.call(agent.pin, _field(body, "user_id", str), _field(body, "pin", str)))

    def logout(_):
        agent.call(agent.logout)
        return 200, {"ok": True}

    def issue(body):
        quantity = _field(body, "quantity", int, required=False, default=1)
        if quantity < 1:
            raise BadRequest("quantity must be 1 or more")
        return _issue_answer(agent.call(agent.issue, _field(body, "location", str), quantity,
                                        _field(body, "work_order", str, required=False),
                                        _field(body, "machine_id", str, required=False)))

    def picks(_):
        return 200, {"ok": True, "pick_list": [dataclasses.asdict(line) for line in agent.call(agent.pick_list)]}

    def refill(body):
        added = _field(body, "added", int)
        counted = _field(body, "counted", int, required=False)
        if added < 0 or (counted is not None and counted < 0):
            raise BadRequest("added and counted must not be negative")
        done = agent.call(agent.refill, _field(body, "location", str), added, counted)
        if isinstance(done, Decision):
            return 403, {"ok": False, "reason": done.reason, "message": done.message}
        return 200, dict(dataclasses.asdict(done), ok=True)

    return {("GET", "/api/state"): state, ("POST", "/api/badge"): badge, ("POST", "/api/pin"): pin,
            ("POST", "/api/logout"): logout, ("POST", "/api/issue"): issue,
            ("GET", "/api/refill"): picks, ("POST", "/api/refill"): refill}


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
        except BadRequest as e:
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
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def log_message(self, fmt, *args):
        log.debug("api: " + fmt, *args)


def serve(agent, host="127.0.0.1", port=8080):
    """Start the API in a background thread; returns the server (server.server_address has the port)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.routes = routes(agent)
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server
