"""The Reports page of the hub's web app (hub/web/pages/reports.py): a customer's monthly report and its
billing CSV, each person seeing only the customers they may see; in Chromium, the report with its charts under
the app's Content-Security-Policy (docs/screens/hub/customer-report.png).

The cabinets are those of tests/test_hub_report.py's `fleet`: Customer A (CAB-7 at plant1, CAB-8 at plant2),
Customer B (CAB-9 at site other), stored at the hub as the ingest stores them."""
import csv
import io
from decimal import Decimal

from edge_agent.reports import money, period
from tests.chromium import browser
from tests.hub_web import shoot
from tests.test_hub_report import AFTER, fleet  # noqa: F401 - the fixture

A = "/reports/view?customer=Customer+A&month=2026-10"
A_CSV = "/reports/billing.csv?customer=Customer+A&month=2026-10"
B = "/reports/view?customer=Customer+B&month=2026-10"


def people(hub_web):
    hub_web.set_clock(period.parse_time(AFTER).timestamp())
    hub_web.add_user("acme", "ann@acme.example", "supplier_admin")
    hub_web.add_user("acme", "cara@a.example", "customer_admin", customer="Customer A")
    hub_web.add_user("acme", "bo@b.example", "customer_viewer", customer="Customer B")


def test_the_supplier_sees_every_customers_report_and_its_billing_csv(hub_web, fleet):  # noqa: F811
    people(hub_web)
    ann = hub_web.session("ann@acme.example")
    status, text = ann.get("/reports")
    assert status == 200 and '<a href="%s">Report 2026-10</a>' % A.replace("&", "&amp;") in text
    assert '<a href="%s">Billing CSV</a>' % B.replace("view", "billing.csv").replace("&", "&amp;") in text
    status, page = ann.get(A)
    assert status == 200 and "Sites compared" in page and "Supplier performance" in page and "<svg" in page
    assert "<script" not in page and 'href="/reports/report.css"' in page and "<style" not in page
    billable = fleet["CAB-7"].totals.billable_cents + fleet["CAB-8"].totals.billable_cents
    assert money.display(billable, "EUR") in page
    status, text = ann.get(A_CSV)
    assert status == 200 and ann.last.getheader("content-type").startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(billable) / 100
    assert {r["cabinet_id"] for r in rows} == {"CAB-7", "CAB-8"}
    status, css = ann.get("/reports/report.css")
    assert status == 200 and ".kpi" in css and ".tag.high" in css


def test_a_customer_sees_only_its_own_report(hub_web, fleet):  # noqa: F811
    people(hub_web)
    cara = hub_web.session("cara@a.example")
    status, text = cara.get("/reports")
    assert status == 200 and "Customer A" in text and "Customer B" not in text
    assert cara.get(A)[0] == 200
    for path in (B, "/reports/billing.csv?customer=Customer+B&month=2026-10"):
        status, text = cara.get(path)
        assert status == 403 and "CAB-9" not in text
    bo = hub_web.session("bo@b.example")
    status, text = bo.get(B)
    assert status == 200 and "CAB-9" in text and "CAB-7" not in text and "CAB-8" not in text
    assert bo.get(A)[0] == 403
    assert hub_web.session("ann@acme.example").get("/reports/view?customer=Nobody&month=2026-10")[0] == 404
    assert cara.get("/reports/view?customer=Customer+A&month=2026-13")[0] == 400


def test_in_chromium_the_customer_report_shows_its_charts_under_the_apps_policy(hub_web, fleet):  # noqa: F811
    people(hub_web)
    with browser() as b:
        page = b.new_page(viewport={"width": 1100, "height": 800})
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        hub_web.sign_in(page, "cara@a.example")
        page.goto(hub_web.url + "/reports?month=2026-10")
        page.click("a:has-text('Report 2026-10')")
        page.wait_for_url("**/reports/view?*")
        assert page.locator("h1").inner_text() == "Monthly report, October 2026"
        assert page.locator("h2", has_text="Sites compared").is_visible()
        assert page.locator("svg.chart").count() >= 6
        # The stylesheet applied (a file of the app: no inline style is allowed): the KPI boxes are a grid.
        assert page.locator(".kpis").first.evaluate("e => getComputedStyle(e).display") == "grid"
        assert page.locator("table.sites tbody tr").count() == 2
        assert refused == []
        shoot(page, "customer-report")
        with page.expect_download() as got:
            page.click("text=Billing CSV")
        assert got.value.suggested_filename == "billing-Customer-A-2026-10.csv"
