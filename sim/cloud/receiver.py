"""The reference cloud side of the MQTT contract (docs/mqtt.md): what a cloud backend must do, small enough
to read in one sitting. The tests run it against a real Mosquitto; `locker-sim cloud` runs it by hand.

    cloud = CloudReceiver("127.0.0.1", 1883, "cloud.db", {"CAB-1": key_bytes})
    cloud.start()                                   # connected and subscribed when it returns
    cloud.wait_for(lambda: cloud.watermark("CAB-1", "tx") >= 10, timeout=30)
    cloud.send_command("CAB-1", "unlock", {"door": 2, "reason": "driver lost badge"})
    cloud.stop()

What it does with each up message, in order (on paho's network thread, one message at a time):
1. Validate it against its JSON Schema (docs/mqtt/schemas), check its cabinet is the topic's and is one we
   have a key for, and that a batch's seqs run contiguously from first_seq to last_seq. Anything wrong goes
   to the `rejected` table with the reason, and nothing of it is applied.
2. Store it in SQLite, idempotently: rows and events by (cabinet, seq) with INSERT OR IGNORE, so a
   duplicate (the agent resends whatever it has no ack for) is counted and changes nothing. The commit is
   done before on_message returns, i.e. before paho sends the PUBACK.
3. Move the stream's watermark (the highest seq up to which everything is stored) and, when it moved,
   publish a signed `ack` for it. Only this ack makes the cabinet consider rows synced, so a message lost
   anywhere (even after our PUBACK) is simply sent again.
4. When a seq is missing (a batch arrives beyond a hole, or the watermark stays below what the cabinet
   said it has for `grace_s`), publish a signed `resend` from the first missing seq.

Choices the contract leaves to the cloud, and what this one does:
- **Where a cabinet lives.** The cabinet id comes with a key; the tenant and site are learnt from the
  topics the cabinet publishes on (kept in the `cabinets` table, so they survive a restart), or given up
  front with `sites={cabinet: (tenant, site)}` for a cabinet that has not spoken yet. send_command for a
  cabinet it knows neither way raises LookupError.
- **A fresh receiver and an old cabinet.** A cabinet that has had acks from an earlier cloud database no
  longer sends what was acknowledged (and may have pruned its acknowledged events), so we could never fill
  1..acked. The first time a stream of a cabinet is seen in a birth, its watermark starts at the birth's
  `streams.<stream>.acked`: the cabinet's word that a cloud already has those. A stream first seen in a
  batch (the birth was missed) starts at 0, and the hole below the batch is asked for like any other.
  Later, a birth whose acked is above our watermark (a database restored from backup) gets the missing
  tx rows asked for (the ledger keeps them all), while events jump to acked (the cabinet prunes them).
- **Acks.** Sent when the watermark moves; and also when a batch holds nothing new, or a birth reports an
  acked below our watermark: the cabinet is resending what we already have, so it missed our last ack.
- **Resends.** At most one per stream per grace_s, and the timed ones only while the cabinet's status is
  online (a resend queued for an offline cabinet is worth nothing: it resends from its ack on reconnect).
- **The hash chain** (docs/decisions/0006, 0025) is checked wherever a row's neighbour is stored: its own
  hash, its prev_hash against the previous row's hash, and a redelivered seq whose hash differs from the
  stored one (a rewritten history); and a birth whose tx head is below the watermark (rows deleted and the
  head rolled back). A break is recorded in `chain_breaks`, never rejected: the cabinet's chain is the
  evidence, and the first copy received is the anchor. Every tx ack carries the hash of its seq, which the
  cabinet keeps as its anchor. After a break the cabinet's tx acks stop below the first broken seq, each
  saying why (`chain_break`), and an alert is raised (`alerts`, reported); the events stream is still
  acknowledged. `clear_chain_break` (someone has looked) lets the acks go on.
- **Status.** The latest per cabinet, except that an `offline` from an older session (the last will of a
  previous connection, delivered late) never overwrites the current session's `online`.
"""
import datetime
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from jsonschema.exceptions import ValidationError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.cloud import envelope
from edge_agent.cloud.topics import PREFIX, UP, Topics, parse
from edge_agent.ledger.chain import GENESIS_HASH, row_hash
from hub.contract import SCHEMA_DIR as SCHEMAS_DIR
from hub.contract import BadBatch, Contract, ContractError, check_batch, describe

log = logging.getLogger(__name__)

SCHEMA_OF = {"status": "status", "birth": "birth", "tx": "tx_batch", "events": "event_batch",
             "inventory": "inventory"}
STREAMS = ("tx", "events")
STREAM_TABLE = {"tx": "tx_rows", "events": "events"}
SUBSCRIPTION = PREFIX + "/+/+/+/#"
SESSION_EXPIRY_S = 7 * 86400    # the broker keeps our subscription and queues up messages while we are away
KEEPALIVE_S = 30
DESIRED_LIFETIME_S = 86400      # the longest an envelope may live: re-sign retained desired state daily

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS cabinets (cabinet TEXT PRIMARY KEY, tenant TEXT NOT NULL, site TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (cabinet TEXT NOT NULL, stream TEXT NOT NULL,
    base INTEGER NOT NULL,        -- nothing at or below this seq is expected (the first birth's acked)
    watermark INTEGER NOT NULL,   -- everything from base + 1 up to here is stored
    head INTEGER NOT NULL,        -- the highest seq the cabinet has said it holds (birth, batches)
    PRIMARY KEY (cabinet, stream));
CREATE TABLE IF NOT EXISTS tx_rows (cabinet TEXT NOT NULL, seq INTEGER NOT NULL, row_json TEXT NOT NULL,
    hash TEXT NOT NULL, received_wall TEXT NOT NULL, PRIMARY KEY (cabinet, seq));
CREATE TABLE IF NOT EXISTS events (cabinet TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    event_json TEXT NOT NULL, received_wall TEXT NOT NULL, PRIMARY KEY (cabinet, seq));
CREATE TABLE IF NOT EXISTS command_results (cabinet TEXT NOT NULL, seq INTEGER NOT NULL, command_id TEXT,
    command_type TEXT, status TEXT NOT NULL, reason TEXT, detail TEXT, PRIMARY KEY (cabinet, seq));
CREATE TABLE IF NOT EXISTS status (cabinet TEXT PRIMARY KEY, state TEXT NOT NULL, session INTEGER NOT NULL,
    wall TEXT NOT NULL, clock_synced INTEGER NOT NULL, received_wall TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS births (cabinet TEXT NOT NULL, session INTEGER NOT NULL, birth_json TEXT NOT NULL,
    received_wall TEXT NOT NULL, PRIMARY KEY (cabinet, session));
CREATE TABLE IF NOT EXISTS inventory (cabinet TEXT PRIMARY KEY, session INTEGER NOT NULL,
    as_of_seq INTEGER NOT NULL, snapshot_json TEXT NOT NULL, received_wall TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chain_breaks (cabinet TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL, found_wall TEXT NOT NULL, PRIMARY KEY (cabinet, seq, kind));
CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, cabinet TEXT NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL, raised_wall TEXT NOT NULL, cleared_wall TEXT);
CREATE TABLE IF NOT EXISTS rejected (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, cabinet TEXT,
    reason TEXT NOT NULL, payload TEXT NOT NULL, received_wall TEXT NOT NULL);
"""


class ConfigError(Exception):
    """The receiver cannot run as configured (a schema file missing or broken, a bad key)."""


class Rejected(Exception):
    """An up message that is not applied; the text is the reason stored in `rejected`."""


@dataclass
class Stats:
    received: int = 0      # up messages received (each counted once, whatever became of it)
    stored: int = 0        # rows and events newly stored
    duplicates: int = 0    # rows and events received again: counted, nothing changed
    rejected: int = 0
    acks: int = 0          # acks published
    resends: int = 0       # resend commands published


@dataclass
class _Timer:
    """Per (cabinet, stream), in memory: since when the watermark has not moved, and the last resend."""
    since: float
    last_resend: float = None
    behind: bool = False


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class CloudReceiver:
    client_setup = None     # called with the paho client before it connects: TLS, a user name (the shipped broker)

    def __init__(self, host, port, db_path, keys, schemas_dir=SCHEMAS_DIR, grace_s=2.0, clock=time.monotonic,
                 client_id="locker-cloud-receiver", sites=None, report=None):
        """keys: {cabinet: 32-byte command key}; sites: {cabinet: (tenant, site)} known before it speaks;
        clock: monotonic seconds, for the grace period; report: called with one line of text per thing
        stored or sent (the CLI prints them)."""
        for cabinet, key in keys.items():
            if not isinstance(key, bytes) or len(key) != envelope.KEY_BYTES:
                raise ConfigError("the key of %s must be %d bytes" % (cabinet, envelope.KEY_BYTES))
        self.host, self.port = host, port
        self.db_path = Path(db_path)
        self.keys = dict(keys)
        self.schemas_dir = Path(schemas_dir)
        self.grace_s = grace_s
        self.clock = clock
        self.client_id = client_id
        self.report = report or (lambda line: log.info("%s", line))
        self.stats = Stats()
        self.contract = None
        self.db = None
        self.client = None
        self._sites = dict(sites or {})
        # One lock for the database and the in-memory state; the condition wait_for() sleeps on.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._timers = {}
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._watchdog = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, timeout=10.0):
        """Load the schemas (ConfigError if one is missing or broken), open the database, connect and subscribe.
        Returns once subscribed (TimeoutError after `timeout` s); timeout=None returns at once and lets
        paho keep trying to reach the broker."""
        try:
            self.contract = Contract(self.schemas_dir, needs=SCHEMA_OF.values())
        except ContractError as e:
            raise ConfigError(str(e)) from None
        self._open_db()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if self.client_setup is not None:
            self.client_setup(self.client)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        # A persistent session: while we are down the broker queues what cabinets publish, so a restart of
        # the cloud costs no resends. (The acks, not this, are what guarantee nothing is lost.)
        self.client.connect_async(self.host, self.port, KEEPALIVE_S, clean_start=False, properties=props)
        self.client.loop_start()        # paho's own thread: network I/O, reconnects and our on_message
        self._watchdog = threading.Thread(target=self._watch, name="cloud-receiver-grace", daemon=True)
        self._watchdog.start()
        if timeout is not None and not self._subscribed.wait(timeout):
            self.stop()
            raise TimeoutError("cloud receiver: not subscribed at %s:%d after %.0f s"
                               % (self.host, self.port, timeout))
        return self

    def stop(self):
        self._stopping.set()
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
        if self._watchdog is not None:
            self._watchdog.join(5)
        with self._lock:
            if self.db is not None:
                self.db.close()
                self.db = None

    def _open_db(self):
        self.db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL, as the agent's ledger: a commit must survive a power cut, since the PUBACK follows it.
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA_SQL)
        with self._lock:
            for row in self.db.execute("SELECT cabinet, tenant, site FROM cabinets"):
                self._sites.setdefault(row["cabinet"], (row["tenant"], row["site"]))
            now = self.clock()
            for row in self.db.execute("SELECT cabinet, stream FROM streams WHERE head > watermark"):
                self._timers[(row["cabinet"], row["stream"])] = _Timer(since=now, behind=True)

    # -- paho callbacks (paho's thread) ------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.report("broker %s:%d refused us: %s" % (self.host, self.port, reason_code))
            return
        # noLocal: our own acks and commands match the wildcard too; the broker need not send them back.
        client.subscribe(SUBSCRIPTION, options=SubscribeOptions(qos=1, noLocal=True))
        self.report("connected to %s:%d (session %s)" % (self.host, self.port,
                                                         "resumed" if flags.session_present else "new"))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if all(not rc.is_failure for rc in reason_codes):
            self.report("subscribed to %s" % SUBSCRIPTION)
            self._subscribed.set()
        else:
            self.report("subscription to %s refused: %s" % (SUBSCRIPTION, reason_codes))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if not self._stopping.is_set():
            self.report("disconnected (%s); paho reconnects" % reason_code)

    def _on_message(self, client, userdata, message):
        parsed = parse(message.topic)
        if parsed is None or parsed[1] not in UP:
            return                      # not ours to handle (down messages, other trees)
        topics, leaf = parsed
        try:
            with self._lock:
                if self.db is None:
                    return
                self.stats.received += 1
                try:
                    payload = self._check(topics, leaf, message.payload)
                    out = self._store(topics, leaf, payload)
                except Rejected as e:
                    self._reject(message.topic, topics.cabinet, str(e), message.payload)
                    out = []
                self._changed.notify_all()
            for topic, env in out:      # publish outside our lock: paho's thread may be waiting on it
                self._publish(topic, env)
        except Exception:               # noqa: BLE001 - never let one message kill paho's thread
            # Nothing was acked for it, so the cabinet will send it again; log loudly and carry on.
            log.exception("cloud receiver: failed on a message on %s", message.topic)

    # -- checking ---------------------------------------------------------------------------------------
    def _check(self, topics, leaf, raw):
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Rejected("not JSON") from None
        try:
            self.contract.validate(SCHEMA_OF[leaf], payload)
        except ValidationError as e:
            raise Rejected("schema %s: %s" % (SCHEMA_OF[leaf], describe(e))) from None
        if payload["cabinet"] != topics.cabinet:
            raise Rejected("cabinet %r in the payload, %r in the topic" % (payload["cabinet"], topics.cabinet))
        if topics.cabinet not in self.keys:
            # We could store it, but never ack it (acks are signed with the cabinet's key).
            raise Rejected("unknown cabinet %r: no key for it" % topics.cabinet)
        if leaf in STREAMS:
            try:
                check_batch(payload)
            except BadBatch as e:
                raise Rejected(str(e)) from None
        return payload

    def _reject(self, topic, cabinet, reason, raw):
        self.stats.rejected += 1
        self.db.execute("INSERT INTO rejected (topic, cabinet, reason, payload, received_wall) VALUES (?,?,?,?,?)",
                        [topic, cabinet, reason, raw.decode("utf-8", "replace"), _wall()])
        self.report("%s REJECTED on %s: %s" % (cabinet, topic, reason))

    # -- storing ----------------------------------------------------------------------------------------
    def _store(self, topics, leaf, payload):
        """Apply one checked message in one SQLite transaction; return the (topic, envelope)s to publish."""
        cabinet = topics.cabinet
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._learn_site(topics)
            out = getattr(self, "_store_" + leaf)(topics, cabinet, payload)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return out

    def _learn_site(self, topics):
        where = (topics.tenant, topics.site)
        if self._sites.get(topics.cabinet) != where:
            if topics.cabinet in self._sites:
                log.warning("cabinet %s moved from %s/%s to %s/%s", topics.cabinet, *self._sites[topics.cabinet],
                            *where)
            self._sites[topics.cabinet] = where
            self.db.execute("INSERT OR REPLACE INTO cabinets VALUES (?,?,?)", [topics.cabinet, *where])

    def _store_status(self, topics, cabinet, p):
        current = self.db.execute("SELECT session FROM status WHERE cabinet = ?", [cabinet]).fetchone()
        if current is not None and p["session"] < current["session"]:
            # An older connection's last will (or status) arriving late: the cabinet has moved on.
            self.report("%s status %s of old session %d ignored (now %d)"
                        % (cabinet, p["state"], p["session"], current["session"]))
            return []
        self.db.execute("INSERT OR REPLACE INTO status VALUES (?,?,?,?,?,?)",
                        [cabinet, p["state"], p["session"], p["sent_wall"], int(p["clock_synced"]), _wall()])
        if p["state"] == "online":
            self._restart_grace(cabinet)
        self.report("%s %s (session %d)" % (cabinet, p["state"], p["session"]))
        return []

    def _store_birth(self, topics, cabinet, p):
        self.db.execute("INSERT OR REPLACE INTO births VALUES (?,?,?,?)",
                        [cabinet, p["session"], json.dumps(p), _wall()])
        out = []
        for stream in STREAMS:
            head, acked = p["streams"][stream]["head"], p["streams"][stream]["acked"]
            state = self._stream(cabinet, stream)
            if state is None:
                # A stream we have never seen: start where the cabinet says a cloud already has it.
                self.db.execute("INSERT INTO streams VALUES (?,?,?,?,?)", [cabinet, stream, acked, acked, head])
            else:
                self.db.execute("UPDATE streams SET head = max(head, ?) WHERE cabinet = ? AND stream = ?",
                                [head, cabinet, stream])
                if stream == "tx" and head < state["watermark"]:
                    self._chain_break(cabinet, head + 1, "rolled_back", "the cabinet's head is seq %d, but seq %d "
                                      "to %d were received from it" % (head, head + 1, state["watermark"]))
                held = self._stored_row(cabinet, head) if stream == "tx" and head else None
                said = p["streams"][stream].get("head_hash")
                if held is not None and said is not None and said != held["hash"]:
                    self._chain_break(cabinet, head, "rewritten", "the cabinet's head hash is %s; the copy received "
                                      "had %s" % (said, held["hash"]))
                if acked < state["watermark"]:
                    out.append(self._ack(topics, stream, state["watermark"]))   # it missed our last ack
                elif acked > state["watermark"] and stream == "events":
                    # Acknowledged by a cloud database we no longer have (a restore from backup?). The
                    # cabinet prunes acked events, so they cannot come back: start again from its word.
                    # (Missing tx rows are asked for as usual: the ledger never deletes them.)
                    self.db.execute("UPDATE streams SET base = ?, watermark = ? WHERE cabinet = ? AND stream = ?",
                                    [acked, acked, cabinet, stream])
                    self.report("%s events %d-%d were acknowledged before but are not here; not asked for"
                                % (cabinet, state["watermark"] + 1, acked))
            self._advance(cabinet, stream)
        self._restart_grace(cabinet)
        self.report("%s birth: session %d, agent %s, tx head %d acked %d, events head %d acked %d"
                    % (cabinet, p["session"], p["agent_version"], p["streams"]["tx"]["head"],
                       p["streams"]["tx"]["acked"], p["streams"]["events"]["head"], p["streams"]["events"]["acked"]))
        return out

    def _store_inventory(self, topics, cabinet, p):
        current = self.db.execute("SELECT session, as_of_seq FROM inventory WHERE cabinet = ?", [cabinet]).fetchone()
        if current is not None and (p["session"], p["as_of_seq"]) < (current["session"], current["as_of_seq"]):
            return []       # a snapshot older than the one we have (redelivered late): not the latest
        self.db.execute("INSERT OR REPLACE INTO inventory VALUES (?,?,?,?,?)",
                        [cabinet, p["session"], p["as_of_seq"], json.dumps(p), _wall()])
        self.report("%s inventory as of tx %d: %d locations" % (cabinet, p["as_of_seq"], len(p["locations"])))
        return []

    def _store_tx(self, topics, cabinet, p):
        received, new = _wall(), 0
        for row in p["rows"]:
            inserted = self.db.execute("INSERT OR IGNORE INTO tx_rows VALUES (?,?,?,?,?)",
                                       [cabinet, row["seq"], json.dumps(row), row["hash"], received]).rowcount
            if inserted:
                new += 1
                self._check_chain(cabinet, row)
            else:
                stored = self._stored_row(cabinet, row["seq"])["hash"]
                if stored != row["hash"]:
                    self._chain_break(cabinet, row["seq"], "rewritten",
                                      "received again with hash %s; the first copy had %s" % (row["hash"], stored))
        return self._after_batch(topics, cabinet, p, new)

    def _store_events(self, topics, cabinet, p):
        received, new = _wall(), 0
        for event in p["events"]:
            inserted = self.db.execute("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?)",
                                       [cabinet, event["seq"], event["type"], json.dumps(event), received]).rowcount
            if not inserted:
                continue
            new += 1
            if event["type"] == "command_result":
                self.db.execute("INSERT OR IGNORE INTO command_results VALUES (?,?,?,?,?,?,?)",
                                [cabinet, event["seq"], event["command_id"], event["command_type"], event["status"],
                                 event.get("reason"), event.get("detail")])
            self.report("%s event %d %s %s" % (cabinet, event["seq"], event["type"], json.dumps(
                {k: v for k, v in event.items() if k not in ("seq", "type", "wall", "clock_synced")})))
        return self._after_batch(topics, cabinet, p, new)

    def _after_batch(self, topics, cabinet, p, new):
        """Count, move the watermark, and decide on an ack and a resend for this stream."""
        stream, first, last = p["stream"], p["first_seq"], p["last_seq"]
        count = last - first + 1
        self.stats.stored += new
        self.stats.duplicates += count - new
        if self._stream(cabinet, stream) is None:
            # Batches before any birth (we missed it): nothing is assumed to be stored elsewhere.
            self.db.execute("INSERT INTO streams VALUES (?,?,0,0,?)", [cabinet, stream, last])
        else:
            self.db.execute("UPDATE streams SET head = max(head, ?) WHERE cabinet = ? AND stream = ?",
                            [last, cabinet, stream])
        before = self._stream(cabinet, stream)["watermark"]
        watermark = self._advance(cabinet, stream)
        out = []
        if watermark > before or (new == 0 and last <= watermark):
            out.append(self._ack(topics, stream, watermark))
        if first > watermark + 1:
            resend = self._resend(topics, stream, watermark + 1, "batch %d-%d arrived" % (first, last))
            out += [resend] if resend else []
        self.report("%s %s %d-%d%s: %d new, %d duplicate; watermark %d"
                    % (cabinet, stream, first, last, " (backlog)" if p["backlog"] else "", new, count - new,
                       watermark))
        return out

    def _advance(self, cabinet, stream):
        """Move the watermark over every seq stored contiguously above it; restart the grace timer when it
        moves. Returns the watermark."""
        state = self._stream(cabinet, stream)
        watermark = state["watermark"]
        table = STREAM_TABLE[stream]
        while self.db.execute("SELECT 1 FROM %s WHERE cabinet = ? AND seq = ?" % table,
                              [cabinet, watermark + 1]).fetchone():
            watermark += 1
        if watermark != state["watermark"]:
            self.db.execute("UPDATE streams SET watermark = ? WHERE cabinet = ? AND stream = ?",
                            [watermark, cabinet, stream])
        now = self.clock()
        timer = self._timers.setdefault((cabinet, stream), _Timer(since=now))
        behind = max(state["head"], watermark) > watermark
        if watermark != state["watermark"] or not timer.behind:
            timer.since = now           # progress, or newly behind: the grace period starts now
        timer.behind = behind
        return watermark

    def _restart_grace(self, cabinet):
        """The cabinet has just connected: it sends everything from its last ack by itself, so the grace
        period starts again rather than a resend crossing its backlog."""
        for (name, stream), timer in self._timers.items():
            if name == cabinet:
                timer.since = self.clock()

    def _check_chain(self, cabinet, row):
        seq = row["seq"]
        if row_hash(row["prev_hash"], row) != row["hash"]:
            self._chain_break(cabinet, seq, "hash", "the row's contents do not match its hash")
        previous = GENESIS_HASH if seq == 1 else self._stored_row(cabinet, seq - 1)
        if previous is not None:
            previous_hash = previous if seq == 1 else previous["hash"]
            if previous_hash != row["prev_hash"]:
                self._chain_break(cabinet, seq, "prev_hash", "prev_hash %s, but seq %d has hash %s"
                                  % (row["prev_hash"], seq - 1, previous_hash))
        following = self._stored_row(cabinet, seq + 1)     # stored earlier, beyond a hole this row fills
        if following is not None and following["prev_hash"] != row["hash"]:
            self._chain_break(cabinet, seq + 1, "prev_hash", "prev_hash %s, but seq %d has hash %s"
                              % (following["prev_hash"], seq, row["hash"]))

    def _stored_row(self, cabinet, seq):
        found = self.db.execute("SELECT row_json FROM tx_rows WHERE cabinet = ? AND seq = ?", [cabinet, seq]).fetchone()
        return json.loads(found["row_json"]) if found else None

    def _chain_break(self, cabinet, seq, kind, detail):
        self.db.execute("INSERT OR IGNORE INTO chain_breaks VALUES (?,?,?,?,?)", [cabinet, seq, kind, detail, _wall()])
        self.report("%s CHAIN BREAK at tx %d (%s): %s" % (cabinet, seq, kind, detail))
        if not self.db.execute("SELECT 1 FROM alerts WHERE cabinet = ? AND kind = 'chain_break' AND cleared_wall "
                               "IS NULL", [cabinet]).fetchone():
            self.db.execute("INSERT INTO alerts (cabinet, kind, detail, raised_wall) VALUES (?, 'chain_break', ?, ?)",
                            [cabinet, "tx %d (%s): %s" % (seq, kind, detail), _wall()])
            self.report("%s ALERT chain_break: transactions no longer acknowledged from tx %d" % (cabinet, seq))

    def _first_break(self, cabinet):
        """The lowest broken seq not yet cleared, as the ack's chain_break, or None."""
        found = self.db.execute("SELECT seq, kind, detail FROM chain_breaks WHERE cabinet = ? ORDER BY seq, kind "
                                "LIMIT 1", [cabinet]).fetchone()
        return None if found is None else {"seq": found["seq"], "kind": found["kind"], "detail": found["detail"][:1000]}

    def _stream(self, cabinet, stream):
        return self.db.execute("SELECT * FROM streams WHERE cabinet = ? AND stream = ?", [cabinet, stream]).fetchone()

    # -- acks and resends -------------------------------------------------------------------------------
    def _ack(self, topics, stream, upto_seq):
        body = {"stream": stream, "upto_seq": upto_seq}
        if stream == "tx":
            broken = self._first_break(topics.cabinet)
            if broken is not None:      # no further than the row before the break, and say why
                body.update(upto_seq=min(upto_seq, broken["seq"] - 1), chain_break=broken)
            row = self._stored_row(topics.cabinet, body["upto_seq"])
            if row is not None:
                body["hash"] = row["hash"]
        self.stats.acks += 1
        self.report("%s ack %s up to %d%s" % (topics.cabinet, stream, body["upto_seq"],
                                              " (chain broken: stalled)" if "chain_break" in body else ""))
        return topics.ack, self._sign(topics.cabinet, "ack", body)

    def _resend(self, topics, stream, from_seq, why):
        """A resend envelope, or None when one went out for this stream less than grace_s ago."""
        now = self.clock()
        timer = self._timers.setdefault((topics.cabinet, stream), _Timer(since=now))
        if timer.last_resend is not None and now - timer.last_resend < self.grace_s:
            return None
        timer.last_resend = now
        self.stats.resends += 1
        self.report("%s resend %s from %d (%s)" % (topics.cabinet, stream, from_seq, why))
        return topics.cmd, self._sign(topics.cabinet, "resend", {"stream": stream, "from_seq": from_seq})

    def _watch(self):
        """The grace period: a stream behind what its cabinet holds, with no progress for grace_s, gets a
        resend (the batch that would have shown the hole may be the one lost)."""
        tick = max(0.05, min(0.5, self.grace_s / 4))
        while not self._stopping.wait(tick):
            out = []
            with self._lock:
                if self.db is None:
                    return
                now = self.clock()
                for (cabinet, stream), timer in list(self._timers.items()):
                    if not timer.behind or now - timer.since < self.grace_s or cabinet not in self._sites:
                        continue
                    status = self.status(cabinet)
                    if status is not None and status["state"] != "online":
                        continue
                    watermark = self.watermark(cabinet, stream)
                    resend = self._resend(Topics(*self._sites[cabinet], cabinet), stream, watermark + 1,
                                          "nothing new for %.1f s" % (now - timer.since))
                    out += [resend] if resend else []
            for topic, env in out:
                self._publish(topic, env)

    # -- sending ----------------------------------------------------------------------------------------
    def _sign(self, cabinet, type_, body, lifetime_s=300, id_=None):
        return envelope.sign(self.keys[cabinet], cabinet, type_, body, utc_now(), lifetime_s, id_=id_)

    def _topics(self, cabinet):
        if cabinet not in self.keys:
            raise LookupError("no key for cabinet %r" % cabinet)
        with self._lock:
            where = self._sites.get(cabinet)
        if where is None:
            raise LookupError("cabinet %r has not published yet, so its tenant and site are unknown; pass "
                              "sites={cabinet: (tenant, site)}" % cabinet)
        return Topics(where[0], where[1], cabinet)

    def _publish(self, topic, env, retain=False):
        return self.client.publish(topic, json.dumps(env), qos=1, retain=retain)

    def send_command(self, cabinet, type_, body, lifetime_s=300, id_=None):
        """Sign and publish a command to the cabinet's {root}/cmd (QoS 1); returns its id. The body is not
        checked here: the cabinet is the judge (a malformed one comes back as a refused command_result)."""
        topics = self._topics(cabinet)
        env = self._sign(cabinet, type_, body, lifetime_s, id_)
        self._publish(topics.cmd, env)
        self.report("%s command %s %s sent" % (cabinet, type_, env["id"]))
        return env["id"]

    def publish_desired(self, cabinet, what, version, body, lifetime_s=DESIRED_LIFETIME_S):
        """Publish the desired users or catalog, retained, signed, with body["version"] = version; returns
        the id. Retained state outlives an envelope's 24 h at most: publish it again at least daily."""
        if what not in ("users", "catalog"):
            raise ValueError("what must be users or catalog, got %r" % (what,))
        topics = self._topics(cabinet)
        env = self._sign(cabinet, what, dict(body, version=version), lifetime_s)
        self._publish(topics.desired_users if what == "users" else topics.desired_catalog, env, retain=True)
        return env["id"]

    def publish_raw(self, cabinet, leaf, message):
        """Publish `message` (a dict, or bytes as they are) to {root}/leaf with no signing: for tests of
        what the cabinet refuses."""
        payload = message if isinstance(message, bytes) else json.dumps(message)
        return self.client.publish("%s/%s" % (self._topics(cabinet).root, leaf), payload, qos=1)

    # -- queries ------------------------------------------------------------------------------------------
    def _query(self, sql, args=()):
        with self._lock:
            return [dict(row) for row in self.db.execute(sql, args)]

    def rows(self, cabinet):
        """The cabinet's transaction rows, as received, in seq order."""
        return [json.loads(r["row_json"]) for r in
                self._query("SELECT row_json FROM tx_rows WHERE cabinet = ? ORDER BY seq", [cabinet])]

    def events(self, cabinet):
        return [json.loads(r["event_json"]) for r in
                self._query("SELECT event_json FROM events WHERE cabinet = ? ORDER BY seq", [cabinet])]

    def command_results(self, cabinet):
        return self._query("SELECT * FROM command_results WHERE cabinet = ? ORDER BY seq", [cabinet])

    def watermark(self, cabinet, stream):
        """The highest seq up to which everything of the stream is stored (0 when nothing)."""
        found = self._query("SELECT watermark FROM streams WHERE cabinet = ? AND stream = ?", [cabinet, stream])
        return found[0]["watermark"] if found else 0

    def status(self, cabinet):
        found = self._query("SELECT * FROM status WHERE cabinet = ?", [cabinet])
        return found[0] if found else None

    def birth(self, cabinet):
        """The latest birth (the highest session) as received, or None."""
        found = self._query("SELECT birth_json FROM births WHERE cabinet = ? ORDER BY session DESC LIMIT 1",
                            [cabinet])
        return json.loads(found[0]["birth_json"]) if found else None

    def inventory(self, cabinet):
        found = self._query("SELECT snapshot_json FROM inventory WHERE cabinet = ?", [cabinet])
        return json.loads(found[0]["snapshot_json"]) if found else None

    def chain_breaks(self, cabinet=None):
        if cabinet is None:
            return self._query("SELECT * FROM chain_breaks ORDER BY cabinet, seq")
        return self._query("SELECT * FROM chain_breaks WHERE cabinet = ? ORDER BY seq", [cabinet])

    def alerts(self, cabinet=None):
        """Open alerts (chain_break), oldest first."""
        return self._query("SELECT * FROM alerts WHERE cleared_wall IS NULL AND (? IS NULL OR cabinet = ?) "
                           "ORDER BY id", [cabinet, cabinet])

    def clear_chain_break(self, cabinet):
        """Someone has looked at the break (restored the cabinet's ledger, or accepted its rows): forget the
        breaks found so far and acknowledge again from the next batch."""
        with self._lock:
            self.db.execute("DELETE FROM chain_breaks WHERE cabinet = ?", [cabinet])
            self.db.execute("UPDATE alerts SET cleared_wall = ? WHERE cabinet = ? AND kind = 'chain_break' AND "
                            "cleared_wall IS NULL", [_wall(), cabinet])

    def rejected(self):
        return self._query("SELECT * FROM rejected ORDER BY id")

    def wait_for(self, predicate, timeout):
        """Until predicate() is true (checked again each time something is stored), at most timeout s.
        Returns its last value."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                remaining = end - time.monotonic()
                if value or remaining <= 0:
                    return value
                self._changed.wait(remaining)


def _wall():
    return envelope.iso(utc_now())
