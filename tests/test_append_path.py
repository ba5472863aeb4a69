"""The append path in plain prepared SQL writes exactly what the sqlite-utils path wrote (docs/decisions/0050):
one fixed sequence of ledger operations against a real file gives byte-for-byte the rows and hashes recorded
in tests/golden/append_path.json, which the sqlite-utils append path wrote before the change. And a step is one
SQLite transaction: an error that leaves an inner step fails the whole of it, nothing lands.

Regenerate the golden file only when a change of the rows is intended (a new column, a new trigger):
    PYTHONPATH=. .venv/bin/python tests/test_append_path.py --write"""
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from edge_agent.ledger import AppendRefused, ManualClock, open_ledger, record_admin_change
from edge_agent.ledger.count_tasks import open_count_task
from edge_agent.rules.csv_io import import_locations, import_skus, import_users

GOLDEN = Path(__file__).parent / "golden" / "append_path.json"

SKUS = "part_number,description,category,unit_cost\nGLV,Nitrile gloves,ppe,1.20\nTRQ,Torque wrench,tools,89.00\n"
LOCATIONS = ("id,kind,unit,sku,min,max,refill_pack,on_hand\nL1,lane,1,GLV,3,8,2,5\nL2,lane,2,GLV,1,6,1,2\n"
             "D1,door,1,TRQ,1,2,1,2\n")
USERS = ("id,name,role,department,cost_center,supplier\ntech-1,Jürgen Öz,technician,Maint,CC-401,\n"
         "drv-1,Dee,route_driver,,,Acme\n")


def operations(folder):
    """Every kind of row the agent appends, through the ledger's own API, on a ManualClock: imports (admin and
    count rows), intents and outcomes (vended, no drop, a door, one left pending), refills, counts with and
    without a person, an adjustment, a refusal, min/max opening and closing a refill task and its alerts (and
    their outbox events), a count task settled by a count, text beyond ASCII and a large integer."""
    clock = ManualClock(start="2026-03-02T08:00:00+00:00")
    cwd = os.getcwd()
    os.chdir(folder)                 # the imports record the file name they read: the same every run
    try:
        ledger = open_ledger("ledger.db", clock, cabinet_id="CAB-9")
        for name, text, importer in (("skus.csv", SKUS, import_skus), ("locations.csv", LOCATIONS, import_locations),
                                     ("users.csv", USERS, import_users)):
            Path(name).write_text(text, encoding="utf-8")
            importer(ledger, name)
    finally:
        os.chdir(cwd)
    who = dict(user_id="tech-1", cost_center="CC-401")
    for outcome, given in (("vended", 1), ("vended", 1), ("no_drop", 0), ("vended", 1)):
        clock.advance(1500)
        seq, _ = ledger.record_intent("issue", location="L1", quantity=1, fw_boot=7, **who)
        clock.advance(900)
        ledger.record_outcome(seq, outcome, given, reason="turns %d" % (given + 1))
    clock.advance(2000)
    seq, _ = ledger.record_intent("issue", location="D1", quantity=2, work_order="WO-7 ✓", **who)
    ledger.record_outcome(seq, "opened", 2)                          # D1 to zero: stockout and low stock
    ledger.append("refusal", location="L2", quantity=9, reason="over_limit", **who)
    clock.advance(60_000)
    ledger.append("refill", location="D1", quantity=2, user_id="drv-1")     # back at max: task closed, alerts end
    ledger.append("refill", location="L1", quantity=4, user_id="drv-1")
    with ledger.transaction():
        open_count_task(ledger.db, "L2", "suspected empty", ledger.cabinet()["next_seq"] - 1, clock.wall()[0])
    ledger.append("count", location="L2", quantity=1, user_id="drv-1", reason="count at refill")
    ledger.append("count", location="L1", quantity=7)                  # a restatement: no person, no task
    ledger.append("adjustment", location="L1", quantity=-1, reason="found damaged", user_id="drv-1")
    ledger.append("issue", location="L2", quantity=1, weight_mg=2 ** 62, **who)
    clock.advance(5000)
    record_admin_change(ledger, "set pin", {"user": "tech-1"})
    ledger.record_intent("issue", location="L2", quantity=1, fw_boot=7, **who)    # left pending
    return ledger


def dump(ledger):
    """Every table's rows in rowid order, each value with its SQLite type: what byte-identical means here."""
    tables = [r[0] for r in ledger.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {}
    for table in tables:
        columns = [r[1] for r in ledger.db.execute("PRAGMA table_info(%s)" % table)]
        select = ", ".join("%s, typeof(%s)" % (c, c) for c in columns)
        out[table] = [dict(zip(columns, zip(row[0::2], row[1::2])))
                      for row in ledger.db.execute("SELECT %s FROM %s ORDER BY rowid" % (select, table))]
    return json.loads(json.dumps(out))


def test_the_same_operations_write_byte_identical_rows_and_hashes(tmp_path):
    ledger = operations(tmp_path)
    try:
        got = dump(ledger)
        assert ledger.verify(full=True).ok
    finally:
        ledger.close()
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for table in golden:                  # schema_version and tables of later versions say nothing of appends
        if table != "schema_version":
            assert got[table] == golden[table], table
    assert golden["transactions"][-1]["hash"][0] == got["cabinet"][0]["head_hash"][0]


def test_an_error_leaving_an_inner_step_fails_the_whole_transaction(tmp_path):
    """Nested steps are part of their outer transaction (no savepoint): a failed inner step cannot leave half
    of itself behind, even when the caller catches the error and goes on."""
    ledger = operations(tmp_path)
    try:
        before = dump(ledger)
        with pytest.raises(Exception):
            with ledger.transaction():
                ledger.append("refill", location="L1", quantity=1, user_id="drv-1")
                try:
                    with ledger.transaction():
                        ledger.append("refill", location="L2", quantity=1, user_id="drv-1")
                        raise RuntimeError("the step failed after writing")
                except RuntimeError:
                    pass                          # caught: the outer block goes on, and must not commit
        assert dump(ledger) == before
        with pytest.raises(AppendRefused):        # a refusal before anything is written leaves nothing either
            ledger.append("refill", location="L9", quantity=1)
        assert dump(ledger) == before
        ledger.append("refill", location="L1", quantity=1, user_id="drv-1")    # and the ledger goes on
        assert ledger.verify(full=True).ok
    finally:
        ledger.close()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        led = operations(tmp)
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(dump(led), indent=1, sort_keys=True, ensure_ascii=True) + "\n", encoding="utf-8")
        led.close()
    print("wrote", GOLDEN)
