"""Min/max review in the hub's web app (hub/web/pages/minmax.py): the supplier proposes from the
recommendations and submits, the customer's admin changes a line and approves, the page shows current vs
recommended vs proposed, every change, and each cabinet's catalog version until it is applied. Over HTTP
with the form's CSRF token, and in Chromium with the screenshot docs/screens/hub/minmax-review.png.

The cabinet is CAB-7 of tests/test_hub_minmax.py (its October on the hub, its catalog run from the hub); its
report of the new version is stored as the ingest stores a desired_applied event (hub/desired.record_reports:
the push itself, through Mosquitto to a real agent, is tests/test_hub_minmax.py's end-to-end test)."""
import json

import pytest

from hub import db, desired
from tests.chromium import browser
from tests.hub_web import shoot
from tests.test_hub_minmax import NOW, versions
from tests.test_hub_report import store_ledger
from tests.test_reports import october


@pytest.fixture
def web(hub_web, tmp_path):
    with october(tmp_path) as ledger, db.connect(hub_web.dsn, autocommit=True) as conn:
        ledger.db.execute("UPDATE locations SET capacity = 4 WHERE id = 'L2'")
        store_ledger(conn, ledger, "CAB-7", customer="Bolt Works", site="bolt-north")
        desired.import_folder(conn, tmp_path, ["CAB-7"])
        conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES ('acme', 'crane-1', 'Crane 1', 'Crane Co')")
    hub_web.set_clock(NOW.timestamp())
    hub_web.add_user("acme", "ann@acme.example", "supplier_admin", name="Ann Admin")
    hub_web.add_user("acme", "bea@bolt.example", "customer_admin", customer="Bolt Works", name="Bea Buyer")
    hub_web.add_user("acme", "val@bolt.example", "customer_viewer", customer="Bolt Works", name="Val Viewer")
    hub_web.add_user("acme", "cid@crane.example", "customer_admin", customer="Crane Co", name="Cid Crane")
    return hub_web


def applied(dsn, cabinet, version, wall):
    """The version published (signed and recorded: the message itself goes nowhere here), and the cabinet's
    desired_applied event stored as the ingest stores it."""
    with db.connect(dsn, autocommit=True) as conn:
        assert desired.publish(conn, lambda topic, env: None, cabinet) == [("users", 1), ("catalog", version)]
    event = {"seq": 900, "type": "desired_applied", "wall": wall, "clock_synced": True, "ledger_seq": 99,
             "what": "catalog", "version": version}
    with db.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO events (cabinet, seq, type, body) VALUES (%s, %s, %s, %s)",
                     [cabinet, event["seq"], event["type"], json.dumps(event)])
        desired.record_reports(conn, cabinet, [event])


def test_the_supplier_proposes_and_only_the_customers_admin_approves_once(web):
    ann = web.session("ann@acme.example")
    status, text = ann.post("/minmax", {"what": "cabinet:CAB-7", "days": "ninety"})
    assert status == 400 and "history: give a whole number of days, e.g. 90" in text
    status, text = ann.post("/minmax", {"what": "cabinet:CAB-Z9"})                 # not one of theirs
    assert status == 400 and "choose one of your cabinets or sites" in text
    status, _ = ann.post("/minmax", {"what": "cabinet:CAB-7", "days": "90"})
    assert status == 303 and ann.last.getheader("location") == "/minmax/1"
    status, text = ann.get("/minmax/1")
    assert status == 200 and "waiting" not in text and "draft" in text
    assert "<td>L2</td><td>DRL</td><td class=\"num\">4</td><td>1 / 4</td><td>1 / 2</td>" in text
    assert ann.post("/minmax/1", {"do": "save", "min:CAB-7:S2": "5", "max:CAB-7:S2": "40"})[0] == 303
    status, text = ann.post("/minmax/1", {"min:CAB-7:L2": "1", "max:CAB-7:L2": "9"})
    assert status == 400 and "CAB-7 L2: max 9 is more than the location physically holds (capacity 4)" in text
    assert ann.post("/minmax/1", {"min:CAB-7:L1": "2", "max:CAB-7:L1": "6"})[0] == 303     # saved and submitted
    status, text = ann.get(ann.last.getheader("location"))
    assert "Submitted to the customer&#x27;s admin." in text and "waiting for the customer" in text
    # Crane Co's admin does not see it; Bolt Works' viewer sees it and cannot approve; the supplier cannot either.
    cid = web.session("cid@crane.example")
    assert cid.get("/minmax/1")[0] == 404 and "#1" not in cid.get("/minmax")[1]
    assert cid.post("/minmax/1", {})[0] == 404                  # as if there were none
    val = web.session("val@bolt.example")
    assert val.get("/minmax/1")[0] == 200 and val.post("/minmax/1", {})[0] == 400
    status, text = ann.post("/minmax/1", {})
    assert status == 400 and "only an admin of Bolt Works does" in text
    with db.connect(web.dsn) as conn:
        assert versions(conn, "CAB-7") == [1]
    bea = web.session("bea@bolt.example")
    assert bea.post("/minmax", {"what": "cabinet:CAB-7"})[0] == 403          # a customer does not propose
    assert bea.post("/minmax/1", {"min:CAB-7:L1": "3", "max:CAB-7:L1": "7"})[0] == 303
    assert bea.post("/minmax/1", {"min:CAB-7:L1": "3", "max:CAB-7:L1": "8"})[0] == 303     # the second click
    with db.connect(web.dsn) as conn:
        assert versions(conn, "CAB-7") == [1, 2]
        l1 = [loc for loc in desired.latest(conn, "CAB-7", "catalog")[1]["locations"] if loc["id"] == "L1"]
        assert [(loc["min"], loc["max"]) for loc in l1] == [(3, 7)]
    status, text = bea.get("/minmax/1")
    assert "not published yet" in text and "bea@bolt.example</td><td>changed</td><td>CAB-7 L1</td><td>2 / 6</td>" \
                                           "<td>3 / 7</td>" in text
    applied(web.dsn, "CAB-7", 2, "2026-11-05T07:12:09Z")
    assert "applied at 2026-11-05T07:12:09Z" in bea.get("/minmax/1")[1]


def test_a_rejection_says_why(web):
    ann = web.session("ann@acme.example")
    ann.post("/minmax", {"what": "site:bolt-north"})
    ann.post("/minmax/1", {})
    bea = web.session("bea@bolt.example")
    assert bea.post("/minmax/1/reject", {"note": ""})[0] == 400
    assert bea.post("/minmax/1/reject", {"note": "the line is being moved in January"})[0] == 303
    text = ann.get("/minmax")[1]
    assert "rejected" in text
    text = ann.get("/minmax/1")[1]
    assert "bea@bolt.example: the line is being moved in January" in text
    with db.connect(web.dsn) as conn:
        assert versions(conn, "CAB-7") == [1]


def test_min_max_review_in_chromium(web):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 900})
        web.sign_in(page, "ann@acme.example")
        page.click("text=Min/max")
        page.select_option("select[name=what]", "cabinet:CAB-7")
        page.click("button:has-text('Propose')")
        page.wait_for_url(web.url + "/minmax/1")
        page.fill("input[name='min:CAB-7:S2']", "5")
        page.fill("input[name='max:CAB-7:S2']", "40")
        page.click("button:has-text('Submit to the customer')")
        page.wait_for_selector("text=Submitted to the customer's admin.")
        page.click("text=Sign out")
        web.sign_in(page, "bea@bolt.example")
        page.goto(web.url + "/minmax")
        page.click("text=#1")
        page.fill("input[name='max:CAB-7:L1']", "6")
        page.click("button:has-text('Approve')")
        page.wait_for_selector("text=Approved: the new catalog versions are made")
        assert page.locator("td:has-text('not published yet')").count() == 1
        applied(web.dsn, "CAB-7", 2, "2026-11-05T07:12:09Z")
        page.reload()
        page.locator("details").first.click()
        assert page.locator("text=applied at 2026-11-05T07:12:09Z").count() == 1
        shoot(page, "minmax-review")
