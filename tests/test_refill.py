"""Refill mode on a real ledger: a driver's pick list holds only their supplier's open tasks, then top-off
lines and count lines; a refill closes the task and clears its alerts, it needs the driver's count after
loading, a count that differs corrects the ledger; another supplier's location is refused and on record;
the visit's summary (loaded, counted, differences) goes to the outbox when it closes."""
import json

import pytest

from edge_agent.rules.access import Person
from edge_agent.ledger.alerts import open_alerts
from edge_agent.flows import refill_visits
from edge_agent.flows.refill import PickLine, RefillDone, confirm_refill, pick_list
from tests.refusals import refused
from tests.ledgers import ledger_from_csv, rows_of

ACME = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
BOLT = Person("drv-2", "Eli", "route_driver", None, None, "Bolt & Co")
SUPERVISOR = Person("sup-1", "Dee", "supervisor", None, None, None)


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path,
                          skus="part_number,description,supplier\nGLV,Gloves L,Acme\nTRQ,Torque wrench,Bolt & Co\n",
                          locations="id,kind,unit,sku,min,max,refill_pack,on_hand\n"
                                    "L1,lane,1,GLV,4,20,5,10\nL2,lane,2,GLV,4,20,5,10\nD1,door,1,TRQ,1,2,1,2\n"
                                    "L3,lane,3,GLV,4,20,5,10\nL4,lane,4,GLV,4,20,5,20\n")
    for location, n in (("L1", 8), ("L2", 10), ("D1", 2)):
        led.append("issue", location=location, quantity=n, user_id="tech-1")
    yield led
    led.close()


def test_a_driver_sees_only_their_suppliers_open_tasks(ledger):
    assert pick_list(ledger, ACME)[:2] == [PickLine("L1", "GLV", "Gloves L", 2, 20, 15),
                                           PickLine("L2", "GLV", "Gloves L", 0, 20, 20)]
    assert [line.location for line in pick_list(ledger, BOLT)] == ["D1"]
    assert [line.location for line in pick_list(ledger, SUPERVISOR)] == ["D1", "L1", "L2", "L3"]


def test_the_pick_list_tops_off_to_max_after_the_lines_below_min(ledger):
    """L3 holds 10, above its min of 4: not a refill task, but the driver is there anyway (L4 is full)."""
    lines = pick_list(ledger, ACME)
    assert [(line.location, line.line, line.quantity) for line in lines] == [
        ("L1", "refill", 15), ("L2", "refill", 20), ("L3", "top_off", 10)]
    confirm_refill(ledger, ACME, "L3", 10, counted=20)
    assert [line.location for line in pick_list(ledger, ACME)] == ["L1", "L2"]


def test_an_open_count_task_is_a_count_line_counted_with_nothing_added(ledger):
    wall = ledger.clock.wall()[0]
    with ledger.transaction():        # as a lane suspected empty opens it (the stock-truth flow)
        for location in ("L4", "L1"):
            ledger.db.execute("INSERT INTO count_tasks (location, reason, opened_wall) VALUES (?, ?, ?)",
                              [location, "suspected empty: 2 vends turned with no drop", wall])
    lines = pick_list(ledger, ACME)
    assert [(line.location, line.line) for line in lines] == [
        ("L1", "refill"), ("L2", "refill"), ("L3", "top_off"), ("L4", "count")]
    assert lines[0].reason == lines[3].reason == "suspected empty: 2 vends turned with no drop"
    assert lines[3].quantity == 0
    done = confirm_refill(ledger, ACME, "L4", 0, counted=20)      # the count agrees: still on record
    assert done == RefillDone("L4", 0, 20, None)
    assert rows_of(ledger, "refill") == []
    assert [(r["location"], r["quantity"], r["reason"]) for r in rows_of(ledger, "count")
            if r["user_id"] == "drv-1"] == [("L4", 20, "count at refill")]


def test_a_refill_without_the_drivers_count_is_refused_in_words_and_nothing_is_recorded(ledger):
    before = ledger.cabinet()["next_seq"]
    with pytest.raises(ValueError, match="Count what is in L1 now and enter that count"):
        confirm_refill(ledger, ACME, "L1", 15)
    assert ledger.cabinet()["next_seq"] == before and ledger.on_hand("L1") == 2


def test_the_visit_summary_lists_loaded_counted_and_differences_and_reaches_the_outbox(ledger):
    confirm_refill(ledger, ACME, "L2", 20, counted=20)
    confirm_refill(ledger, ACME, "L1", 15, counted=16)           # the ledger expects 17
    assert not list(ledger.db.query("SELECT 1 FROM outbox_events WHERE type = 'refill_visit'"))
    summary = refill_visits.close_visit(ledger, "drv-1")
    lines = [dict(location="L2", sku="GLV", loaded=20, counted=20, expected=20, difference=0),
             dict(location="L1", sku="GLV", loaded=15, counted=16, expected=17, difference=-1)]
    assert summary == dict(lines=lines, loaded=35, counted=2, differences=1, visit_id=1)
    [event] = ledger.db.query("SELECT body FROM outbox_events WHERE type = 'refill_visit'")
    body = json.loads(event["body"])
    assert (body["visit_id"], body["user_id"], body["summary"]["lines"]) == (1, "drv-1", lines)
    assert refill_visits.close_visit(ledger, "drv-1") is None          # closed once: nothing sent twice
    confirm_refill(ledger, ACME, "L3", 10, counted=20)                  # the next visit is a new one
    assert refill_visits.close_visit(ledger, "drv-1")["visit_id"] == 2


def test_a_refill_closes_the_task_and_clears_the_alerts(ledger):
    assert [a[1] for a in open_alerts(ledger.db, "L2")] == ["low_stock", "stockout"]
    done = confirm_refill(ledger, ACME, "L2", 20, counted=20)
    assert done == RefillDone("L2", 20, 20, None)
    assert [line.location for line in pick_list(ledger, ACME) if line.line == "refill"] == ["L1"]
    assert open_alerts(ledger.db, "L2") == []


def test_a_count_that_differs_corrects_the_ledger(ledger):
    done = confirm_refill(ledger, ACME, "L1", 15, counted=16)   # 2 + 15 = 17 by the ledger; the driver counts 16
    assert done == RefillDone("L1", 15, 16, corrected_from=17)
    counts = [r for r in rows_of(ledger, "count") if r["reason"] == "count at refill"]
    assert [(r["location"], r["quantity"], r["user_id"]) for r in counts] == [("L1", 16, "drv-1")]


def test_another_suppliers_location_is_refused_and_on_record(ledger):
    assert refused(confirm_refill, ledger, ACME, "D1", 2).reason == "other_supplier"
    assert ledger.on_hand("D1") == 0
    assert [(r["reason"], r["location"]) for r in rows_of(ledger, "refusal")] == [
        ("other_supplier", "D1")]
