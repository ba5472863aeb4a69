"""After the visit: what the route's cabinets confirmed against what went on the van (a frozen load).

The cabinets' word is their `refill_visit` events (the summary's lines: units `loaded` per location and SKU)
and their `refill_task_closed` events, from the load's departure until the route's next departure (by the
event's `wall`: a visit's is when it ended). Per SKU: units on the van (whole packs), units put in the
cabinets, and the difference, which goes back to the branch. Units put in beyond what the van carried (stock
from elsewhere, or a visit outside the route) are shown as such, never as a negative return."""
import datetime
from dataclasses import dataclass, field
from typing import Optional

from hub.routes import book, schedule, van_load


@dataclass
class SkuFigures:
    sku: str
    description: str
    van_units: int = 0          # loaded on the van: packs x pack
    packs: int = 0
    put_in: int = 0             # the cabinets' refill_visit lines
    to_return: int = 0          # back to the branch: van_units - put_in, at least 0
    beyond_van: int = 0         # put in beyond what the van carried


@dataclass
class LineFigures:
    line: van_load.Line
    put_in: int
    task_closed: Optional[bool]   # None for a top-off line


@dataclass
class Reconciliation:
    route: dict
    load: dict
    window: tuple                 # (start, end) aware UTC
    skus: list
    lines: list
    not_loaded: list = field(default_factory=list)    # (cabinet, location, sku, put_in): put in, not on the van
    visits: int = 0
    tasks_closed: int = 0
    tasks: int = 0


def _wall(text):
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return at if at.tzinfo else None


def cabinet_events(conn, cabinets, types, start, end):
    """[(cabinet, body)] of these types from these cabinets whose wall lies in [start, end), in seq order."""
    found = []
    for r in conn.execute("SELECT cabinet, body FROM events WHERE cabinet = ANY(%s) AND type = ANY(%s) "
                          "ORDER BY cabinet, seq", [list(cabinets), list(types)]):
        at = _wall(r["body"].get("wall"))
        if at is not None and start <= at < end:
            found.append((r["cabinet"], r["body"]))
    return found


def pick_load(conn, tenant, route_id, now, load_id=None):
    """The load asked for, else the route's latest load that has left by `now`, else its latest."""
    if load_id is not None:
        load = van_load.find_load(conn, tenant, route_id, load_id=load_id)
        if load is None:
            raise book.RouteError("route %s has no load %s" % (route_id, load_id))
        return load
    load = conn.execute("SELECT * FROM route_loads WHERE tenant = %s AND route = %s AND departure <= %s "
                        "ORDER BY departure DESC LIMIT 1", [tenant, route_id, now]).fetchone()
    load = load or van_load.find_load(conn, tenant, route_id)
    if load is None:
        raise book.RouteError("route %s has no load yet: nothing to reconcile (load the van first: locker-hub "
                              "route load --route %s)" % (route_id, route_id))
    return load


def reconcile(conn, tenant, route_id, now, load_id=None):
    route = book.route(conn, tenant, route_id)
    load = pick_load(conn, tenant, route_id, now, load_id)
    van = van_load.frozen(conn, route, load)
    start = load["departure"]
    end = schedule.following_departure(route, start)
    cabinets = sorted({ln.cabinet for ln in van.lines} | {s["cabinet"] for s in van.stops})
    events = cabinet_events(conn, cabinets, ("refill_visit", "refill_task_closed"), start, end)
    put = {}                                             # (cabinet, location, sku) -> units
    closed = set()                                       # (cabinet, task_id)
    visits = 0
    for cabinet, body in events:
        if body["type"] == "refill_task_closed":
            closed.add((cabinet, body["task_id"]))
            continue
        visits += 1
        for ln in (body.get("summary") or {}).get("lines", []):
            key = (cabinet, ln.get("location"), ln.get("sku"))
            put[key] = put.get(key, 0) + (ln.get("loaded") or 0)

    skus = {}
    for ln in van.lines:
        s = skus.setdefault(ln.sku, SkuFigures(ln.sku, ln.description))
        s.van_units += ln.van_units
        s.packs += ln.packs
    lines, on_van = [], set()
    for ln in van.lines:
        key = (ln.cabinet, ln.location, ln.sku)
        first = key not in on_van                         # a location twice on a load counts its put-in once
        on_van.add(key)
        lines.append(LineFigures(ln, put.get(key, 0) if first else 0,
                                 (ln.cabinet, ln.task_id) in closed if ln.kind == van_load.TASK else None))
    not_loaded = []
    for key, units in sorted(put.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        if key in on_van or not units:
            if key in on_van:
                skus[key[2]].put_in += units
            continue
        not_loaded.append(key + (units,))
        skus.setdefault(key[2], SkuFigures(key[2], "")).put_in += units
    for s in skus.values():
        s.to_return = max(0, s.van_units - s.put_in)
        s.beyond_van = max(0, s.put_in - s.van_units)
    tasks = [ln for ln in lines if ln.task_closed is not None]
    return Reconciliation(route, dict(load), (start, end), [skus[k] for k in sorted(skus)], lines, not_loaded,
                          visits, sum(1 for t in tasks if t.task_closed), len(tasks))
