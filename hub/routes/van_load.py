"""The van load for a route's next departure: what to pick at the branch, stop by stop, and in total per SKU.

The lines, per stop (the route's cabinets in order), per location:
- every open refill task: a `refill_task_opened` event with no later `refill_task_closed` of its task_id from
  that cabinet (docs/mqtt.md). Its units are the task's quantity; when the cabinet's latest inventory snapshot
  is as new as the task or newer, the units are worked out again from it with the cabinet's own formula
  (edge_agent/ledger/minmax.py refill_quantity: up to max in whole refill packs), because the cabinet's task
  follows the stock and no event says so.
- a top-off line for each location the snapshot shows below max with no open task (returnable locations
  aside), as the cabinet's own pick list will ask at the visit (flows/refill.py, decision 0031): up to max
  in whole refill packs, capped by the capacity less what sits in quarantine there.
Each line is rounded UP to whole packs: the location's refill_pack from the cabinet's latest catalog on the
hub (desired_docs), else the SKU's package_size there, else 1 (a cabinet not run from the hub: the sheet says
so). The van carries packs x pack units; what the cabinets do not take goes back to the branch (reconcile.py).

Freezing ("load") records the lines exactly as they were, once per route departure: loading again, from a
second click, another hub process or the cut-off job (freeze.py), returns the same load."""
import json
import math
import re
from dataclasses import dataclass, field
from typing import Optional

from edge_agent.ledger.minmax import refill_quantity
from hub import desired
from hub.routes import book, schedule

TASK, TOP_OFF = "task", "top_off"
NO_PACK = "none"
PACK_FROM_LOCATION, PACK_FROM_SKU = "location refill_pack", "SKU package_size"


@dataclass
class Line:
    position: int
    cabinet: str
    site: str
    location: str
    sku: str
    description: str
    kind: str                   # task or top_off
    task_id: Optional[int]
    units: int                  # what the location needs
    pack: int                   # units per pack
    packs: int                  # whole packs: units rounded up
    pack_source: str            # where the pack size came from

    @property
    def van_units(self):
        """Units on the van for this line: whole packs."""
        return self.packs * self.pack


@dataclass
class SkuTotal:
    sku: str
    description: str
    pack: int
    packs: int
    units: int                  # needed
    van_units: int              # packs x pack
    stops: int


@dataclass
class VanLoad:
    route: dict
    departure: object           # aware UTC datetime
    cutoff: object
    stops: list                 # book.stops rows, with snapshot and catalog facts added
    lines: list
    notes: list = field(default_factory=list)
    load: Optional[dict] = None  # the route_loads row when frozen

    @property
    def frozen(self):
        return self.load is not None

    def totals(self):
        """Per SKU and pack size (a SKU packed two ways is two rows), by SKU."""
        found = {}
        for line in self.lines:
            t = found.setdefault((line.sku, line.pack), SkuTotal(line.sku, line.description, line.pack, 0, 0, 0, 0))
            t.packs += line.packs
            t.units += line.units
            t.van_units += line.van_units
        for t in found.values():
            t.stops = len({line.position for line in self.lines if (line.sku, line.pack) == (t.sku, t.pack)})
        return [found[k] for k in sorted(found)]


def location_order(location_id):
    """L2 before L10: the letter, then the number."""
    m = re.match(r"^([A-Za-z]*)(\d*)(.*)$", location_id)
    return (m.group(1), int(m.group(2)) if m.group(2) else -1, m.group(3))


# -- what the hub knows of a cabinet ---------------------------------------------------------------------------
def open_tasks(conn, cabinet):
    """The cabinet's open refill tasks: [event body], by task_id."""
    return [r["body"] for r in conn.execute(
        "SELECT o.body FROM events o WHERE o.cabinet = %(c)s AND o.type = 'refill_task_opened' AND NOT EXISTS "
        "(SELECT 1 FROM events x WHERE x.cabinet = o.cabinet AND x.type = 'refill_task_closed' "
        "AND x.body->'task_id' = o.body->'task_id' AND x.seq > o.seq) ORDER BY (o.body->>'task_id')::bigint",
        {"c": cabinet})]


def snapshot(conn, cabinet):
    row = conn.execute("SELECT body FROM inventory WHERE cabinet = %s", [cabinet]).fetchone()
    return row["body"] if row else None


class Catalog:
    """The cabinet's latest catalog on the hub (None: the hub has none), for pack sizes and descriptions."""

    def __init__(self, body):
        self.body = body
        self.locations = {r["id"]: r for r in (body or {}).get("locations", [])}
        self.skus = {r["part_number"]: r for r in (body or {}).get("skus", [])}

    def pack(self, location, sku):
        loc = self.locations.get(location) or {}
        if loc.get("refill_pack"):
            return loc["refill_pack"], PACK_FROM_LOCATION
        if (self.skus.get(sku) or {}).get("package_size"):
            return self.skus[sku]["package_size"], PACK_FROM_SKU
        return 1, NO_PACK

    def description(self, sku):
        return (self.skus.get(sku) or {}).get("description") or ""

    def returnable(self, location):
        return bool((self.locations.get(location) or {}).get("returnable"))


def fill_target(loc):
    """Where a top-off fills a snapshot location to: max, capped by its capacity less its quarantine."""
    target = loc["max"]
    if loc.get("capacity") is not None:
        target = min(target, loc["capacity"] - (loc.get("quarantine") or 0))
    return target


def stop_lines(conn, stop):
    """The lines of one stop (a book.stops row), and notes about what the hub lacked there. Adds the stop's
    snapshot time and catalog version to `stop`."""
    cabinet = stop["cabinet"]
    version, body = desired.latest(conn, cabinet, "catalog")
    catalog = Catalog(body)
    snap = snapshot(conn, cabinet)
    stop["catalog_version"] = version or None
    stop["snapshot_wall"] = snap["sent_wall"] if snap else None
    notes = []
    if body is None:
        notes.append("%s: the hub has no catalog for this cabinet: counted in packs of 1 (units)" % cabinet)
    if snap is None:
        notes.append("%s: no inventory snapshot yet: open refill tasks only, no top-offs" % cabinet)
    levels = {loc["id"]: loc for loc in (snap or {}).get("locations", [])}

    def line(location, sku, kind, task_id, units):
        pack, source = catalog.pack(location, sku)
        return Line(stop["position"], cabinet, stop["site"], location, sku, catalog.description(sku), kind,
                    task_id, units, pack, math.ceil(units / pack), source)

    lines, tasked = [], set()
    for task in open_tasks(conn, cabinet):
        tasked.add(task["location"])
        units = task["quantity"]
        loc = levels.get(task["location"])
        if loc is not None and snap["as_of_seq"] >= (task.get("ledger_seq") or 0) and loc.get("sku") == task["sku"]:
            pack = (catalog.locations.get(task["location"]) or {}).get("refill_pack") or 1
            units = refill_quantity(loc["on_hand"], loc["max"], pack, loc["min"])
        if units > 0:
            lines.append(line(task["location"], task["sku"], TASK, task["task_id"], units))
    for loc in levels.values():
        if (loc["id"] in tasked or not loc.get("sku") or loc["max"] <= 0 or loc["on_hand"] >= loc["max"]
                or catalog.returnable(loc["id"])):
            continue
        # What the cabinet's own pick list will ask of the driver there (flows/refill.py, decision 0031):
        # every location below max, in whole refill packs, never past what the location can take.
        pack = (catalog.locations.get(loc["id"]) or {}).get("refill_pack") or 1
        units = min(refill_quantity(loc["on_hand"], loc["max"], pack, loc["min"]), fill_target(loc) - loc["on_hand"])
        if units > 0:
            lines.append(line(loc["id"], loc["sku"], TOP_OFF, None, units))
    lines.sort(key=lambda ln: location_order(ln.location))
    return lines, notes


def plan(conn, route, departure):
    """A VanLoad worked out now from what the hub holds (not frozen)."""
    stops = [dict(s) for s in book.stops(conn, route["tenant"], route["id"])]
    lines, notes = [], []
    for stop in stops:
        found, said = stop_lines(conn, stop)
        lines += found
        notes += said
    # A cabinet without a catalog still gets the SKU's words when another stop's catalog has them.
    known = {ln.sku: ln.description for ln in lines if ln.description}
    for ln in lines:
        ln.description = ln.description or known.get(ln.sku, "")
    return VanLoad(route, departure, schedule.cutoff_of(route, departure), stops, lines, notes)


# -- frozen loads ----------------------------------------------------------------------------------------------
LINE_COLUMNS = ("position", "cabinet", "site", "location", "sku", "description", "kind", "task_id", "units", "pack",
                "packs", "pack_source")


def find_load(conn, tenant, route_id, departure=None, load_id=None):
    """The route_loads row of this departure (or id), or None."""
    return conn.execute(
        "SELECT * FROM route_loads WHERE tenant = %(t)s AND route = %(r)s AND "
        "(%(d)s::timestamptz IS NULL OR departure = %(d)s) AND (%(i)s::bigint IS NULL OR id = %(i)s) "
        "ORDER BY departure DESC LIMIT 1", {"t": tenant, "r": route_id, "d": departure, "i": load_id}).fetchone()


def loads(conn, tenant, route_id, limit=20):
    """The route's frozen loads, newest departure first."""
    return conn.execute("SELECT * FROM route_loads WHERE tenant = %s AND route = %s ORDER BY departure DESC LIMIT %s",
                        [tenant, route_id, limit]).fetchall()


def frozen(conn, route, load):
    """The VanLoad of a frozen load: its lines as recorded."""
    lines = [Line(**{k: r[k] for k in LINE_COLUMNS}) for r in conn.execute(
        "SELECT * FROM route_load_lines WHERE load = %s ORDER BY line", [load["id"]])]
    stops = [dict(s) for s in book.stops(conn, route["tenant"], route["id"])]
    return VanLoad(route, load["departure"], load["cutoff"], stops, lines, list(load["notes"]), dict(load))


def van_load(conn, tenant, route_id, now):
    """The van load for the route's next departure after `now`: the frozen one when it was loaded, else as
    the hub's data stand now."""
    route = book.route(conn, tenant, route_id)
    departure = schedule.next_departure(route, now)
    load = find_load(conn, tenant, route_id, departure)
    return frozen(conn, route, load) if load else plan(conn, route, departure)


def load_by_id(conn, tenant, route_id, load_id):
    route = book.route(conn, tenant, route_id)
    load = find_load(conn, tenant, route_id, load_id=load_id)
    if load is None:
        raise book.RouteError("route %s has no load %s" % (route_id, load_id))
    return frozen(conn, route, load)


def freeze(conn, tenant, route_id, now, by, departure=None):
    """Record the van load of the route's next departure after `now` (or of `departure`, a later one whose
    cut-off has come): (VanLoad, made). A load already recorded for that departure is returned as it is (made
    False): one load per route departure."""
    with conn.transaction():
        route = conn.execute("SELECT * FROM routes WHERE tenant = %s AND id = %s FOR UPDATE",
                             [tenant, route_id]).fetchone() or book.route(conn, tenant, route_id)
        departure = departure or schedule.next_departure(route, now)
        held = find_load(conn, tenant, route_id, departure)
        if held:
            return frozen(conn, route, held), False
        if not book.stops(conn, tenant, route_id):
            raise book.RouteError("route %s has no stops: nothing to load (add them: locker-hub route stops)"
                                  % route_id)
        van = plan(conn, route, departure)
        made = conn.execute(
            "INSERT INTO route_loads (tenant, route, departure, cutoff, loaded_at, loaded_by, notes) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, route, departure) DO NOTHING RETURNING *",
            [tenant, route_id, departure, van.cutoff, now, by, json.dumps(van.notes)]).fetchone()
        if made is None:            # another process froze it between our look and our insert
            return frozen(conn, route, find_load(conn, tenant, route_id, departure)), False
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO route_load_lines (load, line, %s) VALUES (%%s, %%s, %s)"
                % (", ".join(LINE_COLUMNS), ", ".join(["%s"] * len(LINE_COLUMNS))),
                [[made["id"], n] + [getattr(ln, k) for k in LINE_COLUMNS] for n, ln in enumerate(van.lines, 1)])
        van.load = dict(made)
        return van, True
