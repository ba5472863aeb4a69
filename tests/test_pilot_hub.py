"""A supplier's pilot on the hub (`locker-sim fleet --hub`): pilot cabinets at three customers' sites, each a
process with the agent's real CloudSync, one real Mosquitto, the hub on a real PostgreSQL, a real SMTP
server (aiosmtpd) on loopback, and the hub's jobs on the pilot's virtual clock. What the supplier sees at the
end: van loads with lines, orders, alert e-mails, one report per customer naming only its own sites."""
import json
import os

import pytest

from edge_agent.ledger import open_ledger
from hub import db, queries
from sim import cli
from sim.pilot.hub_pilot import run_hub_pilot
from sim.pilot.supplier import plan_supplier
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="Mosquitto is not installed (scripts/setup)")

DAYS = 4           # Monday to Thursday: both routes leave (south Mon/Thu, north Tue), cut-offs pass


@pytest.fixture(scope="module")
def pilot(tmp_path_factory, postgres):
    dsn = postgres.new_database("pilot_hub")
    out = tmp_path_factory.mktemp("pilot-hub")
    result = run_hub_pilot(out, customers=3, cabinets=4, days=DAYS, locations=12, seed=3, dsn=dsn)
    yield result, dsn
    postgres.drop_database("pilot_hub")


def test_the_supplier_set_up_shares_cabinets_among_customers_sites_and_routes():
    s = plan_supplier(customers=3, cabinets=10, seed=1)
    assert [len([c for c in s.cabinets if c.customer == k.id]) for k in s.customers] == [4, 3, 3]
    assert len(s.sites) == 6 and all(s.site(site).customer == k.id for k in s.customers for site in k.sites)
    assert [r.id for r in s.routes] == ["north", "south"]
    assert sorted(site for r in s.routes for site in r.stops) == sorted(site.id for site in s.sites)
    # Every cabinet's driver comes on its route's weekdays at its stop's hour.
    north = {c.visits for c in s.cabinets if c.route == "north"}
    assert north == {"tue,fri@8", "tue,fri@9", "tue,fri@10"}
    with pytest.raises(ValueError, match="--cabinets must be between --customers"):
        plan_supplier(customers=3, cabinets=2)


def test_every_cabinet_is_on_the_hub_seq_for_seq_at_its_customers_site(pilot):
    result, dsn = pilot
    with db.connect(dsn) as conn:
        for c in result.supplier.cabinets:
            with open_ledger(result.out_dir / c.id / "ledger.db", count_boot=False) as ledger:
                assert ledger.verify().ok
                mine = [(r["seq"], r["hash"]) for r in ledger.transactions()]
            assert [(r["seq"], r["hash"]) for r in queries.rows(conn, c.id)] == mine and len(mine) > 10
            site = conn.execute("SELECT s.id, s.customer FROM cabinets c JOIN sites s ON s.tenant = c.tenant AND "
                                "s.id = c.site WHERE c.id = %s", [c.id]).fetchone()
            assert (site["id"], site["customer"]) == (c.site, result.supplier.customer(c.customer).name)
        # The sites are run from the hub: each cabinet applied the users and catalog the hub published.
        applied = conn.execute("SELECT count(DISTINCT (cabinet, what)) AS n FROM desired_reports WHERE status = "
                               "'applied'").fetchone()["n"]
        assert applied == 2 * len(result.supplier.cabinets)
        # What the hub received is dated on the pilot's virtual clock, within the pilot's days.
        span = conn.execute("SELECT min(received_at) AS a, max(received_at) AS b FROM events").fetchone()
        assert str(span["a"])[:10] == "2026-03-02" and str(span["b"])[:10] <= "2026-03-06"
    assert result.hub["rejected"] == 0
    assert result.steps == DAYS * 24


def test_the_summary_says_what_the_supplier_had(pilot):
    result, _ = pilot
    text = (result.out_dir / "summary.txt").read_text()
    assert "3 customers, 3 sites, 4 cabinets, 2 routes" in text
    assert "Northwind Foods: 2 cabinets" in text
    data = json.loads((result.out_dir / "summary.json").read_text())
    fleet = data["sections"]["the fleet on the hub"]["figures"]
    assert sum(f["refill_visits"] for f in fleet.values()) >= 3      # each route came at least once
    assert sum(f["alerts_raised"] for f in fleet.values()) > 0
    # What the supplier saw each day, from the hub's records: a row a day, the routes' days with their vans.
    days = [line.split(",") for line in (result.out_dir / "days.csv").read_text().splitlines()]
    header = days[0]
    rows = {r[1]: dict(zip(header, r)) for r in days[1:]}
    assert list(rows) == ["Mon", "Tue", "Wed", "Thu"]
    assert int(rows["Tue"]["van_loads"]) == 1 and int(rows["Tue"]["van_packs"]) > 0
    assert int(rows["Tue"]["refill_visits"]) == len([c for c in result.supplier.cabinets if c.route == "north"])
    assert sum(int(r["emails"]) for r in rows.values()) == data["sections"]["alert e-mails"]["figures"]["sent"]
    assert "Tue 03-03: " in text and "van loads" in text


def test_the_routes_van_loads_have_lines_and_are_reconciled_against_the_visits(pilot):
    result, dsn = pilot
    with db.connect(dsn) as conn:
        loads = conn.execute("SELECT l.route, l.departure, count(x.line) AS lines, coalesce(sum(x.packs), 0) AS packs "
                             "FROM route_loads l LEFT JOIN route_load_lines x ON x.load = l.id "
                             "GROUP BY l.id ORDER BY l.departure").fetchall()
    # South leaves Monday and Thursday, north Tuesday: each departure's van load, frozen at its cut-off.
    assert [(r["route"], r["departure"].strftime("%a")) for r in loads] == [
        ("south", "Mon"), ("north", "Tue"), ("south", "Thu")]
    assert all(r["lines"] > 0 and r["packs"] >= 1 for r in loads[1:])   # Monday's: everything was full
    rows = (result.out_dir / "van_loads.csv").read_text().splitlines()
    assert rows[0].startswith("route,departure,loaded_by,lines,skus,packs,van_units,stops_visited,put_in,to_return")
    north = next(r.split(",") for r in rows if r.startswith("north,2026-03-03"))
    north_cabinets = [c for c in result.supplier.cabinets if c.route == "north"]
    assert int(north[3]) > 0 and int(north[7]) == len(north_cabinets) and int(north[8]) > 0   # each visited
    assert (result.out_dir / "van-loads" / "north-2026-03-03.html").read_text().count("<table>") >= 3


def test_orders_go_to_the_erp_signed_and_move_through_their_lifecycle(pilot):
    result, dsn = pilot
    with db.connect(dsn) as conn:
        orders = conn.execute("SELECT o.id, o.state, o.rule, o.site, o.erp_ref, o.confirmed_at, s.customer, "
                              "(SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) AS lines FROM orders o "
                              "JOIN sites s ON (s.tenant, s.id) = (o.tenant, o.site) ORDER BY o.id").fetchall()
    assert orders and all(o["lines"] >= 1 for o in orders)
    # Each customer's sites order by their rule: daily, at the route's cut-off, per task.
    assert {o["customer"]: o["rule"] for o in orders} == {"Northwind Foods": "daily", "Contoso Metalworks": "cutoff",
                                                          "Fabrikam Plastics": "per_task"}
    # Every order reached the ERP as signed cXML; the ERP confirmed in office hours; refill visits delivered some.
    erp = sorted((result.out_dir / "erp").iterdir())
    assert len(erp) == len(orders) and all(b"<OrderRequest>" in p.read_bytes() for p in erp)
    states = {o["state"] for o in orders}
    assert "delivered" in states and states <= {"sent", "confirmed", "delivered"}
    confirmed = [o for o in orders if o["confirmed_at"] is not None]
    assert confirmed and all(o["erp_ref"] == "SO-%06d" % o["id"] and 8 <= o["confirmed_at"].hour <= 17
                             for o in confirmed)
    assert (result.out_dir / "orders.csv").read_text().count("\n") == len(orders) + 1


def test_alert_emails_reach_the_people_of_the_rules_through_the_smtp_server(pilot):
    result, dsn = pilot
    mails = [m for m in result.out_dir.joinpath("mail").iterdir()]
    section = json.loads((result.out_dir / "summary.json").read_text())["sections"]["alert e-mails"]["figures"]
    assert section["received"] == len(mails) == section["sent"] > 0
    people = set(section["by_recipient"])
    assert "service@acme-supply.example" in people                 # every critical alert
    assert people & {"maintenance@northwind.example", "maintenance@contoso.example", "maintenance@fabrikam.example"}
    assert people <= {"service@acme-supply.example", "operations@acme-supply.example", "maintenance@northwind.example",
                      "maintenance@contoso.example", "maintenance@fabrikam.example"}
    with db.connect(dsn) as conn:
        acked = conn.execute("SELECT acked_at FROM fleet_alerts WHERE acked_at IS NOT NULL").fetchall()
        # The service desk acknowledges in office hours only (Monday to Friday, 08:00 to 17:00).
        assert acked and all(a["acked_at"].isoweekday() <= 5 and 8 <= a["acked_at"].hour <= 17 for a in acked)
        # An e-mail a customer gets names that customer's site.
        for m in conn.execute("SELECT m.recipient, s.customer FROM alert_mail m JOIN fleet_alerts f ON f.id = m.alert "
                              "JOIN cabinets c ON c.id = f.cabinet JOIN sites s ON s.tenant = c.tenant AND "
                              "s.id = c.site WHERE m.recipient LIKE 'maintenance@%'"):
            assert m["recipient"].split("@")[1].split(".")[0] in m["customer"].lower()


def test_one_report_per_customer_names_only_its_own_sites(pilot):
    result, _ = pilot
    s = result.supplier
    for customer in s.customers:
        page = (result.out_dir / "reports" / customer.id / "report.html").read_text()
        billing = (result.out_dir / "reports" / customer.id / "billing.csv").read_text().splitlines()
        assert customer.name in page and "<svg" in page and len(billing) > 1
        mine = [c.id for c in s.cabinets if c.customer == customer.id]
        others = [c.id for c in s.cabinets if c.customer != customer.id]
        assert all(site in page for site in customer.sites) and all(c in page for c in mine)
        assert not any(site.id in page for site in s.sites if site.customer != customer.id)
        assert not any(c in page for c in others)


def test_the_min_max_review_is_proposed_by_the_supplier_and_decided_by_each_customer(pilot):
    result, dsn = pilot
    with db.connect(dsn) as conn:
        proposals = conn.execute("SELECT p.site, p.state, p.created_by, p.decided_by, p.decided_at, s.customer "
                                 "FROM minmax_proposals p JOIN sites s ON (s.tenant, s.id) = (p.tenant, p.site) "
                                 "ORDER BY p.site").fetchall()
    assert [p["site"] for p in proposals] == sorted(site.id for site in result.supplier.sites)
    for p in proposals:
        customer = next(c for c in result.supplier.customers if c.name == p["customer"])
        assert (p["state"], p["created_by"], p["decided_by"]) == ("approved", "service@acme-supply.example",
                                                                  customer.contact)
        assert p["decided_at"].isoformat() == "2026-03-04T14:00:00+00:00"       # half-way, that afternoon


def test_the_single_pilot_runs_on_the_hub_too_and_keeps_its_own_outputs(tmp_path, hub_dsn):
    from sim.pilot.run import run_pilot
    run = run_pilot(tmp_path, days=2, seed=2, locations=12, hub=hub_dsn)
    assert (tmp_path / "comparison.html").exists() and (tmp_path / "report.html").exists()
    assert run.hub is not None and run.hub.steps == 48
    with db.connect(hub_dsn) as conn:
        with open_ledger(tmp_path / "ledger.db", count_boot=False) as ledger:
            mine = [(r["seq"], r["hash"]) for r in ledger.transactions()]
        assert [(r["seq"], r["hash"]) for r in queries.rows(conn, "PILOT-1")] == mine
        route = conn.execute("SELECT weekdays, depart FROM routes").fetchone()
    assert (route["weekdays"], str(route["depart"])) == ([2, 5], "08:00:00")      # the pilot's tue,fri@9
    assert "on the hub (" in "\n".join(run.summary) and (tmp_path / "hub" / "summary.txt").exists()
    # The hub acks: a pilot on the hub simulates no outages.
    assert run.pilot.sync.outages == 0


def test_the_fleet_command_takes_the_hub_option_and_refuses_bad_input(capsys, tmp_path, hub_dsn):
    with db.connect(hub_dsn) as conn:          # a hub with data of its own is never a pilot's
        conn.execute("INSERT INTO tenants (id, name) VALUES ('other', 'Other supplier')")
        conn.commit()
    assert cli.main(["fleet", "--hub", hub_dsn, "--days", "1", "--out", str(tmp_path)]) == 2
    assert "already holds tenant(s) other: a pilot takes an empty hub database" in capsys.readouterr().err
    assert cli.main(["fleet", "--hub", "--customers", "4", "--cabinets", "3", "--out", str(tmp_path)]) == 2
    assert "--cabinets must be between --customers (4)" in capsys.readouterr().err
    assert cli.main(["fleet", "--hub", "--step", "7", "--out", str(tmp_path)]) == 2
    assert "--step must divide a day" in capsys.readouterr().err


def test_the_fleet_command_runs_the_pilot_on_the_hub_and_says_what_the_supplier_had(capsys, tmp_path, hub_dsn):
    assert cli.main(["fleet", "--hub", hub_dsn, "--customers", "3", "--cabinets", "3", "--days", "1",
                     "--locations", "8", "--out", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pilot on the hub: 1 days from 2026-03-02, 3 cabinets, 24 steps of virtual time"
    assert "van loads:" in out and "alert e-mails:" in out and "customer reports:" in out
    assert json.loads(out[-1])["steps"] == 24 and (tmp_path / "summary.txt").read_text().splitlines() == out[:-2]
