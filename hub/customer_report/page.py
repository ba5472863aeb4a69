"""The customer report as one HTML page: the sites compared, the supplier's performance, then the agent's own
report sections over all the customer's cabinets (edge_agent/reports/html_page.sections). Charts are the
agent's inline SVG; no script, nothing from another host. Standalone (a file: CSS inline) or for the hub's web
app (stylesheet: a URL on the same host, as its Content-Security-Policy allows no inline style)."""
from edge_agent.reports import charts, html_page, money
from edge_agent.reports.html_page import _e, _n, _table


CSS = """
.kpis.five { grid-template-columns: repeat(5, 1fr); }
nav.actions { margin: 0 0 12px; font-size: 13px; }
nav.actions a { margin-right: 14px; }
"""

STYLESHEET = html_page.CSS + CSS


def _pct(rate):
    return "—" if rate is None else "%.1f %%" % (rate * 100)


def _hours(h):
    return "—" if h is None else _n(h, 1) + " h"


def _day(moment):
    return moment.strftime("%d %b %H:%M") if moment else "—"


def render(customer_report, stylesheet=None, links=()):
    """The page; links: [(href, text)] shown under the header (the web app's CSV download and way back)."""
    c, r = customer_report, customer_report.report
    title = html_page.title_of(r)[0]
    subtitle = "Customer <strong>%s</strong> · %d site(s) · %d cabinet(s)" % (_e(c.customer), len(c.sites),
                                                                            len(c.cabinets))
    out = [html_page.head("%s — %s" % (title, c.customer), stylesheet, CSS),
           html_page.header(title, subtitle, r)]
    if links:
        out.append('<nav class="actions">%s</nav>' % "".join('<a href="%s">%s</a>' % (_e(h), _e(t))
                                                             for h, t in links))
    out.append(sites_section(c))
    out.append(performance_section(c))
    out.extend(html_page.sections(r))
    out.append("<footer>Generated at the hub by locker-hub report from the cabinets' transactions and events, "
               "with the same report code as each cabinet's own report (locker-agent report). Billing lines: the "
               "CSV file.</footer></main></body></html>")
    return "\n".join(out)


def sites_section(c):
    cur = c.report.currency
    m = lambda cents: _e(money.display(cents, cur))
    out = ['<section><h2>Sites compared</h2>']
    spend = [(s.name, s.billable_cents / 100.0) for s in c.sites]
    hours = [(s.name, round(s.out_hours, 1), "#b03a2e") for s in c.sites]
    out.append('<div class="grid2"><div class="figure"><h3>Billable per site (%s)</h3>%s</div>'
               '<div class="figure"><h3>Hours out of stock per site</h3>%s</div></div>'
               % (_e(cur), charts.hbar_chart(spend, width=460, label_width=130, value_format="{:,.2f}",
                                             title="billable per site"),
                  charts.hbar_chart(hours, width=460, label_width=130, value_format="{:,.1f} h",
                                    title="hours out of stock per site")))
    rows = [[_e(s.name), str(len(s.cabinets)), str(s.units), m(s.billable_cents),
             str(s.stockouts), _n(s.out_hours, 1), str(s.refill_visits), str(s.low_stock_events), _pct(s.fill.rate),
             _hours(s.alert_to_refill_hours), _pct(s.exact_checks / s.checks if s.checks else None)]
            for s in c.sites]
    out.append(_table(["Site", "Cabinets", "Units used", "Billable", "Stockouts", "Hours out",
                       "Refill visits", "Low-stock alerts", "Fill rate", "Alert to refill", "Stock accuracy"], rows,
                      numeric=("Cabinets", "Units used", "Billable", "Stockouts", "Hours out",
                               "Refill visits", "Low-stock alerts", "Fill rate", "Alert to refill",
                               "Stock accuracy"), cls="sites"))
    out.append("</section>")
    return "".join(out)


def performance_section(c):
    p = c.performance
    out = ['<section><h2>Supplier performance</h2><p class="lead">How well the cabinets were kept stocked: '
           'how each figure is counted is in docs/hub/reports.md.</p><div class="kpis five">']
    out.append(html_page._kpi(_pct(p.fill.rate), "fill rate (%d served, %d refused for stock)"
                              % (p.fill.served, p.fill.refused), "good" if not p.fill.refused else "warn"))
    out.append(html_page._kpi(_n(p.out_hours, 1) + " h", "stockout hours (%d stockouts)" % p.stockouts,
                              "bad" if p.out_hours else "good"))
    out.append(html_page._kpi(_hours(_median(p.refill_hours)), "alert to refill, median (%d of %d alerts)"
                              % (len(p.refill_hours), len(p.alerts))))
    order_hours = p.orders.cycle_hours
    out.append(html_page._kpi(_hours(_median(order_hours)) if order_hours else "—",
                              "order cycle, median (%d delivered)" % len(order_hours)))
    out.append(html_page._kpi(_pct(p.accuracy_rate), "stock accuracy (%d checks)" % len(p.checks)))
    out.append("</div>")

    out.append("<h3>Alert to refill</h3>")
    rows = [[_e(a.site), _e(a.cabinet), _e(a.location), _e(a.sku), _e(a.kind.replace("_", " ")), _e(_day(a.raised)),
             _e(_day(a.refilled)) if a.refilled else '<span class="muted">not ended by a refill</span>',
             _hours(a.hours)] for a in sorted(p.alerts, key=lambda a: a.raised)]
    out.append(_table(["Site", "Cabinet", "Location", "Part", "Alert", "Raised", "Refilled", "Hours"], rows,
                      numeric=("Hours",), limit=html_page.TOP_ROWS, empty="No low-stock or stockout alert."))

    out.append("<h3>Order cycle time</h3>")
    if not p.orders.available or not p.orders.count and not order_hours:
        out.append('<p class="empty">No orders in this period.</p>')
    else:
        states = ", ".join("%s %d" % (k, v) for k, v in sorted(p.orders.by_state.items())) or "none"
        out.append("<p>Proposed in the period: %d (%s).</p>" % (p.orders.count, _e(states)))
        rows = [[_e(s.supplier), str(s.proposed), str(s.delivered), _hours(s.median_hours), _hours(s.mean_hours)]
                for s in p.orders.suppliers]
        out.append(_table(["Supplier", "Proposed", "Delivered", "Median cycle", "Mean cycle"], rows,
                          numeric=("Proposed", "Delivered", "Median cycle", "Mean cycle")))

    out.append("<h3>Stock accuracy per part</h3>")
    rows = [[_e(a.sku), _e(a.description), str(a.checks), str(a.exact), _pct(a.accuracy), str(a.abs_difference),
             "%+d" % a.net_difference] for a in p.accuracy]
    out.append(_table(["Part", "Description", "Checks", "Exact", "Accuracy", "Units off", "Net difference"], rows,
                      numeric=("Checks", "Exact", "Accuracy", "Units off", "Net difference"),
                      empty="No count in this period."))
    out.append("</section>")
    return "".join(out)


def _median(values):
    import statistics
    return statistics.median(values) if values else None
