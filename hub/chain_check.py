"""The hash chain of a cabinet's transactions, checked as rows are stored (docs/mqtt.md "The hash chain",
docs/decisions/0025): each row's own hash, its prev_hash against the stored row before it, the stored row after
it (beyond a hole this row fills) against its hash, a seq received again against the first copy's hash, and a
birth's head against what is stored. A break is recorded and alerted, never rejected: the first copy received
is the anchor, and the cabinet's chain is the evidence.
"""
from edge_agent.ledger.chain import GENESIS_HASH, row_hash


def check_new(conn, cabinet, rows, new_seqs, before):
    """Check the rows just stored (`new_seqs`) against themselves and their neighbours; `before`: {seq: (hash,
    prev_hash)} as hex of the rows stored before this batch from its first seq - 1 to its last + 1."""
    if not new_seqs:
        return
    stored = dict(before)
    stored.update((r["seq"], (r["hash"], r["prev_hash"])) for r in rows if r["seq"] in new_seqs)
    for row in rows:
        seq = row["seq"]
        if seq not in new_seqs:
            continue
        if row_hash(row["prev_hash"], row) != row["hash"]:
            record(conn, cabinet, seq, "hash", "the row's contents do not match its hash")
        previous = GENESIS_HASH if seq == 1 else stored.get(seq - 1, (None,))[0]
        if previous is not None and previous != row["prev_hash"]:
            record(conn, cabinet, seq, "prev_hash", "prev_hash %s, but seq %d has hash %s"
                   % (row["prev_hash"], seq - 1, previous))
        following = stored.get(seq + 1)
        if following is not None and seq + 1 not in new_seqs and following[1] != row["hash"]:
            record(conn, cabinet, seq + 1, "prev_hash", "prev_hash %s, but seq %d has hash %s"
                   % (following[1], seq, row["hash"]))


def check_again(conn, cabinet, rows, before):
    """Rows received again (their seq in `before`, the first copies as check_new's): same hash as the first."""
    for row in rows:
        held = before.get(row["seq"])
        if held is not None and held[0] != row["hash"]:
            record(conn, cabinet, row["seq"], "rewritten", "received again with hash %s; the first copy had %s"
                   % (row["hash"], held[0]))


def check_birth(conn, cabinet, head, head_hash, watermark):
    """A birth's tx head against what is stored: below the watermark is a tail deleted and the head rolled
    back; a head hash that is not the stored row's is a rewritten history."""
    if head < watermark:
        record(conn, cabinet, head + 1, "rolled_back", "the cabinet's head is seq %d, but seq %d to %d were received "
               "from it" % (head, head + 1, watermark))
    if head and head_hash is not None:
        held = stored_hash(conn, cabinet, head)
        if held is not None and held != head_hash:
            record(conn, cabinet, head, "rewritten", "the cabinet's head hash is %s; the copy received had %s"
                   % (head_hash, held))


def stored_hash(conn, cabinet, seq):
    found = conn.execute("SELECT hash FROM tx_rows WHERE cabinet = %s AND seq = %s", [cabinet, seq]).fetchone()
    return found["hash"].hex() if found else None


def record(conn, cabinet, seq, kind, detail):
    """Keep the break, and raise the cabinet's chain_break alert unless one is open."""
    conn.execute("INSERT INTO chain_breaks (cabinet, seq, kind, detail) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 [cabinet, seq, kind, detail])
    conn.execute("INSERT INTO alerts (cabinet, kind, detail) VALUES (%s, 'chain_break', %s) "
                 "ON CONFLICT (cabinet, kind) WHERE cleared_at IS NULL DO NOTHING",
                 [cabinet, "tx %d (%s): %s" % (seq, kind, detail)])


# The lowest break not yet cleared, as an ack's chain_break (json) or NULL: an SQL expression with one parameter
# (the cabinet), so the statement that saves the watermark returns it too (streams.advance's `returning`).
FIRST_BREAK_SQL = ("(SELECT json_build_object('seq', seq, 'kind', kind, 'detail', left(detail, 1000)) "
                   "FROM chain_breaks WHERE cabinet = %s ORDER BY seq, kind LIMIT 1)")


def first_break(conn, cabinet):
    """The lowest break not yet cleared, as an ack's chain_break, or None."""
    return conn.execute("SELECT %s AS broken" % FIRST_BREAK_SQL, [cabinet]).fetchone()["broken"]


def clear(conn, cabinet):
    """Someone has looked at the break: forget the breaks so far; acks go on from the next batch."""
    conn.execute("DELETE FROM chain_breaks WHERE cabinet = %s", [cabinet])
    conn.execute("UPDATE alerts SET cleared_at = now() WHERE cabinet = %s AND kind = 'chain_break' AND "
                 "cleared_at IS NULL", [cabinet])
