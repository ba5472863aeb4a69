"""The report's planning section, location by location: stockout risk, slow movers and min/max
recommendations, from the period's consumption, stockouts and refills. The formulas themselves are in
planning.py; this module picks each location's inputs (demand over its in-stock days, on-hand at the end,
the refill lead time) and writes the reasons a purchasing manager reads."""
import collections
import statistics

from edge_agent.reports import planning
from edge_agent.reports.consumption import signed
from edge_agent.reports.history import on_hand_at
from edge_agent.reports.model import MinMaxRecommendation, SlowMover, StockoutRisk


def plan_locations(catalog, moves, consumption, stockouts, refills, *, start, end, stop, days, observed_days,
                   params):
    """(stockout risks, slow movers, min/max recommendations) of every stocked location.

    catalog: a catalog.Catalog; moves: every movement of the ledger (history.read_movements);
    consumption: the period's issue/return UsageRows; stockouts: [LocationStockout]; refills: the
    RefillHistory. [start, end) is the period, stop where figures about time end (min(end, now)), days its
    UTC dates up to stop, observed_days its length in days; params: a model.Parameters."""
    p = params
    interval = refills.mean_interval_days or p.default_interval_days
    cabinet_lead = refills.median_task_hours / 24.0 if refills.median_task_hours is not None else None
    on_hand_now = on_hand_at(moves, stop) if moves else {}
    out_hours = {s.location: s.out_hours for s in stockouts}
    index = {d: i for i, d in enumerate(days)}
    daily = collections.defaultdict(lambda: [0] * len(days))
    for u in consumption:
        if u.time < stop and u.time.date() in index:
            daily[u.location][index[u.time.date()]] += signed(u)
    closed_tasks = [t for t in refills.tasks if t.hours is not None and start <= t.closed < end]
    risks, slow, recs = [], [], []
    for loc in catalog.stocked_locations():
        row = catalog.locations[loc]
        sku = row["sku"]
        on_hand = on_hand_now.get(loc, row["on_hand"])
        series = daily[loc]
        in_stock_days = max(observed_days - out_hours.get(loc, 0.0) / 24.0, min(1.0, observed_days))
        rate, sd = planning.demand_stats(series, in_stock_days)
        net = sum(series)
        cover = planning.days_of_cover(on_hand, rate)
        description = catalog.description(sku)
        if rate > 0 or on_hand <= 0:
            prob = planning.stockout_probability(on_hand, rate, sd, interval)
            risks.append(StockoutRisk(loc, sku, description, on_hand, rate, sd, interval, cover, prob,
                                      planning.risk_level(prob, p)))
        cost = catalog.sku(sku).get("unit_cost") or 0
        if not consumption:
            continue                        # nothing used anywhere: an idle cabinet, nothing to plan from
        if observed_days >= 1 and on_hand > 0:
            if net <= 0:
                slow.append(SlowMover(loc, sku, description, on_hand, net, None, on_hand * cost,
                                      "no movement in %s days" % _num(observed_days)))
            elif cover is not None and cover > p.slow_cover_days:
                slow.append(SlowMover(loc, sku, description, on_hand, net, cover, on_hand * cost,
                                      "%s days of cover at %s a day" % (_num(cover), _num(rate, 2))))
        if observed_days >= p.min_history_days:
            own = [t.hours for t in closed_tasks if t.location == loc]
            rec = _recommend(catalog, loc, rate, sd, interval, own, cabinet_lead, p)
            if rec is not None:
                recs.append(rec)
    risks.sort(key=lambda r: (-r.probability, r.days_of_cover if r.days_of_cover is not None else 1e9,
                              r.location))
    slow.sort(key=lambda s: (-s.value_cents, s.location))
    recs.sort(key=lambda c: (-(c.min - c.current_min), -(c.max - c.current_max), c.location))   # raises first
    return risks, slow, recs


def _recommend(catalog, loc, rate, sd, interval, own, cabinet_lead, p):
    """A MinMaxRecommendation for one location, or None when its min and max are already right.
    own: the hours of this location's refill tasks closed in the period."""
    row = catalog.locations[loc]
    if own:
        lead, lead_source = statistics.median(own) / 24.0, "median time from refill task to refilled here"
    elif cabinet_lead is not None:
        lead, lead_source = cabinet_lead, "median time from refill task to refilled in this cabinet"
    else:
        lead, lead_source = interval, "no refill task closed yet: one refill interval"
    pack = row["refill_pack"] or 1
    new_min, new_max = planning.recommend_min_max(rate, sd, lead, interval, pack, p.safety_factor)
    criticality = (catalog.sku(row["sku"]).get("criticality") or "").lower()
    kept = ""
    if criticality in p.critical_levels and new_min < row["min"]:
        new_max += row["min"] - new_min
        new_min = row["min"]
        kept = " Criticality %s: min not lowered." % criticality
    capacity = row.get("capacity")
    if capacity is not None and new_max > capacity:
        # The lane cannot hold what demand needs: max is the capacity, min leaves room for a refill pack.
        kept += (" Capped at capacity %d; demand needs %d: add a second %s." % (capacity, new_max, _more(row)))
        new_max, new_min = capacity, min(new_min, max(0, capacity - pack))
    if (new_min, new_max) == (row["min"], row["max"]):
        return None
    reason = ("demand %s/day (sd %s), lead %s d (%s), refill interval %s d: min = ceil(%s x %s + %s x %s x "
              "sqrt(%s)) = %d (now %d); max = min + %s x %s rounded up to packs of %d = %d (now %d).%s"
              % (_num(rate, 2), _num(sd, 2), _num(lead, 2), lead_source, _num(interval, 1), _num(rate, 2),
                 _num(lead, 2), _num(p.safety_factor, 2), _num(sd, 2), _num(lead, 2), new_min, row["min"],
                 _num(rate, 2), _num(interval, 1), pack, new_max, row["max"], kept))
    return MinMaxRecommendation(loc, row["sku"], catalog.description(row["sku"]), row["min"], row["max"], new_min,
                                new_max, rate, sd, lead, interval, pack, reason)


def _more(row):
    """What to add when one location cannot hold the demand: another of its kind."""
    return {"lane": "lane", "door": "door", "bin": "bin"}.get(row.get("kind"), "location")


def _num(x, digits=1):
    """A figure for a sentence: 3, 2.5, 0.33 (no trailing zeros)."""
    text = ("%." + str(digits) + "f") % x
    return text.rstrip("0").rstrip(".") if "." in text else text
