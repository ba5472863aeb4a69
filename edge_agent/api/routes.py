"""The API's route table: each route's fields checked and its job run on the agent's worker, and whatever the
flow returned turned into (status, JSON). Every route, who may call it, its body and answer: docs/api.md.

Errors: 400 bad request (the message names the field), 401 nobody logged in (for this client), 403 refused
(the reason code and the words to show), 409 a bin still moving, 503 the locker is starting up. The agent,
not the page, decides every permission.
"""
import dataclasses

from edge_agent.rules.access import NeedPin, Person, Refused
from edge_agent.app.agent import Approved
from edge_agent.rules.permissions import Decision
from edge_agent.flows.weighing import NotStable, Take


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
    """{(method, path): handler(call, body) -> (status, json)}: each handler runs its job on the agent's worker
    through call (Agent.call for the asking client). docs/api.md lists every one (a test checks both ways)."""
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

    def logout(call, _):
        call(agent.logout)
        return 200, {"ok": True}

    def approve(call, body):
        if body.get("badge") is not None:
            return _answer(call(agent.approve, badge=text(body, "badge")))
        return _answer(call(agent.approve, user_id=text(body, "user_id"), pin=text(body, "pin")))

    def take_finish(call, _):
        try:
            return _answer(call(agent.take_finish))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Take your "
                                                                         "hand out and press done again. (%s)" % e}

    def refill(call, body):
        _not_negative(body, "added", "counted")
        return _answer(call(agent.refill, text(body, "location"), number(body, "added"),
                                  number(body, "counted", required=False)))

    def count(call, body):
        _not_negative(body, "counted")
        found = call(agent.cycle_count, text(body, "location"), number(body, "counted"),
                           text(body, "reason", False))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "difference": found})

    def adjust(call, body):
        found = call(agent.adjust, text(body, "location"), number(body, "delta"), text(body, "reason", False))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "on_hand": found})

    def quarantine(call, body):
        _not_negative(body, "quantity")
        found = call(agent.release_quarantine, text(body, "location"), number(body, "quantity"),
                           text(body, "disposition"))
        return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, "quarantine": found})

    def calibrate(call, body):
        known = body.get("known_g")
        if known is None:
            raise BadRequest("known_g is required")
        if not isinstance(known, (int, float)) or isinstance(known, bool) or not 0 < known <= 100000:
            raise BadRequest("known_g must be a weight in grams, more than 0")
        return _answer(call(agent.calibrate_bin, text(body, "location"), round(known * 1000)))

    def read_bin(call, body):
        try:
            found = call(agent.read_bin, text(body, "location"))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Keep hands "
                                                                         "off and read again. (%s)" % e}
        return _answer(found) if isinstance(found, Decision) else (200, dict(found, ok=True))

    def health(call, _):
        found = call(agent.health)
        return _answer(found) if isinstance(found, Decision) else (200, dict(found, ok=True))

    def supervisor_listing(name, fn):
        def handler(call, _):
            found = call(fn)
            return _answer(found) if isinstance(found, Decision) else (200, {"ok": True, name: list(found)})
        return handler

    return {
        ("GET", "/api/state"): lambda call, _: (200, call(agent.state)),
        ("POST", "/api/badge"): lambda call, b: _answer(call(agent.wedge, text(b, "badge"))),
        ("POST", "/api/pin"): lambda call, b: _answer(call(agent.pin, text(b, "user_id"), text(b, "pin"))),
        ("POST", "/api/logout"): logout,
        ("POST", "/api/approve"): approve,
        ("POST", "/api/issue"): lambda call, b: _answer(call(agent.issue, *issue_terms(b))),
        ("POST", "/api/take/begin"): lambda call, b: _answer(call(agent.take_begin, *issue_terms(b))),
        ("POST", "/api/take/finish"): take_finish,
        ("POST", "/api/return"): lambda call, b: _answer(call(agent.give_back, text(b, "location"),
                                                              text(b, "condition", False) or "good")),
        ("GET", "/api/loans"): lambda call, _: (200, {"ok": True, "loans": call(agent.loans)}),
        ("GET", "/api/refill"): lambda call, _: _listing("pick_list", call(agent.pick_list)),
        ("POST", "/api/refill/open"): lambda call, b: _answer(call(agent.open_for_refill, text(b, "location"))),
        ("POST", "/api/refill/bin"): lambda call, b: _answer(call(agent.refill_begin, text(b, "location"))),
        ("POST", "/api/refill"): refill,
        ("POST", "/api/count"): count,
        ("POST", "/api/adjust"): adjust,
        ("POST", "/api/quarantine"): quarantine,
        ("POST", "/api/lane/clear"): lambda call, b: _answer(call(agent.clear_lane, text(b, "location"))),
        ("GET", "/api/alerts"): supervisor_listing("alerts", agent.open_alerts),
        ("GET", "/api/stock"): supervisor_listing("stock", agent.stock),
        ("GET", "/api/health"): health,
        ("POST", "/api/selftest/door"): lambda call, b: _answer(call(agent.test_door, text(b, "location"))),
        ("POST", "/api/selftest/lane"): lambda call, b: _answer(call(agent.test_lane, text(b, "location"))),
        ("POST", "/api/bin/tare"): lambda call, b: _answer(call(agent.tare_bin, text(b, "location"))),
        ("POST", "/api/bin/calibrate"): calibrate,
        ("GET", "/api/bin/read"): read_bin,
        ("GET", "/api/items"): lambda call, _: (200, {"ok": True, "items": call(agent.items)}),
    }
