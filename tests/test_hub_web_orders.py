"""The orders in the hub's web app (docs/hub/orders.md): the supplier's people see every order of the tenant
and may cancel one or mark it delivered; a customer's people see the orders of their own sites only; the ERP
confirms an order with a signed call (no session, no CSRF token: its HMAC signature is its authentication),
which is refused unsigned, wrongly signed or replayed late. In Chromium, with screenshots."""
import datetime
import hashlib
import hmac
import http.client
import json

import pytest

from hub import db
from hub.orders import erp, lifecycle, outbox, propose, rules
from tests.chromium import browser
from tests.erp_receiver import Receiver
from tests.hub_web import START, shoot
from tests.orders_site import SITE, TENANT, make_site, snapshot

NOW = datetime.datetime.fromtimestamp(START, datetime.timezone.utc)


@pytest.fixture
def acme(hub_web):
    """ACME's two customer sites with orders: PLANT1 (Globex: Ansell and Stanley), PLANT2 (Initech: Ansell)."""
    with db.connect(hub_web.dsn, autocommit=True) as conn:
        make_site(conn, ("CAB-1",), customer="Globex")
        make_site(conn, ("CAB-2",), customer="Initech", site="PLANT2")
        snapshot(conn, "CAB-1")
        snapshot(conn, "CAB-2", stock={"L2": 10})
        hub_web.secret = erp.set_endpoint(conn, TENANT, "http://127.0.0.1:9/erp", NOW)
        hub_web.orders = {}
        for site in (SITE, "PLANT2"):
            for order_id in propose.propose_now(conn, TENANT, site, NOW - datetime.timedelta(hours=3), "cli"):
                hub_web.orders[(site, lifecycle.get(conn, order_id)["supplier"])] = order_id
    hub_web.add_user(TENANT, "ann@acme.example", "supplier_admin", name="Ann Admin")
    hub_web.add_user(TENANT, "gus@globex.example", "customer_viewer", customer="Globex", name="Gus Globex")
    hub_web.add_user(TENANT, "cia@globex.example", "customer_admin", customer="Globex", name="Cia Globex")
    return hub_web


def test_customers_see_only_their_own_sites_orders_and_cannot_change_them(acme):
    globex_ansell, initech = acme.orders[(SITE, "Ansell")], acme.orders[("PLANT2", "Ansell")]
    ann = acme.session("ann@acme.example")
    status, text = ann.get("/orders")
    assert status == 200 and "ACME-%d" % globex_ansell in text and "ACME-%d" % initech in text
    assert "<th>ERP</th>" in text and "To the ERP" in ann.get("/orders/%d" % initech)[1]
    for user in ("gus@globex.example", "cia@globex.example"):
        gus = acme.session(user)
        status, text = gus.get("/orders")
        assert status == 200 and "ACME-%d" % globex_ansell in text and "Initech" not in text
        assert "<th>ERP</th>" not in text
        assert "ACME-%d<" % initech not in text
        assert gus.get("/orders/%d" % initech)[0] == 404
        assert gus.get("/orders/%d.xml" % initech)[0] == 404
        status, text = gus.get("/orders/%d" % globex_ansell)
        assert status == 200 and "Nitrile gloves" in text and "Cancel the order" not in text
        assert "To the ERP" not in text and "Idempotency" not in text           # the supplier's business
        assert gus.post("/orders/%d/cancel" % globex_ansell, {"note": "no"})[0] == 403
    status, xml = acme.session("gus@globex.example").get("/orders/%d.xml" % globex_ansell)
    assert status == 200 and "<SupplierPartID>GLV</SupplierPartID>" in xml
    with db.connect(acme.dsn) as conn:
        assert lifecycle.get(conn, globex_ansell)["state"] == "proposed"


def test_the_supplier_cancels_and_marks_delivered_with_their_name_on_it(acme):
    ann = acme.session("ann@acme.example")
    stanley, ansell = acme.orders[(SITE, "Stanley")], acme.orders[(SITE, "Ansell")]
    assert ann.post("/orders/%d/cancel" % stanley, {"note": "ordered by phone"})[0] == 303
    assert ann.post("/orders/%d/deliver" % ansell, {"note": "signed delivery note"})[0] == 303
    status, text = ann.post("/orders/%d/deliver" % stanley, {})
    assert status == 409 and "cancelled: it cannot become delivered" in text
    with db.connect(acme.dsn) as conn:
        assert [(t["state_to"], t["by"], t["note"]) for t in lifecycle.transitions(conn, stanley)][1:] == \
            [("cancelled", "web:ann@acme.example", "ordered by phone")]
        assert (lifecycle.get(conn, ansell)["state"], lifecycle.get(conn, ansell)["delivered_at"]) == ("delivered", NOW)
        assert [m["kind"] for m in outbox.pending(conn, stanley)] == ["new", "cancel"]


def test_the_supplier_sets_a_sites_reorder_rule(acme):
    ann = acme.session("ann@acme.example")
    status, text = ann.get("/orders")
    assert "daily at 06:00 UTC (the default)" in text
    assert ann.post("/orders/rules", {"site": "PLANT2", "rule": "daily", "at": "07:30",
                                      "timezone": "Europe/Berlin"})[0] == 303
    status, text = ann.post("/orders/rules", {"site": SITE, "rule": "daily", "at": "7h", "timezone": "UTC"})
    assert status == 400 and "time &#x27;7h&#x27; is not HH:MM" in text
    assert ann.post("/orders/rules", {"site": "ELSEWHERE", "rule": "per_task"})[0] == 404
    assert "daily at 07:30 Europe/Berlin" in ann.get("/orders")[1]
    gus = acme.session("cia@globex.example")
    assert "Reorder rules" not in gus.get("/orders")[1]
    assert gus.post("/orders/rules", {"site": SITE, "rule": "per_task"})[0] == 403
    with db.connect(acme.dsn) as conn:
        assert rules.rule_of(conn, TENANT, "PLANT2")["set_by"] == "web:ann@acme.example"
        assert rules.rule_of(conn, TENANT, SITE)["set_by"] is None


def confirm(acme, order_id, body, secret=None, t=None, tenant=TENANT):
    """The ERP's call, signed as docs/hub/orders.md says."""
    raw = json.dumps(body).encode()
    t = int(START) if t is None else t
    sig = hmac.new(secret or acme.secret, b"%d." % t + raw, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", acme.server.port, timeout=30)
    conn.request("POST", "/erp/%s/orders/%d/confirm" % (tenant, order_id), body=raw, headers={
        "Host": "127.0.0.1:%d" % acme.server.port, "Content-Type": "application/json",
        "X-Locker-Signature": "t=%d,v1=%s" % (t, sig)})
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read() or b"{}")


def test_the_erp_confirms_an_order_with_a_signed_call(acme):
    order_id = acme.orders[(SITE, "Ansell")]
    assert confirm(acme, order_id, {"erp_ref": "SO-1"}, secret=b"x" * 32)[0] == 401
    assert confirm(acme, order_id, {"erp_ref": "SO-1"}, t=int(START) - 301)[0] == 401        # too old: a replay
    assert confirm(acme, 999999, {"erp_ref": "SO-1"})[0] == 404
    with db.connect(acme.dsn) as conn:
        assert lifecycle.get(conn, order_id)["state"] == "proposed"
    status, answer = confirm(acme, order_id, {"erp_ref": "SO-77120", "note": "ships Tuesday"})
    assert (status, answer) == (200, {"order_id": "ACME-%d" % order_id, "state": "confirmed", "erp_ref": "SO-77120",
                                      "changed": True})
    assert confirm(acme, order_id, {"erp_ref": "SO-77120"})[1]["changed"] is False              # a retry: harmless
    with db.connect(acme.dsn) as conn:
        o = lifecycle.get(conn, order_id)
        assert (o["state"], o["confirmed_at"], o["erp_ref"]) == ("confirmed", NOW, "SO-77120")
        assert lifecycle.transitions(conn, order_id)[-1]["by"] == "erp"
        lifecycle.move(conn, acme.orders[(SITE, "Stanley")], "cancelled", NOW, "cli")
        conn.commit()
    status, answer = confirm(acme, acme.orders[(SITE, "Stanley")], {"erp_ref": "SO-2"})
    assert status == 409 and "cancelled" in answer["error"]


def test_orders_in_chromium(acme):
    erp_server = Receiver().up()
    with db.connect(acme.dsn, autocommit=True) as conn:
        erp.set_endpoint(conn, TENANT, erp_server.url, NOW)
        assert outbox.run_due(conn, NOW - datetime.timedelta(hours=2)) == 3     # the three reach the ERP: sent
        erp_server.down()
        lifecycle.move(conn, acme.orders[("PLANT2", "Ansell")], "cancelled", NOW - datetime.timedelta(minutes=90),
                       "web:ann@acme.example", "duplicate of a phone order")
        assert outbox.run_due(conn, NOW - datetime.timedelta(minutes=90)) == 1   # its cancel cannot reach the ERP
        lifecycle.move(conn, acme.orders[(SITE, "Ansell")], "confirmed", NOW - datetime.timedelta(hours=1), "erp",
                       erp_ref="SO-77120")
    stanley = acme.orders[(SITE, "Stanley")]
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 720})
        acme.sign_in(page, "ann@acme.example")
        page.click("nav a:has-text('Orders')")
        page.wait_for_url(acme.url + "/orders")
        assert page.locator("section.orders tbody tr").count() == 3
        assert "the cancellation has not reached it: 1 attempt, last: cannot reach the ERP" in page.inner_text("main")
        shoot(page, "orders")
        page.click("a:has-text('ACME-%d')" % stanley)
        page.wait_for_url(acme.url + "/orders/%d" % stanley)
        assert "Utility blade" in page.inner_text("main")
        page.fill("form[action$='/cancel'] input[name=note]", "ordered by phone")
        page.click("button:has-text('Cancel the order')")
        page.wait_for_url(acme.url + "/orders/%d" % stanley)
        assert "ordered by phone" in page.inner_text("main") and page.locator("button:has-text('Cancel')").count() == 0
        shoot(page, "order")
        page.goto(acme.url + "/orders?state=cancelled")
        assert page.locator("section.orders tbody tr").count() == 2
        ctx = b.new_context(viewport={"width": 1280, "height": 720})
        gus = ctx.new_page()
        acme.sign_in(gus, "gus@globex.example")
        gus.goto(acme.url + "/orders")
        assert gus.locator("section.orders tbody tr").count() == 2 and "Initech" not in gus.inner_text("main")
