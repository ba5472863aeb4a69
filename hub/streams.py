"""Per cabinet and stream: what is stored, the watermark, and when to ack or ask for a resend (docs/mqtt.md
"What the cloud must do"). Every function takes a connection inside a transaction; `lock` is called first,
so two workers handed batches of one cabinet at once take turns on its stream row, and the watermark is
always computed from the stored seqs, never from the order batches arrived in.
"""
from dataclasses import dataclass

TABLE = {"tx": "tx_rows", "events": "events"}


@dataclass
class Stream:
    cabinet: str
    stream: str
    base: int
    watermark: int
    head: int
    progress_at: float
    last_resend_at: float = None
    returned: object = None         # what advance()'s saving UPDATE was asked to return

    @property
    def behind(self):
        return self.head > self.watermark


def lock(conn, cabinet, stream, now, base=0, head=0):
    """The stream's row, locked until the transaction ends; created first (at `base`) if it is new. Returns
    (Stream, created)."""
    created = conn.execute(
        "INSERT INTO streams (cabinet, stream, base, watermark, head, progress_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING 1", [cabinet, stream, base, base, max(head, base), now]).fetchone()
    row = conn.execute("SELECT * FROM streams WHERE cabinet = %s AND stream = %s FOR UPDATE",
                       [cabinet, stream]).fetchone()
    return Stream(**row), created is not None


def lock_known(conn, cabinet, stream):
    """The stream's row locked, with its cabinet's tenant, site and command_key read in the same statement (so
    a re-registration is seen at once, at no extra round trip); None when the stream (or cabinet) is new."""
    row = conn.execute("SELECT s.*, c.tenant, c.site, c.command_key FROM streams s JOIN cabinets c ON c.id = s.cabinet "
                       "WHERE s.cabinet = %s AND s.stream = %s FOR UPDATE OF s", [cabinet, stream]).fetchone()
    if row is None:
        return None
    facts = {k: row.pop(k) for k in ("tenant", "site", "command_key")}
    return Stream(**row), facts


def advance(conn, state, now, head=None, stored=None, returning=None):
    """Raise the head to `head`, move the watermark over every seq stored contiguously above it, restart the
    grace period when it moved (or the stream has just fallen behind), and save. Returns the old watermark.

    stored: what the caller knows, (first, last, next_stored): seqs first..last are stored and whether last + 1
    is; when first..last covers the seq above the watermark the watermark moves without a query. returning: an
    SQL expression (with its parameters) computed by the saving UPDATE, its value left in state.returned."""
    before, was_behind = state.watermark, state.behind
    if head is not None:
        state.head = max(state.head, head)
    if stored is not None and stored[0] <= state.watermark + 1 <= stored[1]:
        state.watermark = stored[1]
        if stored[2]:
            state.watermark = _run_end(conn, state)
    else:
        first = conn.execute("SELECT min(seq) AS seq FROM %s WHERE cabinet = %%s AND seq > %%s" % TABLE[state.stream],
                             [state.cabinet, state.watermark]).fetchone()["seq"]
        if first == state.watermark + 1:
            state.watermark = _run_end(conn, state)
    if state.watermark != before or (state.behind and not was_behind):
        state.progress_at = now
    expression, params = returning or ("NULL", [])
    state.returned = conn.execute(
        "UPDATE streams SET head = %%s, watermark = %%s, progress_at = %%s WHERE cabinet = %%s AND stream = %%s "
        "RETURNING %s AS returned" % expression,
        [state.head, state.watermark, state.progress_at, state.cabinet, state.stream, *params]).fetchone()["returned"]
    return before


def _run_end(conn, state):
    """The end of the run of consecutive stored seqs that starts just above the watermark (stored)."""
    return conn.execute(
        "SELECT seq FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next FROM %s "
        "WHERE cabinet = %%s AND seq > %%s) run WHERE next IS DISTINCT FROM seq + 1 ORDER BY seq LIMIT 1"
        % TABLE[state.stream], [state.cabinet, state.watermark]).fetchone()["seq"]


def restart_grace(conn, cabinet, now):
    """The cabinet has just connected: it sends everything from its last ack by itself, so the grace period
    starts again rather than a resend crossing its backlog."""
    conn.execute("UPDATE streams SET progress_at = %s WHERE cabinet = %s", [now, cabinet])


def resend_due(conn, state, now, grace_s):
    """True (and noted) when no resend went out for this stream in the last grace_s: at most one per grace."""
    if state.last_resend_at is not None and now - state.last_resend_at < grace_s:
        return False
    state.last_resend_at = now
    conn.execute("UPDATE streams SET last_resend_at = %s WHERE cabinet = %s AND stream = %s",
                 [now, state.cabinet, state.stream])
    return True


def overdue(conn, now, grace_s):
    """Streams of online cabinets behind what they hold with no progress for grace_s and no resend in the last
    grace_s, marked as resent now (the row locks make each one a single worker's). Rows: cabinet, stream,
    watermark, tenant, site, command_key."""
    return conn.execute(
        "UPDATE streams s SET last_resend_at = %(now)s FROM cabinets c "
        "WHERE c.id = s.cabinet AND s.head > s.watermark AND s.progress_at <= %(since)s "
        "AND (s.last_resend_at IS NULL OR s.last_resend_at <= %(since)s) "
        "AND NOT EXISTS (SELECT 1 FROM status st WHERE st.cabinet = s.cabinet AND st.state <> 'online') "
        "RETURNING s.cabinet, s.stream, s.watermark, c.tenant, c.site, c.command_key",
        {"now": now, "since": now - grace_s}).fetchall()
