"""Running a site from the hub (docs/hub.md), every piece real: the admin's CSV files imported into the hub
(PostgreSQL) with `locker-hub desired import`, published signed and retained through Mosquitto with
`locker-hub desired publish`, applied by the agent process on its ledger, and its reports kept by the hub.
What the agent ends up with is what `locker-agent import` of the same files gives on a copy of its ledger."""
import shutil

import pytest

from edge_agent.cloud import outbox
from edge_agent.rules import csv_io, pin_hashing
from hub import desired
from hub.cli import main as locker_hub
from hub.db import connect
from tests.agent_process import ledger_of
from tests.test_cloud_sync import CABINET, WAIT_S, Site

OTHER = "CAB-8"          # a second cabinet of the site, not running: its catalog is only made and kept
PIN = "583014"
FILES = {
    "users.csv": "id,name,role,badges,pin,cost_center\nT1,Ana,technician,04A1B2C3,,CC-100\n"
                 "T2,Ben,contractor,04D5E6F7,%s,\nS1,Sam,supervisor,,,\n" % PIN,
    "skus.csv": "part_number,description,category,unit_cost,needs_approval,needs_machine_id\n"
                "GLV,Gloves,ppe,1.20,no,no\nDRL,Drill,tools,129.90,yes,yes\nBLD,Blade,blades,3.05,no,no\n"
                "PIP,Pipe,plumbing,9.00,no,no\n",
    "allows.csv": "role,sku,category\ntechnician,,ppe\ntechnician,DRL,\ncontractor,,blades\ntechnician,,plumbing\n",
    "limits.csv": "user_id,sku,category,period,max_quantity\nT2,BLD,,shift,3\nT1,,tools,day,1\n",
    "charge_lists.csv": "list,value,description\ncost_center,CC-100,Maintenance\nwork_order,WO-######,\n",
    CABINET + "/locations.csv": "id,kind,unit,sku,min,max,capacity,returnable,loan_hours,on_hand\n"
                                "L1,lane,1,GLV,10,40,45,no,,40\nL2,lane,2,BLD,2,20,24,no,,\n"
                                "L3,lane,3,GLV,30,40,,no,,\nD1,door,1,DRL,0,1,1,yes,8,\nS1,scan,,GLV,0,50,,no,,\n",
    OTHER + "/locations.csv": "id,kind,unit,sku,min,max\nL1,lane,1,PIP,1,5\n",
}
THEIRS = ("PIP", "plumbing")     # CAB-8's alone: never in CAB-7's catalog
TABLES = {"skus": "part_number", "sku_requirements": "sku", "locations": "id", "users": "id", "badges": "badge_id",
          "role_allows": "role, sku, category", "user_limits": "user_id, sku, category, period",
          "charge_lists": "list, value"}


def write_folder(folder, **changes):
    for name, text in dict(FILES, **changes).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def rules_of(ledger):
    """The catalog, layout, people and rules as the agent uses them (PIN hashes: whether one is set)."""
    found = {}
    for table, order in TABLES.items():
        rows = [dict(r) for r in ledger.db.query("SELECT * FROM %s ORDER BY %s" % (table, order))]
        for row in rows:
            if "pin_hash" in row:
                row["pin_hash"] = row["pin_hash"] is not None
            for name in ("failed_pins", "locked_until"):
                row.pop(name, None)
        found[table] = [r for r in rows if not set(r.values()) & set(THEIRS)]
    return found


def as_a_csv_import_gives(ledger_copy, folder):
    """What `locker-agent import` of the admin's files gives, in the order docs/admin.md says."""
    with ledger_of(ledger_copy) as ledger:
        for what, path in (("skus", "skus.csv"), ("locations", CABINET + "/locations.csv"),
                           ("users", "users.csv"), ("allows", "allows.csv"), ("limits", "limits.csv"),
                           ("charge_lists", "charge_lists.csv")):
            if what == "locations":       # on_hand is the cabinet's own count: the hub never sends it
                text = "".join(line.rsplit(",", 1)[0] + "\n" for line in (folder / path).read_text().splitlines())
                (ledger_copy / "locations.csv").write_text(text)
                csv_io.import_locations(ledger, ledger_copy / "locations.csv")
            else:
                {"skus": csv_io.import_skus, "users": csv_io.import_users, "allows": csv_io.import_role_allows,
                 "limits": csv_io.import_user_limits, "charge_lists": csv_io.import_charge_lists}[what](
                    ledger, folder / path)
        return rules_of(ledger)


@pytest.fixture
def site(tmp_path, hub_dsn):
    (tmp_path / "pi").mkdir()
    site = Site(tmp_path / "pi", hub_dsn)
    site.broker.start()
    cloud = site.start_cloud()
    cloud.register(OTHER, bytes(range(1, 33)), tenant="acme", site="plant1")
    yield site
    site.close()


def reported(site, what, version, status):
    def found():
        with connect(site.hub_dsn, autocommit=True) as conn:
            return [r for r in desired.reports(conn, CABINET)
                    if (r["what"], r["version"], r["status"]) == (what, version, status)]
    return site.cloud.wait_for(found, WAIT_S)


def test_a_site_run_from_the_hub_gets_what_a_csv_import_gives(site, tmp_path, capsys):
    folder = write_folder(tmp_path / "admin")
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copy(site.folder / "ledger.db", reference / "ledger.db")     # the Pi before either way
    site.start_agent()
    assert locker_hub(["--db", site.hub_dsn, "desired", "import", "--site", "acme/plant1", str(folder)]) == 0
    assert "%s: users version 1, catalog version 1" % CABINET in capsys.readouterr().out
    assert locker_hub(["--db", site.hub_dsn, "desired", "publish", "--site", "acme/plant1", "--broker",
                       "127.0.0.1:%d" % site.broker.port]) == 0
    assert reported(site, "users", 1, "applied") and reported(site, "catalog", 1, "applied"), site.agent.log()[-3000:]
    with ledger_of(site.folder) as ledger:
        mine = rules_of(ledger)
        assert outbox.applied_versions(ledger) == {"users": 1, "catalog": 1}
        t2 = ledger.db.execute("SELECT pin_hash FROM users WHERE id = 'T2'").fetchone()[0]
    assert mine == as_a_csv_import_gives(reference, folder)
    assert pin_hashing.verify_pin(PIN, t2)                             # hashed at the hub, never sent in clear
    assert {r["part_number"] for r in mine["skus"]} == {"GLV", "DRL", "BLD"}
    with connect(site.hub_dsn, autocommit=True) as conn:                # each cabinet holds its own SKUs only
        other = desired.latest(conn, OTHER, "catalog")[1]
        assert [s["part_number"] for s in other["skus"]] == ["PIP"]
        assert [a["category"] for a in other["allows"]] == ["plumbing"]
        assert PIN not in str(desired.latest(conn, CABINET, "users")[1])
    assert locker_hub(["--db", site.hub_dsn, "desired", "show", "--cabinet", CABINET]) == 0
    shown = capsys.readouterr().out
    assert "%s catalog: version 1 published" % CABINET in shown and "applied 1" in shown


def test_a_refused_catalog_and_a_stale_one_are_reported_to_the_hub(site, tmp_path):
    site.start_agent()
    send = lambda topic, env: site.cloud.worker.publish(topic, env, retain=True)     # noqa: E731
    with connect(site.hub_dsn, autocommit=True) as conn:
        desired.import_folder(conn, write_folder(tmp_path / "v1"), [CABINET])
        desired.publish(conn, send, CABINET)
        assert reported(site, "catalog", 1, "applied")
        desired.import_folder(conn, write_folder(tmp_path / "v2", **{
            CABINET + "/locations.csv": FILES[CABINET + "/locations.csv"].replace("L1,lane,1,GLV,10,40",
                                                                                  "L1,lane,1,GLV,12,40")}), [CABINET])
        desired.publish(conn, send, CABINET)
        assert reported(site, "catalog", 2, "applied")
        desired.publish(conn, send, CABINET, versions={"users": 2, "catalog": 1})    # an old copy, as a stale hub
        stale = reported(site, "catalog", 1, "refused")
        assert stale, (desired.reports(conn, CABINET), site.cloud.command_results(CABINET), site.agent.log()[-2000:])
        [stale] = stale
        assert stale["reason"] == "stale_version" and "older than the 2 in force" in stale["detail"]
        with ledger_of(site.folder) as ledger:
            before = rules_of(ledger)
        desired.import_folder(conn, write_folder(tmp_path / "v3", **{
            CABINET + "/locations.csv": FILES[CABINET + "/locations.csv"].replace("L1,lane,1,GLV,10,40,45",
                                                                                  "L1,lane,1,GLV,10,50,45")}), [CABINET])
        desired.publish(conn, send, CABINET)
        [refused] = reported(site, "catalog", 3, "refused")
        assert refused["reason"] == "malformed"
        assert "location L1: max 50 is more than the location physically holds (capacity 45)" in refused["detail"]
        [row] = [r for r in desired.overview(conn, CABINET) if r["what"] == "catalog"]
        assert (row["version"], row["applied"], row["refused"]["version"]) == (3, 2, 3)
    with ledger_of(site.folder) as ledger:
        assert rules_of(ledger) == before and outbox.applied_versions(ledger)["catalog"] == 2
        assert ledger.db["locations"].get("L1")["min"] == 12


def test_a_catalog_past_what_a_cabinet_takes_is_refused_at_the_hub_not_at_the_cabinet():
    sku = {"part_number": "PN-0000001", "description": "Hex bolt M8 x 40 zinc plated DIN933 A2-7", "unit_cost": 120}
    body = {"skus": [dict(sku, part_number="PN-%07d" % n) for n in range(10000)], "locations": []}
    with pytest.raises(desired.DesiredError, match="past the 1048576 a cabinet takes: hold fewer SKUs"):
        desired.check_size(CABINET, "catalog", body)
    desired.check_size(CABINET, "catalog", dict(body, skus=body["skus"][:3000]))


def test_a_cabinet_that_comes_online_later_takes_the_users_before_the_catalog(site, tmp_path):
    send = lambda topic, env: site.cloud.worker.publish(topic, env, retain=True).wait_for_publish(WAIT_S)  # noqa: E731
    with connect(site.hub_dsn, autocommit=True) as conn:
        desired.import_folder(conn, write_folder(tmp_path / "admin"), [CABINET])
        desired.import_folder(conn, write_folder(tmp_path / "admin"), [CABINET])    # versions 2: users too
        desired.publish(conn, send, CABINET)
    site.start_agent()                     # the broker hands it both retained messages, in its own order
    assert reported(site, "catalog", 2, "applied"), site.agent.log()[-3000:]
    with ledger_of(site.folder) as ledger:
        applied = [(e["what"], e["version"]) for e in outbox.read_batch(ledger, "events", 0, 1000).items
                   if e["type"] == "desired_applied"]
        limits = ledger.db.execute("SELECT count(*) FROM user_limits").fetchone()[0]
    assert applied == [("users", 2), ("catalog", 2)] and limits == 2
