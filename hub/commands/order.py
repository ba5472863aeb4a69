"""`locker-hub order ...`: replenishment orders to the supplier's ERP (docs/hub/orders.md): each site's reorder
rule, the orders and their lifecycle, the ERP endpoint the webhook goes to, and an order as a cXML file.

The jobs that propose orders, post them to the ERP and mark them delivered run in `locker-hub jobs`."""
import datetime
import sys
from pathlib import Path

from edge_agent.reports import money
from hub import db
from hub.orders import cxml, erp, lifecycle, outbox, propose, rules

EXIT_REFUSED = 2
REFUSALS = (lifecycle.OrderError, rules.RuleError, erp.ErpError)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def add_parser(sub):
    p = sub.add_parser("order", help="reorders to the ERP: rules, orders, the ERP endpoint, cXML files",
                       description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    r = what.add_parser("rule", help="show or set a site's reorder rule",
                        description="When a site's needs become an order: per_task (as soon as a refill task "
                                    "opens), daily (at --at in --timezone; the default: daily at 06:00 UTC) or "
                                    "cutoff (at the cut-off of the next route visiting the site).")
    r.add_argument("--tenant", required=True)
    r.add_argument("--site", required=True)
    r.add_argument("rule", nargs="?", choices=rules.RULES, help="the rule to set (none: show the current one)")
    r.add_argument("--at", default="06:00", help="daily: the time of day, HH:MM (default 06:00)")
    r.add_argument("--timezone", default="UTC", help="daily: an IANA time zone (default UTC)")
    r.add_argument("--by", default="cli", help="who sets it (kept with the rule)")
    r.set_defaults(run=run_rule)

    ls = what.add_parser("list", help="orders, newest first")
    ls.add_argument("--tenant")
    ls.add_argument("--site")
    ls.add_argument("--state", choices=lifecycle.STATES)
    ls.set_defaults(run=run_list)

    show = what.add_parser("show", help="one order: lines, the needs it covers, its moves, its messages to the ERP")
    show.add_argument("--id", type=int, required=True)
    show.set_defaults(run=run_show)

    ex = what.add_parser("export", help="write an order as a cXML OrderRequest file")
    ex.add_argument("--id", type=int, required=True)
    ex.add_argument("--cxml", required=True, metavar="FILE", help="where to write it (- for standard output)")
    ex.set_defaults(run=run_export)

    prop = what.add_parser("propose", help="propose a site's orders now, whatever its rule")
    prop.add_argument("--tenant", required=True)
    prop.add_argument("--site", required=True)
    prop.set_defaults(run=run_propose)

    for name, state, text in (("confirm", "confirmed", "mark an order confirmed by the ERP (by hand)"),
                              ("deliver", "delivered", "mark an order delivered (by hand)"),
                              ("cancel", "cancelled", "cancel an order (the ERP receives it with type=delete)")):
        m = what.add_parser(name, help=text)
        m.add_argument("--id", type=int, required=True)
        m.add_argument("--by", default="cli", help="who did it (kept with the move)")
        m.add_argument("--note", help="why (kept with the move)")
        if name == "confirm":
            m.add_argument("--erp-ref", help="the ERP's own order number")
        m.set_defaults(run=run_move, state=state)

    e = what.add_parser("erp", help="set or show the tenant's ERP endpoint (the webhook's URL and secret)",
                        description="The webhook posts each order to URL signed with the tenant's secret "
                                    "(X-Locker-Signature: t=...,v1=HMAC-SHA256(secret, t.body)). The secret is "
                                    "made when the endpoint is first set (or --rotate-secret) and shown once.")
    e.add_argument("--tenant", required=True)
    e.add_argument("--url", help="the ERP's http(s) URL (none: show the endpoint)")
    e.add_argument("--format", default="cxml", choices=sorted(erp.FORMATS),
                   help="the body: cxml (text/xml, a cXML OrderRequest) or json (application/json)")
    e.add_argument("--currency", default="USD", help="ISO 4217 code of the costs (default USD)")
    e.add_argument("--rotate-secret", action="store_true", help="make a new secret (the ERP must be given it)")
    e.set_defaults(run=run_erp)


def _refuse(e):
    print("locker-hub: %s" % e, file=sys.stderr)
    return EXIT_REFUSED


def run_rule(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            if args.rule:
                rules.set_rule(conn, args.tenant, args.site, args.rule, _now(), args.by, args.at, args.timezone)
        except rules.RuleError as e:
            return _refuse(e)
        out("%s/%s: %s" % (args.tenant, args.site, rules.describe(rules.rule_of(conn, args.tenant, args.site))))
    return 0


def _total(cents, currency):
    return money.display(cents or 0, currency)


def run_list(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        found = lifecycle.orders(conn, args.tenant, [args.site] if args.site else None, args.state)
    out("%-8s %-12s %-14s %-20s %-10s %-20s %6s %16s" % ("ID", "TENANT", "SITE", "SUPPLIER", "STATE", "PROPOSED",
                                                        "LINES", "TOTAL"))
    for o in found:
        out("%-8d %-12s %-14s %-20s %-10s %-20s %6d %16s" % (
            o["id"], o["tenant"], o["site"], o["supplier"][:20], o["state"],
            o["proposed_at"].strftime("%Y-%m-%d %H:%M"), o["line_count"], _total(o["total_cents"], o["currency"])))
    return 0


def run_show(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            o = lifecycle.get(conn, args.id)
        except lifecycle.OrderError as e:
            return _refuse(e)
        out("order %s (%s): %s, site %s/%s, supplier %s, rule %s%s" % (
            o["id"], cxml.order_id(o), o["state"], o["tenant"], o["site"], o["supplier"], o["rule"],
            ", ERP ref %s" % o["erp_ref"] if o["erp_ref"] else ""))
        out("%-4s %-20s %6s %10s %8s %14s" % ("LINE", "SKU", "PACKS", "PACK SIZE", "UNITS", "UNIT COST"))
        for ln in lifecycle.lines(conn, o["id"]):
            cost = "?" if ln["unit_cost"] is None else _total(ln["unit_cost"], o["currency"])
            out("%-4d %-20s %6d %10d %8d %14s" % (ln["line"], ln["sku"], ln["packs"], ln["package_size"], ln["units"],
                                                  cost))
        out("covers:")
        for n in lifecycle.needs(conn, o["id"]):
            out("  %s %s %s: %d units%s, loaded %d" % (n["cabinet"], n["location"], n["sku"], n["units"],
                                                      " (refill task %s)" % n["task_id"] if n["task_id"] else "",
                                                      n["loaded"]))
        out("moves:")
        for t in lifecycle.transitions(conn, o["id"]):
            out("  %s %s -> %s by %s%s" % (t["at"].isoformat(timespec="seconds"), t["state_from"] or "-", t["state_to"],
                                           t["by"], ": " + t["note"] if t["note"] else ""))
        out("to the ERP:")
        for m in outbox.pending(conn, o["id"]):
            out("  %s %s: %s after %d attempt(s)%s" % (
                m["kind"], m["idempotency_key"],
                "delivered %s" % m["delivered_at"].isoformat(timespec="seconds") if m["delivered_at"] else
                "next try %s" % m["next_attempt_at"].isoformat(timespec="seconds"),
                m["attempts"], "; last: " + m["last_error"] if m["last_error"] and not m["delivered_at"] else ""))
    return 0


def run_export(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            o = lifecycle.get(conn, args.id)
        except lifecycle.OrderError as e:
            return _refuse(e)
        site = conn.execute("SELECT * FROM sites WHERE tenant = %s AND id = %s", [o["tenant"], o["site"]]).fetchone()
        kind = "delete" if o["state"] == "cancelled" else "new"
        data = cxml.build(o, lifecycle.lines(conn, o["id"]), site, "%s-order-%d-export" % (o["tenant"], o["id"]),
                          _now(), kind)
    if args.cxml == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(args.cxml).write_bytes(data)
        out("order %s written to %s as a cXML OrderRequest (type=%s)" % (args.id, args.cxml, kind))
    return 0


def run_propose(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        made = propose.propose_now(conn, args.tenant, args.site, _now(), "cli")
        for order_id in made:
            o = lifecycle.get(conn, order_id)
            out("order %d proposed: %s, supplier %s, %d line(s)" % (order_id, cxml.order_id(o), o["supplier"],
                                                                  len(lifecycle.lines(conn, order_id))))
    if not made:
        out("%s/%s needs nothing that is not already on an open order" % (args.tenant, args.site))
    return 0


def run_move(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            moved = lifecycle.move(conn, args.id, args.state, _now(), args.by, args.note, getattr(args, "erp_ref", None))
        except lifecycle.OrderError as e:
            return _refuse(e)
    out("order %d %s" % (args.id, args.state if moved else "was already " + args.state))
    return 0


def run_erp(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:
        try:
            if args.url:
                made = erp.set_endpoint(conn, args.tenant, args.url, _now(), args.format, args.currency,
                                        args.rotate_secret)
                if made:
                    out("secret (give it to the ERP; it is not shown again): %s" % made.hex())
        except erp.ErpError as e:
            return _refuse(e)
        found = erp.endpoint(conn, args.tenant)
    if found is None:
        out("tenant %s has no ERP endpoint: orders wait in the outbox (set one with --url)" % args.tenant)
    else:
        out("tenant %s: orders go to %s as %s, costs in %s" % (args.tenant, found["url"], erp.FORMATS[found["format"]],
                                                              found["currency"]))
    return 0
