"""Supplier performance at a customer's cabinets over a period: how well the supplier kept them stocked.

- Fill rate: units served / (units served + units refused for want of stock). Served: the units of every issue
  the report counts as consumption; refused: refusal rows for `out_of_stock` or `suspected_empty` (their
  quantity, 1 when none), and the refusals a cabinet coalesced for those reasons (one unit each).
- Stockout hours: the report's hours out of stock (the agent's rule: on-hand at or below zero).
- Alert to refill: each low_stock or stockout alert raised in the period, to the refill that ended it: the last
  refill at its location from its raising to its clearing. An alert still open at the end, or cleared without a
  refill (a count found the stock), has no such time and is listed as such.
- Order cycle time: replenishment orders (the orders table) of the customer's sites: proposed to delivered, of
  those delivered in the period; orders proposed in the period are counted per state.
- Stock accuracy per SKU: each check of a shelf against the ledger: a refill visit's line with a count (the
  driver's count after loading against what the ledger held), and a count transaction outside a refill visit
  (the count against on-hand before it). A count the visit's driver made at a location of that visit while it
  was open is that visit's line, not a second check. Accuracy = checks that found exactly what was expected.
Each figure is per cabinet here; build.py sums them per site and for the customer."""
import statistics
from dataclasses import dataclass, field
from typing import List, Optional

from edge_agent.ledger.minmax import LOW_STOCK, STOCKOUT
from edge_agent.reports.period import hours_between, parse_time

STOCK_REFUSALS = ("out_of_stock", "suspected_empty")


@dataclass
class FillRate:
    served: int = 0
    refused: int = 0

    @property
    def rate(self):
        asked = self.served + self.refused
        return self.served / asked if asked else None

    def __add__(self, other):
        return FillRate(self.served + other.served, self.refused + other.refused)


@dataclass
class AlertRefill:
    site: str
    cabinet: str
    location: str
    sku: Optional[str]
    kind: str
    raised: object
    refilled: object              # the refill that ended it, None when none did
    hours: Optional[float]


@dataclass
class StockCheck:
    site: str
    cabinet: str
    location: str
    sku: Optional[str]
    time: object
    expected: int
    counted: int
    source: str                   # refill_visit or count


@dataclass
class SkuAccuracy:
    sku: str
    description: str
    checks: int
    exact: int
    abs_difference: int           # units found off, summed without sign
    net_difference: int           # counted - expected, summed

    @property
    def accuracy(self):
        return self.exact / self.checks if self.checks else None


@dataclass
class SupplierOrders:
    supplier: str
    proposed: int                 # proposed in the period
    delivered: int                # delivered in the period
    cycle_hours: List[float] = field(default_factory=list)    # proposed to delivered, of those delivered

    @property
    def median_hours(self):
        return statistics.median(self.cycle_hours) if self.cycle_hours else None

    @property
    def mean_hours(self):
        return sum(self.cycle_hours) / len(self.cycle_hours) if self.cycle_hours else None


@dataclass
class Orders:
    available: bool               # the hub keeps orders (the orders table exists)
    by_state: dict                # of the orders proposed in the period
    suppliers: List[SupplierOrders]

    @property
    def cycle_hours(self):
        return [h for s in self.suppliers for h in s.cycle_hours]

    @property
    def count(self):
        return sum(self.by_state.values())


def median(values):
    return statistics.median(values) if values else None


def _inside(start, end, moment):
    return moment is not None and start <= moment < end


# -- fill rate -------------------------------------------------------------------------------------------------
def refused_for_stock(conn, cabinet, start, end):
    """Units refused for want of stock at the cabinet in [start, end): refusal rows and coalesced refusals."""
    units = 0
    for r in conn.execute("SELECT body->>'wall_time' AS wall, (body->>'quantity')::int AS quantity FROM tx_rows "
                          "WHERE cabinet = %s AND body->>'kind' = 'refusal' AND body->>'reason' = ANY(%s)",
                          [cabinet, list(STOCK_REFUSALS)]):
        if _inside(start, end, parse_time(r["wall"])):
            units += r["quantity"] or 1
    for r in conn.execute("SELECT body->>'last' AS last, (body->>'count')::int AS count FROM events "
                          "WHERE cabinet = %s AND type = 'refusals_coalesced' AND body->>'reason' = ANY(%s)",
                          [cabinet, list(STOCK_REFUSALS)]):
        if r["last"] and _inside(start, end, parse_time(r["last"])):
            units += r["count"] or 0
    return units


def fill_rate(conn, cabinet, usage, start, end):
    """FillRate of one cabinet: usage is the report's usage rows (their `cabinet` says whose)."""
    served = sum(u.quantity for u in usage if u.movement == "issue" and u.cabinet == cabinet)
    return FillRate(served, refused_for_stock(conn, cabinet, start, end))


# -- alert to refill -------------------------------------------------------------------------------------------
def alert_refills(source, site, start, end, stop):
    """[AlertRefill] of one cabinet's low_stock and stockout alerts raised in [start, end) (tool doors left
    out, as the report leaves them out); a refill or clearing after `stop` (now) is not known yet."""
    refills = {}
    for m in source.movements():
        if m.action == "refill" and m.quantity > 0:
            refills.setdefault(m.location, []).append(m.time)
    found = []
    for a in source.alerts():
        if a["kind"] not in (LOW_STOCK, STOCKOUT) or a["location"] in source.catalog.tool_locations:
            continue
        raised = parse_time(a["raised_wall"])
        if not _inside(start, end, raised):
            continue
        cleared = parse_time(a["cleared_wall"]) if a["cleared_wall"] else None
        ended = None
        if cleared is not None and cleared < stop:
            times = [t for t in refills.get(a["location"], []) if raised <= t <= cleared]
            ended = max(times) if times else None
        sku = (source.catalog.locations.get(a["location"]) or {}).get("sku")
        found.append(AlertRefill(site, source.cabinet_id, a["location"], sku, a["kind"], raised, ended,
                                 hours_between(raised, ended) if ended else None))
    return found


# -- stock accuracy --------------------------------------------------------------------------------------------
def stock_checks(conn, source, site, start, end):
    """[StockCheck] of one cabinet in [start, end): refill visit lines with a count, and counts outside visits."""
    checks, visits = [], []
    for r in conn.execute("SELECT body FROM events WHERE cabinet = %s AND type = 'refill_visit' ORDER BY seq",
                          [source.cabinet_id]):
        e = r["body"]
        ended = parse_time(e["wall"])
        opened = parse_time(e["opened_wall"]) if e.get("opened_wall") else ended
        lines = (e.get("summary") or {}).get("lines") or []
        visits.append((opened, ended, e.get("user_id"), {line["location"] for line in lines}))
        if not _inside(start, end, ended):
            continue
        for line in lines:
            if line.get("counted") is not None and line.get("expected") is not None:
                checks.append(StockCheck(site, source.cabinet_id, line["location"], line.get("sku"), ended,
                                         line["expected"], line["counted"], "refill_visit"))
    for m in source.movements():
        if m.action != "count" or not _inside(start, end, m.time):
            continue
        if any(opened <= m.time <= ended and m.user_id == user and m.location in where
               for opened, ended, user, where in visits):
            continue                        # the visit's line already holds this count
        checks.append(StockCheck(site, source.cabinet_id, m.location, m.sku, m.time, m.on_hand_before,
                                 m.on_hand_after, "count"))
    return checks


def accuracy_per_sku(checks, catalog):
    per = {}
    for c in checks:
        key = c.sku or "(none)"
        a = per.setdefault(key, SkuAccuracy(key, catalog.description(c.sku), 0, 0, 0, 0))
        a.checks += 1
        a.exact += c.counted == c.expected
        a.abs_difference += abs(c.counted - c.expected)
        a.net_difference += c.counted - c.expected
    return sorted(per.values(), key=lambda a: (a.accuracy, -a.abs_difference, a.sku))


# -- orders ----------------------------------------------------------------------------------------------------
def orders(conn, tenant, sites, start, end):
    """Orders of the sites: per state those proposed in [start, end), per supplier the cycle times of those
    delivered in it. available False when this hub keeps no orders table."""
    if conn.execute("SELECT to_regclass('orders') AS t").fetchone()["t"] is None:
        return Orders(False, {}, [])
    rows = conn.execute("SELECT supplier, state, proposed_at, delivered_at FROM orders WHERE tenant = %s "
                        "AND site = ANY(%s) AND ((proposed_at >= %s AND proposed_at < %s) OR "
                        "(delivered_at >= %s AND delivered_at < %s)) ORDER BY id",
                        [tenant, list(sites), start, end, start, end]).fetchall()
    by_state, suppliers = {}, {}
    for r in rows:
        s = suppliers.setdefault(r["supplier"], SupplierOrders(r["supplier"], 0, 0))
        if _inside(start, end, r["proposed_at"]):
            s.proposed += 1
            by_state[r["state"]] = by_state.get(r["state"], 0) + 1
        if r["state"] == "delivered" and _inside(start, end, r["delivered_at"]):
            s.delivered += 1
            s.cycle_hours.append(hours_between(r["proposed_at"], r["delivered_at"]))
    return Orders(True, by_state, sorted(suppliers.values(), key=lambda s: s.supplier))
