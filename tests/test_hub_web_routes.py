"""Routes and van loads in the web app, as a route driver, a supplier admin and a customer meet them
(docs/hub/routes.md): each sees only what is theirs, the pick sheet downloads as CSV, the load button freezes
the load once, the reconciliation shows what comes back; and in Chromium, with screenshots."""
import csv
import datetime
import io

import pytest

from hub import desired, registry
from hub.db import connect
from hub.routes import book, sheets
from tests.chromium import browser
from tests.hub_web import shoot
from tests.test_hub_routes import (CAB1, CAB2, CATALOG_FILES, NOW, PLACES, RIVAL, TENANT, THEIRS, Cabinets,
                                   stock_the_cabinets, visit)

DANA, SAM, ANN, BEA, OZ = "dana@acme.example", "sam@acme.example", "ann@acme.example", "bea@bolt.example", \
    "oz@rival.example"


@pytest.fixture
def web(hub_web, tmp_path):
    """The cabinets of tests/test_hub_routes.py, stocked; route north (Dana) over CAB-1, CAB-2 and route south
    (Sam) over CAB-2; people of every role; the hub's clock at Sunday 6 Dec 2026 10:00 UTC."""
    with connect(hub_web.dsn) as conn:
        for cabinet, (tenant, site) in PLACES.items():
            registry.add_cabinet(conn, tenant, site, cabinet, bytes(range(32)), site_name=site.title())
        conn.execute("UPDATE sites SET customer = 'Bolt Works' WHERE tenant = %s", [TENANT])
        for name, text in CATALOG_FILES.items():
            (tmp_path / name).write_text(text)
        desired.import_folder(conn, tmp_path, [CAB1])
        book.save_route(conn, TENANT, "north", "North loop", DANA, [1, 3, 5], datetime.time(7), 16, "Europe/Berlin")
        book.set_stops(conn, TENANT, "north", [CAB1, CAB2])
        book.save_route(conn, TENANT, "south", "South loop", SAM, [2, 4], datetime.time(6, 30), 16, "Europe/Berlin")
        book.set_stops(conn, TENANT, "south", [CAB2])
    hub_web.add_user(TENANT, DANA, "route_driver", name="Dana Driver")
    hub_web.add_user(TENANT, SAM, "route_driver", name="Sam Driver")
    hub_web.add_user(TENANT, ANN, "supplier_admin", name="Ann Admin")
    hub_web.add_user(TENANT, BEA, "customer_admin", customer="Bolt Works", name="Bea Buyer")
    hub_web.add_user(RIVAL, OZ, "supplier_admin", name="Oz Rival")
    hub_web.set_clock(NOW.timestamp())
    feed = Cabinets(hub_web.pool)
    stock_the_cabinets(feed)
    hub_web.feed = feed
    return hub_web


def loads(web):
    with connect(web.dsn) as conn:
        return conn.execute("SELECT id, route, loaded_by FROM route_loads ORDER BY id").fetchall()


def test_a_driver_sees_only_their_own_routes(web):
    dana = web.session(DANA)
    status, text = dana.get("/routes")
    assert status == 200 and "North loop" in text and "South loop" not in text
    assert "Mon 07 Dec 2026 07:00 CET" in text and "CAB-1 (Plant1), CAB-2 (Plant2)" in text
    for path in ("/routes/south/van-load", "/routes/south/van-load.csv", "/routes/south/reconcile"):
        assert dana.get(path)[0] == 404, path
    assert dana.post("/routes/south/load")[0] == 404
    assert loads(web) == []
    status, text = web.session(ANN).get("/routes")
    assert "North loop" in text and "South loop" in text
    # Another supplier's admin: no such routes at all.
    oz = web.session(OZ)
    assert "North loop" not in oz.get("/routes")[1]
    assert oz.get("/routes/north/van-load")[0] == 404


def test_a_customer_gets_403_on_routes_and_van_loads(web):
    bea = web.session(BEA)
    for path in ("/routes", "/routes/north/van-load", "/routes/north/van-load.csv", "/routes/north/reconcile",
                 "/routes/north/reconcile.csv"):
        assert bea.get(path)[0] == 403, path
    assert bea.post("/routes/north/load")[0] == 403
    assert loads(web) == []
    assert 'href="/routes"' not in bea.get("/")[1]


def test_the_van_load_page_and_its_csv(web):
    dana = web.session(DANA)
    status, text = dana.get("/routes/north/van-load")
    assert status == 200
    assert "Stop 1: cabinet CAB-1 at Plant1 (plant1)" in text and "Stop 2: cabinet CAB-2 at Plant2 (plant2)" in text
    assert "the hub has no catalog for this cabinet" in text and "Load the van" in text and THEIRS not in text
    status, text = dana.get("/routes/north/van-load.csv")
    assert status == 200 and dana.last.getheader("content-type").startswith("text/csv")
    assert 'filename="van-load-north-20261207-0600.csv"' in dana.last.getheader("content-disposition")
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == sheets.PICK_COLUMNS
    assert [(r[2], r[4], r[5], r[7], r[9], r[10], r[11]) for r in rows[1:]] == [
        ("CAB-1", "L1", "P-100", "task", "33", "12", "3"), ("CAB-1", "L2", "P-200", "task", "16", "4", "4"),
        ("CAB-1", "L3", "P-300", "top_off", "6", "1", "6"), ("CAB-2", "L1", "P-100", "top_off", "12", "1", "12")]


def test_the_load_button_freezes_the_load_once(web):
    dana = web.session(DANA)
    assert dana.post("/routes/north/load", csrf=False)[0] == 403          # not from the hub's own form
    assert loads(web) == []
    status, _ = dana.post("/routes/north/load")
    assert status == 303 and dana.last.getheader("location") == "/routes/north/van-load"
    assert dana.post("/routes/north/load")[0] == 303                       # a second click
    assert [(r["route"], r["loaded_by"]) for r in loads(web)] == [("north", DANA)]
    web.feed.events(CAB1, {"type": "refill_task_opened", "task_id": 9, "location": "L4", "sku": "P-100",
                           "quantity": 25, "ledger_seq": 40})
    text = dana.get("/routes/north/van-load")[1]
    assert "Loaded: load %d" % loads(web)[0]["id"] in text and "Load the van" not in text
    assert "L4" not in text                               # the frozen load is what went on the van
    load_id = loads(web)[0]["id"]
    # After the departure the page shows the next one's; the load that left stays readable by its id.
    web.set_clock(datetime.datetime(2026, 12, 7, 6, 30, tzinfo=datetime.timezone.utc).timestamp())
    dana = web.session(DANA)
    assert "Wed 09 Dec 2026 07:00 CET" in dana.get("/routes/north/van-load")[1]
    status, text = dana.get("/routes/north/van-load?load=%d" % load_id)
    assert status == 200 and "Mon 07 Dec 2026 07:00 CET" in text and "Loaded: load %d" % load_id in text
    assert dana.get("/routes/north/van-load.csv?load=%d" % load_id)[1].count("\r\n") == 5     # header + 4 lines
    assert dana.get("/routes/north/van-load?load=999")[0] == 404
    assert dana.get("/routes/north/van-load?load=x")[0] == 400
    # Another driver cannot reach it by its id.
    assert web.session(SAM).get("/routes/north/van-load?load=%d" % load_id)[0] == 404


def test_in_chromium_the_driver_loads_the_van_and_reconciles_the_visit(web):
    with browser() as b:
        page = b.new_page(viewport={"width": 1100, "height": 800})
        web.sign_in(page, DANA)
        page.goto(web.url + "/routes")
        assert page.locator("text=South loop").count() == 0
        shoot(page, "routes")
        page.click("text=North loop")
        page.wait_for_url(web.url + "/routes/north/van-load")
        assert page.locator("caption", has_text="Van load by SKU").count() == 1
        shoot(page, "van-load")
        with page.expect_navigation():
            page.click("button:has-text('Load the van')")
        assert "Loaded: load" in page.content()
        page.emulate_media(media="print")               # what the printed pick sheet looks like
        assert page.locator("header").is_hidden() and page.locator("form").first.is_hidden()
        shoot(page, "pick-sheet")
        page.emulate_media(media="screen")
        web.feed.events(CAB1, visit(8, "2026-12-07T08:10:00.000+00:00", ("L1", "P-100", 30), ("L2", "P-200", 16)),
                        {"type": "refill_task_closed", "task_id": 1, "location": "L1", "sku": "P-100",
                         "wall": "2026-12-07T08:09:00.000+00:00"})
        web.feed.events(CAB2, visit(1, "2026-12-07T09:40:00.000+00:00", ("L1", "P-100", 10)))
        web.set_clock(datetime.datetime(2026, 12, 7, 12, tzinfo=datetime.timezone.utc).timestamp())
        web.sign_in(page, DANA)                         # the next day: a new session
        page.goto(web.url + "/routes")
        page.click("text=load 1")
        page.wait_for_url(web.url + "/routes/north/reconcile?load=1")
        rows = page.locator("table").first.locator("tbody tr")
        assert [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())] == [
            ["P-100", "Nitrile gloves", "15", "48", "40", "8", "0"],
            ["P-200", "Cut-off disc", "4", "16", "16", "0", "0"],
            ["P-300", "Safety glasses", "6", "6", "0", "6", "0"]]
        assert "1 of 2 on the load" in page.content()
        shoot(page, "reconcile")
