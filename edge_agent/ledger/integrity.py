"""What `verify` checks beyond the chain walk (chain.py), each giving a problem in words or nothing:

- **Triggers.** The append-only triggers and the outbox triggers the migrations created exist with the SQL
  they were created with, and no other trigger sits on the transactions table.
- **On hand.** Every location's `on_hand` is what replaying the log gives (effects.py): from seq 1, or in an
  incremental check from what the log gave at the verified head (verified_head.py).
- **People.** The users, badges and rules hash to the digest the last admin row recorded (admin_log.py).
- **Pending intents.** `open_intents` (what recovery reads) lists exactly the intents with no outcome: a
  row deleted from it would let the locker open with an actuation nobody settled. Replayed like on hand.
- **The cloud's anchor.** The row the cloud last acknowledged is there with the hash the ack carried: a tail
  deleted with next_seq and head_hash rolled back, or a chain rewritten consistently from an edited row,
  no longer matches.
- **The cloud's word.** The cloud has not reported the chain broken (it then stops acknowledging).

See docs/decisions/0025-chain-anchored-by-the-cloud.md for what this proves and what it cannot.
"""
import json
from dataclasses import dataclass
from typing import Dict, FrozenSet

from edge_agent.ledger import admin_log
from edge_agent.ledger.effects import STOCK_EFFECT, effect_of
from edge_agent.ledger.migrations import MIGRATIONS, schema_version

GUARDED_TABLE = "transactions"
ANCHOR_VERSION = 6      # the schema version with admin rows, the acknowledged hash and the cloud's word
OPEN_INTENTS_VERSION = 7


def expected_triggers(migrations=MIGRATIONS):
    """{name: CREATE TRIGGER text} as the migrations (those given as statements) leave them."""
    found = {}
    for migration in migrations:
        if callable(migration.steps):
            continue
        for statement in migration.steps:
            words = statement.split()
            if words[:2] == ["CREATE", "TRIGGER"]:
                found[words[2]] = statement
            elif words[:2] == ["DROP", "TRIGGER"]:
                found.pop(words[-1], None)
    return found


def trigger_problems(db):
    present = {name: (table, sql) for name, table, sql in
               db.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")}
    expected = expected_triggers(MIGRATIONS[:schema_version(db)])
    problems = []
    for name, sql in sorted(expected.items()):
        if name not in present:
            problems.append("trigger %s is missing (dropped: rows could be edited or deleted in place)" % name)
        elif present[name][1] != sql:
            problems.append("trigger %s is not the one the schema created (replaced)" % name)
    for name, (table, _) in sorted(present.items()):
        if table == GUARDED_TABLE and name not in expected:
            problems.append("trigger %s on %s is not one of the schema's (added)" % (name, table))
    return problems


@dataclass(frozen=True)
class Replay:
    """What the log gives as of row `seq`: on hand per location, and the intents with no outcome yet."""
    seq: int
    on_hand: Dict[str, int]
    pending: FrozenSet[int]


NOTHING = Replay(0, {}, frozenset())
_REPLAY_SQL = ("SELECT kind, action, location, quantity, seq, intent_seq FROM transactions WHERE seq > ? AND seq <= ? "
               "AND kind IN (%s) ORDER BY seq" % ", ".join("'%s'" % k for k in (*STOCK_EFFECT, "intent", "outcome")))


def replay(db, upto, since=NOTHING):
    """The log replayed from `since` (a Replay: NOTHING for seq 1) to row `upto`, in seq order."""
    on_hand, pending = dict(since.on_hand), set(since.pending)
    for kind, action, location, quantity, seq, intent_seq in db.execute(_REPLAY_SQL, [since.seq, upto]):
        if kind == "intent":
            pending.add(seq)
        elif kind == "outcome":
            pending.discard(intent_seq)
        effect = effect_of(kind, action)
        if effect is not None:
            quantity = quantity or 0
            on_hand[location] = quantity if effect == "set" else on_hand.get(location, 0) + effect * quantity
    return Replay(max(upto, since.seq), on_hand, frozenset(pending))


def on_hand_problems(db, replayed):
    problems = []
    for location, on_hand in db.execute("SELECT id, on_hand FROM locations ORDER BY id"):
        logged = replayed.on_hand.get(location, 0)
        if on_hand != logged:
            problems.append("%s holds on_hand %d but its transactions give %d (on_hand edited)"
                            % (location, on_hand, logged))
    return problems


def open_intent_problems(db, replayed):
    if schema_version(db) < OPEN_INTENTS_VERSION:
        return []
    listed = {row[0] for row in db.execute("SELECT seq FROM open_intents")}
    pending = replayed.pending
    problems = []
    if pending - listed:
        problems.append("intents %s have no outcome but are missing from open_intents (recovery would not "
                        "settle them)" % ", ".join(map(str, sorted(pending - listed))))
    if listed - pending:
        problems.append("open_intents lists %s, which are settled or not intents"
                        % ", ".join(map(str, sorted(listed - pending))))
    return problems


def people_problems(db):
    if schema_version(db) < ANCHOR_VERSION:
        return []
    anchored = admin_log.anchored_people_digest(db)
    if anchored is None:
        return []       # no admin row yet: nothing to compare with (docs/decisions/0025)
    if admin_log.people_digest(db) != anchored:
        return ["users, badges or access rules differ from what the last admin row recorded (a role, badge, "
                "PIN hash or rule edited outside the agent)"]
    return []


def cloud_anchor_problems(db):
    """The acknowledged row against the ledger; the cloud's report of a break."""
    if schema_version(db) < ANCHOR_VERSION:
        return []
    state = db.execute("SELECT tx_acked, tx_acked_hash, chain_break FROM cloud_state WHERE id = 1").fetchone()
    if state is None:
        return []
    acked, acked_hash, chain_break = state
    problems = []
    head = db.execute("SELECT next_seq - 1 FROM cabinet WHERE id = 1").fetchone()
    last = db.execute("SELECT max(seq) FROM transactions").fetchone()[0] or 0
    ends = min(last, head[0] if head else last)
    if acked > ends:
        problems.append("the cloud acknowledged transactions up to seq %d but the ledger ends at seq %d (rows "
                        "deleted from the end and the head rolled back)" % (acked, ends))
    elif acked_hash is not None and acked > 0:
        row = db.execute("SELECT hash FROM transactions WHERE seq = ?", [acked]).fetchone()
        if row is not None and row[0] != acked_hash:
            problems.append("seq %d does not have the hash the cloud acknowledged (%s...): the chain was "
                            "rewritten at or before it" % (acked, acked_hash[:12]))
    if chain_break:
        found = json.loads(chain_break)
        problems.append("the cloud found the chain broken at seq %s (%s: %s) and stopped acknowledging"
                        % (found.get("seq"), found.get("kind"), found.get("detail")))
    return problems


def check(db, upto, since=NOTHING):
    """(every problem found, in the order above, and the log's Replay at row `upto`); no problem: all pass.
    `since`: what the log gave at the verified head, for an incremental check."""
    replayed = replay(db, upto, since)
    found = (trigger_problems(db) + on_hand_problems(db, replayed) + open_intent_problems(db, replayed)
             + people_problems(db) + cloud_anchor_problems(db))
    return found, replayed
