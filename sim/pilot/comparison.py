"""The pilot against two baselines on the same demand (one with as many visits as the pilot has scheduled,
on the pilot's own schedule, and the fixed weekly one): comparison.csv (one row per figure, site-wide and
per location), accuracy.csv (the pilot's stock and charge accuracy against the physical truth, site-wide and
per location) and comparison.html (a page a purchasing manager reads, charts from
edge_agent.reports.charts), and the short summary printed at the end of a run. What each arm did (visits,
emergency visits, units loaded) is costed from the plan (plan.Costs). Nothing here reads a wall clock: the
same run writes the same bytes."""
import csv
import html
from dataclasses import dataclass

from edge_agent.reports import DEFAULT_CURRENCY
from edge_agent.reports.charts import hbar_chart, line_chart
from sim.pilot.stock import totals, value_by_day

ARMS = ("pilot", "equal_visits", "weekly")
CSV_COLUMNS = ["scope", "figure"] + list(ARMS)
ACCURACY_COLUMNS = ["scope", "figure", "value"]


@dataclass
class Arm:
    name: str
    figures: dict              # figure -> value, site-wide
    per_location: dict         # location -> StockFigures
    value_by_day: list         # cents at each day's end


def _money(cents):
    return "%.2f" % (cents / 100)


def arms(site, pilot, baselines, days, costs):
    """[pilot Arm, then one Arm per baseline (equal visits, weekly)], the same figures computed the same
    way, each arm's cost from `costs` (plan.Costs)."""
    out = []
    runs = [("pilot", pilot)] + list(zip(ARMS[1:], baselines))
    for name, run in runs:
        timelines, demand, visits, emergency, refill_units = (run.timelines, run.demand, run.visits,
                                                              run.emergency_visits, run.refill_units)
        per, total = totals(site, timelines, days * 86_400_000)
        cost = costs.of(visits, emergency, demand.emergency_orders, total.avg_value_cents / 100, days)
        figures = {
            "stockouts": total.stockouts,
            "hours_out_of_stock": round(total.hours_out, 1),
            "emergency_orders": demand.emergency_orders,
            "stock_carried_avg_value": _money(total.avg_value_cents),
            "takes": demand.takes,
            "units_asked": demand.units_asked,
            "units_served": demand.units_given,
            "fill_rate_pct": round(100 * demand.fill_rate, 1),
            "takes_short": demand.unmet_takes,
            "refill_visits": visits,
            "emergency_visits": emergency,
            "units_refilled": refill_units,
        }
        figures.update({k: "%.2f" % v for k, v in cost.items()})
        out.append(Arm(name, figures, per, value_by_day(site, timelines, days)))
    return out


def write_csv(site, arms_, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for figure in arms_[0].figures:
            w.writerow(["site", figure] + [a.figures[figure] for a in arms_])
        for loc in site.locations:
            per = [a.per_location[loc.id] for a in arms_]
            w.writerow([loc.id, "stockouts"] + [p.stockouts for p in per])
            w.writerow([loc.id, "hours_out_of_stock"] + [round(p.hours_out, 1) for p in per])
            w.writerow([loc.id, "stock_carried_avg_value"] + [_money(p.avg_value_cents) for p in per])
    return path


def write_accuracy_csv(site, accuracy, path):
    """accuracy.csv: the site's figures, then each location's."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(ACCURACY_COLUMNS)
        for figure, value in accuracy.figures().items():
            w.writerow(["site", figure, value])
        for loc in site.locations:
            a = accuracy.per[loc.id]
            row = {"visit_checks": a.checks, "visit_checks_matched": a.matched,
                   "abs_difference_at_visits": a.abs_diff, "differences_flagged_before_visit": a.flagged,
                   "ledger_at_end": a.end_ledger, "physical_at_end": a.end_physical}
            if loc.id in accuracy.measured:
                row.update({"units_out_through_hardware": a.out_units, "charged_exactly_once": a.charged_once,
                            "out_not_charged": a.not_charged, "charged_with_nothing_out": a.charged_no_out})
            for figure, value in row.items():
                w.writerow([loc.id, figure, value])
    return path


LABELS = {
    "stockouts": "Stockouts (times a location ran empty)",
    "hours_out_of_stock": "Hours out of stock (all locations)",
    "emergency_orders": "Emergency orders (critical part needed, none there)",
    "stock_carried_avg_value": "Stock carried (average on-hand value)",
    "takes": "Takes by technicians",
    "units_asked": "Units asked for",
    "units_served": "Units served",
    "fill_rate_pct": "Fill rate (%)",
    "takes_short": "Takes that got less than asked",
    "refill_visits": "Scheduled refill visits",
    "emergency_visits": "Emergency visits by the driver",
    "units_refilled": "Units loaded by the driver",
    "visits_cost": "Cost of scheduled visits",
    "emergency_visits_cost": "Cost of emergency visits",
    "emergency_orders_cost": "Cost of emergency orders",
    "carrying_cost": "Stock carrying cost",
    "total_cost": "Total cost",
}
MONEY = ("stock_carried_avg_value", "visits_cost", "emergency_visits_cost", "emergency_orders_cost",
         "carrying_cost", "total_cost")
ACCURACY_LABELS = {
    "visit_checks": "Location checks at the driver's visits",
    "visit_checks_matched": "Checks where the ledger matched the physical stock",
    "stock_accuracy_at_visits_pct": "Stock accuracy at visits (%)",
    "abs_difference_at_visits": "Total absolute difference at visits (units)",
    "differences_at_visits": "Differences found at visits",
    "differences_flagged_before_visit": "Differences an alert or count task flagged before the visit",
    "differences_flagged_pct": "Differences flagged before the visit (%)",
    "locations_matching_at_end": "Locations matching at the end",
    "stock_accuracy_at_end_pct": "Stock accuracy at the end (%)",
    "abs_difference_at_end": "Total absolute difference at the end (units)",
    "units_out_through_hardware": "Units out through lanes and weigh bins",
    "charged_exactly_once": "Units charged exactly once",
    "out_not_charged": "Units out and not charged",
    "charged_with_nothing_out": "Units charged with nothing out",
    "charge_accuracy_pct": "Charge accuracy (%)",
}
# Figures where less is better, and where more is; the rest are neither (stock carried is a trade-off).
LESS_IS_BETTER = ("stockouts", "hours_out_of_stock", "emergency_orders", "takes_short", "total_cost")
MORE_IS_BETTER = ("units_served", "fill_rate_pct")

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: #222;
       max-width: 980px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0; } h2 { font-size: 1.15em; margin-top: 1.8em; }
.lead { color: #6b7280; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e5e7eb; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.better { color: #2e8b57; font-weight: 600; } td.worse { color: #b03a2e; font-weight: 600; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; min-width: 190px; flex: 1; }
.card .big { font-size: 1.6em; font-weight: 700; } .card .small { color: #6b7280; font-size: 0.9em; }
.note { color: #6b7280; font-size: 0.9em; }
svg.chart { max-width: 100%; height: auto; }
@media print { body { margin: 0; } h2 { break-after: avoid; } svg.chart { break-inside: avoid; } }
"""


def _num(value):
    return float(value) if isinstance(value, str) else value


def _cell_class(figure, pilot, base):
    if figure not in LESS_IS_BETTER + MORE_IS_BETTER or _num(pilot) == _num(base):
        return ""
    better = _num(pilot) < _num(base) if figure in LESS_IS_BETTER else _num(pilot) > _num(base)
    return ' class="better"' if better else ' class="worse"'


def write_html(site, run, arms_, accuracy, path, currency=DEFAULT_CURRENCY):
    """run: {"seed", "plan" (plan.PilotPlan), "pilot" (runner.PilotResult)}."""
    pilot_arm, equal_arm, base_arm = arms_
    p, e, b = pilot_arm.figures, equal_arm.figures, base_arm.figures
    plan, result = run["plan"], run["pilot"]
    esc = html.escape

    def shown(figure, value):
        return "{:,.2f} {}".format(float(value), currency) if figure in MONEY else str(value)

    def card(title, figure):
        return ('<div class="card"><div class="small">%s</div><div class="big">%s</div>'
                '<div class="small">same visits: %s<br>weekly: %s</div></div>' % (
                    esc(title), esc(shown(figure, p[figure])), esc(shown(figure, e[figure])),
                    esc(shown(figure, b[figure]))))
    rows = "".join('<tr><td>%s</td><td%s>%s</td><td>%s</td><td>%s</td></tr>' % (
        esc(LABELS[f]), _cell_class(f, p[f], e[f]), esc(shown(f, p[f])), esc(shown(f, e[f])), esc(shown(f, b[f])))
        for f in p)
    acc = accuracy.figures()
    acc_rows = "".join('<tr><td>%s</td><td>%s</td></tr>' % (esc(ACCURACY_LABELS[f]), esc(str(v)))
                       for f, v in acc.items())
    faults = ("jams %d, hung products %d, MCU resets mid-vend %d (unknown outcomes %d), shrinkage events %d "
              "(%d units), cloud outages %d" % (result.jams, result.hangs, result.mcu_resets,
                                                result.unknown_outcomes, len(result.shrinkage),
                                                sum(n for _, n in result.shrinkage), result.sync.outages))
    ends = "".join("<li>%s: ledger %d, physically %d%s</li>" % (
        esc(loc), led, phys, "" if (loc, led, phys) in result.unexplained_mismatches else
        " (" + esc(", ".join(sorted(accuracy.faulted.get(loc, ())))) + ", not counted since)")
        for loc, led, phys in result.physical_mismatches) or "<li>none</li>"

    def hours(loc):
        return base_arm.per_location[loc.id].hours_out + pilot_arm.per_location[loc.id].hours_out
    worst = sorted([l for l in site.locations if hours(l) >= 0.5], key=lambda l: (-hours(l), l.id))[:12]
    hours_items = []
    for loc in worst:
        name = "%s %s" % (loc.id, loc.description if len(loc.description) <= 26 else loc.description[:25] + "…")
        hours_items.append((name + ", pilot", round(pilot_arm.per_location[loc.id].hours_out), "#1f5fa8"))
        hours_items.append((name + ", same visits", round(equal_arm.per_location[loc.id].hours_out), "#7a9a01"))
        hours_items.append((name + ", weekly", round(base_arm.per_location[loc.id].hours_out), "#e07b00"))
    days = len(pilot_arm.value_by_day)
    value_chart = line_chart([("pilot", [round(v / 100) for v in pilot_arm.value_by_day]),
                              ("same visits", [round(v / 100) for v in equal_arm.value_by_day]),
                              ("weekly", [round(v / 100) for v in base_arm.value_by_day])],
                             ["day %d" % (d + 1) if d % max(1, days // 10) == 0 else "" for d in range(days)],
                             value_format="{:,.0f}", title="stock value at each day's end")
    counts = site.counts
    c = plan.costs
    page = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Pilot vs the same visits without it, and vs weekly refill</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>%(style)s</style></head>
<body>
<h1>Pilot vs the same visits without it, and vs weekly refill</h1>
<p class="lead">%(days)d days, seed %(seed)d, one cabinet with %(locs)d locations (%(lanes)d spiral lanes, %(doors)d
locker doors, %(bins)d weigh bins, %(scan)d scan-only bins); the same technicians' demand served three ways.
Equal visit count: the pilot's driver made %(pv)d scheduled visits (%(psched)s) and the same-visits baseline
%(ev)d on the same schedule; the pilot's %(pe)d emergency visits come on top and are costed.</p>
<div class="cards">%(cards)s</div>
<h2>Side by side</h2>
<table><tr><th>Figure</th><th>Pilot: alerts, min/max, %(psched)s</th><th>Baseline, same visits: %(psched)s</th>
<th>Baseline, weekly: %(bsched)s</th></tr>
%(rows)s</table>
<p class="note">Costs: %(cv)s a scheduled visit, %(ce)s an emergency visit, %(co)s an emergency order, stock carrying
%(rate)s %% a year of the average stock value (the pilot config's [costs], or --visit-cost, --emergency-visit-cost,
--emergency-order-cost, --carrying-rate).</p>
<h2>Stock and charge accuracy of the pilot, against the physical truth</h2>
<table><tr><th>Figure</th><th>Pilot</th></tr>%(acc_rows)s</table>
<p class="note">Faults injected: %(faults)s. Stock is checked for every location at each of the driver's visits, on
arrival, and at the end; a difference is flagged when an alert (not a plain low-stock or stockout) or a count
task was open for the location then. Charges are checked for every take through a spiral lane (its drops,
recovery after an MCU reset included) and every weigh-bin take (the pieces lifted). Per location:
accuracy.csv.</p>
<p class="note">Where the ledger and the cabinet differ at the end:</p><ul class="note">%(ends)s</ul>
<h2>Hours out of stock, where it hurt most</h2>
%(hours)s
<h2>Stock carried (%(currency)s on hand at each day's end)</h2>
%(value)s
<h2>How the three were run</h2>
<p class="note">The pilot ran the edge agent's real flows (vending, weigh bins, refill, min/max, the supervisor's
lane clear and counts) on a real ledger, against the real cabinet firmware on a simulated cabinet, in virtual
time; its figures come from that ledger. The driver visits %(psched)s and works the open refill tasks, and comes
within 4 hours when a critical part is out. The baselines are pure inventory replays of the same takes (same
seed): a visit tops each location up to a par level that covers the demand until the next visit with safety
stock, within what the location holds; no alerts, no emergency visits, no faults. One visits on the pilot's
schedule (as many visits as the pilot's scheduled ones), the other %(bsched)s. An emergency order is a take of a
critical part that found less than was needed.</p>
</body></html>
""" % {"style": STYLE, "days": days, "seed": run["seed"], "locs": len(site.locations), "lanes": counts["lane"],
       "doors": counts["door"], "bins": counts["bin"], "scan": counts["scan"], "currency": esc(currency),
       "pv": p["refill_visits"], "ev": e["refill_visits"], "pe": p["emergency_visits"],
       "psched": esc(plan.pilot.words()), "bsched": esc(plan.baseline.words()),
       "cv": esc(shown("visits_cost", c.visit)), "ce": esc(shown("visits_cost", c.emergency_visit)),
       "co": esc(shown("visits_cost", c.emergency_order)), "rate": "%g" % c.carrying_rate_pct,
       "cards": card("Hours out of stock", "hours_out_of_stock") + card("Stockouts", "stockouts")
       + card("Emergency orders", "emergency_orders") + card("Total cost", "total_cost"),
       "rows": rows, "acc_rows": acc_rows, "faults": esc(faults), "ends": ends,
       "hours": hbar_chart(hours_items, value_format="{:,.0f} h", label_width=300, title="hours out of stock"),
       "value": value_chart}
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


SUMMARY_FIGURES = ("stockouts", "hours_out_of_stock", "emergency_orders", "stock_carried_avg_value", "fill_rate_pct",
                   "refill_visits", "emergency_visits", "units_refilled", "total_cost")
SUMMARY_ACCURACY = ("stock_accuracy_at_visits_pct", "abs_difference_at_visits", "differences_flagged_pct",
                    "stock_accuracy_at_end_pct", "abs_difference_at_end", "charge_accuracy_pct",
                    "charged_exactly_once", "out_not_charged", "charged_with_nothing_out")


def summary_lines(arms_, pilot, accuracy):
    lines = ["%-28s %12s %12s %12s" % ("", "pilot", "same visits", "weekly")]
    for f in SUMMARY_FIGURES:
        lines.append("%-28s %12s %12s %12s" % ((f.replace("_", " "),) + tuple(a.figures[f] for a in arms_)))
    lines.append("jams %d (cleared %d), hung products %d, refusals %s" % (
        pilot.jams, pilot.lanes_cleared, pilot.hangs,
        ", ".join("%s %d" % kv for kv in sorted(pilot.refusals.items())) or "none"))
    lines.append("MCU resets mid-vend %d (unknown outcomes %d), shrinkage %d events (%d units), supervisor counts %d, "
                 "refills left below min %d" % (pilot.mcu_resets, pilot.unknown_outcomes, len(pilot.shrinkage),
                                                sum(n for _, n in pilot.shrinkage), pilot.supervisor_counts,
                                                pilot.below_min_after_refill))
    s = pilot.sync
    lines.append("cloud outages %d (%.1f h): %d rows/events queued offline, largest backlog %d"
                 % (s.outages, s.outage_hours, s.queued_offline, s.max_backlog))
    acc = accuracy.figures()
    lines.append("accuracy: " + ", ".join("%s %s" % (f.replace("_", " "), acc[f]) for f in SUMMARY_ACCURACY))
    lines.append("at the end: %d locations differ from the cabinet (%d not explained by an injected fault)"
                 % (len(pilot.physical_mismatches), len(pilot.unexplained_mismatches)))
    return lines
