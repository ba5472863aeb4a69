"""build_report: one cabinet's ledger and a period -> a Report (edge_agent/reports/model.py).

Which rows count as what (the same rules are printed in the report's method section, method.py):
- Consumption is issues less returns of stock that is used up: direct issue/return rows (weigh and
  scan-only bins) and the outcomes of issue/return intents (lanes, doors) with the quantity that actually
  moved. An outcome that moved nothing (not vended, not sent, refused, unknown) is not consumption and is
  never billed; an 'unknown' one asks for a count instead.
- Tool loans are not consumption: movements at a returnable door (or of a recorded tool loan) are listed
  as tool_out/tool_in and never billed; nor are an installer's commissioning test turns ('commissioning').
- Consignment stock is billed on issue, returns credited, at the unit cost recorded on each row;
  customer-owned stock is reported with its value but not billed as product.
- Counts and adjustments correct on-hand; they are reported as data quality, not billed as usage.
- Tools lost on loan or scrapped from quarantine are listed on their own (tool_losses), at their unit cost,
  never billed as usage: read from the adjustment rows that record them (ledger/tool_losses.py).
- A row belongs to the period when start <= wall time < end.

This module reads the rows through a source (source.py: a ledger, the hub's copy of a cabinet, or several
cabinets as one) and puts the Report together; consumption.py applies the first rules and
totals usage, location_planning.py gives the planning figures, catalog.py the SKU/location/user lookups."""
import collections
import datetime
import os
import statistics

from edge_agent.ledger import open_ledger
from edge_agent.ledger.minmax import LOW_STOCK, STOCKOUT
from edge_agent.ledger.tool_losses import tool_loss
from edge_agent.reports.catalog import NO_DEPARTMENT
from edge_agent.reports.consumption import (NO_COST_CENTER, billing, group_usage, item_usage, signed, usage_rows,
                                            weekly_usage)
from edge_agent.reports.history import out_intervals, total_hours
from edge_agent.reports.location_planning import plan_locations
from edge_agent.reports.method import method_notes
from edge_agent.reports.model import (AlertEvent, DataQuality, LocationStockout, Parameters, RefillHistory,
                                      RefillLine, RefillTaskTiming, RefillVisit, Report, ToolLoss, Totals,
                                      UserActivity)
from edge_agent.reports.period import hours_between, instant, parse_time
from edge_agent.reports.source import LedgerSource

DEFAULT_CURRENCY = "EUR"


def build_report(ledger, start, end, now=None, *, currency=DEFAULT_CURRENCY, parameters=None):
    """The report of one cabinet for [start, end).

    ledger: an open edge_agent.ledger Ledger, or the path of a ledger file (opened read-only in spirit:
    no boot is counted), or a report source (source.py: the hub's cabinets, several cabinets as one).
    start, end, now: epoch seconds, datetimes (naive = UTC), dates or ISO text.
    now: when the figures are judged (a stockout still open is counted up to min(end, now)); default the
    ledger's clock, which is the simulation's virtual time under the pilot."""
    if isinstance(ledger, (str, os.PathLike)):
        if not os.path.exists(ledger):
            raise FileNotFoundError("no ledger at %s" % ledger)   # opening would create an empty one
        with open_ledger(ledger, count_boot=False) as opened:
            return build_report(opened, start, end, now, currency=currency, parameters=parameters)
    start, end = instant(start), instant(end)
    if end <= start:
        raise ValueError("the period ends (%s) before it starts (%s)" % (end, start))
    source = LedgerSource(ledger) if hasattr(ledger, "db") else ledger
    now = now if now is not None else source.default_now()
    if now is None:
        raise ValueError("say when the figures are judged (now): this source has no clock")
    return _Builder(source, start, end, instant(now), currency, parameters or Parameters()).build()


class _Builder:
    def __init__(self, source, start, end, now, currency, params):
        self.source, self.start, self.end, self.now = source, start, end, now
        self.currency, self.params = currency, params
        self.stop = max(start, min(end, now))          # figures about time run to here
        self.observed_days = hours_between(start, self.stop) / 24.0
        self.catalog = source.catalog
        self.moves = source.movements()
        self.in_period = [m for m in self.moves if start <= m.time < end]
        self.rows = self._rows_in_period()

    # -- helpers -------------------------------------------------------------------------------------------
    def _inside(self, moment):
        return self.start <= moment < self.end

    def _days(self):
        """The UTC dates from start to stop (at least one)."""
        first = self.start.date()
        last = (self.stop - datetime.timedelta(microseconds=1)).date() if self.stop > self.start else first
        return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]

    # -- the report ------------------------------------------------------------------------------------
    def build(self):
        usage = usage_rows(self.in_period, self.catalog)
        consumption = [u for u in usage if u.movement in ("issue", "return")]
        self.days = self._days()
        items = item_usage(consumption, self.days, self.catalog)
        refills = self._refills()
        stockouts = self._stockouts()
        alerts = self._alerts()
        risks, slow, recs = plan_locations(self.catalog, self.moves, consumption, stockouts, refills,
                                           start=self.start, end=self.end, stop=self.stop, days=self.days,
                                           observed_days=self.observed_days, params=self.params)
        lines, ownership = billing(consumption)
        users = self._users(consumption)
        totals = Totals(
            transactions=self._count_rows(),
            issues=sum(1 for u in consumption if u.movement == "issue"),
            units_issued=sum(u.quantity for u in consumption if u.movement == "issue"),
            units_returned=sum(u.quantity for u in consumption if u.movement == "return"),
            net_units=sum(signed(u) for u in consumption),
            value_cents=sum(u.amount_cents for u in consumption),
            billable_cents=sum(line.amount_cents for line in lines),
            active_users=sum(1 for u in users if u.issues or u.returns or u.tool_loans),
            refill_visits=len(refills.visits),
            stockouts=sum(s.stockouts for s in stockouts),
            out_hours=sum(s.out_hours for s in stockouts),
            low_stock_events=sum(1 for a in alerts if a.kind == "low_stock"))
        counts = collections.Counter(a.kind for a in alerts)
        report = Report(
            cabinet_id=self.source.cabinet_id, start=self.start, end=self.end, now=self.now,
            observed_days=self.observed_days, currency=self.currency, parameters=self.params, totals=totals,
            items=items, by_department=group_usage(consumption, lambda u: u.department or NO_DEPARTMENT),
            by_cost_center=group_usage(consumption, lambda u: u.cost_center or NO_COST_CENTER),
            by_work_order=group_usage([u for u in consumption if u.work_order], lambda u: u.work_order),
            users=users, weekly=weekly_usage(consumption, self.days), alerts=alerts, alert_counts=dict(counts),
            refills=refills, stockouts=stockouts, risks=risks, slow_movers=slow, recommendations=recs,
            billing=lines, ownership=ownership, usage=usage, quality=self._quality(), method=[],
            tool_losses=self._tool_losses(), cabinets=list(self.source.cabinets))
        report.method = method_notes(report) + list(self.source.notes)
        return report

    def _rows_in_period(self):
        """The period's transaction rows (dicts, source.ROW_COLUMNS), each with its `time`: asked for by wall
        time text within two days of the period (ISO dates compare as text whatever the offset), for the
        exact test in Python: no full scan of a long ledger."""
        margin = datetime.timedelta(days=2)
        rows = []
        for row in self.source.rows_near((self.start - margin).date().isoformat(),
                                         (self.end + margin).date().isoformat()):
            moment = parse_time(row["wall_time"])
            if self._inside(moment):
                rows.append(dict(row, time=moment))
        return rows

    def _count_rows(self):
        return len(self.rows)

    # -- who did what ------------------------------------------------------------------------------------
    def _users(self, consumption):
        acts = {}

        def act(user_id):
            if user_id not in acts:
                row = self.catalog.users.get(user_id) or {}
                acts[user_id] = UserActivity(user_id, row.get("name") or "", row.get("role"), row.get("department"),
                                             row.get("cost_center"), 0, 0, 0, 0, 0, 0, 0, None)
            return acts[user_id]

        def seen(a, moment):
            a.last_seen = moment if a.last_seen is None else max(a.last_seen, moment)

        for u in consumption:
            if not u.user_id:
                continue
            a = act(u.user_id)
            if u.movement == "issue":
                a.issues += 1
            else:
                a.returns += 1
            a.net += signed(u)
            a.value_cents += u.amount_cents
            seen(a, u.time)
        for m in self.in_period:
            if m.user_id and m.action == "refill" and m.quantity > 0:
                a = act(m.user_id)
                a.refills += 1
                seen(a, m.time)
            if m.user_id and m.action == "issue" and m.quantity > 0 and m.location in self.catalog.tool_locations:
                a = act(m.user_id)
                a.tool_loans += 1
                seen(a, m.time)
        for row in self.rows:
            if row["kind"] == "refusal" and row["user_id"] is not None:
                a = act(row["user_id"])
                a.refusals += 1
                seen(a, row["time"])
        return sorted(acts.values(), key=lambda a: (-a.value_cents, -a.net, -a.refills, a.user_id))

    # -- refills, alerts, stockouts ----------------------------------------------------------------------
    def _refills(self):
        lines = [RefillLine(m.seq, m.time, m.location, m.sku, m.quantity, m.user_id)
                 for m in self.in_period if m.action == "refill" and m.quantity > 0]
        gap = datetime.timedelta(hours=self.params.visit_gap_hours)
        visits = []
        open_visit = {}
        for line in sorted(lines, key=lambda l: (l.time, l.seq)):
            who = (line.user_id, self.source.cabinet_of(line.location))    # a visit is at one cabinet
            v = open_visit.get(who)
            if v is None or line.time - v.end > gap:
                v = RefillVisit(line.time, line.time, line.user_id, 0, 0, [])
                visits.append(v)
                open_visit[who] = v
            v.end = max(v.end, line.time)
            v.lines += 1
            v.quantity += line.quantity
            if line.location not in v.locations:
                v.locations.append(line.location)
        visits.sort(key=lambda v: v.start)
        interval = None
        if len(visits) >= 2:
            interval = hours_between(visits[0].start, visits[-1].start) / 24.0 / (len(visits) - 1)
        tasks = []
        for r in self.source.refill_tasks():
            opened = parse_time(r["opened_wall"])
            closed = parse_time(r["closed_wall"]) if r["closed_wall"] else None
            if closed is not None and closed >= self.end:
                closed = None                   # still open as far as this period knows
            if not (self._inside(opened) or (closed is not None and self._inside(closed))
                    or (opened < self.start and closed is None)):
                continue
            if opened >= self.end:
                continue
            tasks.append(RefillTaskTiming(r["location"], r["sku"], r["quantity"], opened, closed,
                                          hours_between(opened, closed) if closed else None))
        done = [t.hours for t in tasks if t.hours is not None and self._inside(t.closed)]
        return RefillHistory(visits, lines, tasks, interval,
                             sum(done) / len(done) if done else None,
                             statistics.median(done) if done else None)

    def _alerts(self):
        events = []
        for r in self.source.alerts():
            raised = parse_time(r["raised_wall"])
            if not self._inside(raised):
                continue
            if r["kind"] in (LOW_STOCK, STOCKOUT) and r["location"] in self.catalog.tool_locations:
                continue                        # a tool out on loan empties its door: not a stockout
            cleared = parse_time(r["cleared_wall"]) if r["cleared_wall"] else None
            events.append(AlertEvent(r["location"], r["kind"], r["detail"], raised,
                                     cleared if cleared is not None and cleared < self.end else None))
        return events

    def _stockouts(self):
        result = []
        per_location = collections.defaultdict(list)     # one pass over the log, not one per location
        for m in self.moves:
            per_location[m.location].append(m)
        for loc in self.catalog.stocked_locations():
            intervals, began, out_now = out_intervals(per_location[loc], loc, self.start, self.stop)
            sku = self.catalog.locations[loc]["sku"]
            result.append(LocationStockout(loc, sku, self.catalog.description(sku), began, total_hours(intervals),
                                           [(i.start, i.end) for i in intervals], out_now))
        return result

    def _tool_losses(self):
        losses = []
        for m in self.in_period:
            loss = tool_loss(m.reason) if m.action == "adjustment" else None
            if loss is None:
                continue
            what, quantity, loan_id, holder = loss
            losses.append(ToolLoss(m.seq, m.time, what, m.location, m.sku, self.catalog.description(m.sku),
                                   quantity, m.unit_cost, quantity * (m.unit_cost or 0), m.user_id, loan_id,
                                   holder))
        return losses

    # -- data quality ----------------------------------------------------------------------------------
    def _quality(self):
        q = DataQuality()
        for row in self.rows:
            synced, kind, outcome, quantity, action = (row["clock_synced"], row["kind"], row["outcome"],
                                                       row["quantity"], row["action"])
            q.unsynced_clock_rows += not synced
            if kind == "outcome" and action in ("issue", "return", "refill") and not quantity:
                q.zero_outcomes += 1
                q.unknown_outcomes += outcome == "unknown"
        for m in self.in_period:
            if m.action == "count" and m.on_hand_after != m.on_hand_before:
                q.count_corrections += 1
                q.count_delta += m.on_hand_after - m.on_hand_before
            elif m.action == "adjustment":
                q.adjustments += 1
        # On-hand the replay gives each location after its last movement, up to the row its stated on-hand was
        # read at when the source says so (the hub's snapshot: as_of_seq); a location never moved is not judged.
        replayed = {}
        rows = self.catalog.locations
        for m in self.moves:
            as_of = rows[m.location].get("as_of_seq") if m.location in rows else None
            if as_of is None or m.seq <= as_of:
                replayed[m.location] = m.on_hand_after
        for loc, row in rows.items():
            if loc in replayed and replayed[loc] != row["on_hand"]:
                q.replay_mismatches.append(loc)
        return q

