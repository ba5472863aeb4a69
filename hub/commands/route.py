"""`locker-hub route add|stops|list|show|van-load|load|reconcile`: the supplier's routes and van loads
(docs/hub/routes.md).

A route is a driver (their web user id), the weekdays and local time the van leaves, and the cabinets it
calls at, in order. Its van load for the next departure is every open refill task plus a top-off for each
location at or below min, in whole packs per SKU, with a pick sheet per stop; `load` freezes it (once per
departure; the scheduled job freezes it at the cut-off otherwise); `reconcile` sets what the cabinets
confirmed against what went on the van. Times: --at ISO 8601 (default: now)."""
import datetime
from pathlib import Path

from hub import db
from hub.routes import book, reconcile, schedule, sheets, van_load


def add_parser(sub):
    p = sub.add_parser("route", help="routes, van loads and their reconciliation", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = what.add_parser("add", help="add a route (or change one: --update)",
                          description="Add a route of a tenant; with --update, change the fields given.")
    add.add_argument("--tenant", required=True, help="the tenant (it must exist)")
    add.add_argument("route", help="its id: A-Z a-z 0-9 _ -, at most 64")
    add.add_argument("--name", help="its display name (default: the id)")
    add.add_argument("--driver", help="the route driver's web user id (they see this route in the web app)")
    add.add_argument("--weekdays", help="the days the van leaves: mon,tue,wed,thu,fri,sat,sun or a range "
                                        "(mon-fri); required for a new route")
    add.add_argument("--depart", help="the local time the van leaves, 24-hour (default 07:00)")
    add.add_argument("--cutoff-hours", type=int, help="the van load is frozen and orders are cut this many "
                                                      "hours before departure (default 16)")
    add.add_argument("--timezone", help="the route's IANA time zone, e.g. Europe/Berlin (default UTC)")
    add.add_argument("--update", action="store_true", help="change an existing route instead of adding one")
    add.set_defaults(run=run_add)

    stops = what.add_parser("stops", help="set a route's cabinets, in the order the van calls",
                            description="Replace the route's stops with the cabinets given, in that order. "
                                        "Refused: an unknown cabinet, one of another tenant, one named twice.")
    stops.add_argument("--tenant", required=True)
    stops.add_argument("--route", required=True)
    stops.add_argument("cabinets", nargs="+", metavar="CABINET")
    stops.set_defaults(run=run_stops)

    ls = what.add_parser("list", help="a tenant's routes, with their next departure")
    ls.add_argument("--tenant", required=True)
    ls.add_argument("--driver", help="only this driver's")
    ls.add_argument("--at", help="ISO 8601 time to count from (default: now)")
    ls.set_defaults(run=run_list)

    show = what.add_parser("show", help="one route: schedule, stops, next departures and loads")
    show.add_argument("--tenant", required=True)
    show.add_argument("route")
    show.add_argument("--at", help="ISO 8601 time to count from (default: now)")
    show.set_defaults(run=run_show)

    van = what.add_parser("van-load", help="the van load and pick sheet for the route's next departure",
                          description="The van load for the next departure after --at: per SKU in whole packs, "
                                      "then the pick sheet stop by stop. Frozen once loaded.")
    van.add_argument("--tenant", required=True)
    van.add_argument("--route", required=True)
    van.add_argument("--at", help="ISO 8601 time: the next departure after it (default: now)")
    van.add_argument("--load", type=int, metavar="ID", help="a frozen load instead of the next departure's")
    van.add_argument("--csv", metavar="FILE", help="write the pick sheet as CSV (one row per stop and location)")
    van.add_argument("--totals-csv", metavar="FILE", help="write the per-SKU totals as CSV")
    van.add_argument("--html", metavar="FILE", help="write the printable van load and pick sheet as HTML")
    van.set_defaults(run=run_van_load)

    load = what.add_parser("load", help="freeze the van load of the route's next departure",
                           description="Record exactly what goes on the van for the next departure after --at. "
                                       "Once per departure: loading again shows the same load.")
    load.add_argument("--tenant", required=True)
    load.add_argument("--route", required=True)
    load.add_argument("--at", help="ISO 8601 time (default: now)")
    load.add_argument("--by", default="cli", help="who loaded it (default: cli)")
    load.set_defaults(run=run_load)

    rec = what.add_parser("reconcile", help="after the visit: loaded on the van, put in cabinets, to return",
                          description="What the cabinets confirmed (refill visits, closed refill tasks) from the "
                                      "load's departure to the route's next, against what went on the van.")
    rec.add_argument("--tenant", required=True)
    rec.add_argument("--route", required=True)
    rec.add_argument("--load", type=int, metavar="ID", help="the load (default: the latest that has left)")
    rec.add_argument("--at", help="ISO 8601 time (default: now)")
    rec.add_argument("--csv", metavar="FILE", help="write the per-SKU figures as CSV")
    rec.set_defaults(run=run_reconcile)


def when(text):
    """An aware UTC datetime from --at (an ISO time without offset is UTC), or now."""
    if not text:
        return datetime.datetime.now(datetime.timezone.utc)
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise book.RouteError("--at %r is not an ISO 8601 time (e.g. 2026-12-07T05:00:00Z)" % text) from None
    return at if at.tzinfo else at.replace(tzinfo=datetime.timezone.utc)


def writable(path):
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise book.RouteError("cannot write %s: no folder %s" % (path, folder))
    return path


def run_add(args, out):
    weekdays = schedule.parse_weekdays(args.weekdays) if args.weekdays else None
    depart = book.parse_time(args.depart) if args.depart else None
    with db.connect(args.dsn) as conn:
        updated = book.save_route(conn, args.tenant, args.route, args.name, args.driver, weekdays, depart,
                                  args.cutoff_hours, args.timezone, update=args.update)
        r = book.route(conn, args.tenant, args.route)
    out("route %s %s: %s at %s %s, cut-off %d h before, driver %s" % (
        args.route, "updated" if updated else "added", schedule.weekday_text(r["weekdays"]),
        r["depart"].strftime("%H:%M"), r["timezone"], r["cutoff_hours"], r["driver"] or "none"))
    return 0


def run_stops(args, out):
    with db.connect(args.dsn) as conn:
        book.set_stops(conn, args.tenant, args.route, args.cabinets)
        rows = book.stops(conn, args.tenant, args.route)
    out("route %s calls at %d cabinets:" % (args.route, len(rows)))
    for s in rows:
        out("  %d. %s at %s (%s)" % (s["position"], s["cabinet"], s["site"], s["site_name"]))
    return 0


def run_list(args, out):
    now = when(args.at)
    with db.connect(args.dsn) as conn:
        rows = book.routes(conn, args.tenant, args.driver)
    out("%-16s %-24s %-24s %-20s %-6s %5s  %s" % ("ROUTE", "NAME", "DRIVER", "WEEKDAYS", "DEPART", "STOPS",
                                                  "NEXT DEPARTURE"))
    for r in rows:
        out("%-16s %-24s %-24s %-20s %-6s %5d  %s" % (r["id"], r["name"], r["driver"] or "-",
                                                      schedule.weekday_text(r["weekdays"]),
                                                      r["depart"].strftime("%H:%M"), r["stops"],
                                                      sheets.local(r, schedule.next_departure(r, now))))
    return 0


def run_show(args, out):
    now = when(args.at)
    with db.connect(args.dsn) as conn:
        r = book.route(conn, args.tenant, args.route)
        stops = book.stops(conn, args.tenant, args.route)
        loads = van_load.loads(conn, args.tenant, args.route, limit=5)
    out("route        %s (%s), tenant %s" % (r["id"], r["name"], r["tenant"]))
    out("driver       %s" % (r["driver"] or "none named"))
    out("leaves       %s at %s %s" % (schedule.weekday_text(r["weekdays"]), r["depart"].strftime("%H:%M"),
                                      r["timezone"]))
    out("cut-off      %d h before departure" % r["cutoff_hours"])
    for n, dep in enumerate(schedule.departures(r, now, 3)):
        out("%-12s %s (cut-off %s)" % ("next" if n == 0 else "", sheets.local(r, dep),
                                       sheets.local(r, schedule.cutoff_of(r, dep))))
    out("stops        %s" % ("none (set them: locker-hub route stops)" if not stops else ""))
    for s in stops:
        out("  %d. %s at %s (%s)%s" % (s["position"], s["cabinet"], s["site"], s["site_name"],
                                       ", customer %s" % s["customer"] if s["customer"] else ""))
    for ld in loads:
        out("load %-7s departure %s, frozen %s by %s" % (ld["id"], sheets.local(r, ld["departure"]),
                                                        sheets.local(r, ld["loaded_at"]), ld["loaded_by"]))
    return 0


def print_van(van, out):
    r = van.route
    out("van load for route %s, departure %s (cut-off %s)%s" % (
        r["id"], sheets.local(r, van.departure), sheets.local(r, van.cutoff),
        ": load %s, frozen by %s" % (van.load["id"], van.load["loaded_by"]) if van.frozen else ": not loaded yet"))
    for note in van.notes:
        out("note: %s" % note)
    if not van.lines:
        out("nothing to load")
        return
    out("%-16s %6s %6s %8s %8s  %s" % ("SKU", "PACK", "PACKS", "VAN", "NEEDED", "DESCRIPTION"))
    for t in van.totals():
        out("%-16s %6d %6d %8d %8d  %s" % (t.sku, t.pack, t.packs, t.van_units, t.units, t.description))
    for stop in van.stops:
        out("stop %d: %s at %s (%s)" % (stop["position"], stop["cabinet"], stop["site"], stop["site_name"]))
        for ln in (x for x in van.lines if x.position == stop["position"]):
            out("  %-6s %-16s %-12s %5d units = %3d x %-3d%s" % (ln.location, ln.sku, sheets.LINE_WORDS[ln.kind],
                                                              ln.units, ln.packs, ln.pack,
                                                              "" if ln.pack_source != van_load.NO_PACK
                                                              else " (no pack size on the hub)"))


def run_van_load(args, out):
    now = when(args.at)
    for path in (args.csv, args.totals_csv, args.html):
        if path:
            writable(path)
    with db.connect(args.dsn) as conn:
        van = (van_load.load_by_id(conn, args.tenant, args.route, args.load) if args.load
               else van_load.van_load(conn, args.tenant, args.route, now))
    print_van(van, out)
    if args.csv:
        out("pick sheet: %s" % sheets.write_csv(args.csv, sheets.PICK_COLUMNS, sheets.pick_rows(van)))
    if args.totals_csv:
        out("totals: %s" % sheets.write_csv(args.totals_csv, sheets.TOTAL_COLUMNS, sheets.total_rows(van)))
    if args.html:
        Path(args.html).write_text(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Van load %s</title></head>"
            "<body><h1>Van load: route %s</h1>%s</body></html>\n" % (
                sheets.esc(van.route["id"]), sheets.esc(van.route["name"]), sheets.van_load_html(van)),
            encoding="utf-8")
        out("printable: %s" % args.html)
    return 0


def run_load(args, out):
    now = when(args.at)
    with db.connect(args.dsn) as conn:
        van, made = van_load.freeze(conn, args.tenant, args.route, now, args.by)
    out("%s load %s for route %s, departure %s: %d lines, %d packs" % (
        "froze" if made else "already loaded:", van.load["id"], args.route, sheets.local(van.route, van.departure),
        len(van.lines), sum(ln.packs for ln in van.lines)))
    return 0


def run_reconcile(args, out):
    now = when(args.at)
    if args.csv:
        writable(args.csv)
    with db.connect(args.dsn) as conn:
        rec = reconcile.reconcile(conn, args.tenant, args.route, now, args.load)
    r = rec.route
    out("route %s, load %s (departure %s): %d visits, %d of %d refill tasks closed" % (
        r["id"], rec.load["id"], sheets.local(r, rec.load["departure"]), rec.visits, rec.tasks_closed, rec.tasks))
    out("%-16s %8s %8s %8s %8s" % ("SKU", "LOADED", "PUT IN", "RETURN", "BEYOND"))
    for s in rec.skus:
        out("%-16s %8d %8d %8d %8d" % (s.sku, s.van_units, s.put_in, s.to_return, s.beyond_van))
    for cabinet, location, sku, units in rec.not_loaded:
        out("put in but not on the load: %s %s %s: %d" % (cabinet, location, sku, units))
    if args.csv:
        out("figures: %s" % sheets.write_csv(args.csv, sheets.RECONCILE_COLUMNS, sheets.reconcile_rows(rec)))
    return 0
