"""The report's CSV files for billing and ERP import. Column names are a contract (docs/reports.md):
add columns at the end, never rename. UTF-8, comma separated, header first, times ISO 8601 UTC, money as
exact decimals with two places in the report's currency, yes/no for flags. Text that a spreadsheet would run
as a formula (a work order typed as `=...`) is written with a leading apostrophe (ledger/csv_cells.py)."""
import csv

from edge_agent.ledger import csv_cells
from edge_agent.reports import money
from edge_agent.reports.period import iso

COLUMNS = {
    "billing": ("period_start", "period_end", "cabinet_id", "cost_center", "part_number", "description",
                "ownership", "unit_price", "quantity_issued", "quantity_returned", "quantity", "amount",
                "currency"),
    "usage": ("seq", "time", "clock_synced", "movement", "location", "part_number", "description", "ownership",
              "quantity", "unit_cost", "amount", "currency", "billable", "user_id", "department", "cost_center",
              "work_order", "machine_id", "outcome"),
    "item_usage": ("part_number", "description", "category", "ownership", "quantity_issued",
                   "quantity_returned", "quantity", "value", "currency"),
    "cost_centers": ("cost_center", "quantity_issued", "quantity_returned", "quantity", "value", "currency",
                     "transactions"),
    "minmax_recommendations": ("location", "part_number", "description", "current_min", "current_max",
                               "recommended_min", "recommended_max", "demand_per_day", "demand_sd_per_day",
                               "lead_days", "interval_days", "refill_pack", "reason"),
    "stockouts": ("location", "part_number", "description", "stockouts", "hours_out", "out_at_end"),
    "stockout_risk": ("location", "part_number", "description", "on_hand", "demand_per_day", "demand_sd_per_day",
                      "horizon_days", "days_of_cover", "probability", "level"),
    "refills": ("seq", "time", "location", "part_number", "quantity", "user_id", "visit_start"),
    "slow_movers": ("location", "part_number", "description", "on_hand", "quantity", "days_of_cover", "value",
                    "currency", "reason"),
    "tool_losses": ("seq", "time", "what", "location", "part_number", "description", "quantity", "unit_cost",
                    "value", "currency", "recorded_by", "loan_id", "holder"),
}


def _yes(flag):
    return "yes" if flag else "no"


def _f(x, digits):
    return "" if x is None else ("%." + str(digits) + "f") % x


def rows(report, name):
    """The rows of one CSV file as lists of text, in COLUMNS[name] order."""
    r, cur = report, report.currency
    if name == "billing":
        return [[iso(r.start), iso(r.end), r.cabinet_id or "", b.cost_center, b.sku, b.description, b.ownership,
                 money.text(b.unit_price_cents), b.issued, b.returned, b.quantity, money.text(b.amount_cents), cur]
                for b in r.billing]
    if name == "usage":
        return [[u.seq, iso(u.time), _yes(u.clock_synced), u.movement, u.location, u.sku or "", u.description,
                 u.ownership or "", u.quantity, "" if u.unit_cost_cents is None else money.text(u.unit_cost_cents),
                 money.text(u.amount_cents), cur, _yes(u.billable), u.user_id or "", u.department or "",
                 u.cost_center or "", u.work_order or "", u.machine_id or "", u.outcome or ""] for u in r.usage]
    if name == "item_usage":
        return [[i.sku, i.description, i.category or "", i.ownership, i.issued, i.returned, i.net,
                 money.text(i.value_cents), cur] for i in r.items]
    if name == "cost_centers":
        return [[g.key, g.issued, g.returned, g.net, money.text(g.value_cents), cur, g.transactions]
                for g in r.by_cost_center]
    if name == "minmax_recommendations":
        return [[m.location, m.sku, m.description, m.current_min, m.current_max, m.min, m.max,
                 _f(m.demand_per_day, 3), _f(m.sd_per_day, 3), _f(m.lead_days, 2), _f(m.interval_days, 2),
                 m.refill_pack, m.reason] for m in r.recommendations]
    if name == "stockouts":
        return [[s.location, s.sku or "", s.description, s.stockouts, _f(s.out_hours, 2), _yes(s.out_now)]
                for s in r.stockouts]
    if name == "stockout_risk":
        return [[k.location, k.sku, k.description, k.on_hand, _f(k.demand_per_day, 3), _f(k.sd_per_day, 3),
                 _f(k.horizon_days, 2), _f(k.days_of_cover, 1), _f(k.probability, 3), k.level] for k in r.risks]
    if name == "refills":
        visit_of = {}
        for v in r.refills.visits:
            for line in r.refills.lines:
                if line.user_id == v.user_id and v.start <= line.time <= v.end:
                    visit_of.setdefault(line.seq, v.start)
        return [[l.seq, iso(l.time), l.location, l.sku or "", l.quantity, l.user_id or "",
                 iso(visit_of.get(l.seq))] for l in r.refills.lines]
    if name == "slow_movers":
        return [[s.location, s.sku, s.description, s.on_hand, s.net_issued, _f(s.days_of_cover, 1),
                 money.text(s.value_cents), cur, s.reason] for s in r.slow_movers]
    if name == "tool_losses":
        return [[t.seq, iso(t.time), t.what, t.location, t.sku or "", t.description, t.quantity,
                 "" if t.unit_cost_cents is None else money.text(t.unit_cost_cents), money.text(t.value_cents), cur,
                 t.recorded_by or "", "" if t.loan_id is None else t.loan_id, t.holder or ""]
                for t in r.tool_losses]
    raise KeyError(name)


def write_csv(report, name, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(COLUMNS[name])
        writer.writerows([csv_cells.safe(cell) for cell in row] for row in rows(report, name))
    return path
