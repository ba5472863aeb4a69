"""`locker-hub minmax recommend|propose|change|submit|show|approve|reject|push`: min/max review (docs/hub/minmax.md).

recommend prints each location's min/max now and what its history recommends (the agent report's formulas, on
the hub's copy of the rows). propose makes a draft from them (--set to change lines, --submit to send it to the
customer); approve (the customer's admin, --customer) makes the next catalog desired version of each cabinet
whose min/max change, and publishes it with --broker; push publishes what approvals made and nobody published
yet (the web app's approvals: run it as a service with --every)."""
import argparse
import datetime
import json
import os
import threading
import time

import paho.mqtt.client as mqtt

from edge_agent.reports.period import instant
from hub import broker_login, db, desired
from hub.commands.serve import host_port
from hub.minmax import MinMaxRefused, proposals, push, recommend

CONNECT_TIMEOUT_S = 10
EXIT_REFUSED = 2


def _line_edit(text):
    """CABINET:LOCATION=MIN,MAX -> (cabinet, location, min, max) (figures checked later, with the line)."""
    where, _, figures = text.partition("=")
    cabinet, _, location = where.partition(":")
    low, _, high = figures.partition(",")
    if not (cabinet and location and low and high):
        raise argparse.ArgumentTypeError("%r: give CABINET:LOCATION=MIN,MAX, e.g. CAB-7:L1=12,40" % text)
    return cabinet, location, low, high


def _moment(text):
    try:
        return instant(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("%r: %s" % (text, e))


def add_parser(sub):
    p = sub.add_parser("minmax", help="min/max review: recommend, propose, approve, push to the cabinets",
                       description=__doc__)
    p.add_argument("--now", type=_moment, metavar="TIME",
                   help="judge as at this time (ISO 8601; default the clock): a pilot's virtual time")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def which(a):
        group = a.add_mutually_exclusive_group(required=True)
        group.add_argument("--cabinet", metavar="ID")
        group.add_argument("--site", metavar="TENANT/SITE", help="every cabinet of the site")
        a.add_argument("--days", type=int, default=recommend.DEFAULT_DAYS,
                       help="history to compute from: the last N days (default %d)" % recommend.DEFAULT_DAYS)

    def edits(a, who):
        a.add_argument("--set", dest="edits", action="append", type=_line_edit, default=[],
                       metavar="CABINET:LOCATION=MIN,MAX", help="change a line's proposed min/max (%s)" % who)

    def publisher(a, words):
        a.add_argument("--broker", metavar="HOST:PORT", type=host_port, help=words)
        broker_login.add_arguments(a)

    a = actions.add_parser("recommend", help="each location's min/max now and what its history recommends")
    which(a)
    a = actions.add_parser("propose", help="make a draft proposal from the recommendations (the supplier)")
    which(a)
    a.add_argument("--by", required=True, metavar="USER", help="who proposes (the supplier's staff)")
    edits(a, "before it is submitted")
    a.add_argument("--submit", action="store_true", help="send it to the customer's admin at once")
    a = actions.add_parser("change", help="change lines of a draft (the supplier)")
    a.add_argument("proposal", type=int)
    a.add_argument("--by", required=True, metavar="USER")
    edits(a, "at least one")
    a = actions.add_parser("submit", help="send a draft to the customer's admin (the supplier)")
    a.add_argument("proposal", type=int)
    a.add_argument("--by", required=True, metavar="USER")
    a = actions.add_parser("show", help="a proposal: its lines, history and what each cabinet applied; "
                                        "without a number, the proposals")
    a.add_argument("proposal", type=int, nargs="?")
    a.add_argument("--tenant", metavar="ID", help="the list: only this tenant's")
    for name, words in (("approve", "approve a submitted proposal (the customer's admin)"),
                        ("reject", "reject a submitted proposal, with a note (the customer's admin)")):
        a = actions.add_parser(name, help=words)
        a.add_argument("proposal", type=int, help="its number (minmax show lists them)")
        a.add_argument("--by", required=True, metavar="USER", help="the customer's admin deciding")
        a.add_argument("--customer", required=True, help="their customer (the proposal's site's)")
        a.add_argument("--note", required=name == "reject",
                       help="why: the supplier reads it" if name == "reject" else "a note kept with the approval")
        if name == "approve":
            edits(a, "before approving")
            publisher(a, "publish the new catalog versions at once (else `minmax push` does)")
    a = actions.add_parser("push", help="publish the catalog versions approvals made and nobody published yet")
    publisher(a, "the MQTT 5 broker")
    a.add_argument("--every", type=float, metavar="SECONDS", help="keep running, looking again every SECONDS")
    for a in actions.choices.values():
        a.set_defaults(run=run)


def run(args, out):
    now = args.now or datetime.datetime.now(datetime.timezone.utc)      # the one clock, read at the edge
    if args.action == "push" and not args.broker:
        out("nothing published: give --broker HOST:PORT")
        return EXIT_REFUSED
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            return ACTIONS[args.action](conn, args, now, out)
        except (MinMaxRefused, desired.DesiredError, ValueError) as e:
            out("refused: %s" % e)
            return EXIT_REFUSED


# -- recommend, propose ----------------------------------------------------------------------------------------
def _where(conn, args):
    """(tenant, site, cabinet or None, cabinets)."""
    cabinets = desired.cabinets_of(conn, args.cabinet, args.site)
    found = conn.execute("SELECT tenant, site FROM cabinets WHERE id = %s", [cabinets[0]]).fetchone()
    return found["tenant"], found["site"], args.cabinet, cabinets


def _fig(value):
    return "-" if value is None else str(value)


def _print_lines(out, lines):
    out("%-12s %-8s %-14s %9s %13s %13s" % ("CABINET", "LOCATION", "SKU", "CAPACITY", "NOW MIN/MAX",
                                            "RECOMMENDED"))
    for line in lines:
        out("%-12s %-8s %-14s %9s %13s %13s%s" % (
            line.cabinet, line.location, line.sku or "", _fig(line.capacity),
            "%d/%d" % (line.current_min, line.current_max),
            "%d/%d" % (line.recommended_min, line.recommended_max) if line.changes else "keep",
            "  " + line.reason if line.changes else ""))


def do_recommend(conn, args, now, out):
    _, _, _, cabinets = _where(conn, args)
    start, end = recommend.period(now, args.days)
    lines, notes = recommend.for_cabinets(conn, cabinets, start, end, now)
    out("history from %s to %s" % (start.isoformat(), end.isoformat()))
    for cabinet, heading, text in notes:
        out("%s: %s: %s" % (cabinet, heading, text))
    _print_lines(out, lines)
    return 0


def do_propose(conn, args, now, out):
    tenant, site, cabinet, cabinets = _where(conn, args)
    start, end = recommend.period(now, args.days)
    actor = proposals.supplier(args.by, tenant)
    push.refuse_unless_run_from_hub(conn, cabinets)
    lines, _ = recommend.for_cabinets(conn, cabinets, start, end, now)
    proposal_id = proposals.create(conn, actor, tenant, site, cabinet, lines, (start, end), now, args.edits)
    kept, left_out = push.in_catalog(conn, lines)
    out("proposal %d: %d locations, %d with a recommended change%s" % (
        proposal_id, len(kept), sum(1 for line in kept if line.changes),
        ", %d changed by %s" % (len(args.edits), args.by) if args.edits else ""))
    if left_out:
        out("left out, not in the hub's catalog (their min/max are set at the cabinet): %s" % ", ".join(
            "%s %s" % (line.cabinet, line.location) for line in left_out))
    if args.submit:
        proposals.submit(conn, actor, proposal_id, now)
        out("proposal %d: submitted to the customer's admin" % proposal_id)
    return 0


def _tenant_of(conn, proposal_id):
    found = conn.execute("SELECT tenant FROM minmax_proposals WHERE id = %s", [proposal_id]).fetchone()
    if found is None:
        raise MinMaxRefused("no min/max proposal %d" % proposal_id)
    return found["tenant"]


def do_change(conn, args, now, out):
    if not args.edits:
        raise MinMaxRefused("say what to change: --set CABINET:LOCATION=MIN,MAX")
    actor = proposals.supplier(args.by, _tenant_of(conn, args.proposal))
    out("proposal %d: %d lines changed" % (args.proposal, proposals.change(conn, actor, args.proposal, args.edits,
                                                                           now)))
    return 0


def do_submit(conn, args, now, out):
    actor = proposals.supplier(args.by, _tenant_of(conn, args.proposal))
    done = proposals.submit(conn, actor, args.proposal, now)
    out("proposal %d: %s" % (args.proposal, "submitted to the customer's admin" if done else "already submitted"))
    return 0


# -- approve, reject ---------------------------------------------------------------------------------------------
def do_approve(conn, args, now, out):
    actor = proposals.customer_admin(args.by, _tenant_of(conn, args.proposal), args.customer)
    versions, first = proposals.approve(conn, actor, args.proposal, now, args.edits, args.note)
    out("proposal %d: %s" % (args.proposal, "approved" if first else "already approved"))
    for cabinet, version in sorted(versions.items()):
        out("%s: catalog version %d" % (cabinet, version))
    if not versions:
        out("no cabinet's min/max change: nothing to push")
    if args.broker:
        return _push(conn, args, out)
    if versions:
        out("not published yet: `locker-hub minmax push --broker HOST:PORT` publishes it")
    return 0


def do_reject(conn, args, now, out):
    actor = proposals.customer_admin(args.by, _tenant_of(conn, args.proposal), args.customer)
    done = proposals.reject(conn, actor, args.proposal, args.note, now)
    out("proposal %d: %s" % (args.proposal, "rejected" if done else "already rejected"))
    return 0


# -- show ----------------------------------------------------------------------------------------------------
def do_show(conn, args, now, out):
    if args.proposal is None:
        rows = conn.execute("SELECT p.*, s.customer FROM minmax_proposals p JOIN sites s ON (s.tenant, s.id) = "
                            "(p.tenant, p.site) WHERE %s::text IS NULL OR p.tenant = %s ORDER BY p.id",
                            [args.tenant, args.tenant]).fetchall()
        out("%-6s %-10s %-24s %-12s %-24s %s" % ("ID", "STATE", "SITE", "CABINET", "CUSTOMER", "PROPOSED BY"))
        for r in rows:
            out("%-6d %-10s %-24s %-12s %-24s %s" % (r["id"], r["state"], "%s/%s" % (r["tenant"], r["site"]),
                                                     r["cabinet"] or "(all)", r["customer"], r["created_by"]))
        return 0
    p = conn.execute("SELECT p.*, s.customer FROM minmax_proposals p JOIN sites s ON (s.tenant, s.id) = "
                     "(p.tenant, p.site) WHERE p.id = %s", [args.proposal]).fetchone()
    if p is None:
        raise MinMaxRefused("no min/max proposal %d" % args.proposal)
    out("proposal %d: %s, %s/%s%s, customer %s, history %s to %s" % (
        p["id"], p["state"], p["tenant"], p["site"], " cabinet %s" % p["cabinet"] if p["cabinet"] else "",
        p["customer"], p["period_start"].isoformat(), p["period_end"].isoformat()))
    out("%-12s %-8s %-14s %9s %11s %11s %11s" % ("CABINET", "LOCATION", "SKU", "CAPACITY", "NOW", "RECOMMENDED",
                                                "PROPOSED"))
    for r in proposals.lines(conn, p["id"]):
        out("%-12s %-8s %-14s %9s %11s %11s %11s" % (
            r["cabinet"], r["location"], r["sku"] or "", _fig(r["capacity"]),
            "%d/%d" % (r["current_min"], r["current_max"]),
            "%d/%d" % (r["recommended_min"], r["recommended_max"]) if r["recommended_min"] is not None else "keep",
            "%d/%d" % (r["proposed_min"], r["proposed_max"])))
    out("history:")
    for c in proposals.changes(conn, p["id"]):
        out("  %s %s %s%s%s%s" % (
            c["at"].isoformat(), c["by_user"], c["action"],
            " %s" % " ".join(w for w in (c["cabinet"], c["location"]) if w) if c["cabinet"] else "",
            " %s/%s -> %s/%s" % (c["old_min"], c["old_max"], c["new_min"], c["new_max"]) if c["new_min"] is not None
            else "", ": %s" % c["note"] if c["note"] else ""))
    if p["state"] == "approved":
        out("at the cabinets:")
        for s in push.status(conn, p["id"]):
            out("  %s: %s" % (s["cabinet"], describe(s)))
    return 0


def describe(s):
    """A cabinet's push status in words (push.status)."""
    version = "catalog version %s" % s["version"]
    if s["state"] == "applied":
        return "%s applied at %s" % (version, s["at"])
    if s["state"] == "refused":
        return "%s refused (%s): %s" % (version, s["reason"], s["detail"])
    if s["state"] == "superseded":
        return "%s superseded by version %s before it was applied" % (version, s["by"])
    if s["state"] == "no change":
        return "no change (its min/max already were these)"
    return "%s %s" % (version, s["state"])


# -- push ----------------------------------------------------------------------------------------------------
class _Broker:
    """A short-lived MQTT 5 client of its own to publish with (as `locker-hub desired publish`)."""

    def __init__(self, args):
        self.address = args.broker
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="locker-hub-minmax-%d" % os.getpid(),
                                  protocol=mqtt.MQTTv5)
        setup = broker_login.client_setup(args)         # ValueError for a bad set of options: refused
        if setup is not None:
            setup(self.client)
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.sent = []

    def __enter__(self):
        self.client.connect(*self.address)
        self.client.loop_start()
        return self

    def send(self, topic, env):
        self.sent.append(self.client.publish(topic, json.dumps(env), qos=1, retain=True))

    def flush(self):
        for info in self.sent:
            info.wait_for_publish(CONNECT_TIMEOUT_S)
        self.sent = []

    def __exit__(self, *exc):
        self.flush()
        self.client.loop_stop()
        self.client.disconnect()


def _push(conn, args, out):
    with _Broker(args) as broker:
        if not broker.connected.wait(CONNECT_TIMEOUT_S):
            out("the broker %s:%d did not answer" % args.broker)
            return 1
        while True:
            for cabinet, published in push.publish_pending(conn, broker.send):
                out("%s: published %s" % (cabinet, ", ".join("%s version %d" % d for d in published)))
            broker.flush()
            if getattr(args, "every", None) is None:
                return 0
            time.sleep(args.every)


def do_push(conn, args, now, out):
    return _push(conn, args, out)


ACTIONS = {"recommend": do_recommend, "propose": do_propose, "change": do_change, "submit": do_submit,
           "show": do_show, "approve": do_approve, "reject": do_reject, "push": do_push}
