"""The API's route table: each route's fields checked and its job run on the agent's worker, and what the
flow returned turned into (status, JSON). Every route, who may call it, its body and answer: docs/api.md.

Errors: 400 bad request (the message names the field), 401 nobody logged in (for this client), 403 refused
(a flow's Refusal: its reason code and the words to show; app.py maps it, for every route), 409 a bin still
moving, 503 the locker is starting up. The agent, not the page, decides every permission.
"""
import dataclasses

from edge_agent.app.agent import Approved
from edge_agent.flows.weighing import NotStable
from edge_agent.rules import bounds
from edge_agent.rules.access import NeedPin


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
    wrong = bounds.check(name, value)       # ids by their pattern, text capped, numbers in range
    if wrong:
        raise BadRequest(wrong)
    return value


def _ok(**body):
    return 200, dict(body, ok=True)


def _login(answer):
    """A badge, PIN or approval: who is in now, whose PIN is awaited, or who approved."""
    if isinstance(answer, NeedPin):
        return _ok(need_pin_for=answer.user_id)
    if isinstance(answer, Approved):
        return _ok(approved_by=dataclasses.asdict(answer.approver))
    return _ok(person=dataclasses.asdict(answer))


def _result(value):
    """A flow's result (a dataclass): its fields, and ok as the result says (a part-way stop is 403)."""
    body = dataclasses.asdict(value)
    refused = getattr(value, "refused", None)
    if refused is not None:
        return 403, dict(body, ok=False, reason=refused.reason, message=refused.words)
    return 200, dict(body, ok=getattr(value, "ok", True))


def _take(take):
    return _ok(location=take.location.id, weight_before_mg=take.before.weight_mg,
               unexplained=dataclasses.asdict(take.unexplained) if take.unexplained else None)


def routes(agent):
    """{(method, path): handler(call, body) -> (status, json)}: each handler runs its job on the agent's worker
    through call (Agent.call for the asking client). docs/api.md lists every one (a test checks both ways)."""
    def text(body, name, required=True):
        return _field(body, name, str, required)

    def number(body, name, required=True, default=None):
        return _field(body, name, int, required, default)

    def issue_terms(body):
        quantity = number(body, "quantity", required=False, default=1)
        return (text(body, "location"), quantity, text(body, "work_order", False), text(body, "machine_id", False),
                text(body, "cost_center", False))

    def logout(call, _):
        call(agent.logout)
        return _ok()

    def approve(call, body):
        if body.get("badge") is not None:
            return _login(call(agent.approve, badge=text(body, "badge")))
        return _login(call(agent.approve, user_id=text(body, "user_id"), pin=text(body, "pin")))

    def take_finish(call, _):
        try:
            return _result(call(agent.take_finish))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Take your "
                                                                         "hand out and press done again. (%s)" % e}

    def refill(call, body):
        return _result(call(agent.refill, text(body, "location"), number(body, "added"),
                            number(body, "counted", required=False)))

    def count(call, body):
        return _ok(difference=call(agent.cycle_count, text(body, "location"), number(body, "counted"),
                                   text(body, "reason", False)))

    def adjust(call, body):
        return _ok(on_hand=call(agent.adjust, text(body, "location"), number(body, "delta"),
                                text(body, "reason", False)))

    def quarantine(call, body):
        return _ok(quarantine=call(agent.release_quarantine, text(body, "location"), number(body, "quantity"),
                                   text(body, "disposition")))

    def calibrate(call, body):
        known = body.get("known_g")
        if known is None:
            raise BadRequest("known_g is required")
        if not isinstance(known, (int, float)) or isinstance(known, bool) or not 0 < known <= 100000:
            raise BadRequest("known_g must be a weight in grams, more than 0")
        return _result(call(agent.calibrate_bin, text(body, "location"), round(known * 1000)))

    def read_bin(call, body):
        try:
            return _ok(**call(agent.read_bin, text(body, "location")))
        except NotStable as e:
            return 409, {"ok": False, "reason": "not_stable", "message": "The bin is still moving. Keep hands "
                                                                         "off and read again. (%s)" % e}

    def listing(name, fn, row=lambda r: r):
        return lambda call, _: _ok(**{name: [row(r) for r in call(fn)]})

    return {
        ("GET", "/api/state"): lambda call, _: (200, call(agent.state)),
        ("POST", "/api/badge"): lambda call, b: _login(call(agent.wedge, text(b, "badge"))),
        ("POST", "/api/pin"): lambda call, b: _login(call(agent.pin, text(b, "user_id"), text(b, "pin"))),
        ("POST", "/api/logout"): logout,
        ("POST", "/api/approve"): approve,
        ("POST", "/api/issue"): lambda call, b: _result(call(agent.issue, *issue_terms(b))),
        ("POST", "/api/take/begin"): lambda call, b: _take(call(agent.take_begin, *issue_terms(b))),
        ("POST", "/api/take/finish"): take_finish,
        ("POST", "/api/return"): lambda call, b: _result(call(agent.give_back, text(b, "location"),
                                                              text(b, "condition", False) or "good")),
        ("GET", "/api/loans"): listing("loans", agent.loans),
        ("GET", "/api/refill"): listing("pick_list", agent.pick_list, dataclasses.asdict),
        ("POST", "/api/refill/open"): lambda call, b: _result(call(agent.open_for_refill, text(b, "location"))),
        ("POST", "/api/refill/bin"): lambda call, b: _take(call(agent.refill_begin, text(b, "location"))),
        ("POST", "/api/refill"): refill,
        ("POST", "/api/refill/finish"): lambda call, _: _ok(summary=call(agent.finish_visit)),
        ("POST", "/api/count"): count,
        ("POST", "/api/adjust"): adjust,
        ("POST", "/api/quarantine"): quarantine,
        ("POST", "/api/lane/clear"): lambda call, b: _result(call(agent.clear_lane, text(b, "location"))),
        ("GET", "/api/alerts"): listing("alerts", agent.open_alerts),
        ("POST", "/api/alerts/ack"): lambda call, b: _ok(**call(agent.acknowledge_alert, number(b, "alert_id"),
                                                                text(b, "note", False))),
        ("GET", "/api/stock"): listing("stock", agent.stock),
        ("GET", "/api/health"): lambda call, _: _ok(**call(agent.health)),
        ("POST", "/api/selftest/door"): lambda call, b: _result(call(agent.test_door, text(b, "location"))),
        ("POST", "/api/selftest/lane"): lambda call, b: _result(call(agent.test_lane, text(b, "location"))),
        ("POST", "/api/bin/tare"): lambda call, b: _result(call(agent.tare_bin, text(b, "location"))),
        ("POST", "/api/bin/calibrate"): calibrate,
        ("GET", "/api/bin/read"): read_bin,
        ("GET", "/api/items"): listing("items", agent.items),
        # tools lost, count tasks (issue 15: docs/decisions/0030)
        ("GET", "/api/tools/out"): listing("loans", agent.tools_out),
        ("POST", "/api/tools/lost"): lambda call, b: _ok(loan=call(agent.mark_lost, number(b, "loan_id"),
                                                                   text(b, "reason", False))),
        ("GET", "/api/count-tasks"): listing("count_tasks", agent.count_tasks),
        ("GET", "/api/charge_lists"): lambda call, _: _ok(**call(agent.charge_lists)),
    }
