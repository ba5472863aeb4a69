"""The ledger side of cloud sync against real ledger files: alert and refill-task events written by triggers in
the same SQLite transaction as the stock change, batches read in seq order within row and byte limits, acks
that never go back, the session counter and the command ids kept across restarts, the v2 -> v3 migration,
and pruning that never drops an unacknowledged event."""
import json

import pytest

from edge_agent.cloud import outbox
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.migrations import MIGRATIONS, schema_version
from tests.ledgers import ledger_from_csv

SKUS = "part_number,description\nGLV-NIT-L,Nitrile gloves L\n"
# Stock above min everywhere, so the import's count rows (seq 1 and 2) raise nothing.
LOCATIONS = "id,kind,unit,sku,min,max,refill_pack,on_hand\nL3,lane,3,GLV-NIT-L,2,8,1,5\nL4,lane,4,GLV-NIT-L,0,8,1,3\n"


class Boom(Exception):
    pass


@pytest.fixture
def clock():
    return ManualClock(start="2026-03-02T08:00:00+00:00")


@pytest.fixture
def ledger(tmp_path, clock):
    led = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, clock=clock)   # L3: 5 on hand, min 2
    yield led
    led.close()


def issue(led, location="L3", n=1):
    return led.append("issue", location=location, quantity=n, user_id="tech-1")["seq"]


def events(led, after=0):
    batch = outbox.read_batch(led, "events", after, max_rows=10_000, max_bytes=10 ** 9)
    return batch.items if batch else []


def kinds(led, after=0):
    return [(e["type"], e.get("kind")) for e in events(led, after)]


# -- events written by triggers, in the same SQLite transaction -------------------------------------------
def test_going_below_min_writes_the_row_and_its_events_together(ledger):
    assert events(ledger) == []                                 # counts above min: nothing to report
    seq = issue(ledger, n=4)                                    # 1 left: below min
    assert [(e["type"], e["seq"], e["ledger_seq"]) for e in events(ledger)] == [
        ("refill_task_opened", 1, seq), ("alert_raised", 2, seq)]
    task, alert = events(ledger)
    task_id, alert_id = (ledger.db.execute("SELECT id FROM %s" % t).fetchone()[0] for t in ("refill_tasks", "alerts"))
    assert task == {"seq": 1, "type": "refill_task_opened", "wall": "2026-03-02T08:00:00.000+00:00",
                    "clock_synced": True, "ledger_seq": seq, "task_id": task_id, "location": "L3",
                    "sku": "GLV-NIT-L", "quantity": 7}
    assert alert == {"seq": 2, "type": "alert_raised", "wall": "2026-03-02T08:00:00.000+00:00",
                     "clock_synced": True, "ledger_seq": seq, "alert_id": alert_id, "location": "L3",
                     "kind": "low_stock", "detail": "1 on hand, min 2"}
    issue(ledger)                                               # 0 left: the task follows, a stockout
    # No second task, no second low_stock: its words follow the stock (alert_updated), and a stockout.
    assert kinds(ledger, 2) == [("alert_updated", "low_stock"), ("alert_raised", "stockout")]


def test_a_failure_after_the_append_leaves_neither_the_row_nor_its_events(ledger):
    before = (outbox.head(ledger, "tx"), outbox.head(ledger, "events"), ledger.on_hand("L3"))
    with pytest.raises(Boom):
        with ledger.transaction():
            issue(ledger, n=4)                                  # would open a task and raise an alert
            assert outbox.head(ledger, "events") == 2           # written, inside the transaction
            raise Boom("power cut before commit")
    assert (outbox.head(ledger, "tx"), outbox.head(ledger, "events"), ledger.on_hand("L3")) == before
    assert events(ledger) == [] and ledger.db["alerts"].count == 0 and ledger.db["refill_tasks"].count == 0
    seq = issue(ledger, n=4)                                    # the same issue, committed this time
    assert [(e["seq"], e["ledger_seq"]) for e in events(ledger)] == [(1, seq), (2, seq)]  # seq not skipped


def test_a_refill_closes_the_task_and_clears_the_alerts_with_their_seq(ledger, clock):
    opened = issue(ledger, n=5)                                 # 0 left: task, low_stock, stockout
    clock.advance(60_000)
    refill = ledger.append("refill", location="L3", quantity=8, user_id="drv-1")["seq"]
    evs = events(ledger)
    assert [(e["type"], e.get("kind"), e["ledger_seq"]) for e in evs] == [
        ("refill_task_opened", None, opened), ("alert_raised", "low_stock", opened),
        ("alert_raised", "stockout", opened),
        ("refill_task_closed", None, refill), ("alert_cleared", "low_stock", refill),
        ("alert_cleared", "stockout", refill)]
    closed = evs[3]
    assert closed == {"seq": 4, "type": "refill_task_closed", "wall": "2026-03-02T08:01:00.000+00:00",
                      "clock_synced": True, "ledger_seq": refill, "task_id": evs[0]["task_id"],
                      "location": "L3", "sku": "GLV-NIT-L"}
    assert {e["alert_id"] for e in evs[4:]} == {e["alert_id"] for e in evs[1:3]}
    assert "detail" not in evs[4] and evs[4]["wall"] == "2026-03-02T08:01:00.000+00:00"
    ledger.append("refill", location="L3", quantity=1, user_id="drv-1")   # nothing open: nothing to report
    assert outbox.head(ledger, "events") == 6


def test_clock_synced_is_that_of_the_related_transaction(ledger, clock):
    clock.set_wall("2020-01-01T00:00:00+00:00", synced=False)      # a Pi with no RTC, not synced yet
    seq = issue(ledger, n=4)
    assert ledger.transaction_row(seq)["clock_synced"] == 0
    assert [(e["clock_synced"], e["wall"]) for e in events(ledger)] == [
        (False, "2020-01-01T00:00:00.000+00:00")] * 2
    clock.set_wall("2026-03-02T09:00:00+00:00", synced=True)       # synced now; the old rows stay as they were
    refill = ledger.append("refill", location="L3", quantity=7, user_id="drv-1")["seq"]
    assert [e["clock_synced"] for e in events(ledger, 2)] == [True, True]
    # An alert with no transaction takes the latest transaction's flag: here the synced refill.
    ledger.db.execute("INSERT INTO alerts (location, kind, detail, raised_wall) "
                      "VALUES ('L4', 'door_forced', NULL, '2026-03-02T09:00:01+00:00')")
    last = events(ledger)[-1]
    assert (last["type"], last["ledger_seq"], last["clock_synced"]) == ("alert_raised", None, True)
    assert ledger.transaction_row(refill)["clock_synced"] == 1


def test_record_event_joins_the_callers_transaction_and_uses_the_clock(ledger, clock):
    clock.set_wall("2026-03-02T10:00:00+00:00", synced=False)
    seq = outbox.record_event(ledger, "desired_applied", what="users", version=3)
    assert events(ledger)[-1] == {"seq": seq, "type": "desired_applied", "wall": "2026-03-02T10:00:00.000+00:00",
                                  "clock_synced": False, "ledger_seq": None, "what": "users", "version": 3}
    with pytest.raises(Boom):
        with ledger.transaction():
            row = ledger.append("count", location="L4", quantity=6, user_id="cloud:c-1")
            outbox.record_event(ledger, "command_result", ledger_seq=row["seq"], command_id="c-1",
                                command_type="unlock", status="applied", reason=None, detail=None)
            raise Boom()
    assert outbox.head(ledger, "events") == seq and ledger.on_hand("L4") == 3
    with ledger.transaction():
        row = ledger.append("count", location="L4", quantity=3, user_id="cloud:c-1")
        outbox.record_event(ledger, "command_result", ledger_seq=row["seq"], command_id="c-1",
                            command_type="unlock", status="applied", reason=None, detail=None)
    assert events(ledger)[-1]["ledger_seq"] == row["seq"] and events(ledger)[-1]["reason"] is None
    with pytest.raises(ValueError, match="seq"):
        outbox.record_event(ledger, "command_result", seq=9)


# -- reading batches --------------------------------------------------------------------------------------
def test_read_batch_keeps_to_rows_and_bytes_in_seq_order(ledger):
    for _ in range(9):
        ledger.append("return", location="L4", quantity=1, user_id="tech-1")
    head = outbox.head(ledger, "tx")
    assert head == 13                                   # the imports' 2 counts and 2 admin rows, 9 returns
    every = outbox.read_batch(ledger, "tx", 0, max_rows=1000)
    assert [r["seq"] for r in every.items] == list(range(1, head + 1))
    assert (every.stream, every.first_seq, every.last_seq) == ("tx", 1, head)
    assert every.items == [{k: v for k, v in r.items() if v is not None} for r in ledger.transactions()]
    assert every.nbytes == len(json.dumps(every.items))

    batch = outbox.read_batch(ledger, "tx", 3, max_rows=4)
    assert [r["seq"] for r in batch.items] == [4, 5, 6, 7] and (batch.first_seq, batch.last_seq) == (4, 7)

    three = len(json.dumps(every.items[3:6]))
    batch = outbox.read_batch(ledger, "tx", 3, max_bytes=three)
    assert [r["seq"] for r in batch.items] == [4, 5, 6] and batch.nbytes == three <= 3 * 1000
    batch = outbox.read_batch(ledger, "tx", 3, max_bytes=three - 1)
    assert [r["seq"] for r in batch.items] == [4, 5]
    tiny = outbox.read_batch(ledger, "tx", 3, max_bytes=10)       # one row is bigger: still one
    assert [r["seq"] for r in tiny.items] == [4] and tiny.nbytes > 10

    # Reading on from each batch's last seq walks the whole stream, each seq once.
    seen, after = [], 0
    while (batch := outbox.read_batch(ledger, "tx", after, max_rows=3, max_bytes=700)) is not None:
        seen += [r["seq"] for r in batch.items]
        after = batch.last_seq
    assert seen == list(range(1, head + 1))
    assert outbox.read_batch(ledger, "tx", head) is None
    assert outbox.read_batch(ledger, "events", 0) is None


def test_a_hole_in_a_stream_is_refused_not_skipped(ledger):
    issue(ledger, n=5)                                  # events 1-3
    ledger.db.execute("DELETE FROM outbox_events WHERE seq = 2")
    with pytest.raises(outbox.StreamGap, match="seq 2 is missing"):
        outbox.read_batch(ledger, "events", 0)
    with pytest.raises(outbox.StreamGap, match="seq 2 to 2 are missing"):
        outbox.read_batch(ledger, "events", 1)          # 2 was never acknowledged: not a pruned event
    outbox.set_acked(ledger, "events", 2)
    assert outbox.read_batch(ledger, "events", 1).first_seq == 3   # acknowledged, so it may be gone


# -- acks, heads and sessions ----------------------------------------------------------------------------
def test_set_acked_never_goes_back_and_stops_at_the_head(ledger):
    issue(ledger, n=5)
    assert {s: outbox.acked(ledger, s) for s in outbox.STREAMS} == {"tx": 0, "events": 0}
    tx_head, ev_head = outbox.head(ledger, "tx"), outbox.head(ledger, "events")
    assert ev_head == 3
    assert outbox.set_acked(ledger, "tx", 2) == 2
    assert outbox.set_acked(ledger, "tx", 1) == 2                  # an old ack changes nothing
    assert outbox.set_acked(ledger, "tx", tx_head + 50) == tx_head  # beyond what was written: clamped
    assert outbox.set_acked(ledger, "events", 99) == 3
    assert outbox.acked(ledger, "tx") == tx_head and outbox.acked(ledger, "events") == 3
    with pytest.raises(ValueError):
        outbox.set_acked(ledger, "inventory", 1)
    with pytest.raises(ValueError):
        outbox.set_acked(ledger, "tx", -1)


def test_session_rises_across_reopen(tmp_path, clock):
    path = tmp_path / "ledger.db"
    with open_ledger(path, clock) as led:
        assert [outbox.next_session(led) for _ in range(3)] == [1, 2, 3]
    with open_ledger(path, clock) as led:
        assert outbox.next_session(led) == 4


# -- commands, versions, settings ------------------------------------------------------------------------
def test_command_ids_are_remembered_across_reopen_and_pruned_after_expiry(tmp_path, clock):
    path = tmp_path / "ledger.db"
    with open_ledger(path, clock) as led:
        outbox.remember_command(led, "c-1", "unlock", "2026-03-02T08:05:00Z", "started")
        outbox.remember_command(led, "c-1", "unlock", "2026-03-02T08:05:00Z", "applied")
        outbox.remember_command(led, "c-2", "config", "2026-03-03T08:00:00Z", "refused")
    with open_ledger(path, clock) as led:
        assert [outbox.command_status(led, i) for i in ("c-1", "c-2", "c-3")] == ["applied", "refused", None]
        assert outbox.prune_commands(led, "2026-03-03T08:04:00+00:00") == 0     # c-1 expired < a day ago
        assert outbox.prune_commands(led, "2026-03-03T08:06:00Z") == 1
        assert outbox.command_status(led, "c-1") is None and outbox.command_status(led, "c-2") == "refused"
        assert outbox.prune_commands(led, "2026-03-04T08:00:01+00:00") == 1
        assert led.db["commands_seen"].count == 0


def test_applied_versions_and_settings_persist(tmp_path, clock):
    path = tmp_path / "ledger.db"
    with open_ledger(path, clock) as led:
        assert outbox.applied_versions(led) == {"users": None, "catalog": None} and outbox.settings(led) == {}
        outbox.set_applied_version(led, "users", 4)
        assert outbox.set_settings(led, session_idle_s=60, max_pin_tries=5) == {"session_idle_s": 60,
                                                                                "max_pin_tries": 5}
        outbox.set_settings(led, lockout_s=300, max_pin_tries=None)
        with pytest.raises(ValueError):
            outbox.set_applied_version(led, "badges", 1)
    with open_ledger(path, clock) as led:
        assert outbox.applied_versions(led) == {"users": 4, "catalog": None}
        assert outbox.settings(led) == {"session_idle_s": 60, "lockout_s": 300}


# -- pruning --------------------------------------------------------------------------------------------
def test_pruning_keeps_every_unacknowledged_event_and_seqs_are_never_reused(ledger):
    for _ in range(4):                                      # each round: 3 events down, 3 up = 6 events
        issue(ledger, n=ledger.on_hand("L3"))
        ledger.append("refill", location="L3", quantity=8, user_id="drv-1")
    assert outbox.head(ledger, "events") == 24
    assert outbox.prune_synced_events(ledger, keep=0) == 0  # nothing acknowledged: nothing goes
    outbox.set_acked(ledger, "events", 10)
    assert outbox.prune_synced_events(ledger, keep=4) == 6  # 1-6 go; 7-10 kept, 11-24 unacknowledged
    assert [e["seq"] for e in events(ledger)] == list(range(7, 25))
    assert outbox.prune_synced_events(ledger, keep=0) == 4
    assert [e["seq"] for e in events(ledger)] == list(range(11, 25))
    outbox.set_acked(ledger, "events", 24)
    assert outbox.prune_synced_events(ledger, keep=0) == 14 and events(ledger) == []
    assert outbox.head(ledger, "events") == 24              # the head survives an empty outbox
    assert outbox.record_event(ledger, "desired_applied", what="catalog", version=1) == 25
    assert outbox.read_batch(ledger, "events", 24).first_seq == 25
    assert outbox.head(ledger, "tx") == ledger.cabinet()["next_seq"] - 1 and ledger.verify().ok


# -- migration ------------------------------------------------------------------------------------------
def test_a_v2_ledger_with_history_migrates_unsynced_and_without_backfill(tmp_path, clock):
    path = tmp_path / "ledger.db"
    v2 = MIGRATIONS[:2]
    with open_ledger(path, clock, cabinet_id="CAB-1", migrations=v2) as led:
        assert schema_version(led.db) == 2
        led.db["skus"].insert({"part_number": "GLV-NIT-L", "description": "gloves"})
        led.db["locations"].insert({"id": "L3", "kind": "lane", "unit": 3, "sku": "GLV-NIT-L", "min": 2, "max": 8})
        led.append("refill", location="L3", quantity=5, user_id="drv-1")
        issue(led, n=4)                                     # a task and an alert, opened under v2
        before = list(led.transactions())
    with open_ledger(path, clock, cabinet_id="CAB-1") as led:
        assert schema_version(led.db) == MIGRATIONS[-1].version == len(MIGRATIONS)
        def set_fields(rows):                               # later versions add nullable columns
            return [{k: v for k, v in r.items() if v is not None} for r in rows]
        assert set_fields(led.transactions()) == set_fields(before) and led.verify().ok
        assert led.db["alerts"].count == 1 and led.db["refill_tasks"].count == 1
        assert outbox.read_batch(led, "events", 0) is None  # history is not back-filled
        assert {s: outbox.acked(led, s) for s in outbox.STREAMS} == {"tx": 0, "events": 0}
        batch = outbox.read_batch(led, "tx", outbox.acked(led, "tx"))
        assert (batch.first_seq, batch.last_seq) == (1, 2)   # everything is unsynced
        refill = led.append("refill", location="L3", quantity=7, user_id="drv-1")["seq"]
        assert [(e["seq"], e["type"], e["ledger_seq"]) for e in events(led)] == [
            (1, "refill_task_closed", refill), (2, "alert_cleared", refill)]
