"""The ledger side of cloud sync (docs/mqtt.md): the two durable up streams, the cloud's acks, the session
counter, the ids of commands already received, the desired-state versions and the settings pushed down.

Rules:
- **Nothing is synced until the cloud's ack.** A broker's PUBACK proves nothing; only `set_acked`, called
  for the cloud's signed `ack`, moves a stream's acked seq. It never goes back and never passes the
  stream's head. Everything above it is sent again after any reconnect.
- **Seq contiguity.** "tx" is the transactions table itself (seq from the cabinet row, never reset, rows
  never deleted); "events" is `outbox_events`, whose AUTOINCREMENT seq is never reused, even after
  `prune_synced_events` drops acknowledged events. `read_batch` returns contiguous items and raises
  `StreamGap` if it finds a hole where an unacknowledged item should be: a hole would be a bug, and
  sending past it silently would lose data.
- **Same-transaction writes.** Alert and refill-task events are written by triggers (schema_v3.py) in the
  statement that raises, clears, opens or closes them; `record_event` joins the caller's SQLite
  transaction when one is open, so a command's effect and its `command_result` land together or not at
  all. Every other function here is its own transaction (a savepoint when the caller has one open).
"""
import datetime
import json
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger import alerts
from edge_agent.ledger.errors import LedgerError
from edge_agent.ledger.events import insert_event

STREAMS = ("tx", "events")
DESIRED = ("users", "catalog")
# An event's own fields; the fields of its type (docs/mqtt.md, "events") go beside them.
EVENT_FIELDS = ("seq", "type", "wall", "clock_synced", "ledger_seq")
# An id is kept this long past its expiry: an expired message is refused by its expiry anyway.
COMMAND_GRACE = datetime.timedelta(days=1)
# An id whose expiry cannot be read is kept this long after it was received (envelopes live <= 24 h).
COMMAND_UNREADABLE_KEEP = datetime.timedelta(days=2)


class StreamGap(LedgerError):
    """A stream's seqs have a hole where an unacknowledged row or event should be."""


@dataclass(frozen=True)
class Batch:
    stream: str
    first_seq: int
    last_seq: int
    items: list
    nbytes: int  # len(json.dumps(items)): the size of the items list in the payload


# -- session and acks --------------------------------------------------------------------------------------
def next_session(ledger):
    """Raise and return the persisted session counter (once per broker connection)."""
    with ledger.transaction():
        ledger.db.execute("UPDATE cloud_state SET session = session + 1 WHERE id = 1")
        return _state(ledger, "session")


def acked(ledger, stream):
    """The highest seq of `stream` the cloud has acknowledged (0 when none)."""
    return _state(ledger, _acked_column(stream))


def set_acked(ledger, stream, upto_seq, upto_hash=None):
    """Record the cloud's ack of `stream` up to `upto_seq`; return the acked seq now stored.

    Never goes back (an old or repeated ack changes nothing) and never passes the stream's head (an ack of
    seqs this cabinet never wrote cannot mark them synced). For "tx", `upto_hash` (the hash the cloud holds
    for seq upto_seq) is kept beside the acked seq when the ack is the one stored: the anchor `verify`
    checks the chain against (ledger/integrity.py)."""
    column = _acked_column(stream)
    if isinstance(upto_seq, bool) or not isinstance(upto_seq, int) or upto_seq < 0:
        raise ValueError("upto_seq must be a whole number >= 0, got %r" % (upto_seq,))
    with ledger.transaction():
        value = max(_state(ledger, column), min(upto_seq, head(ledger, stream)))
        ledger.db.execute("UPDATE cloud_state SET %s = ? WHERE id = 1" % column, [value])
        if stream == "tx" and upto_hash is not None and value == upto_seq:
            ledger.db.execute("UPDATE cloud_state SET tx_acked_hash = ? WHERE id = 1", [upto_hash])
        return value


def chain_break(ledger):
    """The cloud's report of a break in this cabinet's chain ({seq, kind, detail}), or None."""
    text = _state(ledger, "chain_break")
    return json.loads(text) if text else None


def set_chain_break(ledger, found):
    """Keep the cloud's report of a chain break (a dict: seq, kind, detail) and raise the `chain_break`
    alert (once while open), or with None clear both: the cloud acknowledges again."""
    wall, _ = ledger.clock.wall()
    with ledger.transaction():
        if found is None:
            ledger.db.execute("UPDATE cloud_state SET chain_break = NULL WHERE id = 1")
            alerts.clear_alert(ledger.db, None, "chain_break", None, wall)
            return
        text = json.dumps(found, sort_keys=True, separators=(",", ":"))
        ledger.db.execute("UPDATE cloud_state SET chain_break = ? WHERE id = 1", [text])
        alerts.raise_alert(ledger.db, None, "chain_break", "the cloud found this cabinet's chain broken at seq "
                           "%s (%s): %s" % (found.get("seq"), found.get("kind"), found.get("detail")), None, wall)


_TX_HEAD = "(SELECT next_seq - 1 FROM cabinet WHERE id = 1)"
# sqlite_sequence remembers the last seq even when every event has been pruned.
_EVENTS_HEAD = ("max(coalesce((SELECT max(seq) FROM outbox_events), 0), "
                "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox_events'), 0))")


def head(ledger, stream):
    """The highest seq written to `stream` (0 when none)."""
    _acked_column(stream)
    return ledger.db.execute("SELECT " + (_TX_HEAD if stream == "tx" else _EVENTS_HEAD)).fetchone()[0]


def heads_and_acked(ledger):
    """{stream: (head, acked)} for every stream, in one statement: what a sync loop asks before each round."""
    tx_head, tx_acked, events_head, events_acked = ledger.conn.execute(
        "SELECT %s, tx_acked, %s, events_acked FROM cloud_state WHERE id = 1" % (_TX_HEAD, _EVENTS_HEAD)).fetchone()
    return {"tx": (tx_head, tx_acked), "events": (events_head, events_acked)}


def head_hash(ledger, stream):
    """{"head_hash": hash of the last transaction} for "tx" with rows (what the birth carries), else {}."""
    if stream != "tx":
        return {}
    found = ledger.db.execute("SELECT head_hash FROM cabinet WHERE id = 1 AND next_seq > 1").fetchone()
    return {"head_hash": found[0]} if found else {}


# -- reading a stream ---------------------------------------------------------------------------------------
def read_batch(ledger, stream, after_seq, max_rows=200, max_bytes=65536) -> Optional[Batch]:
    """The next items of `stream` with seq > after_seq, in seq order, or None when there are none.

    Stops before `max_rows` items or before the JSON of the items would pass `max_bytes`, but always holds at
    least one item, however big. "tx" items are transaction rows with None values left out; "events" items
    are {seq, type, wall, clock_synced (bool), ledger_seq, **fields of the type}.
    """
    _acked_column(stream)
    if max_rows < 1:
        raise ValueError("max_rows must be >= 1, got %r" % (max_rows,))
    after_seq = max(0, after_seq)
    if stream == "tx":
        cursor = ledger.db.execute("SELECT * FROM transactions WHERE seq > ? ORDER BY seq LIMIT ?",
                                   [after_seq, max_rows])
        names = [d[0] for d in cursor.description]
        source = ({k: v for k, v in zip(names, row) if v is not None} for row in cursor)
    else:
        cursor = ledger.db.execute("SELECT seq, type, wall, clock_synced, ledger_seq, body FROM outbox_events "
                                   "WHERE seq > ? ORDER BY seq LIMIT ?", [after_seq, max_rows])
        source = (_event_item(row) for row in cursor)
    items, nbytes = [], 2  # "[" and "]"
    for item in source:
        size = len(json.dumps(item)) + (2 if items else 0)  # ", " between items
        if items and nbytes + size > max_bytes:
            break
        items.append(item)
        nbytes += size
    if not items:
        return None
    _check_contiguous(ledger, stream, after_seq, items)
    return Batch(stream, items[0]["seq"], items[-1]["seq"], items, nbytes)


def _event_item(row):
    seq, type_, wall, clock_synced, ledger_seq, body = row
    item = {"seq": seq, "type": type_, "wall": wall, "clock_synced": bool(clock_synced), "ledger_seq": ledger_seq}
    item.update(json.loads(body))
    return item


def _check_contiguous(ledger, stream, after_seq, items):
    expected = items[0]["seq"]
    for item in items:
        if item["seq"] != expected:
            raise StreamGap("%s stream: seq %d is missing (the next one is %d)" % (stream, expected, item["seq"]))
        expected += 1
    first = items[0]["seq"]
    if first > after_seq + 1:
        # Only acknowledged events may be missing before the first one (pruned); never a transaction.
        if stream == "tx" or first - 1 > acked(ledger, stream):
            raise StreamGap("%s stream: seq %d to %d are missing before seq %d"
                            % (stream, after_seq + 1, first - 1, first))


# -- writing events -----------------------------------------------------------------------------------------
def record_event(ledger, type, ledger_seq=None, **fields):  # noqa: A002 - the contract's name
    """Write an event (command_result, desired_applied...) to the outbox with the ledger clock's wall time
    and synced flag; inside the caller's SQLite transaction if one is open. Return its seq."""
    if not isinstance(type, str) or not type:
        raise ValueError("an event needs a type, got %r" % (type,))
    clash = sorted(set(fields) & set(EVENT_FIELDS))
    if clash:
        raise ValueError("%s: fields %s are the event's own" % (type, ", ".join(clash)))
    if ledger_seq is not None and (isinstance(ledger_seq, bool) or not isinstance(ledger_seq, int)):
        raise ValueError("ledger_seq must be a whole number or None, got %r" % (ledger_seq,))
    return insert_event(ledger, type, ledger_seq, fields)


def prune_synced_events(ledger, keep=10000):
    """Delete acknowledged events older than the newest `keep` acknowledged ones; return how many.

    An unacknowledged event is never deleted. Transactions are never deleted (they are the chain)."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError("keep must be a whole number >= 0, got %r" % (keep,))
    with ledger.transaction():
        upto = acked(ledger, "events")
        cut = ledger.db.execute("SELECT seq FROM outbox_events WHERE seq <= ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                                [upto, keep]).fetchone()
        if cut is None:
            return 0
        return ledger.db.execute("DELETE FROM outbox_events WHERE seq <= ? AND seq <= ?", [cut[0], upto]).rowcount


# -- commands already received ------------------------------------------------------------------------------
def command_status(ledger, id):  # noqa: A002
    """The status remembered for command `id`, or None if it was never received (or has been pruned)."""
    row = ledger.db.execute("SELECT status FROM commands_seen WHERE id = ?", [id]).fetchone()
    return row[0] if row else None


def remember_command(ledger, id, type, expires, status):  # noqa: A002
    """Remember command `id` (its type, expiry and status); a second call for the same id updates it."""
    if not isinstance(id, str) or not id:
        raise ValueError("a command id must be non-empty text, got %r" % (id,))
    wall, _ = ledger.clock.wall()
    with ledger.transaction():
        ledger.db.execute("INSERT INTO commands_seen (id, type, received_wall, expires, status) VALUES (?, ?, ?, ?, ?) "
                          "ON CONFLICT (id) DO UPDATE SET type = excluded.type, expires = excluded.expires, "
                          "status = excluded.status", [id, type, wall, expires, status])


def prune_commands(ledger, now_iso):
    """Forget ids whose expiry is more than a day before `now_iso` (ISO 8601 text or an aware datetime):
    such a message is refused as expired anyway. An id whose expiry cannot be read is forgotten two days
    after it was received. Return how many were forgotten."""
    now = _instant(now_iso)
    if now is None:
        raise ValueError("now_iso must be an ISO 8601 time, got %r" % (now_iso,))
    with ledger.transaction():
        rows = ledger.db.execute("SELECT id, expires, received_wall FROM commands_seen").fetchall()
        drop = []
        for id_, expires, received in rows:
            until = _instant(expires)
            if until is not None:
                if until + COMMAND_GRACE < now:
                    drop.append(id_)
            else:
                received = _instant(received)
                if received is not None and received + COMMAND_UNREADABLE_KEEP < now:
                    drop.append(id_)
        ledger.db.conn.executemany("DELETE FROM commands_seen WHERE id = ?", [(i,) for i in drop])
        return len(drop)


def _instant(value):
    """An aware datetime from ISO 8601 text ("Z" allowed, naive taken as UTC), or None if unreadable."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


# -- desired state and settings -----------------------------------------------------------------------------
def applied_versions(ledger):
    """{"users": version or None, "catalog": version or None}: the desired-state versions in force."""
    row = ledger.db.execute("SELECT users_version, catalog_version FROM cloud_state WHERE id = 1").fetchone()
    return {"users": row[0], "catalog": row[1]}


def set_applied_version(ledger, what, version):
    """Record that desired state `what` ("users" or "catalog") is now at `version`."""
    if what not in DESIRED:
        raise ValueError("what must be one of %s, got %r" % (", ".join(DESIRED), what))
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("version must be a whole number, got %r" % (version,))
    with ledger.transaction():
        ledger.db.execute("UPDATE cloud_state SET %s_version = ? WHERE id = 1" % what, [version])


def settings(ledger):
    """The settings the cloud pushed ({} when none)."""
    text = _state(ledger, "settings")
    return json.loads(text) if text else {}


def set_settings(ledger, **values):
    """Merge `values` into the pushed settings (a value of None removes that setting); return them all."""
    with ledger.transaction():
        current = settings(ledger)
        for name, value in values.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        ledger.db.execute("UPDATE cloud_state SET settings = ? WHERE id = 1",
                          [json.dumps(current, sort_keys=True) if current else None])
        return current


# -- helpers ------------------------------------------------------------------------------------------------
def _acked_column(stream):
    if stream not in STREAMS:
        raise ValueError("stream must be one of %s, got %r" % (", ".join(STREAMS), stream))
    return stream + "_acked"


def _state(ledger, column):
    return ledger.db.execute("SELECT %s FROM cloud_state WHERE id = 1" % column).fetchone()[0]
