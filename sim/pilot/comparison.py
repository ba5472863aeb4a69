"""The pilot against the baseline, on the same demand: comparison.csv (one row per figure, site-wide and per
location) and comparison.html (a page a purchasing manager reads, charts from edge_agent.reports.charts),
and the short summary printed at the end of a run. Nothing here reads a wall clock: the same run writes
the same bytes."""
import csv
import html
from dataclasses import dataclass

from edge_agent.reports import DEFAULT_CURRENCY
from edge_agent.reports.charts import hbar_chart, line_chart
from sim.pilot.stock import totals, value_by_day

CSV_COLUMNS = ["scope", "figure", "pilot", "baseline"]


@dataclass
class Arm:
    name: str
    figures: dict              # figure -> value, site-wide
    per_location: dict         # location -> StockFigures
    value_by_day: list         # cents at each day's end


def _money(cents):
    return "%.2f" % (cents / 100)


def arms(site, pilot, baseline, days):
    """(pilot Arm, baseline Arm) with the same figures computed the same way."""
    out = []
    for name, timelines, demand, visits, emergency, refill_units in (
            ("pilot", pilot.timelines, pilot.demand, pilot.visits, pilot.emergency_visits, pilot.refill_units),
            ("baseline", baseline.timelines, baseline.demand, baseline.visits, baseline.emergency_visits,
             baseline.refill_units)):
        per, total = totals(site, timelines, days * 86_400_000)
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
        out.append(Arm(name, figures, per, value_by_day(site, timelines, days)))
    return out[0], out[1]


def write_csv(site, pilot_arm, base_arm, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for figure, value in pilot_arm.figures.items():
            w.writerow(["site", figure, value, base_arm.figures[figure]])
        for loc in site.locations:
            p, b = pilot_arm.per_location[loc.id], base_arm.per_location[loc.id]
            w.writerow([loc.id, "stockouts", p.stockouts, b.stockouts])
            w.writerow([loc.id, "hours_out_of_stock", round(p.hours_out, 1), round(b.hours_out, 1)])
            w.writerow([loc.id, "stock_carried_avg_value", _money(p.avg_value_cents), _money(b.avg_value_cents)])
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
    "units_refilled": "Units refilled",
}
# Figures where less is better, and where more is; the rest are neither (stock carried is a trade-off).
LESS_IS_BETTER = ("stockouts", "hours_out_of_stock", "emergency_orders", "takes_short")
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


def write_html(site, run, pilot_arm, base_arm, path, currency=DEFAULT_CURRENCY):
    p, b = pilot_arm.figures, base_arm.figures
    esc = html.escape

    def shown(figure, value):
        return "{:,.2f} {}".format(float(value), currency) if figure == "stock_carried_avg_value" else str(value)

    def card(title, figure, unit=""):
        return ('<div class="card"><div class="small">%s</div><div class="big">%s%s</div>'
                '<div class="small">baseline: %s%s</div></div>' % (esc(title), esc(shown(figure, p[figure])), unit,
                                                                    esc(shown(figure, b[figure])), unit))
    rows = "".join('<tr><td>%s</td><td%s>%s</td><td>%s</td></tr>' % (
        esc(LABELS[f]), _cell_class(f, p[f], b[f]), esc(shown(f, p[f])), esc(shown(f, b[f]))) for f in p)
    def hours(loc):
        return base_arm.per_location[loc.id].hours_out + pilot_arm.per_location[loc.id].hours_out
    worst = sorted([l for l in site.locations if hours(l) >= 0.5], key=lambda l: (-hours(l), l.id))[:12]
    hours_items = []
    for loc in worst:
        name = "%s %s" % (loc.id, loc.description if len(loc.description) <= 26 else loc.description[:25] + "…")
        hours_items.append((name + ", pilot", round(pilot_arm.per_location[loc.id].hours_out), "#1f5fa8"))
        hours_items.append((name + ", weekly", round(base_arm.per_location[loc.id].hours_out), "#e07b00"))
    days = len(pilot_arm.value_by_day)
    value_chart = line_chart([("pilot", [round(v / 100) for v in pilot_arm.value_by_day]),
                              ("weekly", [round(v / 100) for v in base_arm.value_by_day])],
                             ["day %d" % (d + 1) if d % max(1, days // 10) == 0 else "" for d in range(days)],
                             value_format="{:,.0f}", title="stock value at each day's end")
    counts = site.counts
    page = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Pilot vs fixed weekly refill</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>%(style)s</style></head>
<body>
<h1>Pilot vs fixed weekly refill</h1>
<p class="lead">%(days)d days, seed %(seed)d, one cabinet with %(locs)d locations (%(lanes)d spiral lanes, %(doors)d
locker doors, %(bins)d weigh bins, %(scan)d scan-only bins); the same technicians' demand served two ways.</p>
<div class="cards">%(cards)s</div>
<h2>Side by side</h2>
<table><tr><th>Figure</th><th>Pilot: alerts, min/max, visits twice a week</th><th>Baseline: fixed weekly visit</th></tr>
%(rows)s</table>
<h2>Hours out of stock, where it hurt most</h2>
%(hours)s
<h2>Stock carried (%(currency)s on hand at each day's end)</h2>
%(value)s
<h2>How the two were run</h2>
<p class="note">The pilot ran the edge agent's real flows (vending, weigh bins, refill, min/max, the supervisor's
lane clear) on a real ledger, against the real cabinet firmware on a simulated cabinet, in virtual time; its
figures come from that ledger. The driver visits on Tuesdays and Fridays and works the open refill tasks, and
comes within 4 hours when a critical part is out. The baseline is a pure inventory replay of the same takes
(same seed): a visit every Monday tops each location up to a par level that covers a week of demand with
safety stock, within what the location holds; no alerts, no emergency visits, no faults. An emergency order
is a take of a critical part that found less than was needed.</p>
</body></html>
""" % {"style": STYLE, "days": days, "seed": run["seed"], "locs": len(site.locations), "lanes": counts["lane"],
       "doors": counts["door"], "bins": counts["bin"], "scan": counts["scan"], "currency": esc(currency),
       "cards": card("Hours out of stock", "hours_out_of_stock") + card("Stockouts", "stockouts")
       + card("Emergency orders", "emergency_orders") + card("Stock carried", "stock_carried_avg_value"),
       "rows": rows, "hours": hbar_chart(hours_items, value_format="{:,.0f} h", label_width=300,
                                         title="hours out of stock"),
       "value": value_chart}
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def summary_lines(pilot_arm, base_arm, pilot):
    p, b = pilot_arm.figures, base_arm.figures
    lines = ["%-28s %12s %12s" % ("", "pilot", "weekly"),
             ]
    for f in ("stockouts", "hours_out_of_stock", "emergency_orders", "stock_carried_avg_value", "fill_rate_pct",
              "refill_visits", "emergency_visits"):
        lines.append("%-28s %12s %12s" % (f.replace("_", " "), p[f], b[f]))
    lines.append("jams %d (cleared %d), hung products %d, refusals %s" % (
        pilot.jams, pilot.lanes_cleared, pilot.hangs,
        ", ".join("%s %d" % kv for kv in sorted(pilot.refusals.items())) or "none"))
    s = pilot.sync
    lines.append("cloud outages %d (%.1f h): %d rows/events queued offline, largest backlog %d"
                 % (s.outages, s.outage_hours, s.queued_offline, s.max_backlog))
    return lines
