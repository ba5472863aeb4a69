"""Write docs/mqtt/examples/: an example of every message of the cloud contract (docs/mqtt.md).

    .venv/bin/python docs/mqtt/make_examples.py

Run it again when the contract changes; tests/test_mqtt_contract.py fails while the files differ from what
this writes. Everything is deterministic:

- the example cabinet is CAB-1 of tenant acme, site plant1; its command key is the documented example key
  000102...1f (32 bytes; never use it for a real cabinet);
- down messages are signed for real with edge_agent.cloud.envelope.sign, issued at ISSUED (2026-11-23
  10:00:00Z), with ids derived from their file names (UUID 5);
- the transaction rows of tx_batch.json come from a real ledger (a temporary file, a ManualClock), so their
  hash chain checks out from seq 1;
- examples/invalid/ holds down messages the agent must refuse when it receives them at INVALID_NOW, each
  named after the refusal reason it gets (the part of the name before any further _suffix).
"""
import datetime
import hashlib
import json
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from edge_agent.cloud.envelope import sign  # noqa: E402
from edge_agent.ledger import ManualClock, open_ledger  # noqa: E402

EXAMPLES = HERE / "examples"
KEY = bytes(range(32))                         # 000102...1f: the documented example key
CABINET, TENANT, SITE = "CAB-1", "acme", "plant1"
ISSUED = datetime.datetime(2026, 11, 23, 10, 0, 0, tzinfo=datetime.timezone.utc)
INVALID_NOW = ISSUED + datetime.timedelta(seconds=1)
SESSION = 7
SENT = "2026-11-23T10:00:02.250+00:00"         # the agent's wall clock, as it writes it
LIFETIME_S = {"ack": 300, "resend": 300, "unlock": 300, "users_delta": 3600, "config": 300,
              "users": 86400, "catalog": 86400}   # retained desired state: re-signed by the cloud daily
PIN_SALT = bytes.fromhex("5eed" * 8)


def up(**fields):
    return dict({"v": 1, "cabinet": CABINET, "session": SESSION, "sent_wall": SENT, "clock_synced": True}, **fields)


def message_id(name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "https://locker.example/mqtt/v1/examples/" + name))


def signed(name, type_, body, issued=ISSUED, cabinet=CABINET, lifetime_s=None):
    return sign(KEY, cabinet, type_, body, issued, lifetime_s or LIFETIME_S[type_], id_=message_id(name))


def pin_hash(pin):
    """What edge_agent.rules.pin_hashing.hash_pin gives, with a fixed salt so the examples do not change on every run."""
    n, r, p = 2 ** 14, 8, 1
    digest = hashlib.scrypt(pin.encode(), salt=PIN_SALT, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, PIN_SALT.hex(), digest.hex())


def ledger_rows():
    """Rows 1.. of a real ledger: a refill, an issue (intent and outcome) and a refusal."""
    clock = ManualClock(start="2026-11-23T09:41:07.118+00:00", monotonic_ms=5_210_334)
    with tempfile.TemporaryDirectory() as folder:
        with open_ledger(Path(folder) / "ledger.db", clock, cabinet_id=CABINET) as ledger:
            ledger.db["skus"].insert({"part_number": "P-100", "description": "hex bolt M8x40", "unit_cost": 1250})
            ledger.db["locations"].insert({"id": "L3", "kind": "lane", "unit": 3, "sku": "P-100", "min": 2,
                                           "max": 20})
            ledger.append("refill", location="L3", quantity=12, user_id="driver-1")
            clock.advance(1_093_412)
            seq, _ = ledger.record_intent("issue", location="L3", quantity=1, user_id="u-1042",
                                          badge_id="04A1B2C3", work_order="WO-5521", machine_id="PRESS-4",
                                          cost_center="CC-310", fw_boot=3)
            clock.advance(1_870)
            ledger.record_outcome(seq, "done", 1)
            clock.advance(40_552)
            ledger.append("refusal", user_id="u-2210", badge_id="04C3D4E5F6A7B8", location="L3",
                          reason="not_allowed")
            rows = [{k: v for k, v in row.items() if v is not None} for row in ledger.transactions()]
    return rows


def events(first_seq, *items):
    """Events with contiguous seqs from first_seq: (type, wall, ledger_seq, fields) tuples."""
    return [dict({"seq": first_seq + i, "type": type_, "wall": wall, "clock_synced": True, "ledger_seq": ledger_seq},
                 **fields) for i, (type_, wall, ledger_seq, fields) in enumerate(items)]


def event_batch(first_seq, *items, backlog=False):
    batch = events(first_seq, *items)
    return up(stream="events", first_seq=batch[0]["seq"], last_seq=batch[-1]["seq"], backlog=backlog, events=batch)


def commissioning_check(unit, number, location, status, message, counts_per_g=None, reading_mg=None):
    return {"unit": unit, "number": number, "location": location, "status": status, "message": message,
            "counts_per_g": counts_per_g, "reading_mg": reading_mg}


USER_ANNA = {"id": "u-1042", "name": "Anna Berg", "role": "technician", "department": "Maintenance",
             "cost_center": "CC-310", "supplier": None, "valid_from": "2026-01-01", "valid_to": None,
             "badges": ["04A1B2C3"], "pin_hash": pin_hash("4711")}
USER_OLE = {"id": "u-2210", "name": "Ole Dahl", "role": "contractor", "department": None,
            "cost_center": "CC-990", "supplier": "Nordic Service AS", "valid_from": "2026-11-01T06:00",
            "valid_to": "2026-12-31T18:00", "badges": ["04C3D4E5F6A7B8"], "pin_hash": None}
USER_LIV = {"id": "u-0031", "name": "Liv Moe", "role": "supervisor", "badges": ["1A2B3C4D5E"]}
SKUS = [{"part_number": "P-100", "description": "hex bolt M8x40", "category": "fasteners", "package_size": 50,
         "unit_cost": 1250, "criticality": "normal", "supplier": "Fastenal", "ownership": "consignment",
         "needs_approval": False, "needs_work_order": True, "needs_machine_id": False},
        {"part_number": "G-221", "description": "nitrile gloves, L", "category": "ppe", "package_size": 100,
         "unit_cost": 1890, "criticality": None, "supplier": None, "ownership": "customer"}]


def build():
    """{path relative to examples/: the JSON value to write}."""
    rows = ledger_rows()
    out = {
        "status.json": up(state="online"),
        "status_offline.json": dict(up(state="offline"), sent_wall="2026-11-23T10:00:01.874+00:00"),
        "birth.json": up(agent_version="0.1.0", firmware_version="locker-fw 1.4.0", firmware_boot=3,
                         agent_boot=12, config_hash=hashlib.sha256(b"example agent.toml").hexdigest(),
                         applied={"users": 12, "catalog": 4},
                         streams={"tx": {"head": rows[-1]["seq"], "acked": 0, "head_hash": rows[-1]["hash"]},
                                  "events": {"head": 51, "acked": 40}}),
        "tx_batch.json": up(stream="tx", first_seq=rows[0]["seq"], last_seq=rows[-1]["seq"], backlog=True, rows=rows),
        "event_batch_alerts.json": event_batch(
            41,
            ("alert_raised", "2026-11-23T09:59:12.031+00:00", 3,
             {"alert_id": 17, "location": "L3", "kind": "low_stock", "detail": "on hand 2, min 2"}),
            ("alert_raised", "2026-11-23T09:59:40.500+00:00", None,
             {"alert_id": 18, "location": "D2", "kind": "door_left_open", "detail": None}),
            ("alert_cleared", "2026-11-23T10:00:01.002+00:00", None,
             {"alert_id": 18, "location": "D2", "kind": "door_left_open", "how": "condition", "by": None,
              "note": None}),
            ("alert_updated", "2026-11-23T09:59:12.031+00:00", None,
             {"alert_id": 17, "location": "L3", "kind": "low_stock", "detail": "on hand 1, min 2"}),
            ("alert_acknowledged", "2026-11-23T10:02:30.114+00:00", None,
             {"alert_id": 19, "location": "D1", "kind": "door_forced", "by": "sup-1",
              "note": "night shift forced it for a spill kit"}),
            ("alert_cleared", "2026-11-23T10:02:30.114+00:00", None,
             {"alert_id": 19, "location": "D1", "kind": "door_forced", "how": "acknowledged", "by": "sup-1",
              "note": "night shift forced it for a spill kit"})),
        "event_batch_count_tasks.json": event_batch(
            60,
            ("count_task_opened", "2026-11-23T10:05:00.200+00:00", 9,
             {"task_id": 2, "location": "L7", "reason": "suspected empty: 2 vends in a row turned with no drop"}),
            ("count_task_closed", "2026-11-23T11:40:12.010+00:00", 12,
             {"task_id": 2, "location": "L7", "reason": "suspected empty: 2 vends in a row turned with no drop"})),
        "event_batch_refill_visit.json": event_batch(62, (
            "refill_visit", "2026-11-24T09:31:02.400+00:00", 20,
            {"visit_id": 4, "user_id": "drv-1", "opened_wall": "2026-11-24T09:02:10.000+00:00",
             "summary": {"lines": [{"location": "L3", "sku": "P-100", "loaded": 18, "counted": 20,
                                    "expected": 20, "difference": 0},
                                   {"location": "L7", "sku": "P-230", "loaded": 10, "counted": 9,
                                    "expected": 10, "difference": -1}],
                         "loaded": 28, "counted": 2, "differences": 1}})),
        "event_batch_refill_tasks.json": event_batch(
            44,
            ("refill_task_opened", "2026-11-23T09:59:12.031+00:00", 3,
             {"task_id": 9, "location": "L3", "sku": "P-100", "quantity": 18}),
            ("refill_task_closed", "2026-11-23T09:59:58.700+00:00", 5,
             {"task_id": 9, "location": "L3", "sku": "P-100"}), backlog=True),
        "event_batch_command_results.json": event_batch(
            46,
            ("command_result", "2026-11-23T10:00:03.120+00:00", 6,
             {"command_id": message_id("cmd_unlock"), "command_type": "unlock", "status": "applied",
              "reason": None, "detail": "done"}),
            ("command_result", "2026-11-23T10:00:03.400+00:00", None,
             {"command_id": message_id("invalid/expired"), "command_type": "unlock", "status": "refused",
              "reason": "expired", "detail": "expired 2026-11-23T09:05:00Z"}),
            ("command_result", "2026-11-23T10:00:03.410+00:00", None,
             {"command_id": message_id("cmd_unlock"), "command_type": "unlock", "status": "duplicate",
              "reason": None, "detail": "command %s was already received" % message_id("cmd_unlock")}),
            ("command_result", "2026-11-23T10:00:03.900+00:00", None,
             {"command_id": None, "command_type": None, "status": "refused", "reason": "malformed",
              "detail": "not JSON"})),
        "event_batch_desired_applied.json": event_batch(
            50,
            ("desired_applied", "2026-11-23T10:00:04.015+00:00", 7, {"what": "users", "version": 13}),
            ("desired_applied", "2026-11-23T10:00:04.230+00:00", 8, {"what": "catalog", "version": 5})),
        "event_batch_commissioning_report.json": event_batch(52, (
            "commissioning_report", "2026-11-23T09:31:40.212+00:00", None,
            {"report_id": 1, "passed": False, "installer": "kari", "firmware": "0.1.0",
             "started": "2026-11-23T09:12:03.550+00:00", "finished": "2026-11-23T09:31:40.201+00:00", "checks": [
                 commissioning_check("door", 1, "D1", "passed", "latch opened the door in 221 ms; its sensor read "
                                                                 "open, then closed"),
                 commissioning_check("door", 2, "D2", "failed", "door 2: the latch pulse opened door 3 instead, and "
                                     "door 2 stayed shut: door 2's latch output drives the solenoid of door 3; check "
                                     "the solenoid wiring of door 2 and door 3"),
                 commissioning_check("lane", 3, "L3", "passed", "turned home to home (2 turns), nothing dropped: the "
                                                                 "lane is empty"),
                 commissioning_check("bin", 1, "B1", "passed", "tared and calibrated (209 counts/g); reads 500.0 g "
                                     "with the 500.0 g weight and 0.0 g empty", counts_per_g=209, reading_mg=500012)]})),
        "event_batch_refusals_coalesced.json": event_batch(53, (
            "refusals_coalesced", "2026-11-23T10:01:00.004+00:00", 8,
            {"reason": "unknown_badge", "user_id": None, "count": 2841, "first": "2026-11-23T10:00:00.211+00:00",
             "last": "2026-11-23T10:00:59.987+00:00", "location": None, "badge_id": "8F3A11C2"})),
        "inventory.json": up(as_of_seq=rows[-1]["seq"], locations=[
            {"id": "B1", "kind": "bin", "sku": "G-221", "on_hand": 240, "min": 100, "max": 500, "quarantine": 0,
             "capacity": None},
            {"id": "D2", "kind": "door", "sku": None, "on_hand": 0, "min": 0, "max": 0, "quarantine": 0, "capacity": 1},
            {"id": "L3", "kind": "lane", "sku": "P-100", "on_hand": 11, "min": 2, "max": 15, "quarantine": 1,
             "capacity": 15}]),
        # down: full signed envelopes
        "ack.json": signed("ack", "ack", {"stream": "tx", "upto_seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}),
        "ack_chain_break.json": signed("ack_chain_break", "ack", {
            "stream": "tx", "upto_seq": rows[1]["seq"], "hash": rows[1]["hash"],
            "chain_break": {"seq": rows[2]["seq"], "kind": "rewritten", "detail": "received again with hash "
                            "9c1f...; the first copy had " + rows[2]["hash"]}}),
        "cmd_resend.json": signed("cmd_resend", "resend", {"stream": "events", "from_seq": 44}),
        "cmd_unlock.json": signed("cmd_unlock", "unlock", {"door": 2, "reason": "ticket 8812: fetch the torque wrench"}),
        "cmd_users_delta.json": signed("cmd_users_delta", "users_delta", {
            "base_version": 12, "version": 13, "upsert": [USER_OLE], "remove": ["u-0007"]}),
        "cmd_config.json": signed("cmd_config", "config", {"session_idle_s": 45, "max_pin_tries": 5, "lockout_s": 300}),
        "desired_users.json": signed("desired_users", "users", {"version": 13, "users": [USER_ANNA, USER_OLE, USER_LIV]}),
        "desired_catalog.json": signed("desired_catalog", "catalog", {"version": 5, "skus": SKUS, "locations": [
            {"id": "L3", "sku": "P-100", "min": 2, "max": 15, "refill_pack": 1, "capacity": 15},
            {"id": "B1", "kind": "bin", "unit": 1, "sku": "G-221", "min": 100, "max": 500, "refill_pack": 100,
             "piece_weight_mg": 7400},
            {"id": "D2", "sku": None, "min": 0, "max": 0, "returnable": True, "loan_hours": 8}],
            "allows": [{"role": "technician", "category": "fasteners"}, {"role": "contractor", "sku": "G-221"}],
            "charge_lists": {"cost_center": [{"value": "CC-410", "description": "Maintenance"},
                                             {"value": "CC-520", "description": "Production"}],
                             "machine": [{"value": "PRESS-07", "description": "Press line 7"}],
                             "work_order": [{"value": "WO-######", "description": "SAP PM orders"}]}}),
    }
    # Refused by edge_agent.cloud.envelope.check at INVALID_NOW (clock synchronised):
    unsigned = signed("invalid/unsigned", "unlock", {"door": 2, "reason": "no signature"})
    del unsigned["sig"]
    tampered = signed("invalid/bad_signature", "unlock", {"door": 1, "reason": "signed for door 1"})
    tampered["body"]["door"] = 3                               # changed after signing
    out.update({
        "invalid/unsigned.json": unsigned,
        "invalid/bad_signature.json": tampered,
        "invalid/expired.json": signed("invalid/expired", "unlock", {"door": 2, "reason": "an hour too late"},
                                       issued=ISSUED - datetime.timedelta(hours=1)),
        "invalid/expired_lifetime.json": signed("invalid/expired_lifetime", "config", {"lockout_s": 60},
                                                lifetime_s=86400 + 1),
        "invalid/wrong_cabinet.json": signed("invalid/wrong_cabinet", "unlock", {"door": 2, "reason": "for CAB-2"},
                                             cabinet="CAB-2"),
    })
    return out


def text(value):
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def main():
    for name, value in build().items():
        path = EXAMPLES / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(value))
        print("wrote", path.relative_to(HERE.parent.parent))


if __name__ == "__main__":
    main()

