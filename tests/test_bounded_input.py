"""Bounded input everywhere (issue 14, item 2; docs/decisions/0023-bounded-input.md): the reproductions
"Numbers without bounds" and "Ledger flood", through the real API and agent over the simulated cabinet, and
the ledger's own last-door checks. Each refused value is a 400 that names the field, never a 500, and
nothing of it is written; refusals of one kind from one source are coalesced into a count."""
import json

import pytest

from edge_agent.flows import refill
from edge_agent.ledger import ManualClock, open_ledger, refusal_tally
from edge_agent.ledger.errors import AppendRefused
from edge_agent.rules.access import Access
from tests.api_client import ApiClient
from tests.ledgers import ledger_from_csv, rows_of
from tests.refusals import refused
from tests.test_access import USERS
from tests.test_screen import BADGE, DRIVER, SUPERVISOR, screen_rig


@pytest.fixture
def rig(tmp_path):
    with screen_rig(tmp_path) as r:
        yield r


def logged_in(rig, badge, pin=None, user_id=None):
    kiosk = ApiClient(rig.host, rig.port)
    status, answer = kiosk.request("POST", "/api/badge", {"badge": badge})
    if pin:
        status, answer = kiosk.request("POST", "/api/pin", {"user_id": user_id, "pin": pin})
    assert status == 200, answer
    return kiosk


def written(rig):
    """Every transaction row and outbox event, as the ledger holds them (read on the worker)."""
    def read():
        db = rig.agent.ledger.db
        return (list(db.query("SELECT * FROM transactions ORDER BY seq")),
                list(db.query("SELECT * FROM outbox_events ORDER BY seq")))
    return rig.agent.call(read)


def test_a_refill_of_a_trillion_units_is_refused_and_the_refill_task_still_opens(rig):
    driver = logged_in(rig, DRIVER)
    before = written(rig)
    for added in (10 ** 12, 2 ** 63, 10 ** 30):
        status, answer = driver.request("POST", "/api/refill", {"location": "L3", "added": added})
        assert status == 400 and answer["message"] == "added must be from 0 to 1000000", answer
    status, answer = driver.request("POST", "/api/refill", {"location": "L3", "added": 9})   # L3 holds 8 at most
    assert status == 400 and "L3 holds at most 8" in answer["message"], answer
    assert written(rig) == before
    # still a refill that fits is taken, and a later vend below min opens the task as before
    status, answer = driver.request("POST", "/api/refill", {"location": "L2", "added": 7, "counted": 8})
    assert status == 200 and answer["on_hand"] == 8, answer


def test_the_refill_flow_itself_refuses_more_than_the_location_holds(rig):
    person = rig.agent.call(rig.agent.tap, DRIVER)
    with pytest.raises(ValueError, match="holds at most 8"):
        rig.agent.call(refill.confirm_refill, rig.agent.ledger, person, "L3", 10 ** 12)
    with pytest.raises(ValueError, match="holds at most 8"):
        rig.agent.call(refill.confirm_refill, rig.agent.ledger, person, "L3", 1, counted=10 ** 12)
    assert rig.agent.call(rig.agent.ledger.on_hand, "L3") == 8


@pytest.mark.parametrize("path, body, field", [
    ("/api/issue", {"location": "L3", "quantity": 10 ** 30}, "quantity"),
    ("/api/issue", {"location": "L3", "quantity": 2 ** 63}, "quantity"),
    ("/api/take/begin", {"location": "B1", "quantity": 10 ** 30}, "quantity"),
    ("/api/count", {"location": "L3", "counted": 2 ** 63}, "counted"),
    ("/api/adjust", {"location": "L3", "delta": -(10 ** 30), "reason": "x"}, "delta"),
    ("/api/quarantine", {"location": "D1", "quantity": 2 ** 63, "disposition": "scrap"}, "quantity"),
])
def test_numbers_past_64_bits_are_a_400_naming_the_field_not_a_500(rig, path, body, field):
    supervisor = logged_in(rig, SUPERVISOR)
    before = written(rig)
    status, answer = supervisor.request("POST", path, body)
    assert status == 400 and answer["message"].startswith(field + " must be from"), answer
    assert written(rig) == before


def test_json_8000_deep_is_a_400_before_parsing(rig):
    kiosk = ApiClient(rig.host, rig.port)
    deep = b'{"badge": ' + b"[" * 8000 + b"]" * 8000 + b"}"
    status, answer = kiosk.request("POST", "/api/badge", raw=deep)
    assert status == 400 and answer["reason"] == "too_deep"


def test_a_16_kb_location_and_other_oversized_text_are_refused_not_stored(rig):
    tech = logged_in(rig, BADGE)
    huge = "X" * 16000
    before = written(rig)
    for path, body, field in (("/api/issue", {"location": huge}, "location"),
                              ("/api/issue", {"location": "L3", "work_order": huge}, "work_order"),
                              ("/api/issue", {"location": "L3", "cost_center": huge}, "cost_center"),
                              ("/api/issue", {"location": "L3", "machine_id": "M\x00"}, "machine_id"),
                              ("/api/return", {"location": "D1", "condition": huge}, "condition"),
                              ("/api/badge", {"badge": huge}, "badge"),
                              ("/api/pin", {"user_id": huge, "pin": "1234"}, "user_id")):
        status, answer = tech.request("POST", path, body)
        assert status == 400 and answer["message"].startswith(field), (path, field, answer)
    status, answer = tech.request("POST", "/api/issue", {"location": "../L3"})
    assert status == 400 and "location id such as L3" in answer["message"]
    assert written(rig) == before
    assert b"XXXXXXXXXXXXXXXX" not in rig.path.read_bytes()


def test_the_ledger_is_the_last_door_for_sizes_and_ranges(tmp_path):
    ledger = ledger_from_csv(tmp_path, users=USERS)
    with pytest.raises(AppendRefused, match="location is 16000 characters"):
        ledger.append("refusal", reason="no_such_item", location="X" * 16000)
    with pytest.raises(AppendRefused, match="quantity is out of range"):
        ledger.append("refusal", reason="no_such_item", quantity=2 ** 63)
    assert rows_of(ledger, "refusal") == []
    ledger.close()


def test_an_unknown_badge_flood_is_a_few_rows_and_one_count_a_minute(tmp_path):
    clock = ManualClock(start="2026-03-15T08:00:00+00:00")
    ledger = ledger_from_csv(tmp_path, users=USERS, clock=clock)
    access = Access(ledger)
    for n in range(1000):
        clock.advance(10)                              # 100 taps a second, each a new card number
        assert refused(access.by_badge, "%08X" % (0xDEAD0000 + n)).reason == "unknown_badge"
    assert len(rows_of(ledger, "refusal")) == refusal_tally.BURST
    assert refusal_tally.flush(ledger) == 0            # the minute is not over: nothing yet
    clock.advance(60000)
    assert refusal_tally.flush(ledger) == 1
    (event,) = ledger.db.query("SELECT * FROM outbox_events WHERE type = 'refusals_coalesced'")
    fields = json.loads(event["body"])
    assert fields == {"reason": "unknown_badge", "user_id": None, "count": 995, "location": None,
                      "badge_id": "DEAD03E7",
                      "first": "2026-03-15T08:00:00.060+00:00", "last": "2026-03-15T08:00:10.000+00:00"}
    assert event["ledger_seq"] == rows_of(ledger, "refusal")[-1]["seq"]
    # a wrong PIN for a known user is its own source: still on record at once
    assert refused(access.by_pin, "tech-1", "00000000").reason == "login_failed"   # one answer for a PIN alone
    assert [r["reason"] for r in rows_of(ledger, "refusal")][-1] == "wrong_pin"
    ledger.close()


def test_a_flood_of_unknown_badges_through_the_api_writes_below_one_row_a_second(rig):
    before = written(rig)
    kiosk = ApiClient(rig.host, rig.port)
    for n in range(200):
        status, answer = kiosk.request("POST", "/api/badge", {"badge": "%08X" % (0xDEAD0000 + n)})
        assert status == 403 and answer["reason"] == "unknown_badge"
    rows, events = written(rig)
    assert len(rows) - len(before[0]) == refusal_tally.BURST and events == before[1]
    rig.agent.ledger.clock.advance(60000)              # the window is over: housekeeping writes the count
    rig.agent.call(lambda: None)
    rig.agent.call(lambda: None)                       # a full worker pass (its periodic tasks) between the two
    counts = [json.loads(e["body"]) for e in written(rig)[1] if e["type"] == "refusals_coalesced"]
    assert [(c["reason"], c["count"]) for c in counts] == [("unknown_badge", 195)]


def test_a_count_not_yet_written_is_written_when_the_agent_stops(tmp_path):
    with screen_rig(tmp_path) as rig:
        kiosk = ApiClient(rig.host, rig.port)
        for n in range(refusal_tally.BURST + 3):
            kiosk.request("POST", "/api/badge", {"badge": "%08X" % (0xBEEF0000 + n)})
    ledger = open_ledger(rig.path, ManualClock(), count_boot=False)
    counts = [json.loads(e["body"]) for e in ledger.db.query("SELECT * FROM outbox_events "
                                                             "WHERE type = 'refusals_coalesced'")]
    assert [c["count"] for c in counts] == [3]
    ledger.close()


def test_a_count_that_cannot_be_written_is_dropped_with_a_warning_not_an_error(tmp_path, caplog):
    clock = ManualClock(start="2026-03-15T08:00:00+00:00")
    ledger = ledger_from_csv(tmp_path, users=USERS, clock=clock)
    access = Access(ledger)
    for n in range(refusal_tally.BURST + 2):
        refused(access.by_badge, "%08X" % (0xDEAD0000 + n))
    ledger.db.execute("CREATE TRIGGER no_room BEFORE INSERT ON outbox_events BEGIN "
                      "SELECT RAISE(FAIL, 'database or disk is full'); END")
    clock.advance(60000)
    assert refusal_tally.flush(ledger) == 0
    assert "2 unknown_badge refusals were counted but their count could not be written" in caplog.text
    assert refusal_tally.pending(ledger) == {}
    ledger.close()
