"""What the hub does with one up message (docs/mqtt.md "What the cloud must do"), transport aside:

1. Check it: JSON, its schema (validators built once, hub/contract.py), its cabinet is the topic's, and a batch's
   seqs run contiguously. Then, in one PostgreSQL transaction: the cabinet is registered at the topic's tenant
   and site. Anything wrong is kept in `rejected` with why, and nothing of it is applied.
2. Store it idempotently: rows and events by (cabinet, seq) with ON CONFLICT DO NOTHING, so the agent's
   resends are counted and change nothing; check the chain (chain_check.py).
3. Move the watermark and decide on an ack and a resend (streams.py).
4. Commit, and only then return the signed acks and resends to publish. The caller PUBACKs the message after
   that: a worker killed at any point before leaves the message to be delivered again.

Choices the contract leaves to the cloud (as the reference receiver made them, which this replaces):
- A stream first seen in a birth starts at the birth's `acked` (the cabinet's word that a cloud has those); one
  first seen in a batch (the birth was missed) starts at 0 and the hole below is asked for.
- A birth whose acked is below the watermark gets an ack (the cabinet missed ours); above it: missing tx rows
  are asked for (the ledger keeps them all), events jump to acked (the cabinet prunes acknowledged events).
- A birth whose head is ahead of what is stored is recorded: the backlog comes by itself from the cabinet's last
  ack, and the grace period asks for it if it does not.
- Acks go out when the watermark moves, and also when a batch holds nothing new (a resend: our ack was lost).
- Status: the latest per cabinet, except that an `offline` of an older session never overwrites the current one.
"""
import datetime
import json
import logging
import time
from dataclasses import dataclass

from jsonschema.exceptions import ValidationError

from edge_agent.cloud import envelope
from edge_agent.cloud.topics import UP, Topics, parse
from hub import chain_check, desired, streams
from hub.contract import BadBatch, check_batch, default, describe

log = logging.getLogger(__name__)

SCHEMA_OF = {"status": "status", "birth": "birth", "tx": "tx_batch", "events": "event_batch", "inventory": "inventory"}
REJECTED_KEPT_BYTES = 65536
ACK_LIFETIME_S = 300


class Rejected(Exception):
    """An up message that is not applied; the text is the reason kept in `rejected`."""


@dataclass
class Stats:
    received: int = 0      # up messages handled to the end (stored or rejected)
    stored: int = 0        # rows and events newly stored
    duplicates: int = 0    # rows and events received again: counted, nothing changed
    rejected: int = 0
    acks: int = 0
    resends: int = 0


@dataclass
class Cabinet:
    """The message's cabinet as registered, for this transaction."""
    topics: Topics
    key: bytes

    @property
    def id(self):
        return self.topics.cabinet


class Ingest:
    def __init__(self, pool, contract=None, clock=time.time, grace_s=2.0, report=None):
        """pool: a psycopg_pool.ConnectionPool (hub/db.py); clock: wall seconds shared by every worker (the
        grace period is kept in the database); report: called with one line per thing stored or sent."""
        self.pool = pool
        self.contract = contract or default()
        self.clock = clock
        self.grace_s = grace_s
        self.report = report or (lambda line: log.debug("%s", line))
        self.stats = Stats()
        for name in SCHEMA_OF.values():
            self.contract.fast(name)        # build every validator now: a broken schema stops the start

    def handle(self, topic, raw):
        """Apply one message; returns [(topic, envelope)] to publish once it is stored. Database errors are
        raised (the message must not be PUBACKed: it comes again)."""
        parsed = parse(topic)
        if parsed is None or parsed[1] not in UP:
            return []
        topics, leaf = parsed
        try:
            payload = self._check(topics, leaf, raw)
            now = self.clock()
            with self.pool.connection() as conn, conn.transaction():
                if leaf in streams.TABLE:       # the bulk of the traffic: as few round trips as it can
                    out = getattr(self, "_store_" + leaf)(conn, *self._locked(conn, topics, leaf, now), payload, now)
                else:
                    out = getattr(self, "_store_" + leaf)(conn, self._registered(conn, topics), payload, now)
        except Rejected as e:
            self._reject(topic, topics.cabinet, str(e), raw)
            out = []
        self.stats.received += 1        # counted once done with: what a database failure cut short comes again
        return out

    # -- checking ---------------------------------------------------------------------------------------
    def _check(self, topics, leaf, raw):
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Rejected("not JSON") from None
        try:
            self.contract.check(SCHEMA_OF[leaf], payload)
        except ValidationError as e:
            raise Rejected("schema %s: %s" % (SCHEMA_OF[leaf], describe(e))) from None
        if payload["cabinet"] != topics.cabinet:
            raise Rejected("cabinet %r in the payload, %r in the topic" % (payload["cabinet"], topics.cabinet))
        if leaf in streams.TABLE:
            try:
                check_batch(payload)
            except BadBatch as e:
                raise Rejected(str(e)) from None
        return payload

    def _locked(self, conn, topics, stream, now):
        """(Cabinet, its Stream locked): one statement for a stream seen before (its cabinet's facts read with
        the lock, so a cabinet re-registered is never served from a stale copy), three for a new one."""
        known = streams.lock_known(conn, topics.cabinet, stream)
        if known is None:
            cabinet = self._registered(conn, topics)
            return cabinet, streams.lock(conn, cabinet.id, stream, now)[0]
        state, facts = known
        return self._placed(topics, facts), state

    @staticmethod
    def _registered(conn, topics):
        found = conn.execute("SELECT tenant, site, command_key FROM cabinets WHERE id = %s", [topics.cabinet]).fetchone()
        return Ingest._placed(topics, found)

    @staticmethod
    def _placed(topics, found):
        if found is None:
            # It could be stored, but never acknowledged: acks are signed with the cabinet's key.
            raise Rejected("unknown cabinet %r: not registered in this hub" % topics.cabinet)
        if (found["tenant"], found["site"]) != (topics.tenant, topics.site):
            raise Rejected("cabinet %r is registered at %s/%s, not %s/%s" % (
                topics.cabinet, found["tenant"], found["site"], topics.tenant, topics.site))
        return Cabinet(topics, bytes(found["command_key"]))

    def _reject(self, topic, cabinet, reason, raw):
        self.stats.rejected += 1
        text = raw[:REJECTED_KEPT_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO rejected (topic, cabinet, reason, payload) VALUES (%s, %s, %s, %s)",
                         [topic, cabinet, reason, text])
        self.report("%s REJECTED on %s: %s" % (cabinet, topic, reason))

    # -- storing, one kind of message each ---------------------------------------------------------------
    def _store_status(self, conn, cab, p, now):
        stored = conn.execute(
            "INSERT INTO status (cabinet, state, session, sent_wall, clock_synced) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (cabinet) DO UPDATE SET state = EXCLUDED.state, session = EXCLUDED.session, "
            "sent_wall = EXCLUDED.sent_wall, clock_synced = EXCLUDED.clock_synced, received_at = now() "
            "WHERE status.session <= EXCLUDED.session RETURNING 1",
            [cab.id, p["state"], p["session"], p["sent_wall"], p["clock_synced"]]).fetchone()
        if stored is None:
            # An older connection's last will (or status) arriving late: the cabinet has moved on.
            self.report("%s status %s of old session %d ignored" % (cab.id, p["state"], p["session"]))
            return []
        if p["state"] == "online":
            streams.restart_grace(conn, cab.id, now)
        self.report("%s %s (session %d)" % (cab.id, p["state"], p["session"]))
        return []

    def _store_birth(self, conn, cab, p, now):
        conn.execute("INSERT INTO births (cabinet, session, body) VALUES (%s, %s, %s) ON CONFLICT (cabinet, session) "
                     "DO UPDATE SET body = EXCLUDED.body, received_at = now()", [cab.id, p["session"], json.dumps(p)])
        out = []
        for name in ("events", "tx"):           # always this order: two births of one cabinet never deadlock
            said = p["streams"][name]
            head, acked = said["head"], said["acked"]
            state, created = streams.lock(conn, cab.id, name, now, base=acked, head=head)
            if not created:
                if name == "tx":
                    chain_check.check_birth(conn, cab.id, head, said.get("head_hash"), state.watermark)
                if acked < state.watermark:
                    out.append(self._ack(conn, cab, name, state.watermark))    # it missed our last ack
                elif acked > state.watermark and name == "events":
                    # Acknowledged by a database we no longer have (a restore from backup?). The cabinet prunes
                    # acknowledged events, so they cannot come back: start again from its word.
                    conn.execute("UPDATE streams SET base = %s, watermark = %s WHERE cabinet = %s AND stream = %s",
                                 [acked, acked, cab.id, name])
                    self.report("%s events %d-%d were acknowledged before but are not here; not asked for"
                                % (cab.id, state.watermark + 1, acked))
                    state.base = state.watermark = acked
            streams.advance(conn, state, now, head=head)
        streams.restart_grace(conn, cab.id, now)
        self.report("%s birth: session %d, agent %s, tx head %d acked %d, events head %d acked %d" % (
            cab.id, p["session"], p["agent_version"], p["streams"]["tx"]["head"], p["streams"]["tx"]["acked"],
            p["streams"]["events"]["head"], p["streams"]["events"]["acked"]))
        return out

    def _store_inventory(self, conn, cab, p, now):
        conn.execute(
            "INSERT INTO inventory (cabinet, session, as_of_seq, body) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (cabinet) DO UPDATE SET session = EXCLUDED.session, as_of_seq = EXCLUDED.as_of_seq, "
            "body = EXCLUDED.body, received_at = now() "
            "WHERE (inventory.session, inventory.as_of_seq) <= (EXCLUDED.session, EXCLUDED.as_of_seq)",
            [cab.id, p["session"], p["as_of_seq"], json.dumps(p)])
        return []

    def _store_tx(self, conn, cab, state, p, now):
        rows = p["rows"]
        first, last = p["first_seq"], p["last_seq"]
        # One statement: store the new rows (the body is the row less seq and hashes) and read what was stored
        # before from first - 1 to last + 1 (the main query sees the table as it was before the WITH's insert):
        # the neighbours the chain check needs and the first copies of rows received again.
        new, before = set(), {}
        for r in conn.execute(
                "WITH new AS (INSERT INTO tx_rows (cabinet, seq, hash, prev_hash, body) "
                "SELECT %(cab)s, (r->>'seq')::bigint, decode(r->>'hash', 'hex'), decode(r->>'prev_hash', 'hex'), "
                "r - 'seq' - 'hash' - 'prev_hash' FROM jsonb_array_elements(%(rows)s::jsonb) r "
                "ON CONFLICT DO NOTHING RETURNING seq) "
                "SELECT seq, NULL::bytea AS hash, NULL::bytea AS prev_hash FROM new UNION ALL "
                "SELECT seq, hash, prev_hash FROM tx_rows WHERE cabinet = %(cab)s AND seq BETWEEN %(lo)s AND %(hi)s",
                {"cab": cab.id, "rows": json.dumps(rows), "lo": first - 1, "hi": last + 1}):
            if r["hash"] is None:
                new.add(r["seq"])
            else:
                before[r["seq"]] = (r["hash"].hex(), r["prev_hash"].hex())
        chain_check.check_new(conn, cab.id, rows, new, before)
        chain_check.check_again(conn, cab.id, rows, before)
        known = dict(before)
        known.update((r["seq"], (r["hash"], r["prev_hash"])) for r in rows if r["seq"] in new)
        return self._after_batch(conn, cab, state, p, len(new), now, last + 1 in before, known)

    def _store_events(self, conn, cab, state, p, now):
        events = p["events"]
        first, last = p["first_seq"], p["last_seq"]
        new, after = set(), False
        for r in conn.execute(
                "WITH new AS (INSERT INTO events (cabinet, seq, type, body) SELECT %(cab)s, (e->>'seq')::bigint, "
                "e->>'type', e FROM jsonb_array_elements(%(events)s::jsonb) e ON CONFLICT DO NOTHING RETURNING seq) "
                "SELECT seq, true AS new FROM new UNION ALL "
                "SELECT seq, false FROM events WHERE cabinet = %(cab)s AND seq = %(next)s",
                {"cab": cab.id, "events": json.dumps(events), "next": last + 1}):
            if r["new"]:
                new.add(r["seq"])
            else:
                after = True
        results = [e for e in events if e["seq"] in new and e["type"] == "command_result"]
        if results:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO command_results (cabinet, seq, command_id, command_type, status, reason, detail) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [[cab.id, e["seq"], e["command_id"], e["command_type"], e["status"], e.get("reason"),
                      e.get("detail")] for e in results])
        desired.record_reports(conn, cab.id, [e for e in events if e["seq"] in new])     # what desired state did
        return self._after_batch(conn, cab, state, p, len(new), now, after)

    def _after_batch(self, conn, cab, state, p, new, now, next_stored, hashes=None):
        """Count, move the watermark, and decide on an ack and a resend for this stream. next_stored: whether
        last_seq + 1 is stored; hashes: {seq: (hash, prev_hash)} known for tx (saves the ack's lookup)."""
        first, last = p["first_seq"], p["last_seq"]
        self.stats.stored += new
        self.stats.duplicates += last - first + 1 - new
        # The tx ack needs the first chain break: the UPDATE that saves the watermark returns it.
        returning = (chain_check.FIRST_BREAK_SQL, [cab.id]) if state.stream == "tx" else None
        before = streams.advance(conn, state, now, head=last, stored=(first, last, next_stored), returning=returning)
        out = []
        if state.watermark > before or (new == 0 and last <= state.watermark):
            out.append(self._ack(conn, cab, state.stream, state.watermark, broken=state.returned, hashes=hashes))
        if first > state.watermark + 1 and streams.resend_due(conn, state, now, self.grace_s):
            out.append(self.resend(cab.topics, cab.key, state.stream, state.watermark + 1,
                                   "batch %d-%d arrived" % (first, last)))
        self.report("%s %s %d-%d%s: %d new, %d duplicate; watermark %d" % (
            cab.id, state.stream, first, last, " (backlog)" if p["backlog"] else "", new, last - first + 1 - new,
            state.watermark))
        return out

    # -- what goes back down ------------------------------------------------------------------------------
    def _ack(self, conn, cab, stream, upto_seq, broken=False, hashes=None):
        """broken: the first chain break when the caller has it (None: there is none; False: look it up);
        hashes: stored rows' hashes the caller knows, {seq: (hash, prev_hash)}."""
        body = {"stream": stream, "upto_seq": upto_seq}
        if stream == "tx":
            if broken is False:
                broken = chain_check.first_break(conn, cab.id)
            if broken is not None:      # no further than the row before the break, and say why
                body.update(upto_seq=min(upto_seq, broken["seq"] - 1), chain_break=broken)
            held = (hashes or {}).get(body["upto_seq"], (None,))[0]
            if held is None:
                held = chain_check.stored_hash(conn, cab.id, body["upto_seq"])
            if held is not None:
                body["hash"] = held
        self.stats.acks += 1
        self.report("%s ack %s up to %d%s" % (cab.id, stream, body["upto_seq"],
                                              " (chain broken: stalled)" if "chain_break" in body else ""))
        return cab.topics.ack, sign(cab.key, cab.id, "ack", body, ACK_LIFETIME_S)

    def resend(self, topics, key, stream, from_seq, why):
        self.stats.resends += 1
        self.report("%s resend %s from %d (%s)" % (topics.cabinet, stream, from_seq, why))
        return topics.cmd, sign(key, topics.cabinet, "resend", {"stream": stream, "from_seq": from_seq},
                                ACK_LIFETIME_S)

    def sweep(self):
        """The grace period: resends for streams behind with no progress for grace_s. Returns what to publish."""
        now = self.clock()
        with self.pool.connection() as conn, conn.transaction():
            due = streams.overdue(conn, now, self.grace_s)
        return [self.resend(Topics(r["tenant"], r["site"], r["cabinet"]), bytes(r["command_key"]), r["stream"],
                            r["watermark"] + 1, "nothing new for %.1f s" % self.grace_s) for r in due]


def sign(key, cabinet, type_, body, lifetime_s, id_=None):
    return envelope.sign(key, cabinet, type_, body, datetime.datetime.now(datetime.timezone.utc), lifetime_s,
                         id_=id_)
