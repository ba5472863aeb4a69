"""build_customer_report: one report across every cabinet of a customer's sites.

The report's own sections are the agent's (edge_agent/reports build_report) over all the customer's cabinets
read as one source (hub/history.py: the hub's copy, read as the agent reads its ledger; location ids qualified
with the cabinet, "CAB-1/L3"). Each site's row of the comparison is the same build over that site's cabinets.
Supplier performance (performance.py) is per cabinet, summed per site and for the customer."""
from dataclasses import dataclass
from typing import List, Optional

from edge_agent.reports import DEFAULT_CURRENCY, build_report
from edge_agent.reports.model import Report
from edge_agent.reports.period import instant
from edge_agent.reports.source import combine
from hub import history
from hub.customer_report import performance as perf
from hub.customer_report.scope import sites_of


@dataclass
class SiteFigures:
    site: str
    name: str
    cabinets: List[str]
    units: int
    value_cents: int
    billable_cents: int
    stockouts: int
    out_hours: float
    refill_visits: int
    low_stock_events: int
    fill: perf.FillRate
    alert_to_refill_hours: Optional[float]     # median over the site's alerts ended by a refill
    checks: int
    exact_checks: int


@dataclass
class Performance:
    fill: perf.FillRate
    stockouts: int
    out_hours: float
    alerts: List[perf.AlertRefill]
    orders: perf.Orders
    accuracy: List[perf.SkuAccuracy]
    checks: List[perf.StockCheck]

    @property
    def refill_hours(self):
        return [a.hours for a in self.alerts if a.hours is not None]

    @property
    def accuracy_rate(self):
        return sum(c.counted == c.expected for c in self.checks) / len(self.checks) if self.checks else None


@dataclass
class CustomerReport:
    tenant: str
    customer: str
    report: Report                 # the agent's report over all the customer's cabinets
    sites: List[SiteFigures]
    performance: Performance
    site_of: dict                  # cabinet -> site id

    @property
    def cabinets(self):
        return [c for s in self.sites for c in s.cabinets]


def build_customer_report(conn, tenant, customer, start, end, now, *, currency=DEFAULT_CURRENCY, parameters=None):
    """The CustomerReport of `customer` (sites.customer) of `tenant` for [start, end), judged at `now`.
    Raises scope.ScopeError for an unknown tenant or customer."""
    start, end, now = instant(start), instant(end), instant(now)
    sites = sites_of(conn, tenant, customer)
    cabinets = [c for s in sites for c in s.cabinets]
    site_of = {c: s.id for s in sites for c in s.cabinets}
    sources = {s.cabinet_id: s for s in history.cabinet_sources(conn, cabinets)}
    stop = max(start, min(end, now))

    def report_of(ids):
        if not ids:
            return None
        return build_report(combine([sources[c] for c in ids]), start, end, now=now, currency=currency,
                            parameters=parameters)

    whole = report_of(cabinets) or _empty_report(start, end, now, currency, parameters)
    fills = {c: perf.fill_rate(conn, c, whole.usage, start, end) for c in cabinets}
    alerts = [a for c in cabinets for a in perf.alert_refills(sources[c], site_of[c], start, end, stop)]
    checks = [k for c in cabinets for k in perf.stock_checks(conn, sources[c], site_of[c], start, end)]
    figures = []
    for s in sites:
        r = report_of(s.cabinets)
        t = r.totals if r else None
        site_checks = [k for k in checks if k.site == s.id]
        figures.append(SiteFigures(
            s.id, s.name, s.cabinets, t.net_units if t else 0, t.value_cents if t else 0,
            t.billable_cents if t else 0, t.stockouts if t else 0, t.out_hours if t else 0.0,
            t.refill_visits if t else 0, t.low_stock_events if t else 0,
            sum((fills[c] for c in s.cabinets), perf.FillRate()) if s.cabinets else perf.FillRate(),
            perf.median([a.hours for a in alerts if a.site == s.id and a.hours is not None]),
            len(site_checks), sum(k.counted == k.expected for k in site_checks)))
    performance = Performance(
        fill=sum(fills.values(), perf.FillRate()), stockouts=whole.totals.stockouts,
        out_hours=whole.totals.out_hours, alerts=alerts,
        orders=perf.orders(conn, tenant, [s.id for s in sites], start, end),
        accuracy=perf.accuracy_per_sku(checks, _catalog_of(sources, cabinets)), checks=checks)
    return CustomerReport(tenant, customer, whole, figures, performance, site_of)


def _catalog_of(sources, cabinets):
    return combine([sources[c] for c in cabinets]).catalog if cabinets else _NoCatalog()


class _NoCatalog:
    def description(self, sku):
        return sku or ""


def _empty_report(start, end, now, currency, parameters):
    """A customer with sites but no cabinet yet: the agent's report of nothing (every figure zero)."""
    from edge_agent.reports.catalog import Catalog

    class Nothing:
        cabinet_id, cabinets, notes = None, [], []
        catalog = Catalog.from_rows({}, {}, {})

        def movements(self):
            return []

        def rows_near(self, lo, hi):
            return []

        def refill_tasks(self):
            return []

        def alerts(self):
            return []

        def default_now(self):
            return None

        def cabinet_of(self, location):
            return None
    return build_report(Nothing(), start, end, now=now, currency=currency, parameters=parameters)
