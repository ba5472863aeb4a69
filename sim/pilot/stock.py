"""Stock over time and the figures a purchasing manager asks for, computed the same way for both arms:

- the pilot's timeline is replayed from its ledger by the report's own replay (every stock-moving row, at
  its time into the pilot);
- the baseline's comes from its own replay (baseline.py).

Figures per location and in total: stockouts (times the location went to zero), hours out of stock (time at
zero within the period), stock carried (time-weighted average on-hand value)."""
from dataclasses import dataclass

from edge_agent.reports.history import read_movements


def ledger_timelines(ledger, start):
    """{location: [(t_ms, on_hand after)]} from the ledger's stock movements as the report replays them
    (edge_agent.reports.history), timed from the pilot's `start` (aware datetime): the pilot's clock moves
    wall and monotonic time together. Also returns the lowest on-hand ever seen."""
    lines = {}
    lowest = None
    for m in read_movements(ledger):
        line = lines.setdefault(m.location, [])
        if not line or m.on_hand_after != m.on_hand_before:
            line.append((round((m.time - start).total_seconds() * 1000), m.on_hand_after))
        lowest = m.on_hand_after if lowest is None else min(lowest, m.on_hand_after)
    return lines, lowest


@dataclass
class StockFigures:
    stockouts: int = 0
    hours_out: float = 0.0
    avg_value_cents: float = 0.0


def figures(timeline, unit_cost_cents, end_ms):
    """StockFigures of one location's [(t_ms, on_hand)] over [0, end_ms)."""
    out = StockFigures()
    if not timeline:
        return out
    value_ms = 0
    out_since = None               # when the current stockout began (None: in stock)
    prev_t, prev_q = 0, 0
    for t, q in timeline + [(end_ms, None)]:
        t = min(max(t, 0), end_ms)
        value_ms += prev_q * (t - prev_t)
        if q is None:
            break
        if q <= 0 and out_since is None:
            out.stockouts += 1
            out_since = t
        elif q > 0 and out_since is not None:
            out.hours_out += (t - out_since) / 3_600_000
            out_since = None
        prev_t, prev_q = t, q
    if out_since is not None:
        out.hours_out += (end_ms - out_since) / 3_600_000
    out.avg_value_cents = value_ms * unit_cost_cents / max(1, end_ms)
    return out


def totals(site, timelines, end_ms):
    """{location: StockFigures} and their sum over the site."""
    per = {loc.id: figures(timelines.get(loc.id, []), loc.unit_cost_cents, end_ms) for loc in site.locations}
    total = StockFigures(sum(f.stockouts for f in per.values()), sum(f.hours_out for f in per.values()),
                         sum(f.avg_value_cents for f in per.values()))
    return per, total


def on_hand_at(timeline, t_ms):
    """On hand just after everything up to and including t_ms (0 before the first row)."""
    q = 0
    for t, after in timeline:
        if t > t_ms:
            break
        q = after
    return q


def value_by_day(site, timelines, days, day_ms=86_400_000):
    """Stock value (cents) at the end of each day of the period: for a chart of stock carried."""
    return [sum(on_hand_at(timelines.get(loc.id, []), (d + 1) * day_ms - 1) * loc.unit_cost_cents
                for loc in site.locations) for d in range(days)]
