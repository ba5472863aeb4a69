"""`verify` goes on from the last verified head, `verify --full` from seq 1 (issue 18, item 5;
docs/decisions/0050-append-path-and-incremental-verify.md), against real ledger files edited as someone with the
sqlite3 CLI would: a row edited at or after the verified head is still found by the incremental check, one
before it by --full; on hand and the pending intents are replayed from what the log gave at the head; rows the
cloud has not acknowledged are walked every time; and on a ledger upgraded from schema 7, pending intents and
the last admin row are read from indexes."""
import sqlite3

import pytest

from edge_agent.cli import locker_agent
from edge_agent.cloud import outbox
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.admin_log import LAST_ADMIN_SQL
from edge_agent.ledger.db import PENDING_SQL
from edge_agent.ledger.integrity import expected_triggers
from edge_agent.ledger.migrations import MIGRATIONS, schema_version
from tests.ledgers import ledger_from_csv

SKUS = "part_number,description,category,unit_cost\nP-100,hex bolt M8,fasteners,12.50\n"
LOCATIONS = "id,kind,unit,sku,on_hand,min,max\nL3,lane,3,P-100,40,2,60\nD1,door,1,P-100,5,1,9\n"
USERS = "id,name,role\ntech-1,Ana,technician\n"


@pytest.fixture
def clock():
    return ManualClock(start="2026-03-02T08:00:00+00:00")


def issue(ledger, clock, location="L3", settle=True):
    clock.advance(1000)
    seq, _ = ledger.record_intent("issue", location=location, quantity=1, user_id="tech-1")
    if settle:
        ledger.record_outcome(seq, "vended", 1)
    return seq


@pytest.fixture
def path(tmp_path, clock):
    """Imports, 20 issues and one intent left pending, verified (the head kept at the last row), then 10 more
    issues after it. Returns the file; `head` is the verified seq."""
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS, clock=clock)
    for _ in range(20):
        issue(ledger, clock)
    issue(ledger, clock, location="D1", settle=False)            # pending across the verified head
    first = ledger.verify()
    assert first.ok and first.full, str(first)
    for _ in range(10):
        issue(ledger, clock)
    ledger.close()
    return tmp_path / "ledger.db"


def verified_seq(path):
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT seq FROM verified_head").fetchone()[0]
    finally:
        conn.close()


def tamper(path, *statements):
    """Edit the file with the append-only triggers dropped for it and put back, so only verify can tell."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    for name in ("transactions_no_update", "transactions_no_delete"):
        conn.execute("DROP TRIGGER %s" % name)
    for statement in statements:
        conn.execute(*statement) if isinstance(statement, tuple) else conn.execute(statement)
    for name in ("transactions_no_update", "transactions_no_delete"):
        conn.execute(expected_triggers()[name])
    conn.close()


def cli(path, *argv):
    lines = []
    status = locker_agent.main(["verify", "--db", str(path), *argv], out=lines.append)
    return status, "\n".join(lines)


def test_an_unchanged_ledger_is_checked_from_the_verified_head_and_the_head_moves_on(path):
    head = verified_seq(path)
    status, text = cli(path)
    assert status == 0 and "walked from seq %d" % head in text and "verify --full" in text, text
    last = head + 20                                       # ten issues: an intent and an outcome each
    assert verified_seq(path) == last and "ledger OK: %d transactions" % last in text
    status, text = cli(path, "--full")
    assert status == 0 and text == "ledger OK: %d transactions, chain intact" % last


@pytest.mark.parametrize("where", ["after", "at"])
def test_a_row_edited_at_or_after_the_verified_head_is_found_by_the_incremental_check(path, where):
    seq = verified_seq(path) + (5 if where == "after" else 0)
    tamper(path, ("UPDATE transactions SET user_id = 'sup-1' WHERE seq = ?", [seq]))
    status, text = cli(path)
    assert status == 1 and "TAMPERED at seq %d: contents do not match its hash" % seq in text, text


def test_a_row_edited_before_the_verified_head_is_found_by_full(path):
    head = verified_seq(path)
    tamper(path, ("UPDATE transactions SET user_id = 'sup-1' WHERE seq = ?", [head - 7]))
    status, text = cli(path)
    assert status == 0 and "walked from seq %d" % head in text    # not looked at again: that is --full's job
    status, text = cli(path, "--full")
    assert status == 1 and "TAMPERED at seq %d: contents do not match its hash" % (head - 7) in text, text


def test_a_consistent_rewrite_before_the_verified_head_shows_at_the_head(path, clock):
    """Every hash recomputed from an edited row to the end, the cabinet's head hash too: the chain checks out
    by itself, but the verified row no longer has the hash verify saw."""
    from tests.test_chain_tamper import rewrite_from
    head = verified_seq(path)
    rewrite_from(path, head - 3, user_id="sup-1")
    status, text = cli(path)
    assert status == 1 and "seq %d does not have the hash it had when verified" % head in text, text


def test_on_hand_and_pending_intents_are_replayed_from_the_head(path, clock):
    """The intent left pending before the head, deleted from open_intents after it; on hand edited: both found
    by the incremental check, which replays only the rows after the head."""
    with open_ledger(path, clock, count_boot=False) as ledger:
        pending = [i["seq"] for i in ledger.pending_intents()]
        assert len(pending) == 1 and pending[0] <= verified_seq(path)
    tamper(path, "DELETE FROM open_intents", "UPDATE locations SET on_hand = on_hand - 1 WHERE id = 'L3'")
    status, text = cli(path)
    assert status == 1 and "walked from seq" in text
    assert "L3 holds on_hand 9 but its transactions give 10" in text
    assert "intents %d have no outcome but are missing from open_intents" % pending[0] in text


def test_a_tail_deleted_past_the_verified_head_is_found_without_the_cloud(path, clock):
    head = verified_seq(path)
    conn = sqlite3.connect(str(path))
    keep_hash = conn.execute("SELECT hash FROM transactions WHERE seq = ?", [head - 2]).fetchone()[0]
    conn.close()
    tamper(path, ("DELETE FROM transactions WHERE seq > ?", [head - 2]),
           ("UPDATE cabinet SET next_seq = ?, head_hash = ?", [head - 1, keep_hash]),
           "INSERT INTO open_intents (seq) SELECT seq FROM transactions WHERE kind = 'intent' AND seq NOT IN "
           "(SELECT intent_seq FROM transactions WHERE kind = 'outcome') AND seq NOT IN (SELECT seq FROM open_intents)",
           "DELETE FROM open_intents WHERE seq > %d" % (head - 2),
           "UPDATE locations SET on_hand = 10")                  # what the rows left give: only the head can tell
    with open_ledger(path, clock, count_boot=False) as ledger:
        result = ledger.verify()
    assert not result.ok and result.full and "seq %d, verified" % head in str(result), str(result)
    assert "is gone (rows deleted from the end" in str(result) and result.checked == head - 2


def test_rows_the_cloud_has_not_acknowledged_are_walked_every_time(path, clock):
    """A cabinet that has reached a cloud: the walk starts at the cloud's last acknowledged row when that is
    older than the verified head, so an edit the cloud has not seen yet is found without --full."""
    head = verified_seq(path)
    with open_ledger(path, clock, count_boot=False) as ledger:
        outbox.next_session(ledger)
        acked = head - 9
        outbox.set_acked(ledger, "tx", acked, ledger.transaction_row(acked)["hash"])
        assert ledger.verify().first_seq == acked
    head = verified_seq(path)
    tamper(path, ("UPDATE transactions SET user_id = 'sup-1' WHERE seq = ?", [head - 4]))
    status, text = cli(path)
    assert status == 1 and "TAMPERED at seq %d" % (head - 4) in text and "walked from seq %d" % acked in text


def test_a_failed_check_keeps_the_verified_head(path):
    head = verified_seq(path)
    tamper(path, ("UPDATE transactions SET quantity = 3 WHERE seq = ?", [head + 2]))
    assert cli(path)[0] == 1 and cli(path, "--full")[0] == 1
    assert verified_seq(path) == head


def test_an_upgraded_ledger_reads_pending_intents_and_the_last_admin_row_from_indexes(tmp_path, clock):
    """A ledger written with schema 7 opens as 8 with its hashes unchanged; recovery's pending intents and the
    people check's admin row come from indexes, never a scan of the log; its first verify is a full one."""
    old = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS, clock=clock)
    old.close()
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(str(path), isolation_level=None)     # back to 7, as an agent before issue 18 left it
    conn.execute("DROP TABLE verified_head")
    conn.execute("DROP INDEX transactions_admin")
    conn.execute("DELETE FROM schema_version WHERE version = 8")
    conn.close()
    with open_ledger(path, clock, migrations=MIGRATIONS[:7]) as v7:
        for _ in range(3):
            issue(v7, clock)
        pending = issue(v7, clock, settle=False)
        hashes = [r["hash"] for r in v7.transactions()]
    with open_ledger(path, clock) as ledger:
        assert schema_version(ledger.db) == 8 == MIGRATIONS[-1].version
        assert [r["hash"] for r in ledger.transactions()] == hashes
        plan = [r[3] for r in ledger.db.execute("EXPLAIN QUERY PLAN " + PENDING_SQL)]
        assert plan[0] == "SCAN p" and plan[1].startswith("SEARCH i USING INTEGER PRIMARY KEY"), plan
        plan = [r[3] for r in ledger.db.execute("EXPLAIN QUERY PLAN " + LAST_ADMIN_SQL)]
        assert plan == ["SCAN transactions USING INDEX transactions_admin"], plan
        assert [i["seq"] for i in ledger.pending_intents()] == [pending]
        first = ledger.verify()
        assert first.ok and first.full
        assert ledger.verify().first_seq == len(hashes)


def test_verify_help_names_full():
    text = locker_agent.build_parser()._subparsers._group_actions[0].choices["verify"].format_help()
    assert "--full" in text and "from seq 1" in text


def test_an_unreadable_verified_head_means_a_full_check(path):
    tamper(path, "UPDATE verified_head SET on_hand = '[1, 2]'")
    head = verified_seq(path)
    tamper(path, ("UPDATE transactions SET user_id = 'sup-1' WHERE seq = ?", [head - 7]))
    status, text = cli(path)
    assert status == 1 and "TAMPERED at seq %d" % (head - 7) in text and "walked from" not in text, text
