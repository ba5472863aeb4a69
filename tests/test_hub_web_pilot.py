"""After a supplier's pilot on the hub (`locker-sim fleet --hub`), the supplier's people sign in to the web app
on the pilot's hub database and find what the month left: the fleet, the alerts and who was mailed, the routes'
van loads and what came back, the orders and their states, the min/max review, one report per customer; a
customer's admin sees only their own. In Chromium, with screenshots (docs/screens/hub/pilot-*.png)."""
import os
from urllib.parse import urlencode

import pytest

from sim.pilot.demand import DAY_MS
from sim.pilot.hub_pilot import run_hub_pilot, virtual
from tests.chromium import browser
from tests.hub_web import shoot
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="Mosquitto is not installed (scripts/setup)")


def test_after_a_pilot_the_supplier_and_each_customer_find_what_the_pilot_left(hub_web, tmp_path):
    result = run_hub_pilot(tmp_path, customers=3, cabinets=4, days=4, locations=12, seed=3, dsn=hub_web.dsn)
    s = result.supplier
    northwind, contoso = s.customer("northwind"), s.customer("contoso")
    # The pilot's people get passwords to sign in with (the pilot gave them random ones).
    hub_web.add_user(s.tenant, s.service_desk, "supplier_admin", name="Service desk")
    hub_web.add_user(s.tenant, northwind.contact, "customer_admin", customer=northwind.name, name="Nora Northwind")
    hub_web.set_clock(virtual(result.days * DAY_MS).timestamp())       # the hub's clock at the pilot's end

    desk = hub_web.session(s.service_desk)
    status, fleet = desk.get("/fleet")
    assert status == 200 and all(c.id in fleet for c in s.cabinets)
    status, routes = desk.get("/routes")
    assert status == 200 and "North loop" in routes and "South loop" in routes
    status, back = desk.get("/routes/north/reconcile")
    assert status == 200 and "To return to the branch" in back and "FLEET-001" in back
    status, orders = desk.get("/orders")
    plant = {c.id: s.site(c.sites[0]).name for c in s.customers}         # "Northwind Foods plant"
    assert status == 200 and "delivered" in orders and all(name in orders for name in plant.values())
    status, alerts = desk.get("/alerts")
    assert status == 200 and "FLEET-" in alerts
    status, minmax = desk.get("/minmax")
    assert status == 200 and "approved" in minmax

    nora = hub_web.session(northwind.contact)
    status, orders = nora.get("/orders")
    assert status == 200 and plant["northwind"] in orders and plant["contoso"] not in orders
    assert plant["fabrikam"] not in orders
    status, reports = nora.get("/reports?month=2026-03")
    assert status == 200 and northwind.name in reports and contoso.name not in reports
    report_path = "/reports/view?" + urlencode({"customer": northwind.name, "month": "2026-03"})
    status, page = nora.get(report_path)
    assert status == 200 and plant["northwind"] in page and plant["contoso"] not in page
    assert nora.get("/reports/view?" + urlencode({"customer": contoso.name, "month": "2026-03"}))[0] in (403, 404)

    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        hub_web.sign_in(page, s.service_desk)
        for path, name in (("/routes/north/reconcile", "pilot-route-reconcile"), ("/orders", "pilot-orders"),
                           ("/alerts", "pilot-alerts")):
            page.goto(hub_web.url + path)
            assert page.locator("main table").count() >= 1, path
            shoot(page, name)
        customer = b.new_page(viewport={"width": 1280, "height": 900})
        hub_web.sign_in(customer, northwind.contact)
        customer.goto(hub_web.url + report_path)
        assert customer.get_by_text(plant["northwind"]).count() >= 1
        shoot(customer, "pilot-customer-report")
