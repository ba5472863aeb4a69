"""Reports: one report per customer and month (hub/customer_report), as a page and as the billing CSV.

A customer's people see only their own customer's report; the supplier sees every customer of its sites.
The report page is the report itself (the same page `locker-hub report --html` writes), its stylesheet a file
of this app (the Content-Security-Policy allows no inline style)."""
import datetime

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from edge_agent.ledger import csv_cells
from edge_agent.reports import period
from hub import customer_report
from hub.customer_report import billing
from hub.web.html import Html, csv_response, esc, link, page, table
from hub.web.viewer import now, require

NAV = (("Reports", "/reports", "reports.view"),)
STYLESHEET = "/reports/report.css"


def _last_month(moment):
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - datetime.timedelta(days=1)).strftime("%Y-%m")


def _href(path, customer, month):
    from urllib.parse import urlencode
    return "%s?%s" % (path, urlencode({"customer": customer, "month": month}))


def index(request):
    viewer = require(request, "reports.view")
    month = request.query_params.get("month") or _last_month(now(request))
    with request.app.state.pool.connection() as conn:
        rows = []
        for name in viewer.customers(conn):
            found = conn.execute("SELECT count(DISTINCT s.id) AS sites, count(c.id) AS cabinets FROM sites s "
                                 "LEFT JOIN cabinets c ON c.tenant = s.tenant AND c.site = s.id "
                                 "WHERE s.tenant = %s AND s.customer = %s", [viewer.tenant, name]).fetchone()
            rows.append([name, found["sites"], found["cabinets"],
                         Html(link(_href("/reports/view", name, month), "Report %s" % month) + " · " +
                              link(_href("/reports/billing.csv", name, month), "Billing CSV"))])
    choose = Html('<form method="get" action="/reports" class="month"><label>Month <input type="month" name="month" '
              'value="%s" required></label> <button type="submit">Show</button></form>' % esc(month))
    body = Html(choose + table(["Customer", "Sites", "Cabinets", "Monthly report"], rows,
                          empty="No customer sites yet."))
    return page(request, viewer, "Reports", body)


def _report(request):
    """The viewer's CustomerReport for ?customer=&month= (403 for another customer, 404 for none, 400 for a
    month that is not one)."""
    viewer = require(request, "reports.view")
    name = request.query_params.get("customer", "")
    text = request.query_params.get("month") or _last_month(now(request))
    try:
        start, end = period.month(text)
    except ValueError as e:
        raise HTTPException(400, str(e))
    with request.app.state.pool.connection() as conn:
        if viewer.customer is not None and name != viewer.customer:
            raise HTTPException(403, "You may see the reports of %s only." % viewer.customer)
        if name not in viewer.customers(conn):
            raise HTTPException(404, "No customer %r." % name)
        report = customer_report.build(conn, viewer.tenant, name, start, end, now(request))
    return report, text


def view(request):
    report, month = _report(request)
    links = [("/reports", "← All reports"), (_href("/reports/billing.csv", report.customer, month), "Billing CSV")]
    return HTMLResponse(customer_report.render(report, stylesheet=STYLESHEET, links=links),
                        headers={"Cache-Control": "no-store"})


def billing_csv(request):
    report, month = _report(request)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in report.customer)
    rows = [[csv_cells.safe(cell) for cell in row] for row in billing.rows(report)]    # no formula in a cell
    return csv_response("billing-%s-%s.csv" % (safe, month), billing.HEADER, rows)


def stylesheet(request):
    return Response(customer_report.STYLESHEET, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "max-age=3600"})


def routes():
    return [Route("/reports", index), Route("/reports/view", view), Route("/reports/billing.csv", billing_csv),
            Route("/reports/report.css", stylesheet)]
