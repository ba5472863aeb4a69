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
- A row belongs to the period when start <= wall time < end."""
import collections
import datetime
import os
import statistics

from edge_agent.ledger import open_ledger
from edge_agent.ledger.minmax import LOW_STOCK, STOCKOUT
from edge_agent.reports import planning
from edge_agent.reports.history import final_on_hand, on_hand_at, out_intervals, read_movements, total_hours
from edge_agent.reports.method import method_notes
from edge_agent.reports.model import (AlertEvent, BillingLine, DataQuality, GroupUsage, ItemUsage,
                                      LocationStockout, MinMaxRecommendation, OwnershipTotal, Parameters,
                                      RefillHistory, RefillLine, RefillTaskTiming, RefillVisit, Report,
                                      SlowMover, StockoutRisk, Totals, UsageRow, UserActivity)
from edge_agent.reports.period import hours_between, instant, parse_time

DEFAULT_CURRENCY = "EUR"
COMMISSIONING = "commissioning"     # the reason edge_agent/cli/commissioning.py gives its test actuations
NO_COST_CENTER = "(none)"
NO_DEPARTMENT = "(none)"


def build_report(ledger, start, end, now=None, *, currency=DEFAULT_CURRENCY, parameters=None):
    """The report of one cabinet for [start, end).

    ledger: an open edge_agent.ledger Ledger, or the path of a ledger file (opened read-only in spirit:
    no boot is counted). start, end, now: epoch seconds, datetimes (naive = UTC), dates or ISO text.
    now: when the figures are judged (a stockout still open is counted up to min(end, now)); default the
    ledger's clock, which is the simulation's virtual time under the pilot."""
    if not hasattr(ledger, "db"):
        if not os.path.exists(ledger):
            raise FileNotFoundError("no ledger at %s" % ledger)   # opening would create an empty one
        with open_ledger(ledger, count_boot=False) as opened:
            return build_report(opened, start, end, now, currency=currency, parameters=parameters)
    start, end = instant(start), instant(end)
    if end <= start:
        raise ValueError("the period ends (%s) before it starts (%s)" % (end, start))
    now = instant(now) if now is not None else parse_time(ledger.clock.wall()[0])
    return _Builder(ledger, start, end, now, currency, parameters or Parameters()).build()


class _Builder:
    def __init__(self, ledger, start, end, now, currency, params):
        self.ledger, self.start, self.end, self.now = ledger, start, end, now
        self.currency, self.params = currency, params
        self.stop = max(start, min(end, now))          # figures about time run to here
        self.observed_days = hours_between(start, self.stop) / 24.0
        db = ledger.db
        self.skus = {r["part_number"]: r for r in db.query("SELECT * FROM skus")}
        self.locations = {r["id"]: r for r in db.query("SELECT * FROM locations")}
        self.users = {r["id"]: r for r in db.query("SELECT * FROM users")}
        self.tool_locations = ({k for k, r in self.locations.items() if r.get("returnable")}
                               | {r[0] for r in db.execute("SELECT DISTINCT location FROM tool_loans")})
        self.moves = read_movements(ledger)
        self.in_period = [m for m in self.moves if start <= m.time < end]

    # -- helpers -------------------------------------------------------------------------------------------
    def _inside(self, moment):
        return self.start <= moment < self.end

    def _description(self, sku):
        row = self.skus.get(sku)
        return (row["description"] if row else "") or (sku or "")

    def _ownership(self, sku):
        row = self.skus.get(sku)
        return row["ownership"] if row else "consignment"

    def _unit_cost(self, m):
        if m.unit_cost is not None:
            return m.unit_cost
        row = self.skus.get(m.sku)
        return row["unit_cost"] if row else 0

    def _department(self, user_id):
        row = self.users.get(user_id)
        return (row["department"] if row else None) or NO_DEPARTMENT

    def _days(self):
        """The UTC dates from start to stop (at least one)."""
        first = self.start.date()
        last = (self.stop - datetime.timedelta(microseconds=1)).date() if self.stop > self.start else first
        return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]

    # -- the report ------------------------------------------------------------------------------------
    def build(self):
        usage = self._usage_rows()
        consumption = [u for u in usage if u.movement in ("issue", "return")]
        self.days = self._days()
        items = self._items(consumption)
        refills = self._refills()
        stockouts = self._stockouts()
        alerts = self._alerts()
        risks, slow, recs = self._planning(consumption, stockouts, refills)
        billing, ownership = self._billing(consumption)
        users = self._users(consumption)
        totals = Totals(
            transactions=self._count_rows(),
            issues=sum(1 for u in consumption if u.movement == "issue"),
            units_issued=sum(u.quantity for u in consumption if u.movement == "issue"),
            units_returned=sum(u.quantity for u in consumption if u.movement == "return"),
            net_units=sum(_signed(u) for u in consumption),
            value_cents=sum(u.amount_cents for u in consumption),
            billable_cents=sum(line.amount_cents for line in billing),
            active_users=sum(1 for u in users if u.issues or u.returns or u.tool_loans),
            refill_visits=len(refills.visits),
            stockouts=sum(s.stockouts for s in stockouts),
            out_hours=sum(s.out_hours for s in stockouts),
            low_stock_events=sum(1 for a in alerts if a.kind == "low_stock"))
        counts = collections.Counter(a.kind for a in alerts)
        report = Report(
            cabinet_id=self.ledger.cabinet()["cabinet_id"], start=self.start, end=self.end, now=self.now,
            observed_days=self.observed_days, currency=self.currency, parameters=self.params, totals=totals,
            items=items, by_department=self._groups(consumption, lambda u: u.department or NO_DEPARTMENT),
            by_cost_center=self._groups(consumption, lambda u: u.cost_center or NO_COST_CENTER),
            by_work_order=self._groups([u for u in consumption if u.work_order], lambda u: u.work_order),
            users=users, weekly=self._weekly(consumption), alerts=alerts, alert_counts=dict(counts),
            refills=refills, stockouts=stockouts, risks=risks, slow_movers=slow, recommendations=recs,
            billing=billing, ownership=ownership, usage=usage, quality=self._quality(), method=[])
        report.method = method_notes(report)
        return report

    def _rows_near(self, columns, where="1"):
        """Transaction rows whose wall time text is within two days of the period (ISO dates compare as
        text whatever the offset), for the exact test in Python: no full scan of a long ledger."""
        margin = datetime.timedelta(days=2)
        return self.ledger.db.execute(
            "SELECT wall_time, %s FROM transactions WHERE wall_time >= ? AND wall_time < ? AND %s"
            % (columns, where), [(self.start - margin).date().isoformat(), (self.end + margin).date().isoformat()])

    def _count_rows(self):
        return sum(1 for (wall, _) in self._rows_near("seq") if self._inside(parse_time(wall)))

    # -- consumption -----------------------------------------------------------------------------------
    def _usage_rows(self):
        rows = []
        for m in self.in_period:
            if m.action not in ("issue", "return") or m.quantity <= 0:
                continue
            tool = m.location in self.tool_locations
            movement = ("tool_out" if m.action == "issue" else "tool_in") if tool else m.action
            if (m.intent_reason or "").startswith(COMMISSIONING):
                tool, movement = True, "commissioning"     # an installer's test turn: no amount, not usage
            cost = self._unit_cost(m)
            sign = 1 if m.action == "issue" else -1
            ownership = self._ownership(m.sku)
            rows.append(UsageRow(
                seq=m.seq, time=m.time, clock_synced=m.synced, movement=movement, location=m.location,
                sku=m.sku, description=self._description(m.sku), ownership=ownership, quantity=m.quantity,
                unit_cost_cents=cost, amount_cents=0 if tool else sign * m.quantity * (cost or 0),
                billable=not tool and ownership == "consignment", user_id=m.user_id,
                department=self._department(m.user_id) if m.user_id else None, cost_center=m.cost_center,
                work_order=m.work_order, machine_id=m.machine_id, outcome=m.outcome))
        return rows

    def _items(self, consumption):
        index = {d: i for i, d in enumerate(self.days)}
        by_sku = collections.OrderedDict()
        for u in consumption:
            item = by_sku.get(u.sku)
            if item is None:
                row = self.skus.get(u.sku) or {}
                item = by_sku[u.sku] = ItemUsage(u.sku, u.description, row.get("category"), u.ownership, 0, 0, 0,
                                                 0, [0] * len(self.days))
            _tally(item, u)
            day = index.get(u.time.date())
            if day is not None:
                item.daily[day] += _signed(u)
        return sorted(by_sku.values(), key=lambda i: (-i.value_cents, -i.net, i.sku or ""))

    def _groups(self, consumption, key):
        groups = {}
        for u in consumption:
            k = key(u)
            g = groups.setdefault(k, GroupUsage(k, 0, 0, 0, 0, 0))
            _tally(g, u)
            g.transactions += 1
        return sorted(groups.values(), key=lambda g: (-g.value_cents, -g.net, g.key))

    def _weekly(self, consumption):
        monday = lambda d: d - datetime.timedelta(days=d.weekday())
        weeks = collections.OrderedDict((monday(d), [0, 0]) for d in self.days)
        for u in consumption:
            week = weeks.get(monday(u.time.date()))
            if week is not None:
                week[0] += _signed(u)
                week[1] += u.amount_cents
        return [(w, q, v) for w, (q, v) in weeks.items()]

    def _users(self, consumption):
        acts = {}

        def act(user_id):
            if user_id not in acts:
                row = self.users.get(user_id) or {}
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
            a.net += _signed(u)
            a.value_cents += u.amount_cents
            seen(a, u.time)
        for m in self.in_period:
            if m.user_id and m.action == "refill" and m.quantity > 0:
                a = act(m.user_id)
                a.refills += 1
                seen(a, m.time)
            if m.user_id and m.action == "issue" and m.quantity > 0 and m.location in self.tool_locations:
                a = act(m.user_id)
                a.tool_loans += 1
                seen(a, m.time)
        for wall, user_id in self._rows_near("user_id", "kind = 'refusal' AND user_id IS NOT NULL"):
            moment = parse_time(wall)
            if self._inside(moment):
                a = act(user_id)
                a.refusals += 1
                seen(a, moment)
        return sorted(acts.values(), key=lambda a: (-a.value_cents, -a.net, -a.refills, a.user_id))

    # -- billing ---------------------------------------------------------------------------------------
    def _billing(self, consumption):
        lines = {}
        totals = {o: OwnershipTotal(o, o == "consignment", 0, 0, 0, 0, 0) for o in ("consignment", "customer")}
        for u in consumption:
            t = totals.setdefault(u.ownership, OwnershipTotal(u.ownership, False, 0, 0, 0, 0, 0))
            _count(t, u)
            t.quantity += _signed(u)
            t.value_cents += u.amount_cents
            if not u.billable:
                continue
            t.amount_cents += u.amount_cents
            key = (u.cost_center or NO_COST_CENTER, u.sku, u.unit_cost_cents or 0)
            line = lines.setdefault(key, BillingLine(key[0], u.sku, u.description, u.ownership, key[2], 0, 0, 0, 0))
            _count(line, u)
            line.quantity += _signed(u)
            line.amount_cents += u.amount_cents
        ordered = sorted(lines.values(), key=lambda l: (l.cost_center, l.sku, l.unit_price_cents))
        return ordered, list(totals.values())

    # -- refills, alerts, stockouts ----------------------------------------------------------------------
    def _refills(self):
        lines = [RefillLine(m.seq, m.time, m.location, m.sku, m.quantity, m.user_id)
                 for m in self.in_period if m.action == "refill" and m.quantity > 0]
        gap = datetime.timedelta(hours=self.params.visit_gap_hours)
        visits = []
        open_visit = {}
        for line in sorted(lines, key=lambda l: (l.time, l.seq)):
            v = open_visit.get(line.user_id)
            if v is None or line.time - v.end > gap:
                v = RefillVisit(line.time, line.time, line.user_id, 0, 0, [])
                visits.append(v)
                open_visit[line.user_id] = v
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
        for r in self.ledger.db.query("SELECT * FROM refill_tasks ORDER BY id"):
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
        for r in self.ledger.db.query("SELECT * FROM alerts ORDER BY id"):
            raised = parse_time(r["raised_wall"])
            if not self._inside(raised):
                continue
            if r["kind"] in (LOW_STOCK, STOCKOUT) and r["location"] in self.tool_locations:
                continue                        # a tool out on loan empties its door: not a stockout
            cleared = parse_time(r["cleared_wall"]) if r["cleared_wall"] else None
            events.append(AlertEvent(r["location"], r["kind"], r["detail"], raised,
                                     cleared if cleared is not None and cleared < self.end else None))
        return events

    def _stocked_locations(self):
        """Locations holding an SKU for consumption (not tool doors), in cabinet order."""
        ids = [k for k, r in self.locations.items() if r["sku"] and k not in self.tool_locations]
        return sorted(ids, key=lambda k: (k[0], int(k[1:]) if k[1:].isdigit() else 0))

    def _stockouts(self):
        result = []
        per_location = collections.defaultdict(list)     # one pass over the log, not one per location
        for m in self.moves:
            per_location[m.location].append(m)
        for loc in self._stocked_locations():
            intervals, began, out_now = out_intervals(per_location[loc], loc, self.start, self.stop)
            sku = self.locations[loc]["sku"]
            result.append(LocationStockout(loc, sku, self._description(sku), began, total_hours(intervals),
                                           [(i.start, i.end) for i in intervals], out_now))
        return result

    # -- planning --------------------------------------------------------------------------------------
    def _planning(self, consumption, stockouts, refills):
        p = self.params
        interval = refills.mean_interval_days or p.default_interval_days
        cabinet_lead = refills.median_task_hours / 24.0 if refills.median_task_hours is not None else None
        on_hand_now = on_hand_at(self.moves, self.stop) if self.moves else {}
        out_hours = {s.location: s.out_hours for s in stockouts}
        index = {d: i for i, d in enumerate(self.days)}
        daily = collections.defaultdict(lambda: [0] * len(self.days))
        for u in consumption:
            if u.time < self.stop and u.time.date() in index:
                daily[u.location][index[u.time.date()]] += _signed(u)
        risks, slow, recs = [], [], []
        for loc in self._stocked_locations():
            row = self.locations[loc]
            sku = row["sku"]
            on_hand = on_hand_now.get(loc, row["on_hand"])
            series = daily[loc]
            in_stock_days = max(self.observed_days - out_hours.get(loc, 0.0) / 24.0,
                                min(1.0, self.observed_days))
            rate, sd = planning.demand_stats(series, in_stock_days)
            net = sum(series)
            cover = planning.days_of_cover(on_hand, rate)
            description = self._description(sku)
            if rate > 0 or on_hand <= 0:
                prob = planning.stockout_probability(on_hand, rate, sd, interval)
                risks.append(StockoutRisk(loc, sku, description, on_hand, rate, sd, interval, cover, prob,
                                          planning.risk_level(prob, p)))
            cost = (self.skus.get(sku) or {}).get("unit_cost") or 0
            if not consumption:
                continue                        # nothing used anywhere: an idle cabinet, nothing to plan from
            if self.observed_days >= 1 and on_hand > 0:
                if net <= 0:
                    slow.append(SlowMover(loc, sku, description, on_hand, net, None, on_hand * cost,
                                          "no movement in %s days" % _num(self.observed_days)))
                elif cover is not None and cover > p.slow_cover_days:
                    slow.append(SlowMover(loc, sku, description, on_hand, net, cover, on_hand * cost,
                                          "%s days of cover at %s a day" % (_num(cover), _num(rate, 2))))
            if self.observed_days >= p.min_history_days:
                rec = self._recommend(loc, row, rate, sd, interval, cabinet_lead, refills)
                if rec is not None:
                    recs.append(rec)
        risks.sort(key=lambda r: (-r.probability, r.days_of_cover if r.days_of_cover is not None else 1e9,
                                  r.location))
        slow.sort(key=lambda s: (-s.value_cents, s.location))
        recs.sort(key=lambda c: (-(c.min - c.current_min), -(c.max - c.current_max), c.location))   # raises first
        return risks, slow, recs

    def _recommend(self, loc, row, rate, sd, interval, cabinet_lead, refills):
        p = self.params
        own = [t.hours for t in refills.tasks if t.location == loc and t.hours is not None
               and self._inside(t.closed)]
        if own:
            lead, lead_source = statistics.median(own) / 24.0, "median time from refill task to refilled here"
        elif cabinet_lead is not None:
            lead, lead_source = cabinet_lead, "median time from refill task to refilled in this cabinet"
        else:
            lead, lead_source = interval, "no refill task closed yet: one refill interval"
        pack = row["refill_pack"] or 1
        new_min, new_max = planning.recommend_min_max(rate, sd, lead, interval, pack, p.safety_factor)
        criticality = ((self.skus.get(row["sku"]) or {}).get("criticality") or "").lower()
        kept = ""
        if criticality in p.critical_levels and new_min < row["min"]:
            new_max += row["min"] - new_min
            new_min = row["min"]
            kept = " Criticality %s: min not lowered." % criticality
        if (new_min, new_max) == (row["min"], row["max"]):
            return None
        reason = ("demand %s/day (sd %s), lead %s d (%s), refill interval %s d: min = ceil(%s x %s + %s x %s x "
                  "sqrt(%s)) = %d (now %d); max = min + %s x %s rounded up to packs of %d = %d (now %d).%s"
                  % (_num(rate, 2), _num(sd, 2), _num(lead, 2), lead_source, _num(interval, 1), _num(rate, 2),
                     _num(lead, 2), _num(p.safety_factor, 2), _num(sd, 2), _num(lead, 2), new_min, row["min"],
                     _num(rate, 2), _num(interval, 1), pack, new_max, row["max"], kept))
        return MinMaxRecommendation(loc, row["sku"], self._description(row["sku"]), row["min"], row["max"], new_min,
                                    new_max, rate, sd, lead, interval, pack, reason)

    # -- data quality ----------------------------------------------------------------------------------
    def _quality(self):
        q = DataQuality()
        for (wall, synced, kind, outcome, quantity, action) in self._rows_near(
                "clock_synced, kind, outcome, quantity, action"):
            if not self._inside(parse_time(wall)):
                continue
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
        replayed = final_on_hand(self.moves)
        for loc, row in self.locations.items():
            if replayed.get(loc, 0) != row["on_hand"] and loc in replayed:
                q.replay_mismatches.append(loc)
        return q


def _count(usage, u):
    """Add one consumption row's units to what was issued or what came back."""
    if u.movement == "issue":
        usage.issued += u.quantity
    else:
        usage.returned += u.quantity


def _tally(usage, u):
    """Add one consumption row to an ItemUsage or GroupUsage: issued or returned, net and value."""
    _count(usage, u)
    usage.net += _signed(u)
    usage.value_cents += u.amount_cents


def _signed(u):
    return u.quantity if u.movement in ("issue", "tool_out") else -u.quantity


def _num(x, digits=1):
    """A figure for a sentence: 3, 2.5, 0.33 (no trailing zeros)."""
    text = ("%." + str(digits) + "f") % x
    return text.rstrip("0").rstrip(".") if "." in text else text
