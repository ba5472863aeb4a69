"""Reorders to the ERP (docs/hub/orders.md) on a real PostgreSQL: the site's rule decides when its needs
become orders (per supplier and site, in whole packs, never the same need twice), the order's lifecycle, the
signed webhook from the outbox to a real HTTP server standing for the ERP (down, then failing, then up), and
the order as a cXML OrderRequest file."""
import datetime
import hashlib
import hmac
import subprocess
import sys
import threading
import time

import pytest

from hub.cli import main as locker_hub
from hub.db import connect
from hub.orders import cxml, deliveries, erp, lifecycle, outbox, propose, rules
from hub.routes import book
from tests.erp_receiver import Receiver
from tests.orders_site import (CAB, SITE, TENANT, at, make_site, refill_visit, snapshot, task_closed,
                               task_opened)

MONDAY = at("2026-12-07T05:59:00")       # a Monday, a minute before the default batch (daily at 06:00 UTC)


@pytest.fixture
def conn(hub_dsn):
    with connect(hub_dsn, autocommit=True) as c:
        yield c


def orders_of(conn):
    """{supplier: {sku: (packs, units)}} of the orders, and their states."""
    found = {}
    for o in lifecycle.orders(conn, TENANT):
        found[o["supplier"]] = {ln["sku"]: (ln["packs"], ln["units"]) for ln in lifecycle.lines(conn, o["id"])}
    return found


def test_the_daily_batch_orders_per_supplier_in_whole_packs_at_six_and_never_twice(conn):
    make_site(conn)
    snapshot(conn)
    assert propose.run_due(conn, MONDAY) == 0                 # the rule is added now: due at the next 06:00
    assert lifecycle.orders(conn, TENANT) == []
    assert propose.run_due(conn, MONDAY + datetime.timedelta(minutes=1)) == 2
    # GLV: L1 8 -> 40 (32) and L4 3 -> 30 (27) = 59 units: 5 packs of 12; PIP at min: 4; BLD at min: 18 -> 2 x 10.
    # D1 (a tool on loan) is not a shortage.
    assert orders_of(conn) == {"Ansell": {"GLV": (5, 60), "PIP": (4, 4)}, "Stanley": {"BLD": (2, 20)}}
    ansell = [o for o in lifecycle.orders(conn, TENANT) if o["supplier"] == "Ansell"][0]
    assert (ansell["state"], ansell["site"], ansell["rule"], ansell["total_cents"]) == \
        ("proposed", SITE, "daily", 60 * 120 + 4 * 900)
    assert [(t["state_to"], t["by"]) for t in lifecycle.transitions(conn, ansell["id"])] == \
        [("proposed", "job:hub.orders.propose")]
    # Later that day, and the next day with the same stock: nothing new to order.
    assert propose.run_due(conn, at("2026-12-07T09:00:00")) == 0
    assert propose.run_due(conn, at("2026-12-08T06:00:00")) == 0
    assert len(lifecycle.orders(conn, TENANT)) == 2


def test_a_daily_rule_in_the_sites_time_zone(conn):
    make_site(conn)
    snapshot(conn)
    rules.set_rule(conn, TENANT, SITE, "daily", MONDAY, "cli", "07:30", "Europe/Berlin")   # 06:30 UTC in winter
    assert propose.run_due(conn, at("2026-12-07T06:29:59")) == 0
    assert propose.run_due(conn, at("2026-12-07T06:30:00")) == 2


def test_a_cutoff_rule_orders_at_the_cut_off_of_each_route_visiting_the_site(conn):
    make_site(conn)
    make_site(conn, cabinets=("CAB-9",), site="PLANT9")              # on no route
    book.save_route(conn, TENANT, "NORTH", weekdays=[1, 4], depart=datetime.time(7), cutoff_hours=16,
                    timezone="Europe/Berlin")                        # leaves Mon and Thu 06:00 UTC; cut 14:00 UTC before
    book.set_stops(conn, TENANT, "NORTH", ["CAB-1"])
    snapshot(conn)
    snapshot(conn, "CAB-9")
    sunday = at("2026-12-06T10:00:00")
    for site in (SITE, "PLANT9"):
        rules.set_rule(conn, TENANT, site, "cutoff", sunday, "cli")
    assert propose.run_due(conn, at("2026-12-06T13:59:59")) == 0
    assert propose.run_due(conn, at("2026-12-06T14:00:00")) == 2      # Monday's cut-off: PLANT1 only
    assert {o["site"] for o in lifecycle.orders(conn, TENANT)} == {SITE}
    task_opened(conn, 4, "L2", "BLD", 18, ledger_seq=140)             # not a new need: L2 is on the order
    task_closed(conn, 4, "L2", "BLD", ledger_seq=141)
    snapshot(conn, stock={"L1": 40, "L2": 20, "L3": 5, "L4": 30}, as_of_seq=150)
    lifecycle.move(conn, lifecycle.orders(conn, TENANT)[0]["id"], "delivered", at("2026-12-07T09:00:00"), "cli")
    lifecycle.move(conn, lifecycle.orders(conn, TENANT)[1]["id"], "delivered", at("2026-12-07T09:00:00"), "cli")
    task_opened(conn, 5, "L2", "BLD", 16, ledger_seq=160)
    assert propose.run_due(conn, at("2026-12-07T14:00:00")) == 0      # per task it would be now; cutoff waits
    assert propose.run_due(conn, at("2026-12-09T13:59:00")) == 0
    assert propose.run_due(conn, at("2026-12-09T14:00:00")) == 1      # Thursday's cut-off
    assert propose.run_due(conn, at("2026-12-09T14:01:00")) == 0
    assert len(lifecycle.orders(conn, TENANT, sites=["PLANT9"])) == 0


def test_per_task_orders_as_soon_as_a_refill_task_opens(conn):
    make_site(conn)
    snapshot(conn, stock={"L1": 20, "L2": 10, "L3": 3, "L4": 20})            # nothing at or below min
    rules.set_rule(conn, TENANT, SITE, "per_task", MONDAY, "cli")
    assert propose.run_due(conn, MONDAY) == 0
    task_opened(conn, 7, "L2", "BLD", 16, ledger_seq=105)                   # 4 on hand after a take
    assert propose.run_due(conn, MONDAY + datetime.timedelta(seconds=30)) == 1
    assert orders_of(conn) == {"Stanley": {"BLD": (2, 20)}}
    [order] = lifecycle.orders(conn, TENANT)
    assert [(n["location"], n["task_id"], n["units"]) for n in lifecycle.needs(conn, order["id"])] == [("L2", 7, 16)]
    # The task stays open, a newer snapshot shows the same location low: it is on an open order already.
    snapshot(conn, stock={"L1": 20, "L2": 1, "L3": 3, "L4": 20}, as_of_seq=110)
    assert propose.run_due(conn, MONDAY + datetime.timedelta(minutes=1)) == 0
    task_opened(conn, 8, "L1", "GLV", 24, ledger_seq=111)
    assert propose.run_due(conn, MONDAY + datetime.timedelta(minutes=2)) == 1
    assert len(lifecycle.orders(conn, TENANT)) == 2


def test_two_processes_proposing_at_once_order_each_need_once(conn, hub_dsn):
    make_site(conn, cabinets=("CAB-1", "CAB-2", "CAB-3"))
    for cabinet in ("CAB-1", "CAB-2", "CAB-3"):
        snapshot(conn, cabinet)
    rules.set_rule(conn, TENANT, SITE, "per_task", MONDAY, "cli")
    code = ("import datetime, sys\nfrom hub.db import connect\nfrom hub.orders import propose\n"
            "with connect(sys.argv[1], autocommit=True) as c:\n"
            "    print(propose.run_due(c, datetime.datetime.fromisoformat(sys.argv[2])))\n")
    runs = [subprocess.Popen([sys.executable, "-c", code, hub_dsn, MONDAY.isoformat()], stdout=subprocess.PIPE,
                             text=True) for _ in range(3)]
    made = [int(r.communicate(timeout=60)[0]) for r in runs]
    assert sum(made) == 2                                   # Ansell and Stanley, by whichever process got the site
    needs = conn.execute("SELECT cabinet, location, count(*) AS n FROM order_needs GROUP BY 1, 2").fetchall()
    assert len(needs) == 3 * 4 and {n["n"] for n in needs} == {1}


def test_a_cabinet_whose_catalog_the_hub_does_not_hold_orders_from_its_snapshot(conn):
    make_site(conn, catalog=False)
    snapshot(conn)
    [order_id] = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    order = lifecycle.get(conn, order_id)
    assert order["supplier"] == "Acme Supply"               # the tenant's name
    assert {ln["sku"]: (ln["packs"], ln["package_size"], ln["unit_cost"]) for ln in lifecycle.lines(conn, order_id)} == \
        {"GLV": (59, 1, None), "BLD": (18, 1, None), "PIP": (4, 1, None), "DRL": (1, 1, None)}
    assert "no catalog at the hub for CAB-1" in lifecycle.transitions(conn, order_id)[0]["note"]


def test_refill_visits_that_load_every_line_deliver_the_order(conn):
    make_site(conn)
    snapshot(conn)
    made = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    ansell = [i for i in made if lifecycle.get(conn, i)["supplier"] == "Ansell"][0]
    lifecycle.move(conn, ansell, "confirmed", MONDAY + datetime.timedelta(hours=1), "cli", erp_ref="SO-991")
    refill_visit(conn, 3, ledger_seq=90, loaded={"L1": ("GLV", 32)})       # before the order's snapshot: not it
    refill_visit(conn, 4, ledger_seq=130, loaded={"L1": ("GLV", 32), "L4": ("GLV", 27)})
    later = MONDAY + datetime.timedelta(days=1)
    assert deliveries.run_due(conn, later) == 0                              # L3 (PIP) not loaded yet
    assert lifecycle.get(conn, ansell)["state"] == "confirmed"
    refill_visit(conn, 5, ledger_seq=140, loaded={"L3": ("PIP", 4)})
    assert deliveries.run_due(conn, later) == 1
    assert deliveries.run_due(conn, later) == 0
    order = lifecycle.get(conn, ansell)
    assert (order["state"], order["delivered_at"], order["erp_ref"]) == ("delivered", later, "SO-991")
    assert lifecycle.transitions(conn, ansell)[-1]["by"] == "cabinet:CAB-1"
    assert "CAB-1 #4, CAB-1 #5" in lifecycle.transitions(conn, ansell)[-1]["note"]
    assert {n["location"]: n["loaded"] for n in lifecycle.needs(conn, ansell)} == {"L1": 32, "L3": 4, "L4": 27}
    # The snapshot before the visits is stale: the batch does not order what the visits loaded.
    assert propose.propose_now(conn, TENANT, SITE, later, "cli") == []
    # After the visits, the cabinet reports L1 low again: a new need.
    snapshot(conn, stock={"L1": 9, "L3": 5, "L4": 30, "L2": 2}, as_of_seq=150)
    [again] = propose.propose_now(conn, TENANT, SITE, later, "cli")
    assert {ln["sku"]: ln["packs"] for ln in lifecycle.lines(conn, again)} == {"GLV": 3}


def test_moves_are_one_way_and_cancelling_releases_the_needs_until_the_stock_moves(conn):
    make_site(conn)
    snapshot(conn)
    task_opened(conn, 9, "L2", "BLD", 18, ledger_seq=100)
    made = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    stanley = [i for i in made if lifecycle.get(conn, i)["supplier"] == "Stanley"][0]
    assert lifecycle.move(conn, stanley, "cancelled", MONDAY, "web:ops@acme", "ordered by phone") is True
    assert lifecycle.move(conn, stanley, "cancelled", MONDAY, "web:ops@acme") is False      # already
    with pytest.raises(lifecycle.OrderError, match="cancelled: it cannot become confirmed"):
        lifecycle.move(conn, stanley, "confirmed", MONDAY, "erp")
    assert [m["kind"] for m in outbox.pending(conn, stanley)] == ["new", "cancel"]
    assert propose.propose_now(conn, TENANT, SITE, MONDAY, "cli") == []
    snapshot(conn, as_of_seq=120)                             # stock moved, but task 9 (cancelled) is still open
    assert propose.propose_now(conn, TENANT, SITE, MONDAY, "cli") == []
    task_closed(conn, 9, "L2", "BLD", ledger_seq=121)
    task_opened(conn, 10, "L2", "BLD", 18, ledger_seq=122)
    assert len(propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")) == 1


# -- the ERP: the signed webhook from the outbox ---------------------------------------------------------------
def wait_until(condition, timeout_s=30):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def verify_from_the_document(secret, headers, body):
    """What docs/hub/orders.md "Verifying a webhook" tells an ERP to do, written from it alone."""
    parts = dict(p.split("=", 1) for p in headers["x-locker-signature"].split(","))
    expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]), int(parts["t"])


def test_the_webhook_reaches_the_erp_once_signed_after_it_was_down_with_backoff(conn):
    erp_server = Receiver()                                 # not listening yet: connection refused
    make_site(conn)
    snapshot(conn, stock={"L1": 20, "L3": 3, "L4": 20})     # only BLD: one order
    secret = erp.set_endpoint(conn, TENANT, erp_server.url, MONDAY)
    [order_id] = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    t = MONDAY
    assert outbox.run_due(conn, t) == 1
    [message] = outbox.pending(conn, order_id)
    assert "cannot reach the ERP" in message["last_error"] and message["attempts"] == 1
    assert message["next_attempt_at"] == t + datetime.timedelta(seconds=30)
    tries = [t]
    try:
        erp_server.up()
        erp_server.status = 500
        for _ in range(3):                                  # due exactly at the backoff, not a second before
            wait = outbox.pending(conn, order_id)[0]["next_attempt_at"] - t
            assert outbox.run_due(conn, t + wait - datetime.timedelta(seconds=1)) == 0
            t = t + wait
            assert outbox.run_due(conn, t) == 1
            tries.append(t)
        assert [int((b - a).total_seconds()) for a, b in zip(tries, tries[1:])] == [30, 60, 120]
        assert lifecycle.get(conn, order_id)["state"] == "proposed"
        assert outbox.pending(conn, order_id)[0]["last_error"] == "HTTP 500 Internal Server Error"
        erp_server.status = 200
        t = outbox.pending(conn, order_id)[0]["next_attempt_at"]
        assert outbox.run_due(conn, t) == 1
        assert outbox.run_due(conn, t + datetime.timedelta(hours=5)) == 0
    finally:
        erp_server.down()
    assert [s for _, _, s in erp_server.requests] == [500, 500, 500, 200]
    [(headers, body)] = erp_server.accepted()
    ok, signed_at = verify_from_the_document(secret, headers, body)
    assert ok and signed_at == int(t.timestamp())
    assert {h["idempotency-key"] for h, _, _ in erp_server.requests} == {"ACME-order-%d-new" % order_id}
    assert headers["content-type"] == "text/xml; charset=utf-8"
    doc = cxml.validate(body)
    assert (doc["order_id"], doc["type"], doc["to"]) == ("ACME-%d" % order_id, "new", "Stanley")
    assert [(i["sku"], i["quantity"], i["uom"], i["units"], i["unit_price"]) for i in doc["items"]] == \
        [("BLD", 2, "PK", 20, "30.50")]
    order = lifecycle.get(conn, order_id)
    assert (order["state"], order["sent_at"]) == ("sent", t)
    assert lifecycle.transitions(conn, order_id)[-1]["by"] == "erp-webhook"


def test_a_second_hub_process_posting_at_the_same_time_does_not_send_twice(conn, hub_dsn):
    erp_server = Receiver().up()
    make_site(conn)
    snapshot(conn, stock={"L1": 20, "L3": 3, "L4": 20})
    erp.set_endpoint(conn, TENANT, erp_server.url, MONDAY, fmt="json")
    propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    erp_server.hold = threading.Event()
    first = []
    try:
        worker = threading.Thread(target=lambda: first.append(outbox.run_due(connect(hub_dsn, autocommit=True), MONDAY)))
        worker.start()
        assert erp_server.arrived.wait(30)                  # the first process is posting it now
        code = ("import datetime, sys\nfrom hub.db import connect\nfrom hub.orders import outbox\n"
                "with connect(sys.argv[1], autocommit=True) as c:\n"
                "    print(outbox.run_due(c, datetime.datetime.fromisoformat(sys.argv[2])))\n")
        second = subprocess.run([sys.executable, "-c", code, hub_dsn, MONDAY.isoformat()], capture_output=True,
                                text=True, timeout=60)
        assert second.stdout.strip() == "0", second.stderr
        erp_server.hold.set()
        worker.join(30)
    finally:
        erp_server.hold.set()
        erp_server.down()
    assert first == [1]
    assert len(erp_server.requests) == 1
    assert erp_server.requests[0][0]["content-type"] == "application/json"


def test_a_hub_killed_while_the_erp_took_the_order_posts_it_again_with_the_same_key(conn, hub_dsn):
    erp_server = Receiver().up()
    make_site(conn)
    snapshot(conn, stock={"L1": 20, "L3": 3, "L4": 20})
    secret = erp.set_endpoint(conn, TENANT, erp_server.url, MONDAY)
    [order_id] = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    erp_server.hold = threading.Event()
    code = ("import datetime, sys\nfrom hub.db import connect\nfrom hub.orders import outbox\n"
            "with connect(sys.argv[1], autocommit=True) as c:\n"
            "    outbox.run_due(c, datetime.datetime.fromisoformat(sys.argv[2]))\n")
    doomed = subprocess.Popen([sys.executable, "-c", code, hub_dsn, MONDAY.isoformat()])
    try:
        assert erp_server.arrived.wait(30)                  # the ERP has the order; the hub has not recorded it
        doomed.kill()
        doomed.wait(30)
        erp_server.hold.set()
        later = MONDAY + datetime.timedelta(minutes=1)
        wait_until(lambda: conn.execute(                    # PostgreSQL has let the dead process's lock go
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'order_outbox' AND l.pid <> pg_backend_pid()").fetchone()["n"] == 0)
        assert outbox.run_due(conn, later) == 1
        assert lifecycle.get(conn, order_id)["state"] == "sent"
    finally:
        erp_server.hold.set()
        erp_server.down()
    [(h1, b1, _), (h2, b2, _)] = erp_server.requests
    assert h1["idempotency-key"] == h2["idempotency-key"] == "ACME-order-%d-new" % order_id and b1 == b2
    assert verify_from_the_document(secret, h2, b2)[0]
    assert len({h["idempotency-key"] for h, _ in erp_server.accepted()}) == 1  # one order, as the ERP sees it


# -- the cXML file ----------------------------------------------------------------------------------------------
def test_export_writes_a_cxml_order_request_with_what_the_spec_requires(conn, hub_dsn, tmp_path, capsys):
    make_site(conn)
    snapshot(conn)
    made = propose.propose_now(conn, TENANT, SITE, MONDAY, "cli")
    ansell = [i for i in made if lifecycle.get(conn, i)["supplier"] == "Ansell"][0]
    path = tmp_path / "order.xml"
    assert locker_hub(["--db", hub_dsn, "order", "export", "--id", str(ansell), "--cxml", str(path)]) == 0
    data = path.read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE cXML SYSTEM')
    doc = cxml.validate(data)
    assert (doc["from"], doc["to"], doc["currency"], doc["total"]) == ("ACME", "Ansell", "USD", "108.00")
    assert [(i["line"], i["sku"], i["quantity"], i["uom"], i["unit_price"], i["description"], i["classification"])
            for i in doc["items"]] == [(1, "GLV", 5, "PK", "14.40", "Nitrile gloves", "ppe"),
                                       (2, "PIP", 4, "EA", "9.00", "Copper pipe", "uncategorized")]
    # Each element the spec requires is checked: without one, the document is refused, naming it.
    for element in (b"<UnitOfMeasure>PK</UnitOfMeasure>", b"<UserAgent>locker-hub</UserAgent>",
                    b'<Classification domain="category">ppe</Classification>'):
        with pytest.raises(cxml.CxmlError, match=element.split(b">")[0][1:].split(b" ")[0].decode()):
            cxml.validate(data.replace(element, b""))
    pack_size, uom = b'<Extrinsic name="PackSize">12</Extrinsic>', b"<UnitOfMeasure>PK</UnitOfMeasure>"
    moved = data.replace(uom, b"").replace(pack_size, pack_size + uom)      # after the Extrinsics: out of order
    with pytest.raises(cxml.CxmlError, match="ItemDetail's children in the order"):
        cxml.validate(moved)
    assert locker_hub(["--db", hub_dsn, "order", "export", "--id", "999", "--cxml", str(path)]) == 2
    assert "no order 999" in capsys.readouterr().err


def test_the_cli_sets_rules_and_moves_orders(conn, hub_dsn, capsys):
    make_site(conn)
    snapshot(conn)
    hub = ["--db", hub_dsn, "order"]
    assert locker_hub(hub + ["rule", "--tenant", TENANT, "--site", SITE]) == 0
    assert "daily at 06:00 UTC (the default)" in capsys.readouterr().out
    assert locker_hub(hub + ["rule", "--tenant", TENANT, "--site", SITE, "daily", "--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
    assert locker_hub(hub + ["rule", "--tenant", TENANT, "--site", SITE, "per_task"]) == 0
    assert "per task" in capsys.readouterr().out
    assert locker_hub(hub + ["propose", "--tenant", TENANT, "--site", SITE]) == 0
    assert "supplier Ansell, 2 line(s)" in capsys.readouterr().out
    [order] = [o for o in lifecycle.orders(conn, TENANT) if o["supplier"] == "Ansell"]
    assert locker_hub(hub + ["confirm", "--id", str(order["id"]), "--erp-ref", "SO-5", "--by", "ops"]) == 0
    assert locker_hub(hub + ["show", "--id", str(order["id"])]) == 0
    shown = capsys.readouterr().out
    assert "confirmed, site ACME/PLANT1, supplier Ansell" in shown and "ERP ref SO-5" in shown
    assert "proposed -> confirmed by ops" in shown
    assert "next try" in shown                                # no ERP endpoint: the message waits
    assert locker_hub(hub + ["cancel", "--id", str(order["id"])]) == 0
    assert locker_hub(hub + ["deliver", "--id", str(order["id"])]) == 2
    assert "cancelled: it cannot become delivered" in capsys.readouterr().err
    assert locker_hub(hub + ["erp", "--tenant", TENANT, "--url", "ftp://x"]) == 2
    assert locker_hub(hub + ["erp", "--tenant", TENANT, "--url", "https://erp.example/in"]) == 0
    assert len(capsys.readouterr().out.split("secret (give it to the ERP; it is not shown again): ")[1].split()[0]) == 64


def test_the_jobs_runner_proposes_posts_and_delivers_each_committed_on_its_own(conn, hub_dsn):
    from hub import jobs
    erp_server = Receiver().up()
    make_site(conn)
    snapshot(conn, stock={"L1": 20, "L3": 3, "L4": 20})
    erp.set_endpoint(conn, TENANT, erp_server.url, MONDAY, fmt="json")
    rules.set_rule(conn, TENANT, SITE, "per_task", MONDAY, "cli")
    try:
        with connect(hub_dsn) as runner:                     # as `locker-hub jobs` has it: not autocommit
            done = jobs.run_all(runner, MONDAY)
            assert (done["hub.orders.propose"], done["hub.orders.outbox"], done["hub.orders.deliveries"]) == (1, 1, 0)
            [order] = lifecycle.orders(conn, TENANT)          # seen from another connection: committed
            assert order["state"] == "sent"
            refill_visit(conn, 1, ledger_seq=120, loaded={"L2": ("BLD", 20)})
            assert jobs.run_all(runner, MONDAY + datetime.timedelta(hours=20))["hub.orders.deliveries"] == 1
            assert lifecycle.get(conn, order["id"])["state"] == "delivered"
    finally:
        erp_server.down()
    assert len(erp_server.requests) == 1


# -- end to end: a real agent and cabinet, Mosquitto, the hub's ingest ------------------------------------------
def test_a_real_cabinets_refill_task_becomes_an_order_at_the_erp_and_its_refill_visit_delivers_it(tmp_path, hub_dsn):
    from edge_agent.rules.csv_io import import_users
    from tests.agent_process import ledger_of
    from tests.test_cloud_sync import BADGE, CABINET, WAIT_S, Site
    (tmp_path / "pi").mkdir()
    site = Site(tmp_path / "pi", hub_dsn)                    # lanes of GLV at 40, min 38, max 40
    users = tmp_path / "users.csv"
    users.write_text("id,name,role,badges\nT1,Ana,technician,%s\nS1,Sam,supervisor,CAFEF00D\n" % BADGE)
    with ledger_of(site.folder) as ledger:
        import_users(ledger, users)
    erp_server = Receiver().up()
    site.broker.start()
    try:
        cloud = site.start_cloud()
        agent = site.start_agent()
        with connect(hub_dsn, autocommit=True) as conn:
            secret = erp.set_endpoint(conn, "acme", erp_server.url, MONDAY)
            rules.set_rule(conn, "acme", "plant1", "per_task", MONDAY, "cli")
        for _ in range(3):                                   # Ana takes 3 from L1: 37 on hand, below min
            status, answer = agent.request("POST", "/api/issue", {"location": "L1"})
            assert status == 200 and answer["outcomes"] == ["vended"], answer
        assert cloud.wait_for(lambda: [e for e in cloud.events(CABINET) if e["type"] == "refill_task_opened"], WAIT_S)
        with connect(hub_dsn) as runner:
            done = jobs_run(runner, MONDAY)
            assert (done["hub.orders.propose"], done["hub.orders.outbox"]) == (1, 1)
            [(headers, body)] = erp_server.accepted()
            assert verify_from_the_document(secret, headers, body)[0]
            [item] = cxml.validate(body)["items"]
            assert (item["sku"], item["quantity"], item["units"]) == ("GLV", 3, 3)   # no catalog at the hub: packs of 1
            agent.request("POST", "/api/logout")
            agent.login("CAFEF00D")                          # Sam, a supervisor, refills L1
            agent.request("GET", "/api/refill")
            status, answer = agent.request("POST", "/api/refill", {"location": "L1", "added": 3, "counted": 40})
            assert status == 200, answer
            agent.request("POST", "/api/logout")             # his visit ends: the refill_visit event
            assert cloud.wait_for(lambda: [e for e in cloud.events(CABINET) if e["type"] == "refill_visit"], WAIT_S)
            assert jobs_run(runner, MONDAY + datetime.timedelta(hours=4))["hub.orders.deliveries"] == 1
        with connect(hub_dsn, autocommit=True) as conn:
            [order] = lifecycle.orders(conn, "acme")
            assert (order["state"], order["supplier"]) == ("delivered", "acme")
            assert [(t["state_to"], t["by"]) for t in lifecycle.transitions(conn, order["id"])] == [
                ("proposed", "job:hub.orders.propose"), ("sent", "erp-webhook"), ("delivered", "cabinet:%s" % CABINET)]
            assert [n["loaded"] for n in lifecycle.needs(conn, order["id"])] == [3]
    finally:
        erp_server.down()
        site.close()


def jobs_run(conn, now):
    from hub import jobs
    return jobs.run_all(conn, now)
