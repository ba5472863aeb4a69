"""Routes and van loads on the hub (docs/hub/routes.md), on a real PostgreSQL: the cabinets' events and
inventory snapshots go in through the hub's own ingest (hub/ingest.py Ingest.handle, as the workers do), the
catalog through `desired.import_folder` from the admin's CSV files. Every time is an injected `now`."""
import csv
import datetime
import json
import threading

import pytest

from hub import desired, jobs, registry
from hub.cli import main as locker_hub
from hub.db import connect, open_pool
from hub.ingest import Ingest
from hub.routes import book, freeze, reconcile, schedule, sheets, van_load

UTC = datetime.timezone.utc
TENANT, RIVAL = "acme", "rival"
CAB1, CAB2, THEIRS = "CAB-1", "CAB-2", "RIV-1"
PLACES = {CAB1: (TENANT, "plant1"), CAB2: (TENANT, "plant2"), THEIRS: (RIVAL, "yard")}
# Sunday 6 Dec 2026, 10:00 UTC; the route leaves Mon, Wed, Fri at 07:00 Berlin (06:00 UTC), cut-off 16 h before.
NOW = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
DEPARTURE = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
CUTOFF = datetime.datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
CATALOG_FILES = {
    "users.csv": "id,name,role,supplier\nD1,Dana,route_driver,acme\n",
    "skus.csv": "part_number,description,package_size\nP-100,Nitrile gloves,12\nP-200,Cut-off disc,5\n"
                "P-300,Safety glasses,\n",
    "locations.csv": "id,kind,unit,sku,min,max,refill_pack,capacity\nL1,lane,1,P-100,10,40,,\n"
                     "L2,lane,2,P-200,5,20,4,\nL3,lane,3,P-300,2,10,,9\nL4,lane,4,P-100,5,30,,\n",
}


# -- feeding the hub as the cabinets do --------------------------------------------------------------------------
class Cabinets:
    """Sends events and inventory snapshots through the hub's ingest, numbering each cabinet's events."""

    def __init__(self, pool):
        self.ingest = Ingest(pool, grace_s=3600)
        self.seq = {}

    def _send(self, cabinet, leaf, payload):
        tenant, site = PLACES[cabinet]
        self.ingest.handle("locker/v1/%s/%s/%s/%s" % (tenant, site, cabinet, leaf), json.dumps(payload).encode())
        assert self.ingest.stats.rejected == 0, "the hub rejected a test message"

    @staticmethod
    def _up(cabinet, **fields):
        return dict({"v": 1, "cabinet": cabinet, "session": 1, "sent_wall": "2026-12-06T09:00:00.000+00:00",
                     "clock_synced": True}, **fields)

    def events(self, cabinet, *events):
        first = self.seq.get(cabinet, 0) + 1
        numbered = []
        for n, event in enumerate(events):
            e = {"seq": first + n, "wall": "2026-12-06T09:00:00.000+00:00", "clock_synced": True, "ledger_seq": None}
            e.update(event)
            numbered.append(e)
        self.seq[cabinet] = first + len(events) - 1
        self._send(cabinet, "events", self._up(cabinet, stream="events", first_seq=first,
                                               last_seq=self.seq[cabinet], backlog=False, events=numbered))

    def inventory(self, cabinet, as_of_seq, *locations, sent_wall="2026-12-06T09:30:00.000+00:00"):
        locs = [dict({"kind": "lane", "quarantine": 0, "capacity": None}, **loc) for loc in locations]
        self._send(cabinet, "inventory", self._up(cabinet, as_of_seq=as_of_seq, locations=locs, sent_wall=sent_wall))


def task_opened(task_id, location, sku, quantity, ledger_seq, **more):
    return dict(type="refill_task_opened", task_id=task_id, location=location, sku=sku, quantity=quantity,
                ledger_seq=ledger_seq, **more)


def task_closed(task_id, location, sku, wall="2026-12-06T09:00:00.000+00:00"):
    return dict(type="refill_task_closed", task_id=task_id, location=location, sku=sku, wall=wall)


def visit(visit_id, wall, *lines):
    """A refill_visit event ending at `wall`: lines (location, sku, loaded)."""
    return dict(type="refill_visit", wall=wall, visit_id=visit_id, user_id="D1", opened_wall=wall,
                summary={"lines": [{"location": loc, "sku": sku, "loaded": n, "counted": None, "expected": n,
                                    "difference": None} for loc, sku, n in lines],
                         "loaded": sum(n for _, _, n in lines), "counted": 0, "differences": 0})


def loc(id, sku, on_hand, min, max, **more):
    return dict(id=id, sku=sku, on_hand=on_hand, min=min, max=max, **more)


@pytest.fixture
def hub(hub_dsn, tmp_path):
    """acme's CAB-1 (plant1, a catalog from CSV files) and CAB-2 (plant2, no catalog), rival's RIV-1; route
    north (Mon/Wed/Fri 07:00 Berlin, driver dana@acme) calling at CAB-1 then CAB-2."""
    pool = open_pool(hub_dsn, max_size=2, name="routes")
    with pool.connection() as conn:
        for cabinet, (tenant, site) in PLACES.items():
            registry.add_cabinet(conn, tenant, site, cabinet, bytes(range(32)))
        for name, text in CATALOG_FILES.items():
            (tmp_path / name).write_text(text)
        desired.import_folder(conn, tmp_path, [CAB1])
        book.save_route(conn, TENANT, "north", "North loop", "dana@acme", [1, 3, 5], datetime.time(7), 16,
                        "Europe/Berlin")
        book.set_stops(conn, TENANT, "north", [CAB1, CAB2])
    feed = Cabinets(pool)
    feed.pool, feed.dsn = pool, hub_dsn
    yield feed
    pool.close()


def stock_the_cabinets(hub):
    """CAB-1: tasks on L1 (33 P-100) and L2 (16 P-200), a closed one on L4; L3 at min; a snapshot older than
    the tasks. CAB-2: L1 empty. RIV-1 (rival): a task that must never show."""
    hub.events(CAB1, task_opened(1, "L1", "P-100", 33, 10), task_opened(2, "L2", "P-200", 16, 11),
               task_opened(3, "L4", "P-100", 20, 12), task_closed(3, "L4", "P-100"))
    hub.inventory(CAB1, 5, loc("L1", "P-100", 7, 10, 40), loc("L2", "P-200", 4, 5, 20),
                  loc("L3", "P-300", 2, 2, 10, capacity=9, quarantine=1), loc("L4", "P-100", 30, 5, 30))
    hub.inventory(CAB2, 3, loc("L1", "P-100", 0, 5, 12))
    hub.events(THEIRS, task_opened(1, "L1", "P-999", 50, 2))


def lines_of(van):
    return [(ln.cabinet, ln.location, ln.sku, ln.kind, ln.units, ln.pack, ln.packs, ln.pack_source) for ln in van.lines]


# -- schedule ------------------------------------------------------------------------------------------------
def test_a_schedule_reads_weekday_names_and_keeps_local_time_across_summer_time():
    assert schedule.parse_weekdays("mon,Wed, fri") == [1, 3, 5]
    assert schedule.parse_weekdays("mon-fri") == [1, 2, 3, 4, 5]
    assert schedule.parse_weekdays("sunday,sat") == [6, 7]
    for bad in ("mon,funday", "", "fri-mon", "1,3"):
        with pytest.raises(schedule.ScheduleError, match="weekday"):
            schedule.parse_weekdays(bad)
    route = {"id": "r", "weekdays": [1, 3, 5], "depart": datetime.time(7), "timezone": "Europe/Berlin",
             "cutoff_hours": 16}
    assert schedule.next_departure(route, NOW) == DEPARTURE                 # winter: 07:00 CET = 06:00 UTC
    assert schedule.cutoff(route, NOW) == CUTOFF
    assert schedule.next_departure(route, DEPARTURE) == datetime.datetime(2026, 12, 9, 6, 0, tzinfo=UTC)  # gone
    summer = datetime.datetime(2027, 6, 6, 12, 0, tzinfo=UTC)                    # a Sunday in June
    assert schedule.next_departure(route, summer) == datetime.datetime(2027, 6, 7, 5, 0, tzinfo=UTC)  # CEST
    with pytest.raises(ValueError):
        schedule.next_departure(route, NOW.replace(tzinfo=None))
    with pytest.raises(schedule.ScheduleError, match="time zone"):
        schedule.zone("Mars/Olympus")


def test_routes_for_site_names_the_routes_calling_there(hub):
    with connect(hub.dsn) as conn:
        book.save_route(conn, TENANT, "south", "South", None, [2], None, None, None)
        book.set_stops(conn, TENANT, "south", [CAB2])
        assert [r["id"] for r in schedule.routes_for_site(conn, TENANT, "plant1")] == ["north"]
        assert [r["id"] for r in schedule.routes_for_site(conn, TENANT, "plant2")] == ["north", "south"]
        assert schedule.routes_for_site(conn, RIVAL, "plant2") == []


# -- the van load ----------------------------------------------------------------------------------------------
def test_the_van_load_is_open_tasks_and_top_offs_in_whole_packs(hub):
    stock_the_cabinets(hub)
    with connect(hub.dsn) as conn:
        van = van_load.van_load(conn, TENANT, "north", NOW)
    assert (van.departure, van.cutoff, van.frozen) == (DEPARTURE, CUTOFF, False)
    assert lines_of(van) == [
        (CAB1, "L1", "P-100", "task", 33, 12, 3, "SKU package_size"),      # 33 units: 3 packs of 12, rounded up
        (CAB1, "L2", "P-200", "task", 16, 4, 4, "location refill_pack"),   # the location's pack before the SKU's
        (CAB1, "L3", "P-300", "top_off", 6, 1, 6, "none"),                 # at min: to 8 = capacity 9 - 1 quarantined
        (CAB2, "L1", "P-100", "top_off", 12, 1, 12, "none"),               # CAB-2: no catalog on the hub
    ]
    # The closed task (L4) is not loaded, nor is L4 topped off (full); rival's RIV-1 never appears.
    assert [(t.sku, t.pack, t.packs, t.van_units, t.units, t.stops) for t in van.totals()] == [
        ("P-100", 1, 12, 12, 12, 1), ("P-100", 12, 3, 36, 33, 1), ("P-200", 4, 4, 16, 16, 1),
        ("P-300", 1, 6, 6, 6, 1)]
    assert van.notes == ["CAB-2: the hub has no catalog for this cabinet: counted in packs of 1 (units)"]
    assert van.lines[3].description == "Nitrile gloves"        # CAB-2 has no catalog; CAB-1's words serve
    page = sheets.van_load_html(van)
    assert "Stop 1: cabinet CAB-1 at plant1" in page and "Stop 2: cabinet CAB-2 at plant2" in page
    assert "packs of 1 (units)" in page and "Nitrile gloves" in page and "RIV-1" not in page


def test_a_snapshot_newer_than_the_task_sets_its_units_as_the_cabinet_would(hub):
    hub.events(CAB1, task_opened(1, "L1", "P-100", 30, 10))
    hub.inventory(CAB1, 25, loc("L1", "P-100", 2, 10, 40))        # more taken since the task opened
    with connect(hub.dsn) as conn:
        van = van_load.van_load(conn, TENANT, "north", NOW)
    assert lines_of(van) == [(CAB1, "L1", "P-100", "task", 38, 12, 4, "SKU package_size")]


def test_a_location_between_min_and_max_is_topped_off_as_the_cabinets_pick_list_will_ask(hub):
    """The driver tops off every location below max at the visit (flows/refill.py, decision 0031): the van
    carries it. L2 (refill_pack 4 in the catalog) at 9 of max 20: 8 units (two whole packs; a third would pass
    max); L3 (no pack) at 6 of max 10 but capacity 9 with 1 quarantined: 2 units."""
    hub.inventory(CAB1, 5, loc("L2", "P-200", 9, 5, 20), loc("L3", "P-300", 6, 2, 10, capacity=9, quarantine=1),
                  loc("L1", "P-100", 40, 10, 40))
    with connect(hub.dsn) as conn:
        van = van_load.van_load(conn, TENANT, "north", NOW)
    assert lines_of(van) == [(CAB1, "L2", "P-200", "top_off", 8, 4, 2, "location refill_pack"),
                             (CAB1, "L3", "P-300", "top_off", 2, 1, 2, "none")]


def test_a_task_closed_leaves_the_load_and_no_location_to_top_off_means_nothing_to_load(hub):
    hub.events(CAB1, task_opened(1, "L1", "P-100", 30, 10))
    hub.inventory(CAB1, 5, loc("L1", "P-100", 7, 10, 40), loc("L2", "P-200", 20, 5, 20))
    with connect(hub.dsn) as conn:
        assert len(van_load.van_load(conn, TENANT, "north", NOW).lines) == 1
        hub.events(CAB1, task_closed(1, "L1", "P-100"))
        hub.inventory(CAB1, 12, loc("L1", "P-100", 40, 10, 40), loc("L2", "P-200", 20, 5, 20))
        van = van_load.van_load(conn, TENANT, "north", NOW)
    assert van.lines == []
    assert "Nothing to load" in sheets.van_load_html(van)


def test_another_tenants_cabinet_is_never_a_stop_nor_on_a_load(hub):
    stock_the_cabinets(hub)
    with connect(hub.dsn) as conn:
        with pytest.raises(book.RouteError, match="not a cabinet of tenant acme"):
            book.set_stops(conn, TENANT, "north", [CAB1, THEIRS])
        with pytest.raises(book.RouteError, match="no cabinet CAB-9 is registered"):
            book.set_stops(conn, TENANT, "north", ["CAB-9"])
        with pytest.raises(book.RouteError, match="named twice"):
            book.set_stops(conn, TENANT, "north", [CAB1, CAB1])
        assert [s["cabinet"] for s in book.stops(conn, TENANT, "north")] == [CAB1, CAB2]   # unchanged
        # Nor can it be slipped in under the code: the database refuses it.
        with pytest.raises(Exception, match="foreign key"):
            conn.execute("INSERT INTO route_stops (tenant, route, position, cabinet) VALUES (%s, 'north', 3, %s)",
                         [TENANT, THEIRS])
        conn.rollback()
        # Rival's own route over its cabinet sees its task, and nothing of acme's.
        book.save_route(conn, RIVAL, "north", "Rival north", None, [1, 3, 5], None, None, None)
        book.set_stops(conn, RIVAL, "north", [THEIRS])
        theirs = van_load.van_load(conn, RIVAL, "north", NOW)
        ours = van_load.van_load(conn, TENANT, "north", NOW)
    assert {ln.cabinet for ln in theirs.lines} == {THEIRS}
    assert THEIRS not in {ln.cabinet for ln in ours.lines}
    with pytest.raises(book.RouteError, match="has no route"):
        with connect(hub.dsn) as conn:
            van_load.van_load(conn, RIVAL, "south", NOW)


def test_a_driver_is_given_their_own_routes_only(hub):
    with connect(hub.dsn) as conn:
        book.save_route(conn, TENANT, "south", "South", "sam@acme", [2], None, None, None)
        assert [r["id"] for r in book.routes(conn, TENANT, "dana@acme")] == ["north"]
        assert [r["id"] for r in book.routes(conn, TENANT, "sam@acme")] == ["south"]
        assert [r["id"] for r in book.routes(conn, TENANT)] == ["north", "south"]
        assert book.routes(conn, RIVAL, "dana@acme") == []


# -- loading ---------------------------------------------------------------------------------------------------
def test_loading_freezes_the_lines_once_per_departure(hub):
    stock_the_cabinets(hub)
    with connect(hub.dsn) as conn:
        van, made = van_load.freeze(conn, TENANT, "north", NOW, "dana@acme")
        assert made and van.frozen and van.departure == DEPARTURE
        # The cabinets move on: a new task, a closed one. The load stays what went on the van.
        hub.events(CAB1, task_opened(4, "L4", "P-100", 25, 30), task_closed(1, "L1", "P-100"))
        again, made_again = van_load.freeze(conn, TENANT, "north", NOW + datetime.timedelta(hours=2), "cli")
        assert not made_again and again.load["id"] == van.load["id"] and again.load["loaded_by"] == "dana@acme"
        assert lines_of(again) == lines_of(van) and len(van.lines) == 4
        assert lines_of(van_load.van_load(conn, TENANT, "north", NOW)) == lines_of(van)
        # The next departure's load is another one, and sees the cabinets as they are now.
        later, made = van_load.freeze(conn, TENANT, "north", DEPARTURE, "cli")
        assert made and later.load["id"] != van.load["id"]
        assert later.departure == datetime.datetime(2026, 12, 9, 6, 0, tzinfo=UTC)
        assert ("L4", "task") in {(ln.location, ln.kind) for ln in later.lines}
        assert ("L1", "task") not in {(ln.location, ln.kind) for ln in later.lines if ln.cabinet == CAB1}
        assert conn.execute("SELECT count(*) AS n FROM route_loads").fetchone()["n"] == 2


def test_two_processes_loading_at_once_make_one_load(hub):
    stock_the_cabinets(hub)
    barrier, ids = threading.Barrier(4), []

    def load(by):
        with connect(hub.dsn) as conn:
            barrier.wait()
            ids.append(van_load.freeze(conn, TENANT, "north", NOW, by)[0].load["id"])
    threads = [threading.Thread(target=load, args=("p%d" % n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    with connect(hub.dsn) as conn:
        assert conn.execute("SELECT count(*) AS n FROM route_load_lines").fetchone()["n"] == 4


def test_the_cut_off_job_freezes_the_load_at_the_cut_off_and_only_once(hub):
    stock_the_cabinets(hub)
    with connect(hub.dsn) as conn:
        assert freeze.run_due(conn, CUTOFF - datetime.timedelta(seconds=1)) == 0
        assert van_load.find_load(conn, TENANT, "north") is None
        conn.execute("SELECT 1")          # `locker-hub jobs` reads before its loop: a transaction left open
        assert jobs.run_all(conn, CUTOFF)["hub.routes.freeze"] == 1
        with connect(hub.dsn) as other:   # committed at once: another hub process sees it
            assert van_load.find_load(other, TENANT, "north", DEPARTURE)["loaded_by"] == "cut-off"
        assert freeze.run_due(conn, CUTOFF + datetime.timedelta(hours=1)) == 0
        load = van_load.find_load(conn, TENANT, "north")
        assert (load["departure"], load["loaded_by"], load["loaded_at"]) == (DEPARTURE, "cut-off", CUTOFF)
        # The driver pressing load afterwards gets that same load.
        assert van_load.freeze(conn, TENANT, "north", CUTOFF + datetime.timedelta(hours=2), "dana@acme")[0].load["id"] \
            == load["id"]
        # A cut-off longer than the gap between departures: both coming departures are cut now.
        book.save_route(conn, TENANT, "north", cutoff_hours=60, update=True)
        assert freeze.run_due(conn, datetime.datetime(2026, 12, 8, 20, tzinfo=UTC)) == 2    # Wed 9th and Fri 11th
        assert [r["departure"].day for r in van_load.loads(conn, TENANT, "north")] == [11, 9, 7]


# -- after the visit ---------------------------------------------------------------------------------------------
def test_reconciliation_sets_what_the_cabinets_confirmed_against_the_van(hub):
    stock_the_cabinets(hub)
    with connect(hub.dsn) as conn:
        load = van_load.freeze(conn, TENANT, "north", NOW, "dana@acme")[0].load
    hub.events(CAB1, visit(7, "2026-12-06T16:00:00.000+00:00", ("L1", "P-100", 99)))   # before departure: not ours
    hub.events(CAB1, visit(8, "2026-12-07T08:10:00.000+00:00", ("L1", "P-100", 30), ("L2", "P-200", 16),
                           ("L4", "P-100", 3)),
               task_closed(1, "L1", "P-100", wall="2026-12-07T08:09:00.000+00:00"))
    hub.events(CAB2, visit(1, "2026-12-07T09:40:00.000+00:00", ("L1", "P-100", 10)))
    hub.events(THEIRS, visit(1, "2026-12-07T09:00:00.000+00:00", ("L1", "P-999", 50)))
    hub.events(CAB1, visit(9, "2026-12-09T08:00:00.000+00:00", ("L2", "P-200", 4)))   # the next departure's
    with connect(hub.dsn) as conn:
        rec = reconcile.reconcile(conn, TENANT, "north", datetime.datetime(2026, 12, 8, tzinfo=UTC))
    assert rec.load["id"] == load["id"] and rec.visits == 2 and (rec.tasks_closed, rec.tasks) == (1, 2)
    assert [(s.sku, s.van_units, s.put_in, s.to_return, s.beyond_van) for s in rec.skus] == [
        ("P-100", 48, 43, 5, 0),        # 36 + 12 on the van; 30 + 10 + 3 (L4, not on the load) put in
        ("P-200", 16, 16, 0, 0),
        ("P-300", 6, 0, 6, 0)]          # the top-off was not done: all back to the branch
    assert rec.not_loaded == [(CAB1, "L4", "P-100", 3)]
    assert [(f.line.location, f.put_in, f.task_closed) for f in rec.lines] == [
        ("L1", 30, True), ("L2", 16, False), ("L3", 0, None), ("L1", 10, None)]
    page = sheets.reconcile_html(rec)
    assert "To return to the branch" in page and "P-999" not in page


def test_reconciling_without_a_load_is_refused_with_words(hub):
    with connect(hub.dsn) as conn, pytest.raises(book.RouteError, match="no load yet"):
        reconcile.reconcile(conn, TENANT, "north", NOW)


# -- the command line ------------------------------------------------------------------------------------------
def test_the_command_line_makes_routes_and_refuses_with_words(hub, capsys):
    db = ["--db", hub.dsn]
    assert locker_hub(db + ["route", "add", "--tenant", TENANT, "west", "--weekdays", "tue,thu", "--depart",
                            "06:30", "--driver", "sam@acme", "--timezone", "Europe/Berlin"]) == 0
    assert "route west added: tue,thu at 06:30 Europe/Berlin, cut-off 16 h before, driver sam@acme" in \
        capsys.readouterr().out
    assert locker_hub(db + ["route", "stops", "--tenant", TENANT, "--route", "west", CAB2, CAB1]) == 0
    assert "1. CAB-2 at plant2" in capsys.readouterr().out
    refusals = [
        (["route", "add", "--tenant", TENANT, "east", "--weekdays", "mon,funday"], "'funday' is not a weekday"),
        (["route", "add", "--tenant", TENANT, "east"], "say which weekdays"),
        (["route", "add", "--tenant", TENANT, "west", "--weekdays", "mon"], "already exists"),
        (["route", "add", "--tenant", TENANT, "east", "--weekdays", "mon", "--depart", "7am"], "not a time of day"),
        (["route", "add", "--tenant", TENANT, "east", "--weekdays", "mon", "--timezone", "CEST+1"], "not a time zone"),
        (["route", "add", "--tenant", "nobody", "east", "--weekdays", "mon"], "no tenant nobody"),
        (["route", "stops", "--tenant", TENANT, "--route", "west", "CAB-9"], "no cabinet CAB-9 is registered"),
        (["route", "stops", "--tenant", TENANT, "--route", "west", THEIRS], "not a cabinet of tenant acme"),
        (["route", "stops", "--tenant", TENANT, "--route", "east", CAB1], "has no route east"),
        (["route", "van-load", "--tenant", TENANT, "--route", "west", "--at", "tomorrow"], "not an ISO 8601 time"),
        (["route", "reconcile", "--tenant", TENANT, "--route", "west"], "no load yet"),
    ]
    for argv, words in refusals:
        assert locker_hub(db + argv) == 2, argv
        assert words in capsys.readouterr().err, argv
    assert locker_hub(db + ["route", "add", "--tenant", TENANT, "west", "--update", "--depart", "05:45",
                            "--cutoff-hours", "12"]) == 0
    assert "route west updated: tue,thu at 05:45 Europe/Berlin, cut-off 12 h before, driver sam@acme" in \
        capsys.readouterr().out
    assert locker_hub(db + ["route", "add", "--tenant", TENANT, "east", "--update", "--depart", "05:45"]) == 2
    assert "no route east to update" in capsys.readouterr().err
    assert locker_hub(db + ["route", "list", "--tenant", TENANT, "--driver", "sam@acme", "--at", NOW.isoformat()]) == 0
    listing = capsys.readouterr().out
    assert "west" in listing and "north" not in listing and "Tue 08 Dec 2026 05:45 CET" in listing
    assert locker_hub(db + ["route", "show", "--tenant", TENANT, "north", "--at", NOW.isoformat()]) == 0
    shown = capsys.readouterr().out
    assert "next         Mon 07 Dec 2026 07:00 CET (cut-off Sun 06 Dec 2026 15:00 CET)" in shown
    assert "1. CAB-1 at plant1" in shown and "2. CAB-2 at plant2" in shown


def test_the_pick_sheet_and_reconciliation_as_csv(hub, tmp_path, capsys):
    stock_the_cabinets(hub)
    db = ["--db", hub.dsn]
    at = ["--at", "2026-12-06T10:00:00Z"]
    assert locker_hub(db + ["route", "van-load", "--tenant", TENANT, "--route", "north", "--csv",
                            str(tmp_path / "pick.csv"), "--totals-csv", str(tmp_path / "totals.csv"),
                            "--html", str(tmp_path / "van.html")] + at) == 0
    printed = capsys.readouterr().out
    assert "not loaded yet" in printed and "note: CAB-2: the hub has no catalog" in printed
    with open(tmp_path / "pick.csv", newline="") as f:
        pick = list(csv.reader(f))
    assert tuple(pick[0]) == sheets.PICK_COLUMNS == (
        "departure", "stop", "cabinet", "site", "location", "part_number", "description", "line", "task_id", "units",
        "pack", "packs", "van_units", "pack_source")
    assert pick[1] == ["2026-12-07T06:00:00Z", "1", "CAB-1", "plant1", "L1", "P-100", "Nitrile gloves", "task", "1",
                       "33", "12", "3", "36", "SKU package_size"]
    assert [r[4] for r in pick[1:]] == ["L1", "L2", "L3", "L1"]
    with open(tmp_path / "totals.csv", newline="") as f:
        totals = list(csv.reader(f))
    assert totals[0] == list(sheets.TOTAL_COLUMNS) and len(totals) == 5
    assert "<h2>Pick sheet</h2>" in (tmp_path / "van.html").read_text()

    assert locker_hub(db + ["route", "load", "--tenant", TENANT, "--route", "north"] + at) == 0
    assert "froze load 1 for route north" in capsys.readouterr().out
    assert locker_hub(db + ["route", "load", "--tenant", TENANT, "--route", "north"] + at) == 0
    assert "already loaded: load 1" in capsys.readouterr().out
    hub.events(CAB1, visit(8, "2026-12-07T08:10:00.000+00:00", ("L1", "P-100", 30)))
    assert locker_hub(db + ["route", "reconcile", "--tenant", TENANT, "--route", "north", "--load", "1", "--csv",
                            str(tmp_path / "rec.csv"), "--at", "2026-12-08T00:00:00Z"]) == 0
    assert "1 visits, 0 of 2 refill tasks closed" in capsys.readouterr().out
    with open(tmp_path / "rec.csv", newline="") as f:
        rec = list(csv.reader(f))
    assert rec[0] == ["load_id", "departure", "part_number", "description", "packs", "van_units", "put_in",
                      "to_return", "beyond_van"]
    assert rec[1] == ["1", "2026-12-07T06:00:00Z", "P-100", "Nitrile gloves", "15", "48", "30", "18", "0"]
