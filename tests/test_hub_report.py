"""One report per customer (hub/customer_report, `locker-hub report`): the monthly report across a customer's
cabinets and sites, built by the agent's own report code from the hub's copy of the cabinets.

The cabinets are real agent ledgers written through the Ledger API with a ManualClock (the October story of
tests/test_reports.py, worked out by hand there), and copied to the hub as the hub stores what a cabinet
sends: the rows and events of the agent's own outbox batches (edge_agent/cloud/outbox.read_batch) inserted
with the ingest's statements, the inventory snapshot the agent publishes, the desired catalog and users made
by hub/desired.import_folder from the same CSV files the ledger was imported from.
"""
import dataclasses
import json

import psycopg
import pytest

from edge_agent.cloud import outbox
from edge_agent.reports import build_report
from hub import desired, history, registry
from tests.test_reports import AFTER, OCTOBER, october

KEY = bytes(range(32))


def connect(dsn):
    return psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row)


def store_ledger(conn, ledger, cabinet, tenant="acme", site="plant1", customer="Customer A", catalog_folder=None):
    """Put the ledger's cabinet on the hub as the ingest stores it: tx_rows, events, the inventory snapshot,
    and (when catalog_folder holds its CSV files) its desired users and catalog."""
    conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant])
    conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 [tenant, site, site, customer])
    registry.add_cabinet(conn, tenant, site, cabinet, KEY)
    for stream in ("tx", "events"):
        after = 0
        while (batch := outbox.read_batch(ledger, stream, after)) is not None:
            if stream == "tx":      # the statement of hub/ingest.py _store_tx
                conn.execute("INSERT INTO tx_rows (cabinet, seq, hash, prev_hash, body) SELECT %(cab)s, "
                             "(r->>'seq')::bigint, decode(r->>'hash', 'hex'), decode(r->>'prev_hash', 'hex'), "
                             "r - 'seq' - 'hash' - 'prev_hash' FROM jsonb_array_elements(%(rows)s::jsonb) r "
                             "ON CONFLICT DO NOTHING", {"cab": cabinet, "rows": json.dumps(batch.items)})
            else:                   # _store_events
                conn.execute("INSERT INTO events (cabinet, seq, type, body) SELECT %(cab)s, (e->>'seq')::bigint, "
                             "e->>'type', e FROM jsonb_array_elements(%(events)s::jsonb) e ON CONFLICT DO NOTHING",
                             {"cab": cabinet, "events": json.dumps(batch.items)})
            after = batch.last_seq
    names = ("id", "kind", "sku", "on_hand", "min", "max", "quarantine", "capacity")    # cloud/sync.py _inventory
    locations = [dict(zip(names, r)) for r in
                 ledger.db.execute("SELECT %s FROM locations ORDER BY id" % ", ".join(names)).fetchall()]
    as_of = outbox.head(ledger, "tx")
    conn.execute("INSERT INTO inventory (cabinet, session, as_of_seq, body) VALUES (%s, 1, %s, %s)",
                 [cabinet, as_of, json.dumps({"cabinet": cabinet, "as_of_seq": as_of, "locations": locations})])
    if catalog_folder is not None:
        desired.import_folder(conn, catalog_folder, [cabinet])


def plain(report):
    return dataclasses.asdict(report)


@pytest.fixture
def october_ledger(tmp_path):
    with october(tmp_path) as ledger:
        yield ledger, tmp_path


def test_the_hub_report_of_one_cabinet_is_the_cabinets_own_report(hub_dsn, october_ledger):
    """One implementation: the hub's report of CAB-7 for October has every figure of CAB-7's own report."""
    ledger, folder = october_ledger
    own = build_report(ledger, *OCTOBER, now=AFTER)
    with connect(hub_dsn) as conn:
        store_ledger(conn, ledger, "CAB-7", catalog_folder=folder)
        hub = build_report(history.source(conn, ["CAB-7"]), *OCTOBER, now=AFTER)
    assert own.totals.billable_cents == 3 * 45 + 5 * 420 + 3 * 1250 + 3 * 45     # as tests/test_reports.py
    assert plain(hub) == plain(own)


def test_read_movements_replays_the_hubs_rows_as_the_agent_does(hub_dsn, october_ledger):
    ledger, folder = october_ledger
    from edge_agent.reports.history import read_movements
    with connect(hub_dsn) as conn:
        store_ledger(conn, ledger, "CAB-7")
        moves = history.read_movements(conn, ["CAB-7", "CAB-NONE"])
    assert moves["CAB-NONE"] == []
    own = read_movements(ledger)
    assert [dataclasses.replace(m, cabinet=None) for m in moves["CAB-7"]] == own
    assert {m.cabinet for m in moves["CAB-7"]} == {"CAB-7"}


# -- a customer with two sites, another customer ---------------------------------------------------------------
from edge_agent.flows import refill_visits                        # noqa: E402
from edge_agent.flows.refill import confirm_refill                # noqa: E402
from edge_agent.ledger import ManualClock                         # noqa: E402
from edge_agent.rules.access import Person                        # noqa: E402
from edge_agent.rules.refusal import Refusal                      # noqa: E402
from hub import customer_report                                   # noqa: E402
from tests.ledgers import ledger_from_csv                         # noqa: E402
from tests.test_reports import at, vend                           # noqa: E402

DRIVER = Person("R1", "Ray Driver", "route_driver", None, None, "Acme")
PLANT2_SKUS = "part_number,description,category,unit_cost,supplier,ownership\nGLV,Nitrile gloves (pair),ppe,0.45,Acme,consignment\n"
PLANT2_LOCATIONS = "id,kind,unit,sku,min,max,refill_pack\nL1,lane,1,GLV,3,10,1\n"
PLANT2_USERS = "id,name,role,department,cost_center,supplier\nT1,Ana Tech,technician,Maintenance,CC-410,\n" \
               "R1,Ray Driver,route_driver,,,Acme\nS1,Sue Super,supervisor,,,\n"


def plant2(folder):
    """CAB-8's October, worked by hand:
      30 Sep 12:00 R1 loads 5 gloves into L1 (min 3, max 10)
      02 Oct 08:00 T1 vends 3 -> 2: low_stock raised;  09:00 vends 2 -> 0: stockout raised (out from 09:00)
      02 Oct 10:00 and 11:00 T1 refused out_of_stock for 1 and then 2 units
      03 Oct 14:00 R1 loads 10 (the refill that ends both alerts: 30 h and 29 h), counts 9 against 10 expected
                   (a count row, part of the visit), visit closed 14:30
      10 Oct 09:00 S1 counts 9 (exact); 12 Oct 09:00 T1 vends 1 -> 8; 20 Oct 09:00 S1 counts 7 (1 off)
    Served 6 units, refused 3: fill rate 6/9. Out 29 h, one stockout. GLV checks 3, exact 1, units off 2."""
    clock = ManualClock(start="2026-09-30T11:00:00+00:00")
    ledger = ledger_from_csv(folder, skus=PLANT2_SKUS, locations=PLANT2_LOCATIONS, users=PLANT2_USERS, clock=clock)
    ledger.db.execute("UPDATE cabinet SET cabinet_id = 'CAB-8' WHERE id = 1")
    at(clock, "2026-09-30T12:00:00")
    ledger.append("refill", location="L1", quantity=5, user_id="R1")
    vend(ledger, clock, "2026-10-02T08:00:00", "L1", "T1", "CC-410", units=3)
    vend(ledger, clock, "2026-10-02T09:00:00", "L1", "T1", "CC-410", units=2)
    for when, units in (("2026-10-02T10:00:00", 1), ("2026-10-02T11:00:00", 2)):
        at(clock, when)
        Refusal("out_of_stock", "none left").record(ledger, user_id="T1", location="L1", quantity=units,
                                                    cost_center="CC-410")
    at(clock, "2026-10-03T14:00:00")
    confirm_refill(ledger, DRIVER, "L1", 10, counted=9)
    at(clock, "2026-10-03T14:30:00")
    refill_visits.close_visit(ledger, "R1")
    at(clock, "2026-10-10T09:00:00")
    ledger.append("count", location="L1", quantity=9, user_id="S1")
    vend(ledger, clock, "2026-10-12T09:00:00", "L1", "T1", "CC-410")
    at(clock, "2026-10-20T09:00:00")
    ledger.append("count", location="L1", quantity=7, user_id="S1")
    at(clock, AFTER[:19])
    return ledger


def add_orders(conn):
    """Orders as the orders table holds them (made here when this hub has none yet)."""
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, tenant text NOT NULL, site text "
                 "NOT NULL, supplier text NOT NULL, state text NOT NULL, rule text NOT NULL, proposed_at timestamptz "
                 "NOT NULL, sent_at timestamptz, confirmed_at timestamptz, delivered_at timestamptz)")
    for site, supplier, state, proposed, sent, delivered in (
            ("plant1", "Acme", "delivered", "2026-10-01T06:00Z", "2026-10-01T06:01Z", "2026-10-03T14:00Z"),   # 56 h
            ("plant2", "Acme", "delivered", "2026-10-10T06:00Z", "2026-10-10T06:05Z", "2026-10-11T06:00Z"),   # 24 h
            ("plant2", "Bolt", "sent", "2026-10-20T06:00Z", "2026-10-20T06:02Z", None),
            ("plant1", "Acme", "delivered", "2026-09-01T06:00Z", None, "2026-09-02T06:00Z"),        # September
            ("other", "Acme", "delivered", "2026-10-05T06:00Z", None, "2026-10-06T06:00Z")):        # Customer B
        conn.execute("INSERT INTO orders (tenant, site, supplier, state, rule, proposed_at, sent_at, delivered_at) "
                     "VALUES ('acme', %s, %s, %s, 'daily', %s, %s, %s)", [site, supplier, state, proposed, sent,
                                                                           delivered])


@pytest.fixture
def fleet(hub_dsn, tmp_path):
    """Customer A: CAB-7 at plant1 (the October story of test_reports) and CAB-8 at plant2 (plant2 above);
    Customer B: CAB-9 at site other (the October story again)."""
    folders = {name: tmp_path / name for name in ("a", "b", "c")}
    for f in folders.values():
        f.mkdir()
    with connect(hub_dsn) as conn, october(folders["a"]) as cab7, plant2(folders["b"]) as cab8, \
            october(folders["c"]) as cab9:
        store_ledger(conn, cab7, "CAB-7", site="plant1", customer="Customer A", catalog_folder=folders["a"])
        store_ledger(conn, cab8, "CAB-8", site="plant2", customer="Customer A", catalog_folder=folders["b"])
        store_ledger(conn, cab9, "CAB-9", site="other", customer="Customer B", catalog_folder=folders["c"])
        own = {"CAB-7": build_report(cab7, *OCTOBER, now=AFTER), "CAB-8": build_report(cab8, *OCTOBER, now=AFTER),
               "CAB-9": build_report(cab9, *OCTOBER, now=AFTER)}
    return own


def customer(dsn, name="Customer A"):
    with connect(dsn) as conn:
        return customer_report.build(conn, "acme", name, *OCTOBER, now=AFTER)


TOTALS = ("transactions", "issues", "units_issued", "units_returned", "net_units", "value_cents", "billable_cents",
          "refill_visits", "stockouts", "low_stock_events")


def test_a_customers_report_sums_its_own_cabinets_and_no_other(hub_dsn, fleet):
    c = customer(hub_dsn)
    assert c.cabinets == ["CAB-7", "CAB-8"] and c.report.cabinets == ["CAB-7", "CAB-8"]
    for name in TOTALS:
        assert getattr(c.report.totals, name) == getattr(fleet["CAB-7"].totals, name) + \
            getattr(fleet["CAB-8"].totals, name), name
    assert c.report.totals.out_hours == pytest.approx(fleet["CAB-7"].totals.out_hours + 29)
    assert fleet["CAB-8"].totals.billable_cents == 6 * 45
    assert {u.cabinet for u in c.report.usage} == {"CAB-7", "CAB-8"}
    assert all(u.location.startswith(("CAB-7/", "CAB-8/")) for u in c.report.usage)
    b = customer(hub_dsn, "Customer B")
    assert b.cabinets == ["CAB-9"] and b.report.totals.billable_cents == fleet["CAB-9"].totals.billable_cents
    assert "CAB-7" not in customer_report.render(b) and "CAB-9" not in customer_report.render(c)


def test_sites_compared(hub_dsn, fleet):
    c = customer(hub_dsn)
    plant1, plant2_ = c.sites
    assert (plant1.site, plant1.cabinets, plant2_.site, plant2_.cabinets) == ("plant1", ["CAB-7"], "plant2", ["CAB-8"])
    assert plant1.billable_cents == fleet["CAB-7"].totals.billable_cents
    assert (plant2_.units, plant2_.billable_cents, plant2_.stockouts, plant2_.out_hours) == (6, 270, 1, 29.0)
    assert (plant2_.fill.served, plant2_.fill.refused) == (6, 3)
    assert plant2_.alert_to_refill_hours == 29.5                  # median of 30 h and 29 h
    assert (plant2_.checks, plant2_.exact_checks) == (3, 1)
    html = customer_report.render(c)
    assert "Sites compared" in html and "plant2" in html and "66.7 %" in html


def test_supplier_performance_on_a_hand_worked_example(hub_dsn, fleet):
    with connect(hub_dsn) as conn:
        add_orders(conn)
    c = customer(hub_dsn)
    p = c.performance
    cab7_served = fleet["CAB-7"].totals.units_issued
    assert (p.fill.served, p.fill.refused) == (cab7_served + 6, 3)
    assert p.out_hours == pytest.approx(fleet["CAB-7"].totals.out_hours + 29)
    cab8 = sorted((a.kind, a.hours) for a in p.alerts if a.cabinet == "CAB-8")
    assert cab8 == [("low_stock", 30.0), ("stockout", 29.0)]
    glv = next(a for a in p.accuracy if a.sku == "GLV")
    assert (glv.checks, glv.exact, glv.abs_difference, glv.net_difference) == (3, 1, 2, -2)
    o = p.orders
    assert o.available and o.by_state == {"delivered": 2, "sent": 1}
    acme = next(s for s in o.suppliers if s.supplier == "Acme")
    assert (acme.proposed, acme.delivered, acme.cycle_hours, acme.median_hours) == (2, 2, [56.0, 24.0], 40.0)
    assert "40 h" in customer_report.render(c)


def test_no_orders_is_said(hub_dsn, fleet):
    html = customer_report.render(customer(hub_dsn))
    assert "No orders in this period." in html


def test_billing_csv_totals_equal_the_pages(hub_dsn, fleet):
    import csv as csv_module
    import io
    from decimal import Decimal
    c = customer(hub_dsn)
    rows = list(csv_module.DictReader(io.StringIO(customer_report.billing_csv(c))))
    billed = sum(Decimal(r["amount"]) for r in rows)
    assert billed == Decimal(c.report.totals.billable_cents) / 100
    by_ownership = {}
    for r in rows:
        by_ownership[r["ownership"]] = by_ownership.get(r["ownership"], 0) + Decimal(r["value"])
    for o in c.report.ownership:
        assert by_ownership.get(o.ownership, 0) == Decimal(o.value_cents) / 100, o.ownership
    assert {r["cabinet_id"] for r in rows} == {"CAB-7", "CAB-8"}
    assert {r["site"] for r in rows if r["cabinet_id"] == "CAB-8"} == {"plant2"}
    assert "customer" in {r["ownership"] for r in rows}        # the grease: listed, not billed
    html = customer_report.render(c)
    from edge_agent.reports import money
    assert money.display(c.report.totals.billable_cents, "EUR") in html


def test_locker_hub_report_writes_the_page_and_the_csv(hub_dsn, fleet, tmp_path, capsys):
    from hub import cli
    page_file, csv_file = tmp_path / "a.html", tmp_path / "a.csv"
    code = cli.main(["--db", hub_dsn, "report", "--tenant", "acme", "--customer", "Customer A", "--month", "2026-10",
                     "--now", AFTER, "--html", str(page_file), "--csv", str(csv_file)])
    said = capsys.readouterr().out
    assert code == 0 and "2 site(s), 2 cabinet(s)" in said
    page = page_file.read_text()
    assert "Monthly report, October 2026" in page and "Customer <strong>Customer A</strong>" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<svg" in page
    assert csv_file.read_text().startswith("period_start,period_end,cabinet_id,cost_center,part_number")
    code = cli.main(["--db", hub_dsn, "report", "--tenant", "acme", "--customer", "Nobody", "--month", "2026-10",
                     "--html", str(page_file)])
    assert code == 2 and "no customer 'Nobody' (its customers: Customer A, Customer B)" in capsys.readouterr().err


# -- a real agent, synced through the broker ---------------------------------------------------------------
DESCRIPTIVE = {"description", "name", "role", "department", "category", "method"}


def figures(value):
    """A report as figures only: the words the catalog gives (descriptions, names, roles, departments,
    categories) and the method text left out."""
    if isinstance(value, dict):
        return {k: figures(v) for k, v in value.items() if k not in DESCRIPTIVE}
    if isinstance(value, list):
        return [figures(v) for v in value]
    return value


def test_a_real_agent_synced_through_the_broker_gets_the_same_figures_at_the_hub(tmp_path, hub_dsn):
    """The real path: `locker-agent run` vends from the simulated cabinet (lanes fall below min: low-stock
    alerts and refill tasks), the rows and events reach the hub through Mosquitto and its ingest, and the
    hub's report of the cabinet has every figure of the ledger's own report. This cabinet is not run from the
    hub (no desired catalog): its words are missing at the hub, which the method section says."""
    import datetime
    from tests.agent_process import ledger_of
    from tests.test_cloud_sync import CABINET, Site
    site = Site(tmp_path, hub_dsn)
    try:
        site.broker.start()
        site.start_cloud()
        site.start_agent()
        site.issue(10)
        site.check_complete()                   # every row and event stored at the hub; the agent stopped
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=1)
        with ledger_of(site.folder) as ledger:
            own = build_report(ledger, start, end, now=now)
        with connect(hub_dsn) as conn:
            hub = build_report(history.source(conn, [CABINET]), start, end, now=now)
    finally:
        site.close()
    assert own.totals.net_units == 10 and own.alerts and own.refills.tasks
    assert figures(plain(hub)) == figures(plain(own))
    assert any("No desired catalog" in text for _, text in hub.method)
