"""Min/max review on the hub (hub/minmax, `locker-hub minmax`, docs/hub/minmax.md): recommendations from the
hub's copy of a cabinet's history, the supplier's proposal, the customer's approval, the next catalog
desired version, and the cabinet applying (or refusing) it.

The history is the October story of tests/test_reports.py (an agent ledger written through the Ledger API),
copied to the hub as the ingest stores it (tests/test_hub_report.py store_ledger), its catalog imported from
the same CSV files with hub/desired.py. The push is end to end: a real agent process and simulated cabinet,
Mosquitto and the Hub (tests/test_cloud_sync.py Site, as tests/test_hub_desired.py)."""
import dataclasses
import datetime
import threading

import pytest

from edge_agent.reports import build_report
from edge_agent.reports.period import instant
from hub import desired
from hub.cli import main as locker_hub
from hub.db import connect
from hub.minmax import MinMaxRefused, proposals, push, recommend
from tests.agent_process import ledger_of
from tests.test_cloud_sync import CABINET, WAIT_S, Site
from tests.test_hub_desired import write_folder
from tests.test_hub_report import store_ledger
from tests.test_reports import AFTER, OCTOBER, october

NOW = instant(AFTER)
SUPPLIER = proposals.supplier("sam@acme.example", "acme")
CUSTOMER_A = proposals.customer_admin("ann@customer-a.example", "acme", "Customer A")
CUSTOMER_B = proposals.customer_admin("bob@customer-b.example", "acme", "Customer B")


def hub(dsn, *argv):
    return locker_hub(["--db", dsn, "minmax", "--now", AFTER] + list(argv))


@pytest.fixture
def cab7(hub_dsn, tmp_path):
    """CAB-7 of Customer A at acme/plant1, its October on the hub, run from the hub (its catalog imported);
    L2 holds at most 4 (its capacity on record at the cabinet, in the inventory snapshot). Customer B has a
    site of its own (plant2)."""
    with october(tmp_path) as ledger:
        ledger.db.execute("UPDATE locations SET capacity = 4 WHERE id = 'L2'")
        with connect(hub_dsn, autocommit=True) as conn:
            store_ledger(conn, ledger, "CAB-7", catalog_folder=tmp_path)
            conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES ('acme', 'plant2', 'Plant 2', "
                         "'Customer B')")
        yield ledger


def versions(conn, cabinet):
    return [r["version"] for r in conn.execute(
        "SELECT version FROM desired_docs WHERE cabinet = %s AND what = 'catalog' ORDER BY version", [cabinet])]


def catalog_min_max(conn, cabinet):
    return {loc["id"]: (loc["min"], loc["max"]) for loc in desired.latest(conn, cabinet, "catalog")[1]["locations"]}


def test_the_hubs_recommendations_are_the_agent_reports_for_the_same_history(hub_dsn, cab7, capsys):
    own = build_report(cab7, *OCTOBER, now=AFTER).recommendations
    with connect(hub_dsn, autocommit=True) as conn:
        lines, notes = recommend.for_cabinets(conn, ["CAB-7"], instant(OCTOBER[0]), instant(OCTOBER[1]), NOW)
    assert notes == []                                    # its catalog is the hub's: nothing to say about it
    assert [line.location for line in lines] == ["B1", "L1", "L2", "S1", "S2"]     # every stocked location
    assert {(l.location, l.recommended_min, l.recommended_max, l.reason) for l in lines if l.changes} == {
        (r.location, r.min, r.max, r.reason) for r in own}
    [l2] = [line for line in lines if line.location == "L2"]
    assert (l2.capacity, l2.recommended_max) == (4, 4) and "Capped at capacity 4" in l2.reason
    # The CLI's default period: the last 90 days, as the agent's report of those days has them.
    assert hub(hub_dsn, "recommend", "--cabinet", "CAB-7") == 0
    shown = capsys.readouterr().out
    ninety = build_report(cab7, NOW - datetime.timedelta(days=90), NOW, now=NOW).recommendations
    assert ninety and "history from 2026-08-07T00:00:00+00:00 to 2026-11-05T00:00:00+00:00" in shown
    for r in ninety:
        assert "%d/%d %13s  %s" % (r.current_min, r.current_max, "%d/%d" % (r.min, r.max), r.reason) in shown


def test_the_supplier_proposes_the_customer_changes_and_approves_and_every_change_is_kept(hub_dsn, cab7, capsys):
    assert hub(hub_dsn, "propose", "--cabinet", "CAB-7", "--by", "sam@acme.example", "--set", "CAB-7:S2=5,40",
               "--submit") == 0
    out = capsys.readouterr().out
    assert "proposal 1: 5 locations, 5 with a recommended change" in out and "submitted" in out
    # Customer B's admin does not even see Customer A's proposal; the supplier cannot approve it.
    assert hub(hub_dsn, "approve", "1", "--by", "bob@customer-b.example", "--customer", "Customer B") == 2
    assert "refused: no min/max proposal 1 among Customer B's" in capsys.readouterr().out
    with connect(hub_dsn, autocommit=True) as conn:
        with pytest.raises(MinMaxRefused, match="only an admin of Customer A does"):
            proposals.approve(conn, SUPPLIER, 1, NOW)
        assert versions(conn, "CAB-7") == [1]
    # Customer A's admin raises L1 again (they know a shutdown is coming) and approves.
    assert hub(hub_dsn, "approve", "1", "--by", "ann@customer-a.example", "--customer", "Customer A",
               "--set", "CAB-7:L1=4,8", "--note", "shutdown in December") == 0
    out = capsys.readouterr().out
    assert "proposal 1: approved" in out and "CAB-7: catalog version 2" in out and "not published yet" in out
    with connect(hub_dsn, autocommit=True) as conn:
        assert versions(conn, "CAB-7") == [1, 2]
        assert catalog_min_max(conn, "CAB-7") == {"L1": (4, 8), "L2": (1, 2), "B1": (1, 2), "S1": (1, 2),
                                                  "S2": (5, 40), "D1": (0, 1)}
        assert desired.latest(conn, "CAB-7", "catalog", 1)[1]["skus"] == desired.latest(conn, "CAB-7",
                                                                                         "catalog")[1]["skus"]
    # A second click, or the form sent again: nothing more is made.
    assert hub(hub_dsn, "approve", "1", "--by", "ann@customer-a.example", "--customer", "Customer A") == 0
    assert "proposal 1: already approved" in capsys.readouterr().out
    assert hub(hub_dsn, "show", "1") == 0
    shown = capsys.readouterr().out
    assert "proposal 1: approved, acme/plant1 cabinet CAB-7, customer Customer A" in shown
    assert "CAB-7        L1       GLV                    -        2/10         1/2         4/8" in shown
    history = shown[shown.index("history:"):]
    assert " sam@acme.example created" in history
    assert " sam@acme.example changed CAB-7 S2 0/10 -> 5/40" in history
    assert " sam@acme.example submitted" in history
    assert " ann@customer-a.example changed CAB-7 L1 1/2 -> 4/8" in history
    assert " ann@customer-a.example approved: shutdown in December" in history
    assert history.count("approved") == 1 and " ann@customer-a.example catalog version 2 made CAB-7\n" in history
    assert "CAB-7: catalog version 2 not published yet" in shown
    assert hub(hub_dsn, "show") == 0
    assert "1      approved   acme/plant1              CAB-7        Customer A               sam@acme.example" in (
        capsys.readouterr().out)
    with connect(hub_dsn, autocommit=True) as conn:
        assert versions(conn, "CAB-7") == [1, 2]


def test_a_customer_cannot_propose_nor_change_a_draft_and_no_one_decides_a_draft(hub_dsn, cab7):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        with pytest.raises(MinMaxRefused, match="only the supplier's staff of acme propose"):
            proposals.create(conn, CUSTOMER_A, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
        with pytest.raises(MinMaxRefused, match="eve@other.example may not propose min/max for acme/plant1"):
            proposals.create(conn, proposals.supplier("eve@other.example", "other"), "acme", "plant1", "CAB-7",
                             lines, (start, end), NOW)
        draft = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
        with pytest.raises(MinMaxRefused, match="is a draft: only the supplier's staff change it"):
            proposals.change(conn, CUSTOMER_A, draft, [("CAB-7", "L1", "1", "9")], NOW)
        with pytest.raises(MinMaxRefused, match="is draft: only a submitted proposal is approved"):
            proposals.approve(conn, CUSTOMER_A, draft, NOW)
        assert [p["id"] for p in proposals.visible(conn, CUSTOMER_A)] == [draft]
        assert proposals.visible(conn, CUSTOMER_B) == []
        proposals.submit(conn, SUPPLIER, draft, NOW)
        with pytest.raises(MinMaxRefused, match="only an admin of Customer A does"):
            proposals.change(conn, SUPPLIER, draft, [("CAB-7", "L1", "1", "9")], NOW)
        with pytest.raises(MinMaxRefused, match="say why"):
            proposals.reject(conn, CUSTOMER_A, draft, " ", NOW)
        assert proposals.reject(conn, CUSTOMER_A, draft, "we are moving the line", NOW)
        assert not proposals.reject(conn, CUSTOMER_A, draft, "again", NOW)          # a second click
        with pytest.raises(MinMaxRefused, match="is rejected: only a submitted proposal is approved"):
            proposals.approve(conn, CUSTOMER_A, draft, NOW)
        assert versions(conn, "CAB-7") == [1]
        assert [c["action"] for c in proposals.changes(conn, draft)] == ["created", "submitted", "rejected"]


def test_figures_the_import_would_refuse_are_refused_when_typed_in_its_words(hub_dsn, cab7):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        draft = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
        for edit, words in ((("CAB-7", "L2", "1", "6"), "CAB-7 L2: max 6 is more than the location physically "
                                                        "holds (capacity 4)"),
                            (("CAB-7", "L1", "5", "3"), "CAB-7 L1: max 3 is below min 5"),
                            (("CAB-7", "L1", "two", "3"), "min 'two' is not a whole number"),
                            (("CAB-7", "L1", "1", "2000000"), "max 2000000 is too large: at most 1000000"),
                            (("CAB-7", "L9", "1", "2"), "has no location L9 at CAB-7")):
            with pytest.raises(MinMaxRefused, match=words.replace("(", r"\(").replace(")", r"\)")):
                proposals.change(conn, SUPPLIER, draft, [("CAB-7", "L1", "3", "9"), edit], NOW)
        assert {(l["location"], l["proposed_min"], l["proposed_max"]) for l in proposals.lines(conn, draft)
                if l["location"] == "L1"} == {("L1", 1, 2)}                           # all or nothing


def test_two_approvals_at_once_make_one_version(hub_dsn, cab7):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        proposal = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
        proposals.submit(conn, SUPPLIER, proposal, NOW)
    results, go = [], threading.Barrier(4)

    def click():
        with connect(hub_dsn, autocommit=True) as conn:
            go.wait()
            results.append(proposals.approve(conn, CUSTOMER_A, proposal, NOW))
    clicks = [threading.Thread(target=click) for _ in range(4)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert sorted(first for _, first in results) == [False, False, False, True]
    assert {tuple(v.items()) for v, _ in results} == {(("CAB-7", 2),)}
    with connect(hub_dsn, autocommit=True) as conn:
        assert versions(conn, "CAB-7") == [1, 2]
        assert [s["state"] for s in push.status(conn, proposal)] == ["not published yet"]


def test_push_services_running_at_once_publish_each_approved_version_once(hub_dsn, cab7):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        proposal = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
        proposals.submit(conn, SUPPLIER, proposal, NOW)
        proposals.approve(conn, CUSTOMER_A, proposal, NOW)
        assert push.pending(conn) == ["CAB-7"]
    sent, go = [], threading.Barrier(4)

    def service():
        with connect(hub_dsn, autocommit=True) as conn:
            go.wait()
            push.publish_pending(conn, lambda topic, env: sent.append((topic, env["body"]["version"])))
    services = [threading.Thread(target=service) for _ in range(4)]
    for t in services:
        t.start()
    for t in services:
        t.join()
    assert sent == [("locker/v1/acme/plant1/CAB-7/desired/users", 1),
                    ("locker/v1/acme/plant1/CAB-7/desired/catalog", 2)]
    with connect(hub_dsn, autocommit=True) as conn:
        assert push.pending(conn) == []
        assert [s["state"] for s in push.status(conn, proposal)] == ["sent, waiting for the cabinet"]


def test_a_cabinet_with_nothing_to_change_gets_no_version_and_an_import_supersedes_one(hub_dsn, cab7, tmp_path):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        keep = [dataclasses.replace(line, recommended_min=None, recommended_max=None) for line in lines]
        nothing = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", keep, (start, end), NOW)
        proposals.submit(conn, SUPPLIER, nothing, NOW)
        assert proposals.approve(conn, CUSTOMER_A, nothing, NOW) == ({}, True)
        assert [s["state"] for s in push.status(conn, nothing)] == ["no change"] and versions(conn, "CAB-7") == [1]
        later = NOW + datetime.timedelta(minutes=5)
        proposal = proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), later)
        proposals.submit(conn, SUPPLIER, proposal, later)
        proposals.approve(conn, CUSTOMER_A, proposal, later)
        desired.import_folder(conn, tmp_path, ["CAB-7"])             # the admin imports the site's files again
        desired.publish(conn, lambda topic, env: None, "CAB-7")
        [state] = push.status(conn, proposal)
        assert (state["version"], state["state"], state["by"]) == (2, "superseded", 3)
        assert push.pending(conn) == []


def test_a_proposal_overtaken_by_a_later_approval_is_refused(hub_dsn, cab7):
    start, end = recommend.period(NOW)
    with connect(hub_dsn, autocommit=True) as conn:
        lines, _ = recommend.for_cabinets(conn, ["CAB-7"], start, end, NOW)
        first, second = (proposals.create(conn, SUPPLIER, "acme", "plant1", "CAB-7", lines, (start, end), NOW)
                         for _ in range(2))
        for proposal in (first, second):
            proposals.submit(conn, SUPPLIER, proposal, NOW)
        later = NOW + datetime.timedelta(hours=1)
        proposals.approve(conn, CUSTOMER_A, second, later, [("CAB-7", "L1", "3", "9")])
        with pytest.raises(MinMaxRefused, match="proposal %d for CAB-7 was approved after this one was made" % second):
            proposals.approve(conn, CUSTOMER_A, first, later)
        assert versions(conn, "CAB-7") == [1, 2] and catalog_min_max(conn, "CAB-7")["L1"] == (3, 9)


def test_a_cabinet_whose_site_is_not_run_from_the_hub_is_refused_in_words(hub_dsn, tmp_path, capsys):
    with october(tmp_path) as ledger, connect(hub_dsn, autocommit=True) as conn:
        store_ledger(conn, ledger, "CAB-7")                    # no catalog desired doc: the Pi's own imports
    assert hub(hub_dsn, "recommend", "--cabinet", "CAB-7") == 0
    shown = capsys.readouterr().out
    assert "CAB-7: Catalog of CAB-7: No desired catalog for this cabinet at the hub" in shown
    assert "CAB-7        L1       GLV" in shown
    assert hub(hub_dsn, "propose", "--cabinet", "CAB-7", "--by", "sam@acme.example") == 2
    assert ("refused: CAB-7: its site is not run from the hub: the hub holds no catalog for it (`locker-hub "
            "desired import` the site's CSV files first)") in capsys.readouterr().out
    with connect(hub_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) AS n FROM minmax_proposals").fetchone()["n"] == 0


# -- end to end: the agent applies it, or refuses it --------------------------------------------------------------
NO_CAPACITY = ("id,kind,unit,sku,min,max,returnable,loan_hours\nL1,lane,1,GLV,10,40,no,\nL2,lane,2,BLD,2,20,no,\n"
               "L3,lane,3,GLV,30,40,no,\nD1,door,1,DRL,0,1,yes,8\nS1,scan,,GLV,0,50,no,\n")


@pytest.fixture
def site(tmp_path, hub_dsn):
    (tmp_path / "pi").mkdir()
    site = Site(tmp_path / "pi", hub_dsn)
    site.broker.start()
    site.start_cloud()
    with connect(hub_dsn, autocommit=True) as conn:
        conn.execute("UPDATE sites SET customer = 'Customer A' WHERE id = 'plant1'")
    yield site
    site.close()


def status_is(site, proposal, state):
    def found():
        with connect(site.hub_dsn, autocommit=True) as conn:
            return [s for s in push.status(conn, proposal) if s["state"] == state]
    return site.cloud.wait_for(found, WAIT_S)


def test_the_cabinet_applies_the_approved_catalog_or_refuses_it_and_the_hub_shows_which(site, tmp_path, capsys):
    dsn, broker = site.hub_dsn, "127.0.0.1:%d" % site.broker.port
    # The hub does not know L1's capacity (the site's locations.csv has no capacity column, the cabinet has
    # sent no snapshot yet); the cabinet does: 30, from an import on the Pi.
    with ledger_of(site.folder) as ledger:
        (tmp_path / "capacity.csv").write_text("id,kind,unit,sku,min,max,capacity\nL1,lane,1,GLV,1,30,30\n")
        from edge_agent.rules import csv_io
        csv_io.import_locations(ledger, tmp_path / "capacity.csv")
    assert locker_hub(["--db", dsn, "desired", "import", "--site", "acme/plant1", str(write_folder(
        tmp_path / "admin", **{CABINET + "/locations.csv": NO_CAPACITY}))]) == 0
    assert locker_hub(["--db", dsn, "minmax", "propose", "--cabinet", CABINET, "--by", "sam@acme.example",
                       "--set", CABINET + ":L1=12,44", "--submit"]) == 0
    assert locker_hub(["--db", dsn, "minmax", "approve", "1", "--by", "ann@customer-a.example", "--customer",
                       "Customer A"]) == 0
    assert "%s: catalog version 2" % CABINET in capsys.readouterr().out
    site.start_agent()
    assert locker_hub(["--db", dsn, "minmax", "push", "--broker", broker]) == 0
    assert "%s: published users version 1, catalog version 2" % CABINET in capsys.readouterr().out
    [refused] = status_is(site, 1, "refused")
    assert refused["reason"] == "malformed"
    assert "location L1: max 44 is more than the location physically holds (capacity 30)" in refused["detail"]
    assert locker_hub(["--db", dsn, "minmax", "show", "1"]) == 0
    assert "%s: catalog version 2 refused (malformed): " % CABINET in capsys.readouterr().out
    # Now the hub knows the capacity (the cabinet's snapshot): the supplier proposes within it, and what the
    # customer approves is applied.
    assert site.cloud.wait_for(lambda: site.cloud.inventory(CABINET), WAIT_S)
    assert locker_hub(["--db", dsn, "minmax", "propose", "--cabinet", CABINET, "--by", "sam@acme.example",
                       "--set", CABINET + ":L1=12,44"]) == 2
    assert "refused: %s L1: max 44 is more than the location physically holds (capacity 30)" % CABINET in (
        capsys.readouterr().out)
    assert locker_hub(["--db", dsn, "minmax", "propose", "--cabinet", CABINET, "--by", "sam@acme.example",
                       "--set", CABINET + ":L1=12,28", "--submit"]) == 0
    [proposal] = [int(w) for w in capsys.readouterr().out.split("proposal ")[1].split(":")[:1]]
    assert locker_hub(["--db", dsn, "minmax", "approve", str(proposal), "--by", "ann@customer-a.example",
                       "--customer", "Customer A", "--broker", broker]) == 0
    assert "%s: published users version 1, catalog version 3" % CABINET in capsys.readouterr().out
    [applied] = status_is(site, proposal, "applied")
    assert applied["version"] == 3 and applied["at"]
    with ledger_of(site.folder) as ledger:
        assert (ledger.db["locations"].get("L1")["min"], ledger.db["locations"].get("L1")["max"]) == (12, 28)
    assert locker_hub(["--db", dsn, "minmax", "show", str(proposal)]) == 0
    assert "%s: catalog version 3 applied at %s" % (CABINET, applied["at"]) in capsys.readouterr().out
