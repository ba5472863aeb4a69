"""A chain that cannot be rewritten quietly (issue 14, item 4; docs/decisions/0025-chain-anchored-by-the-cloud.md).

Real ledger files edited as someone with the sqlite3 CLI would: each hashed column edited in place (the
append-only triggers dropped for the edit and put back, so only the chain can tell), and the recipe itself
checked column by column. Then the reproductions of the issue: a tail deleted with next_seq and head_hash
rolled back, a consistent rewrite from an edited row, dropped or replaced triggers, an edited on_hand, edited
roles, badges, PIN hashes and rules; and the cloud's word of a break reaching the agent."""
import hashlib
import json
import sqlite3

import pytest

from edge_agent.cloud import outbox
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger.chain import GENESIS_HASH, UNHASHED, canonical_bytes, row_hash
from edge_agent.ledger.integrity import expected_triggers
from edge_agent.ledger.schema_v2 import CONDITIONS
from edge_agent.ledger.schema_v1 import ACTIONS
from edge_agent.ledger.schema_v6 import KINDS
from edge_agent.rules.pin_hashing import hash_pin
from tests.ledgers import ledger_from_csv
from tests.test_cloud_commands import down, results  # noqa: F401 - the fixture

SKUS = "part_number,description,category,unit_cost\nP-100,hex bolt M8,fasteners,12.50\n"
LOCATIONS = "id,kind,unit,sku,on_hand,min,max\nL3,lane,3,P-100,10,2,20\n"
USERS = ("id,name,role,pin,badges\ntech-1,Ana,technician,,04A1B2C3\nsup-1,Bo,supervisor,90817263,04A1B2C4\n")
ALLOWS = "role,sku,category\ntechnician,,fasteners\n"
# Every column a caller can give, non-null: the row the per-column tamper tests edit.
EVERY_FIELD = dict(action="issue", user_id="tech-1", badge_id="04A1B2C3", location="L3", quantity=2,
                   unit_cost=1250, work_order="WO-5521", machine_id="PRESS-4", cost_center="CC-310", cmd_id=777,
                   intent_seq=1, outcome="done", reason="for the press", approver_id="sup-1", condition="good",
                   weight_mg=9800, fw_boot=3, detail='{"note":"every column"}')
CHOICES = {"kind": KINDS, "action": ACTIONS, "condition": CONDITIONS, "clock_synced": (0, 1)}


@pytest.fixture
def clock():
    return ManualClock(start="2026-03-02T08:00:00+00:00")


@pytest.fixture
def path(tmp_path, clock):
    """A ledger: the imports (each an admin row), a refill and two issues, the last with every column set."""
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS, clock=clock)
    from edge_agent.rules.csv_io import import_role_allows
    allows = tmp_path / "allows.csv"
    allows.write_text(ALLOWS)
    import_role_allows(ledger, allows)
    ledger.append("refill", location="L3", quantity=5, user_id="drv-1")
    clock.advance(1000)
    ledger.append("issue", location="L3", quantity=1, user_id="tech-1")
    clock.advance(1000)
    ledger.append("issue", **EVERY_FIELD)
    assert ledger.verify().ok, ledger.verify()
    ledger.close()
    return tmp_path / "ledger.db"


def raw(path):
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def tamper(path, *statements, restore_triggers=True):
    """Drop the append-only triggers, run the statements, and (by default) put the triggers back exactly as
    the schema wrote them, so that only the chain and the other checks can tell."""
    conn = raw(path)
    for name in ("transactions_no_update", "transactions_no_delete"):
        conn.execute("DROP TRIGGER %s" % name)
    for statement in statements:
        conn.execute(*statement) if isinstance(statement, tuple) else conn.execute(statement)
    if restore_triggers:
        for name in ("transactions_no_update", "transactions_no_delete"):
            conn.execute(expected_triggers()[name])
    conn.close()


def verify(path, clock):
    with open_ledger(path, clock, count_boot=False) as ledger:
        return ledger.verify()


def last_row(path):
    conn = raw(path)
    try:
        return dict(conn.execute("SELECT * FROM transactions ORDER BY seq DESC LIMIT 1").fetchone())
    finally:
        conn.close()


def columns(path):
    conn = raw(path)
    try:
        return [r["name"] for r in conn.execute("PRAGMA table_info(transactions)")]
    finally:
        conn.close()


def hashed_columns(tmp_path):
    """The transactions table's columns but the two hashes: what the recipe must cover (a new column too)."""
    with open_ledger(tmp_path / "columns.db", ManualClock()) as ledger:
        return [c.name for c in ledger.db["transactions"].columns if c.name not in ("hash", "prev_hash")]


def other_value(column, value):
    """A different value the column's CHECK accepts."""
    if column in CHOICES:
        return next(v for v in CHOICES[column] if v != value)
    if column == "cmd_id":
        return value + 1000           # UNIQUE
    if column == "intent_seq":
        return value + 1              # still an existing seq
    if isinstance(value, int):
        return value + 1
    return value + "x"


def _table_columns():
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as folder:
        return hashed_columns(Path(folder))


HASHED = _table_columns()


# -- the recipe ---------------------------------------------------------------------------------------------
def test_the_recipe_is_the_documented_one():
    """sha256 over prev_hash (64 hex ASCII) + compact sorted-key ASCII JSON of the non-null columns."""
    row = {"seq": 1, "boot": 1, "wall_time": "2026-03-02T08:00:00.000+00:00", "clock_synced": 1,
           "monotonic_ms": 0, "kind": "refill", "user_id": "drv-1", "location": "L3", "quantity": 5,
           "sku": "P-100", "unit_cost": None, "prev_hash": GENESIS_HASH, "hash": "ignored"}
    expected = ('{"boot":1,"clock_synced":1,"kind":"refill","location":"L3","monotonic_ms":0,"quantity":5,'
                '"seq":1,"sku":"P-100","user_id":"drv-1","wall_time":"2026-03-02T08:00:00.000+00:00"}')
    assert canonical_bytes(row) == expected.encode("ascii")
    assert GENESIS_HASH == "0" * 64
    assert row_hash(GENESIS_HASH, row) == hashlib.sha256((GENESIS_HASH + expected).encode("ascii")).hexdigest()


@pytest.mark.parametrize("column", HASHED)
def test_each_column_is_in_the_hashed_bytes(column):
    """Take a column out of the recipe (UNHASHED, canonical_bytes) and its case here fails."""
    assert column not in UNHASHED
    row = {name: (1 if name in ("seq", "boot", "clock_synced", "monotonic_ms", "quantity", "unit_cost", "cmd_id",
                                "intent_seq", "weight_mg", "fw_boot") else "a") for name in HASHED}
    row.update(kind="issue", action="issue", condition="good")
    changed = dict(row, **{column: other_value(column, row[column])})
    assert row_hash(GENESIS_HASH, changed) != row_hash(GENESIS_HASH, row)
    assert row_hash(GENESIS_HASH, dict(row, **{column: None})) != row_hash(GENESIS_HASH, row)


# -- one tamper test per hashed column -------------------------------------------------------------------------
@pytest.mark.parametrize("column", HASHED)
def test_an_edited_column_fails_verify(path, clock, column):
    """The last row (every column set) edited in the file, the triggers put back: the chain shows it at
    that row, even for the last one (whose hash is the head's)."""
    row = last_row(path)
    assert row[column] is not None, "the test row must set %s" % column
    tamper(path, ("UPDATE transactions SET %s = ? WHERE seq = ?" % column, [other_value(column, row[column]),
                                                                              row["seq"]]))
    result = verify(path, clock)
    assert not result.ok and result.bad_seq == row["seq"], str(result)
    assert ("edited" in result.reason) if column != "seq" else ("missing" in result.reason), str(result)


def test_every_caller_field_is_a_column_and_the_test_row_sets_them_all(path):
    from edge_agent.ledger.db import CALLER_FIELDS
    assert set(CALLER_FIELDS) <= set(HASHED) and set(EVERY_FIELD) | {"sku"} == set(CALLER_FIELDS)


# -- the reproductions ----------------------------------------------------------------------------------------
def acked_by_the_cloud(path, clock):
    """The cloud's ack of every row, with its hash, as commands._ack records it; returns the head row."""
    with open_ledger(path, clock, count_boot=False) as ledger:
        head = outbox.head(ledger, "tx")
        outbox.set_acked(ledger, "tx", head, ledger.transaction_row(head)["hash"])
        return ledger.transaction_row(head)


def test_a_deleted_tail_with_next_seq_and_head_hash_rolled_back_is_caught_once_acked(path, clock):
    head = acked_by_the_cloud(path, clock)
    keep = head["seq"] - 2
    conn = raw(path)
    keep_hash = conn.execute("SELECT hash FROM transactions WHERE seq = ?", [keep]).fetchone()[0]
    conn.close()
    # The rows' stock effects undone too, so on_hand agrees with what is left: only the anchor can tell.
    tamper(path, ("DELETE FROM transactions WHERE seq > ?", [keep]),
           ("UPDATE cabinet SET next_seq = ?, head_hash = ?", [keep + 1, keep_hash]),
           "UPDATE locations SET on_hand = on_hand + 3 WHERE id = 'L3'")
    result = verify(path, clock)
    assert not result.ok and result.checked == keep
    assert "acknowledged transactions up to seq %d but the ledger ends at seq %d" % (head["seq"], keep) in str(result)


def rewrite_from(path, seq, **changes):
    """Edit row `seq` and recompute every hash after it and the head: a chain that checks out by itself."""
    conn = raw(path)
    rows = [dict(r) for r in conn.execute("SELECT * FROM transactions WHERE seq >= ? ORDER BY seq", [seq])]
    conn.close()
    rows[0].update(changes)
    prev, statements = rows[0]["prev_hash"], []
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = row_hash(prev, row)
        statements.append(("UPDATE transactions SET %s WHERE seq = ?" % ", ".join("%s = ?" % k for k in row),
                           list(row.values()) + [row["seq"]]))
    statements.append(("UPDATE cabinet SET head_hash = ?", [prev]))
    tamper(path, *statements)


def test_a_consistent_rewrite_from_an_edited_row_is_caught_by_the_acknowledged_hash(path, clock):
    head = acked_by_the_cloud(path, clock)
    rewrite_from(path, head["seq"] - 1, user_id="sup-1")      # who took it, rewritten
    result = verify(path, clock)
    assert not result.ok and result.bad_seq is None and result.checked == head["seq"]
    assert "does not have the hash the cloud acknowledged" in result.reason


def test_without_the_anchor_a_consistent_rewrite_is_not_visible(path, clock):
    """What the chain cannot prove alone (docs/decisions/0025): before the cloud's ack, it checks out once the
    verified head is rewritten too (it is in the same file); left alone, the head the last verify kept shows
    it (docs/decisions/0050)."""
    rewrite_from(path, last_row(path)["seq"] - 1, user_id="sup-1")
    assert "does not have the hash it had when verified" in verify(path, clock).reason
    tamper(path, "DELETE FROM verified_head")
    assert verify(path, clock).ok


@pytest.mark.parametrize("statement, words", [
    ("DROP TRIGGER transactions_no_update", "trigger transactions_no_update is missing"),
    ("DROP TRIGGER outbox_alert_raised", "trigger outbox_alert_raised is missing"),
    ("CREATE TRIGGER transactions_no_update BEFORE UPDATE ON transactions WHEN 0 BEGIN SELECT 1; END",
     "trigger transactions_no_update is not the one the schema created"),
    ("CREATE TRIGGER sneaky AFTER INSERT ON transactions BEGIN SELECT 1; END",
     "trigger sneaky on transactions is not one of the schema's"),
])
def test_dropped_or_replaced_triggers_fail_verify(path, clock, statement, words):
    conn = raw(path)
    if statement.startswith("CREATE TRIGGER transactions_no_update"):
        conn.execute("DROP TRIGGER transactions_no_update")
    conn.execute(statement)
    conn.close()
    result = verify(path, clock)
    assert not result.ok and words in str(result)


def test_an_edited_on_hand_fails_verify(path, clock):
    tamper(path, "UPDATE locations SET on_hand = 99 WHERE id = 'L3'")
    result = verify(path, clock)
    assert not result.ok and "L3 holds on_hand 99 but its transactions give 12" in str(result)


def test_an_intent_deleted_from_open_intents_fails_verify_and_recovery_reads_the_index(path, clock):
    """Recovery reads pending intents from open_intents (schema 7): a row deleted from it would let the locker
    open with an actuation nobody settled, so verify compares it with the log."""
    with open_ledger(path, clock, count_boot=False) as ledger:
        seq, _ = ledger.record_intent("issue", location="L3", quantity=1, user_id="tech-1")
        assert [i["seq"] for i in ledger.pending_intents()] == [seq] and ledger.verify().ok
    conn = raw(path)
    conn.execute("DELETE FROM open_intents")
    conn.close()
    result = verify(path, clock)
    assert not result.ok and "intents %d have no outcome but are missing from open_intents" % seq in str(result)
    with open_ledger(path, clock, count_boot=False) as ledger:
        ledger.db.execute("INSERT INTO open_intents (seq) VALUES (?)", [seq])
        ledger.record_outcome(seq, "vended", 1)
        assert ledger.pending_intents() == [] and ledger.verify().ok


@pytest.mark.parametrize("statement", [
    "UPDATE users SET role = 'supervisor' WHERE id = 'tech-1'",
    "INSERT INTO badges (badge_id, user_id) VALUES ('DEADBEEF', 'sup-1')",
    "UPDATE badges SET user_id = 'sup-1' WHERE badge_id = '04A1B2C3'",
    "UPDATE users SET pin_hash = '%s' WHERE id = 'sup-1'" % hash_pin("1111"),
    "UPDATE users SET valid_to = '2099-01-01T00:00:00Z' WHERE id = 'tech-1'",
    "INSERT INTO role_allows (role, category) VALUES ('contractor', 'fasteners')",
])
def test_edited_roles_badges_pin_hashes_and_rules_fail_verify(path, clock, statement):
    tamper(path, statement)
    result = verify(path, clock)
    assert not result.ok and "users, badges or access rules differ" in str(result)


def test_a_login_changing_the_wrong_pin_count_is_not_a_people_change(path, clock):
    tamper(path, "UPDATE users SET failed_pins = 3 WHERE id = 'sup-1'",
           "INSERT INTO pin_lockouts (user_id, left_ms, epoch, mono_ms, wall, clock_synced) "
           "VALUES ('sup-1', 60000, 'boot-1', 0, '2026-03-02T09:00:00Z', 1)")
    assert verify(path, clock).ok


def test_admin_changes_made_through_the_agent_keep_verify_ok(path, clock, tmp_path):
    from edge_agent.rules.csv_io import import_users
    users = tmp_path / "more.csv"
    users.write_text("id,name,role,badges\ntech-2,Cy,technician,04A1B2C5\n")
    with open_ledger(path, clock) as ledger:
        before = outbox.head(ledger, "tx")
        import_users(ledger, users)
        row = ledger.transaction_row(before + 1)
        assert (row["kind"], row["reason"]) == ("admin", "import users")
        assert json.loads(row["detail"])["detail"] == str(users)
        assert ledger.verify().ok


# -- the cloud's word --------------------------------------------------------------------------------------------
def test_the_acked_hash_is_kept_and_a_chain_break_reaches_verify_and_an_alert(down):  # noqa: F811
    ledger = down.ledger
    head = outbox.head(ledger, "tx")
    mine = ledger.transaction_row(head)["hash"]
    down("ack", "ack", {"stream": "tx", "upto_seq": head, "hash": mine})
    state = ledger.db.execute("SELECT tx_acked, tx_acked_hash FROM cloud_state").fetchone()
    assert tuple(state) == (head, mine) and ledger.verify().ok
    found = {"seq": head + 1, "kind": "rewritten", "detail": "received again with another hash"}
    down("ack", "ack", {"stream": "tx", "upto_seq": head, "hash": mine, "chain_break": found})
    assert outbox.chain_break(ledger) == found and results(ledger) == []
    assert [(a[1]) for a in open_alerts(ledger.db)] == ["chain_break"]
    result = ledger.verify()
    assert not result.ok and "the cloud found the chain broken at seq %d (rewritten" % (head + 1) in str(result)
    # The cloud acknowledges again (someone cleared the break there): the alert clears.
    down("ack", "ack", {"stream": "tx", "upto_seq": head, "hash": mine})
    assert outbox.chain_break(ledger) is None and open_alerts(ledger.db) == [] and ledger.verify().ok


def test_pushed_settings_and_desired_users_are_admin_rows(down):  # noqa: F811
    ledger = down.ledger
    down("cmd", "config", {"lockout_s": 900})
    down("desired/users", "users", {"version": 3, "users": [{"id": "T1", "name": "Ana", "role": "supervisor"}]})
    admin = [(r["reason"], json.loads(r["detail"])["detail"]) for r in ledger.transactions() if r["kind"] == "admin"]
    assert [what for what, _ in admin][-2:] == ["config", "desired users"]
    assert admin[-2][1]["settings"] == {"lockout_s": 900} and admin[-1][1]["version"] == 3
    assert ledger.verify().ok


# -- end to end: the agent process, Mosquitto, the hub ---------------------------------------------
def test_a_rewrite_hidden_from_verify_is_caught_by_the_cloud_which_stops_acking_and_the_agent_shows_it(tmp_path, hub_dsn):
    """The rewrite also rolls the local anchors back (the ack, the verified head), so verify alone passes; resent, the rewritten row meets
    the cloud's first copy: the cloud stops acknowledging, says why, the agent raises the alert (which reaches
    the cloud on the events stream) and verify fails. A remote unlock on the way is an admin row."""
    from tests.test_cloud_sync import CABINET, WAIT_S, Site
    site = Site(tmp_path, hub_dsn)
    try:
        site.broker.start()
        cloud = site.start_cloud()
        site.start_agent()
        site.issue(2)
        command_id = cloud.send_command(CABINET, "unlock", {"door": 1, "reason": "driver lost badge"})
        assert cloud.wait_for(lambda: any(r["command_id"] == command_id for r in cloud.command_results(CABINET)),
                              WAIT_S)
        head = site.check_complete()["tx"]                  # everything acked; the agent stopped
        with open_ledger(tmp_path / "ledger.db", count_boot=False) as ledger:
            unlock = [r for r in ledger.transactions() if r["kind"] == "admin" and r["reason"] == "remote unlock"]
            assert [json.loads(r["detail"])["detail"]["command_id"] for r in unlock] == [command_id]
            previous = ledger.transaction_row(head - 1)["hash"]
            assert ledger.verify().ok
        rewrite_from(tmp_path / "ledger.db", head, reason="nothing to see")
        conn = raw(tmp_path / "ledger.db")
        conn.execute("UPDATE cloud_state SET tx_acked = ?, tx_acked_hash = ?", [head - 1, previous])
        conn.execute("DELETE FROM verified_head")           # the other local anchor, rolled back too
        conn.close()
        assert verify(tmp_path / "ledger.db", ManualClock()).ok    # locally, the rewrite is consistent

        site.start_agent()                                  # sends seq `head` again, from its (rolled back) ack
        assert cloud.wait_for(lambda: any(e["type"] == "alert_raised" and e["kind"] == "chain_break"
                                          for e in cloud.events(CABINET)), WAIT_S), site.agent.log()[-2000:]
        assert [(b["seq"], b["kind"]) for b in cloud.chain_breaks(CABINET)] == [(head, "rewritten")]
        assert [a["kind"] for a in cloud.alerts(CABINET)] == ["chain_break"]
        assert site.agent.stop() == 0
        with open_ledger(tmp_path / "ledger.db", count_boot=False) as ledger:
            assert [a[1] for a in open_alerts(ledger.db)].count("chain_break") == 1
            result = ledger.verify()
        assert not result.ok and "the cloud found the chain broken at seq %d (rewritten" % head in str(result)
    finally:
        site.close()


def test_a_pin_set_by_an_admin_is_an_admin_row_and_verify_stays_ok(path, clock, monkeypatch):
    import io
    from edge_agent.cli import locker_agent
    monkeypatch.setattr("sys.stdin", io.StringIO("24681357\n"))
    said = []
    assert locker_agent.main(["--db", str(path), "set-pin", "tech-1"], out=said.append) == 0
    row = last_row(path)
    assert (row["kind"], row["reason"], json.loads(row["detail"])["detail"]) == ("admin", "set pin", {"user": "tech-1"})
    assert verify(path, clock).ok


def test_a_v4_ledger_with_history_migrates_to_admin_rows_and_keeps_its_hashes(tmp_path, clock):
    from edge_agent.ledger.migrations import MIGRATIONS
    path = tmp_path / "old.db"
    with open_ledger(path, clock, migrations=MIGRATIONS[:4]) as old:
        old.db["skus"].insert({"part_number": "P-100"})
        old.db["locations"].insert({"id": "L3", "kind": "lane", "unit": 3, "sku": "P-100"})
        old.append("refill", location="L3", quantity=4, user_id="drv-1")
        hashes = [r["hash"] for r in old.transactions()]
    reader = raw(path)                                  # a connection open across the migration
    reader.execute("SELECT count(*) FROM transactions").fetchone()
    with open_ledger(path, clock) as ledger:
        assert [r["hash"] for r in ledger.transactions()] == hashes and ledger.verify().ok
        ledger.db["users"].insert({"id": "tech-1", "role": "technician"})
        seq = ledger.transaction_row(ledger.cabinet()["next_seq"] - 1)["seq"]
        from edge_agent.ledger import record_admin_change
        record_admin_change(ledger, "users by hand, then put on record")
        assert ledger.transaction_row(seq + 1)["kind"] == "admin" and ledger.verify().ok
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):     # the CHECK still holds for other kinds
        reader.execute("INSERT INTO transactions (seq, boot, wall_time, clock_synced, monotonic_ms, kind, "
                       "prev_hash, hash) VALUES (99, 1, 'x', 1, 0, 'gift', 'a', 'b')")
    reader.close()
