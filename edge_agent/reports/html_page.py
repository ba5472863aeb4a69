"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched from anywhere),
readable on screen and printable on A4. Charts first, tables to back them up, the method at the end."""
import datetime
import html

from edge_agent.reports import charts, money
from edge_agent.reports.charts import PALETTE

TOP_ITEMS = 12
TOP_ROWS = 25
CODE_COLUMNS = ("Part", "Location", "Cost center", "Work order", "User")
LEVEL_COLOURS = {"high": "#b03a2e", "medium": "#e07b00", "low": "#2e8b57"}

CSS = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #1f5fa8; --bad: #b03a2e; --warn: #e07b00;
        --good: #2e8b57; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f3f4f6;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
header.top { display: flex; justify-content: space-between; align-items: flex-end; gap: 16px;
             border-bottom: 3px solid var(--accent); padding-bottom: 10px; margin-bottom: 18px; }
header.top h1 { margin: 0; font-size: 24px; }
header.top .sub { color: var(--muted); }
header.top .period { text-align: right; font-size: 13px; color: var(--muted); }
header.top .period strong { display: block; color: var(--ink); font-size: 16px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line);
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 14px; margin: 16px 0 6px; color: #374151; break-after: avoid; page-break-after: avoid; }
p.lead { margin: 4px 0 10px; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 6px 0 8px; }
.kpi { border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 4px; padding: 8px 10px;
       break-inside: avoid; }
.kpi .v { font-size: 22px; font-weight: 650; white-space: nowrap; }
.kpi .l { font-size: 12px; color: var(--muted); }
.kpi.bad { border-left-color: var(--bad); } .kpi.warn { border-left-color: var(--warn); }
.kpi.good { border-left-color: var(--good); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.figure { break-inside: avoid; page-break-inside: avoid; margin: 6px 0 12px; }
svg.chart { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; font-size: 12.5px; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: #374151; background: #f9fafb; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reason { font-size: 11.5px; color: #374151; }
td.code { white-space: nowrap; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; font-weight: 600; color: #fff;
       background: #6b7280; }
.tag.high { background: #b03a2e; } .tag.medium { background: #e07b00; } .tag.low { background: #2e8b57; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; margin: 4px 0 12px; }
dl.method dt { font-weight: 600; margin-top: 8px; }
dl.method dd { margin: 2px 0 0 0; color: #374151; }
.more { font-size: 12px; color: var(--muted); }
footer { margin-top: 28px; font-size: 11px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 6px; }
@page { size: A4; margin: 14mm 12mm 16mm; }
@media print {
  body { background: #fff; font-size: 11.5px; }
  main { max-width: none; padding: 0; }
  .pagebreak { break-before: page; page-break-before: always; }
  h2 { margin-top: 14px; }
  .kpi .v { font-size: 18px; }
  header.top h1 { font-size: 20px; }
  header.top .period { font-size: 11px; }
  table { font-size: 10.5px; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _n(x, digits=1):
    if x is None:
        return "—"
    text = ("{:,.%df}" % digits).format(x)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _day(moment):
    return moment.strftime("%d %b %H:%M") if moment else "—"


def _table(headers, rows, numeric=(), empty="Nothing in this period.", limit=None, cls=None):
    """An HTML table; `numeric` names the columns aligned right. rows are lists of already-escaped HTML."""
    if not rows:
        return '<p class="empty">%s</p>' % _e(empty)
    shown = rows[:limit] if limit else rows
    head = "".join('<th class="n">%s</th>' % _e(h) if h in numeric else "<th>%s</th>" % _e(h) for h in headers)
    body = []
    for row in shown:
        cells = []
        for h, cell in zip(headers, row):
            klass = ' class="n"' if h in numeric else (' class="reason"' if h == "Reason" else
                                                       ' class="code"' if h in CODE_COLUMNS else "")
            cells.append("<td%s>%s</td>" % (klass, cell))
        body.append("<tr>%s</tr>" % "".join(cells))
    more = ""
    if limit and len(rows) > limit:
        more = '<p class="more">%d more rows in the CSV file.</p>' % (len(rows) - limit)
    return '<table%s><thead><tr>%s</tr></thead><tbody>%s</tbody></table>%s' % (
        ' class="%s"' % cls if cls else "", head, "".join(body), more)


def _kpi(value, label, tone=""):
    return '<div class="kpi %s"><div class="v">%s</div><div class="l">%s</div></div>' % (tone, value, _e(label))


def _tag(level):
    """A coloured level label; the colour is a class (.tag.high...), not a style attribute, so the page also
    works under a Content-Security-Policy without inline styles (the hub's web app)."""
    return '<span class="tag %s">%s</span>' % (_e(level if level in LEVEL_COLOURS else "other"), _e(level))


def _title(report):
    start, end = report.start, report.end
    last = end - datetime.timedelta(seconds=1)
    if start.day == 1 and start.hour == 0 and end.day == 1 and end.hour == 0 and \
            (end.year * 12 + end.month) - (start.year * 12 + start.month) == 1:
        return "Monthly report, " + start.strftime("%B %Y"), "%s – %s" % (start.strftime("%d %b %Y"),
                                                                          last.strftime("%d %b %Y"))
    days = (end - start).total_seconds() / 86400
    span = ("%d days" % days) if days == int(days) else ("%.1f days" % days)
    return "Report for %s" % span, "%s – %s" % (start.strftime("%d %b %Y %H:%M"), end.strftime("%d %b %Y %H:%M"))


FOOTER = ("Generated from the cabinet's ledger by locker-agent report. Files next to this page: billing.csv, "
          "usage.csv, item_usage.csv, cost_centers.csv, minmax_recommendations.csv, stockouts.csv, stockout_risk.csv, "
          "refills.csv, slow_movers.csv, tool_losses.csv.")


def head(title, stylesheet=None, extra_css=""):
    """The document up to <main>: the CSS inline (with extra_css after it), or a link to it (stylesheet: its
    URL on the same host)."""
    style = ('<link rel="stylesheet" href="%s">' % _e(stylesheet)) if stylesheet else \
        "<style>%s%s</style>" % (CSS, extra_css)
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<title>%s</title>%s</head><body><main>" % (_e(title), style))


def header(title, subtitle_html, report):
    """The page's top: title, who it is about (already escaped HTML), the period and when it was judged."""
    span = _title(report)[1]
    return ('<header class="top"><div><h1>%s</h1><div class="sub">%s</div></div>'
            '<div class="period"><strong>%s</strong>UTC · %s days observed · generated %s</div></header>'
            % (_e(title), subtitle_html, _e(span), _n(report.observed_days),
               _e(report.now.strftime("%Y-%m-%d %H:%M"))))


def title_of(report):
    """("Monthly report, October 2026", "01 Oct 2026 – 31 Oct 2026") or the same for any period."""
    return _title(report)


def render_html(report):
    title = _title(report)[0]
    out = [head("%s — cabinet %s" % (title, report.cabinet_id or "?")),
           header(title, "Cabinet <strong>%s</strong>" % _e(report.cabinet_id or "(no id)"), report)]
    out.extend(sections(report))
    out.append("<footer>%s</footer>" % _e(FOOTER))
    out.append("</main></body></html>")
    return "\n".join(out)


def sections(report):
    """The report's sections as HTML (summary, usage, cost allocation, billing, availability, planning,
    people, method): the cabinet's page, and the hub's customer report around the same figures."""
    r, cur = report, report.currency
    m = lambda cents: _e(money.display(cents, cur))
    t = r.totals
    out = []

    # -- summary ---------------------------------------------------------------------------------------
    high = sum(1 for k in r.risks if k.level == "high")
    out.append('<section><div class="kpis">')
    out.append(_kpi(_n(t.net_units, 0), "units used (issued %d, returned %d)" % (t.units_issued, t.units_returned)))
    out.append(_kpi(m(t.value_cents), "value used at unit cost"))
    out.append(_kpi(m(t.billable_cents), "billable (consignment, net of returns)", "good"))
    out.append(_kpi(str(t.active_users), "people who took parts"))
    out.append(_kpi(str(t.stockouts), "stockouts", "bad" if t.stockouts else "good"))
    out.append(_kpi(_n(t.out_hours, 1) + " h", "location-hours out of stock", "bad" if t.out_hours else "good"))
    out.append(_kpi(str(t.refill_visits), "refill visits (%d lines)" % len(r.refills.lines)))
    out.append(_kpi(str(high), "locations at high stockout risk", "bad" if high else "good"))
    out.append("</div></section>")

    # -- usage -----------------------------------------------------------------------------------------
    out.append("<section><h2>Usage</h2>")
    # A week cut by the period's start is labelled from the first day it covers.
    weekly = [(max(w, r.start.date()).strftime("%d %b"), q) for w, q, _ in r.weekly]
    # The part number leads: descriptions of sibling SKUs often differ only at the end, which a label cuts.
    top = [("%s %s" % (i.sku, i.description) if i.description else i.sku, i.value_cents / 100.0)
           for i in r.items[:TOP_ITEMS] if i.value_cents > 0]
    out.append('<div class="grid2"><div class="figure"><h3>Units used per week (weeks start Monday)</h3>%s</div>'
               '<div class="figure"><h3>Top items by value (%s)</h3>%s</div></div>'
               % (charts.column_chart(weekly, width=460, height=230, title="units per week"), _e(cur),
                  charts.hbar_chart(top, width=460, label_width=150, value_format="{:,.2f}",
                                    title="top items by value")))
    rows = [[_e(i.sku), _e(i.description), _e(i.ownership), str(i.issued), str(i.returned), str(i.net),
             m(i.value_cents), charts.sparkline(i.daily, width=110, height=20)] for i in r.items]
    out.append("<h3>Items</h3>" + _table(["Part", "Description", "Ownership", "Issued", "Returned", "Net",
                                           "Value", "Daily"], rows, numeric=("Issued", "Returned", "Net", "Value"),
                                          limit=TOP_ROWS))
    out.append("</section>")

    # -- cost allocation -------------------------------------------------------------------------------
    out.append('<section><h2>Where it went: cost centers, departments, work orders</h2>')
    cc = [(g.key, g.value_cents / 100.0, PALETTE[n % len(PALETTE)]) for n, g in enumerate(r.by_cost_center)]
    dept = [(g.key, g.value_cents / 100.0, PALETTE[(n + 3) % len(PALETTE)]) for n, g in enumerate(r.by_department)]
    out.append('<div class="grid2"><div class="figure"><h3>Spend by cost center (%s)</h3>%s</div>'
               '<div class="figure"><h3>Spend by department (%s)</h3>%s</div></div>'
               % (_e(cur), charts.hbar_chart(cc, width=460, label_width=120, value_format="{:,.2f}",
                                            title="spend by cost center"),
                  _e(cur), charts.hbar_chart(dept, width=460, label_width=120, value_format="{:,.2f}",
                                             title="spend by department")))
    group_rows = lambda groups: [[_e(g.key), str(g.transactions), str(g.issued), str(g.returned), str(g.net),
                                  m(g.value_cents)] for g in groups]
    heads = ["Cost center", "Transactions", "Issued", "Returned", "Net", "Value"]
    num = ("Transactions", "Issued", "Returned", "Net", "Value")
    out.append('<h3>Cost centers</h3>' + _table(heads, group_rows(r.by_cost_center), numeric=num, limit=TOP_ROWS))
    if r.by_work_order:
        out.append('<h3>Work orders</h3>' + _table(["Work order"] + heads[1:], group_rows(r.by_work_order),
                                                   numeric=num, limit=TOP_ROWS))
    out.append("</section>")

    # -- billing ---------------------------------------------------------------------------------------
    out.append('<section><h2>Billable consumption</h2><p class="lead">Consignment stock is billed on issue, '
               'returns credited; customer-owned stock is not billed as product. Lines: billing.csv.</p>')
    own_rows = [[_e(o.ownership), "billed" if o.billed else "not billed", str(o.issued), str(o.returned),
                 str(o.quantity), m(o.value_cents), m(o.amount_cents)] for o in r.ownership]
    out.append(_table(["Ownership", "Billing", "Issued", "Returned", "Net", "Value", "Billed amount"], own_rows,
                      numeric=("Issued", "Returned", "Net", "Value", "Billed amount")))
    bill_rows = [[_e(b.cost_center), _e(b.sku), _e(b.description), str(b.quantity), m(b.unit_price_cents),
                  m(b.amount_cents)] for b in r.billing]
    out.append(_table(["Cost center", "Part", "Description", "Qty", "Unit price", "Amount"], bill_rows,
                      numeric=("Qty", "Unit price", "Amount"), limit=TOP_ROWS, empty="Nothing billable."))
    out.append("</section>")

    # -- availability ----------------------------------------------------------------------------------
    out.append('<section class="pagebreak"><h2>Availability: stockouts and refills</h2>')
    outs = sorted((s for s in r.stockouts if s.out_hours > 0), key=lambda s: -s.out_hours)
    bars = [("%s %s" % (s.location, s.sku or ""), round(s.out_hours, 1), "#b03a2e") for s in outs[:TOP_ITEMS]]
    out.append('<div class="figure"><h3>Hours out of stock per location</h3>%s</div>'
               % charts.hbar_chart(bars, width=700, label_width=170, value_format="{:,.1f} h",
                                   title="hours out of stock", empty="No location ran out in this period."))
    so_rows = [[_e(s.location), _e(s.sku), _e(s.description), str(s.stockouts), _n(s.out_hours, 1),
                "out now" if s.out_now else ""] for s in outs]
    out.append(_table(["Location", "Part", "Description", "Stockouts", "Hours out", "At end"], so_rows,
                      numeric=("Stockouts", "Hours out"), limit=TOP_ROWS,
                      empty="No location ran out in this period."))
    low = r.low_stock_events
    counts = ", ".join("%s %d" % (k.replace("_", " "), v) for k, v in sorted(r.alert_counts.items())) or "none"
    out.append("<h3>Low-stock and other alerts</h3><p>Raised in the period: %s.</p>" % _e(counts))
    alert_rows = [[_e(a.location), _e(a.kind.replace("_", " ")), _e(a.detail), _e(_day(a.raised)),
                   _e(_day(a.cleared)) if a.cleared else '<span class="muted">open</span>'] for a in low]
    out.append(_table(["Location", "Alert", "Detail", "Raised", "Cleared"], alert_rows, limit=TOP_ROWS,
                      empty="No low-stock events."))
    out.append("<h3>Tools lost or scrapped</h3>")
    loss_rows = [[_e(_day(t.time)), _e(t.what), _e(t.location), _e(t.description), str(t.quantity),
                  m(t.value_cents), _e(t.holder or ""), _e(t.recorded_by)] for t in r.tool_losses]
    out.append(_table(["Day", "What", "Location", "Tool", "Qty", "Value", "Out to", "Recorded by"], loss_rows,
                      numeric=("Qty", "Value"), limit=TOP_ROWS, empty="No tool was lost or scrapped."))
    rf = r.refills
    out.append("<h3>Refill visits</h3><p>%d visit(s), %d line(s), %d unit(s); mean interval between visits: %s; "
               "refill task to refilled: median %s, mean %s.</p>"
               % (len(rf.visits), len(rf.lines), sum(l.quantity for l in rf.lines),
                  (_n(rf.mean_interval_days) + " days") if rf.mean_interval_days else "—",
                  (_n(rf.median_task_hours) + " h") if rf.median_task_hours is not None else "—",
                  (_n(rf.mean_task_hours) + " h") if rf.mean_task_hours is not None else "—"))
    visit_rows = [[_e(_day(v.start)), _e(v.user_id), str(v.lines), str(v.quantity), _e(", ".join(v.locations))]
                  for v in rf.visits]
    out.append(_table(["Visit", "Driver", "Lines", "Units", "Locations"], visit_rows, numeric=("Lines", "Units"),
                      limit=TOP_ROWS, empty="No refills in this period."))
    out.append("</section>")

    # -- planning --------------------------------------------------------------------------------------
    out.append('<section class="pagebreak"><h2>Looking ahead: stockout risk, slow movers, min/max</h2>')
    horizon = r.refills.mean_interval_days or r.parameters.default_interval_days
    risk_bars = [("%s %s" % (k.location, k.sku), round(k.probability * 100), LEVEL_COLOURS[k.level])
                 for k in r.risks[:TOP_ITEMS] if k.probability > 0]
    out.append('<div class="figure"><h3>Chance of running out before the next refill (%s days), %%</h3>%s</div>'
               % (_n(horizon), charts.hbar_chart(risk_bars, width=700, label_width=170, value_format="{:,.0f} %",
                                                 title="stockout risk", empty="No location at risk.")))
    risk_rows = [[_e(k.location), _e(k.sku), _e(k.description), str(k.on_hand), _n(k.demand_per_day, 2),
                  _n(k.days_of_cover, 1), "%s %s %.0f%%" % (charts.meter(k.probability), _tag(k.level),
                                                           k.probability * 100)] for k in r.risks]
    out.append(_table(["Location", "Part", "Description", "On hand", "Per day", "Days of cover", "Risk"],
                      risk_rows, numeric=("On hand", "Per day", "Days of cover"), limit=TOP_ROWS,
                      empty="No demand and nothing out: no risk to show."))
    rec_rows = [[_e(c.location), _e(c.sku), "%d / %d" % (c.current_min, c.current_max),
                 "<strong>%d / %d</strong>" % (c.min, c.max), _e(c.reason)] for c in r.recommendations]
    out.append("<h3>Recommended min/max changes</h3>" + _table(
        ["Location", "Part", "Now min / max", "Recommended", "Reason"], rec_rows, limit=TOP_ROWS,
        empty="No change recommended (or not enough history: %s days needed)." % _n(r.parameters.min_history_days)))
    slow_rows = [[_e(s.location), _e(s.sku), _e(s.description), str(s.on_hand), m(s.value_cents), _e(s.reason)]
                 for s in r.slow_movers]
    out.append("<h3>Slow-moving SKUs</h3>" + _table(["Location", "Part", "Description", "On hand", "Value on shelf",
                                                     "Reason"], slow_rows, numeric=("On hand", "Value on shelf"),
                                                    limit=TOP_ROWS, empty="No slow movers."))
    out.append("</section>")

    # -- people ----------------------------------------------------------------------------------------
    out.append("<section><h2>User activity</h2>")
    user_rows = [[_e(u.user_id), _e(u.name), _e(u.department), _e(u.cost_center), str(u.issues), str(u.net),
                  m(u.value_cents), str(u.returns), str(u.tool_loans), str(u.refills), str(u.refusals),
                  _e(_day(u.last_seen))] for u in r.users]
    out.append(_table(["User", "Name", "Department", "Cost center", "Issues", "Units", "Value", "Returns",
                       "Tool loans", "Refills", "Refused", "Last seen"], user_rows,
                      numeric=("Issues", "Units", "Value", "Returns", "Tool loans", "Refills", "Refused"),
                      limit=TOP_ROWS, empty="Nobody used the cabinet in this period."))
    out.append("</section>")

    # -- method ----------------------------------------------------------------------------------------
    out.append('<section class="pagebreak"><h2>Method and data quality</h2><dl class="method">')
    for heading, text in r.method:
        out.append("<dt>%s</dt><dd>%s</dd>" % (_e(heading), _e(text)))
    out.append("</dl></section>")
    return out
