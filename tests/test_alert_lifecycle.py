"""Every alert has an end (docs/alerts.md): its condition ends it, a count of its location, or a supervisor's
acknowledgement with a note; after the end the same fault raises a new alert that reaches the cloud's
outbox; an open alert's words stay current. Real ledger, real firmware in the simulated cabinet."""
import json
import struct

import pytest

from edge_agent.flows import stock
from edge_agent.flows.alerts import acknowledge
from edge_agent.flows.cabinet_events import record_event
from edge_agent.flows.vending import Vending
from edge_agent.ledger import ManualClock, record_admin_change
from edge_agent.ledger.alerts import open_alert_rows, open_alerts
from edge_agent.link.messages import decode_event
from edge_agent.rules.access import Person
from firmware import messages as M
from sim.virtual_host import VirtualCabinet
from tests.cabinets import cabinet, reset_mid_vend
from tests.ledgers import ledger_from_csv, rows_of
from tests.refusals import refused

TECH = Person("tech-1", "Ana", "technician", "Maint", "CC-410", None)
DEE = Person("sup-1", "Dee", "supervisor", "Maint", "CC-410", None)


@pytest.fixture
def ledger(tmp_path):
    locations = ["L%d,lane,%d,GLV,3,8,1,6" % (n, n) for n in range(1, 13)] + [
        "D%d,door,%d,TRQ,0,1,1,1" % (n, n) for n in range(1, 5)]
    led = ledger_from_csv(tmp_path, skus="part_number,description,category\nGLV,Gloves,ppe\nTRQ,Torque wrench,tools\n",
                          locations="id,kind,unit,sku,min,max,refill_pack,on_hand\n" + "\n".join(locations) + "\n",
                          clock=ManualClock())
    led.db["role_allows"].insert_all([{"role": "technician", "category": "ppe"}])
    record_admin_change(led, "access rules written by the test")
    yield led
    led.close()


def outbox(ledger, type_):
    return [json.loads(r[0]) for r in ledger.db.execute("SELECT body FROM outbox_events WHERE type = ? ORDER BY seq",
                                                        [type_])]


def event(seq, type_, fmt="", *fields):
    return decode_event(seq, bytes((type_,)) + struct.pack(">" + fmt, *fields))


def alert(ledger, kind):
    return [a for a in open_alert_rows(ledger.db) if a["kind"] == kind]


def how_ended(ledger, kind):
    return [r[0] for r in ledger.db.execute("SELECT cleared_how FROM alerts WHERE kind = ? ORDER BY id", [kind])]


def test_a_forced_door_ends_when_a_supervisor_acknowledges_it_and_a_second_forcing_raises_a_new_alert(ledger):
    record_event(ledger, event(1, M.EV_DOOR_FORCED, "B", 2))
    record_event(ledger, event(2, M.EV_DOOR_FORCED, "B", 2))       # still open: one alert, not two
    [forced] = alert(ledger, "door_forced")
    assert forced["location"] == "D2" and forced["raised_wall"]
    answer = acknowledge(ledger, DEE, forced["id"], "  hinge bent by a forklift, reported to facilities ")
    assert answer == dict(alert_id=forced["id"], kind="door_forced", ended=True)
    assert open_alerts(ledger.db) == [] and how_ended(ledger, "door_forced") == ["acknowledged"]
    [acked] = outbox(ledger, "alert_acknowledged")
    assert (acked["by"], acked["note"]) == ("sup-1", "hinge bent by a forklift, reported to facilities")
    [cleared] = outbox(ledger, "alert_cleared")
    assert (cleared["how"], cleared["by"]) == ("acknowledged", "sup-1")
    record_event(ledger, event(3, M.EV_DOOR_FORCED, "B", 2))       # the same fault again, after its end
    assert [a["kind"] for a in alert(ledger, "door_forced")] == ["door_forced"]
    assert [e["kind"] for e in outbox(ledger, "alert_raised")] == ["door_forced", "door_forced"]


def test_only_a_supervisor_acknowledges_with_a_short_note_and_each_refusal_is_on_record(ledger):
    record_event(ledger, event(1, M.EV_DOOR_FORCED, "B", 1))
    [forced] = alert(ledger, "door_forced")
    assert refused(acknowledge, ledger, TECH, forced["id"], "fine").reason == "not_allowed"
    assert refused(acknowledge, ledger, DEE, forced["id"], "   ").reason == "needs_note"
    too_long = refused(acknowledge, ledger, DEE, forced["id"], "x" * 201)
    assert too_long.reason == "note_too_long" and "200" in too_long.words
    assert refused(acknowledge, ledger, DEE, 9999, "fine").reason == "no_such_alert"
    assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["not_allowed", "needs_note", "note_too_long",
                                                                 "no_such_alert"]
    assert alert(ledger, "door_forced") and outbox(ledger, "alert_acknowledged") == []


def test_low_stock_text_stays_current_and_an_acknowledgement_does_not_end_it_the_refill_does(ledger):
    sim, host = cabinet()
    vending = Vending(ledger, VirtualCabinet(host))
    assert vending.issue(TECH, "L2", 4).given == 4                  # 6 -> 2, min 3
    [low] = alert(ledger, "low_stock")
    assert low["detail"] == "2 on hand, min 3"
    vending.issue(TECH, "L2", 1)
    assert alert(ledger, "low_stock")[0]["detail"] == "1 on hand, min 3"
    assert [e["detail"] for e in outbox(ledger, "alert_updated")] == ["1 on hand, min 3"]
    assert acknowledge(ledger, DEE, low["id"], "driver called, comes tomorrow")["ended"] is False
    [still] = alert(ledger, "low_stock")
    assert (still["acked_by"], still["ack_note"]) == ("sup-1", "driver called, comes tomorrow")
    assert refused(acknowledge, ledger, DEE, low["id"], "again").reason == "already_acknowledged"
    stock.cycle_count(ledger, DEE, "L2", 7)
    assert alert(ledger, "low_stock") == [] and how_ended(ledger, "low_stock") == ["condition"]


def test_an_unknown_outcome_ends_with_a_count_of_its_location_and_a_second_one_raises_a_new_alert(ledger):
    sim, host = cabinet()
    port = VirtualCabinet(host)
    vending = Vending(ledger, port)
    original = port.vend

    def unknown_vend():
        port.vend = reset_mid_vend(sim, host)
        assert vending.issue(TECH, "L4", 1).unknown
        port.vend = original
        host.hello()
        assert [o for _, o in vending.recover()] == ["unknown"]
    unknown_vend()
    assert [a["location"] for a in alert(ledger, "unknown_outcome")] == ["L4"]
    stock.cycle_count(ledger, DEE, "L4", 6)
    assert alert(ledger, "unknown_outcome") == [] and how_ended(ledger, "unknown_outcome") == ["count"]
    [cleared] = outbox(ledger, "alert_cleared")
    assert (cleared["kind"], cleared["how"]) == ("unknown_outcome", "count")
    unknown_vend()                                                   # the same again, after the count
    assert [a["location"] for a in alert(ledger, "unknown_outcome")] == ["L4"]
    assert [e["kind"] for e in outbox(ledger, "alert_raised")].count("unknown_outcome") == 2


def test_a_count_ends_only_what_a_count_settles_at_that_location(ledger):
    from edge_agent.ledger.alerts import raise_alert
    with ledger.transaction():
        raise_alert(ledger.db, "L5", "bin_weight_mismatch", "weighs 3 more than the ledger", None, "w")
        raise_alert(ledger.db, "L6", "bin_weight_mismatch", "weighs 1 less", None, "w")
        raise_alert(ledger.db, "L5", "lane_jammed", "lane 5 jammed", None, "w")
    stock.cycle_count(ledger, DEE, "L5", 6)
    assert sorted((a[0], a[1]) for a in open_alerts(ledger.db)) == [("L5", "lane_jammed"),
                                                                    ("L6", "bin_weight_mismatch")]


def test_a_door_left_open_ends_when_it_closes_and_comes_back_when_left_open_again(ledger):
    record_event(ledger, event(1, M.EV_DOOR_LEFT_OPEN, "BH", 3, 60))
    record_event(ledger, event(2, M.EV_DOOR_CLOSED, "BI", 3, 75000))
    assert how_ended(ledger, "door_left_open") == ["condition"]
    record_event(ledger, event(3, M.EV_DOOR_LEFT_OPEN, "BH", 3, 60))
    assert [a["location"] for a in alert(ledger, "door_left_open")] == ["D3"]


def test_each_cabinet_fault_code_is_its_own_alert_ended_by_acknowledgement_and_link_lost_raises_none(ledger):
    record_event(ledger, event(1, M.EV_FAULT, "Bi", M.F_LINK_LOST, 0))     # every agent restart causes one
    assert open_alerts(ledger.db) == []
    record_event(ledger, event(2, M.EV_FAULT, "Bi", M.F_EVENTS_LOST, 3))
    record_event(ledger, event(3, M.EV_FAULT, "Bi", M.F_OUTPUT_CAPPED, 14))
    record_event(ledger, event(4, M.EV_FAULT, "Bi", M.F_EVENTS_LOST, 5))   # the count of lost events grows
    kinds = {a["kind"]: a for a in open_alert_rows(ledger.db)}
    assert sorted(kinds) == ["cabinet_events_lost", "cabinet_output_capped"]
    assert "5 events" in kinds["cabinet_events_lost"]["detail"] and "GPIO 14" in kinds["cabinet_output_capped"]["detail"]
    acknowledge(ledger, DEE, kinds["cabinet_output_capped"]["id"], "solenoid pulse set to 1200 ms: fixed to 400")
    record_event(ledger, event(5, M.EV_FAULT, "Bi", M.F_OUTPUT_CAPPED, 14))
    assert [a["kind"] for a in open_alert_rows(ledger.db)] == ["cabinet_events_lost", "cabinet_output_capped"]
