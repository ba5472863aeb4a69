"""The agent's MQTT side (docs/mqtt.md): publish the ledger's outbox, apply what the cloud sends down.

One thread does it all: it runs paho's network loop itself (`client.loop`), so paho's callbacks, the
publishing and the ledger writes happen on it, in order, with no locks. It opens its own connection to the
ledger (SQLite WAL lets it read while the agent's worker writes).

Rules it keeps:
- Rows leave in seq order; up to `max_inflight` batches per stream are in flight at once, until the cloud's
  signed `ack` covers them (window.py). When the oldest has no ack within `publish_timeout_s`, or its PUBACK
  carries an error code, the window is sent again from the ack. Nothing counts as synced until the ack
  (outbox.set_acked); after any reconnect both streams start again from the last ack, so paho's in-memory
  queue is never relied on. Duplicates are allowed, loss never (docs/decisions/0011, 0038).
- Live traffic goes first: the events stream is sent before the transactions each turn, and transaction
  rows written before this connection (a backlog) go out only while the events stream has nothing waiting
  and within `backlog_rows_per_s`; live transaction rows are not held by that budget.
- Reconnects back off from 1 s to 60 s with full jitter; the session is persistent (clean start off);
  every connection raises the persisted session counter, which the last will and the status carry.
- Down messages are checked (signature, cabinet, expiry, replay) before anything else, and each gets a
  command_result event (acks excepted); see commands.py and desired.py.
"""
import datetime
import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import edge_agent
from edge_agent.cloud import outbox
from edge_agent.cloud.commands import Commands
from edge_agent.cloud.topics import Topics
from edge_agent.cloud.window import Budget, Window

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
SESSION_EXPIRY_S = 86400
LOOP_S = 0.02           # the loop's pace while a stream has rows to send or a batch in flight
IDLE_LOOP_S = 0.25      # with nothing to send: how long a new row may wait (a fleet of agents idles cheaply)
CONNECT_TIMEOUT_S = 10  # from CONNECT to CONNACK, TLS handshake included
STATE_EVERY_S = 5.0     # how often cloud_state()'s backlog is counted again (the screen shows it)


@dataclass
class StreamState:
    name: str
    window: Window
    sent: int = 0                  # highest seq handed to paho on this connection (in flight or acked)
    head_at_connect: int = 0       # rows up to here were written before this connection: backlog
    resent_from: int = None        # a resend asked for: rows from here on are marked backlog


@dataclass
class SyncStats:
    connects: int = 0
    batches_sent: int = 0
    republished: int = 0
    acks: int = 0
    refused: dict = field(default_factory=dict)


class CloudSync:
    def __init__(self, open_ledger, config, cloud, agent=None, clock=time.monotonic):
        """open_ledger: opens this thread's own ledger connection; config: AgentConfig; cloud: CloudConfig;
        agent: the Agent whose worker runs commands that act on the cabinet (None: those are refused)."""
        self._open_ledger = open_ledger
        self.config = config
        self.cloud = cloud
        self.agent = agent
        self.clock = clock
        self.topics = Topics(cloud.tenant, cloud.site, config.cabinet_id)
        self.key = None
        self.ledger = None
        self.commands = None
        self.client = None
        self.connected = False
        self.session = None
        self.streams = {name: StreamState(name, Window(cloud.max_inflight, cloud.publish_timeout_s))
                        for name in outbox.STREAMS}
        # A burst of one window's worth of rows: the budget paces a backlog, it does not shrink the window.
        self.budget = Budget(cloud.backlog_rows_per_s, cloud.batch_rows * cloud.max_inflight)
        self.stats = SyncStats()
        self._backoff = BACKOFF_MIN_S
        self._next_attempt = 0.0
        self._next_inventory = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloud-sync", daemon=True)
        self._config_hash = _file_hash(config.source)
        self.last_ack_wall = None      # the ledger clock's wall time of the cloud's last ack (commands.py)
        self._state = dict(connected=False, backlog=None, last_ack_wall=None)
        self._next_state = 0.0

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self):
        from edge_agent.cloud.envelope import load_key
        self.key = load_key(self.cloud.key_file)     # a bad key file stops the start, said clearly
        self._thread.start()

    def stop(self, timeout=10):
        self._stop.set()
        self._thread.join(timeout)

    @property
    def thread_id(self):
        """The sync thread's native id (benchmarks read its CPU time)."""
        return self._thread.native_id

    def _run(self):
        self.ledger = self._open_ledger()
        self.commands = Commands(self)
        busy = True
        try:
            while not self._stop.is_set():
                try:
                    busy = self._step(busy)
                except Exception:  # noqa: BLE001 - a bug here must not end the link: drop it, connect again
                    log.exception("cloud sync: an error; the connection starts again, the ledger keeps everything")
                    self._drop()
                    busy = False
        finally:
            self.commands.flush(everything=True)
            self._goodbye()
            self.ledger.close()

    def _step(self, busy):
        """One turn of the loop; True while there is work (the next turn comes sooner)."""
        if not self.connected and self.clock() >= self._next_attempt:
            if self.client is not None:       # connected at TCP level, but no CONNACK in time
                self.client.disconnect()
                self.client = None
                self._retry_later("no answer to CONNECT within %d s" % CONNECT_TIMEOUT_S)
            else:
                self._connect()
        pace = LOOP_S if busy else IDLE_LOOP_S
        if self.client is not None:
            self.client.loop(pace)          # network I/O and callbacks, on this thread (a packet
        else:                               # from the broker ends the wait at once)
            self._stop.wait(pace)
        self.commands.flush()
        if self.clock() >= self._next_state:
            self._refresh_state()
        return self._pump() if self.connected else False

    # -- what the cabinet's screen shows -------------------------------------------------------------------
    def cloud_state(self):
        """{connected, backlog, last_ack_wall} as of the last refresh (every STATE_EVERY_S and at each connect
        or disconnect): read by the agent's worker on every pass, so it is a value kept here, never a query."""
        return self._state

    def _refresh_state(self):
        backlog = sum(outbox.head(self.ledger, s) - outbox.acked(self.ledger, s) for s in outbox.STREAMS)
        self._state = dict(connected=self.connected, backlog=backlog, last_ack_wall=self.last_ack_wall)
        self._next_state = self.clock() + STATE_EVERY_S

    def _drop(self):
        client, self.client, self.connected = self.client, None, False
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - it is being dropped anyway
                pass
        self._retry_later("dropped after an error")
        self._stop.wait(self._next_attempt - self.clock())

    def _goodbye(self):
        """A clean stop says offline itself (retained), so the cloud need not wait for the last will."""
        client = self.client
        if client is None or not self.connected:
            return
        info = client.publish(self.topics.status, self._status("offline"), qos=1, retain=True)
        deadline = self.clock() + 2
        while not info.is_published() and self.clock() < deadline and self.connected:
            client.loop(LOOP_S)
        client.disconnect()
        client.loop(LOOP_S)

    # -- connecting ----------------------------------------------------------------------------------------
    def _new_client(self):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.config.cabinet_id,
                             protocol=mqtt.MQTTv5)
        cloud = self.cloud
        if cloud.username:
            password = cloud.password_file.read_text().strip() if cloud.password_file else None
            client.username_pw_set(cloud.username, password)
        if cloud.tls_ca:
            client.tls_set(ca_certs=str(cloud.tls_ca), certfile=cloud.tls_cert and str(cloud.tls_cert),
                           keyfile=cloud.tls_key and str(cloud.tls_key))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _connect(self):
        self.session = outbox.next_session(self.ledger)
        self.client = self._new_client()
        # Registered at CONNECT: its sent_wall is the connect time (docs/mqtt.md, status).
        self.client.will_set(self.topics.status, self._status("offline"), qos=1, retain=True)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            self.client.connect(self.cloud.host, self.cloud.port, self.cloud.keepalive_s, clean_start=False,
                                properties=props)
        except (OSError, ValueError) as e:
            self._retry_later("cannot reach %s:%d: %s" % (self.cloud.host, self.cloud.port, e))
            self.client = None
            return
        self._next_attempt = self.clock() + CONNECT_TIMEOUT_S   # the CONNACK (after TLS) has this long

    def _retry_later(self, why):
        delay = random.uniform(0, self._backoff)          # full jitter: a fleet does not come back in step
        self._next_attempt = self.clock() + delay
        self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)
        log.warning("cloud: %s; next try in %.1f s", why, delay)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._retry_later("broker refused the connection: %s" % reason_code)
            client.disconnect()
            return
        self.connected = True
        self._backoff = BACKOFF_MIN_S
        self.stats.connects += 1
        for topic in self.topics.subscriptions():
            client.subscribe(topic, qos=1)
        client.publish(self.topics.status, self._status("online"), qos=1, retain=True)
        for stream in self.streams.values():      # start again from the cloud's ack: nothing kept in memory
            stream.sent = outbox.acked(self.ledger, stream.name)
            stream.window.clear()
            stream.head_at_connect = outbox.head(self.ledger, stream.name)
            stream.resent_from = None
        client.publish(self.topics.birth, json.dumps(self._birth()), qos=1)
        self._next_inventory = 0.0
        self._next_state = 0.0
        log.info("cloud: connected to %s:%d as %s, session %d", self.cloud.host, self.cloud.port,
                 self.config.cabinet_id, self.session)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.connected:
            log.warning("cloud: disconnected (%s)", reason_code)
        self.connected = False
        self.client = None
        self._next_state = 0.0
        if not self._stop.is_set():
            self._retry_later("connection lost")

    # -- publishing ----------------------------------------------------------------------------------------
    def _envelope(self):
        wall, synced = self.ledger.clock.wall()
        return {"v": 1, "cabinet": self.config.cabinet_id, "session": self.session, "sent_wall": wall,
                "clock_synced": bool(synced)}

    def _status(self, state):
        return json.dumps(dict(self._envelope(), state=state))

    def _birth(self):
        state = self.agent.call(self.agent.state) if self.agent else {}
        return dict(self._envelope(), agent_version=edge_agent.__version__,
                    firmware_version=state.get("firmware_version"), firmware_boot=state.get("firmware_boot"),
                    agent_boot=self.ledger.cabinet()["boot"], config_hash=self._config_hash,
                    applied=outbox.applied_versions(self.ledger),
                    streams={s: dict({"head": outbox.head(self.ledger, s), "acked": outbox.acked(self.ledger, s)},
                                     **outbox.head_hash(self.ledger, s)) for s in outbox.STREAMS})

    def _pump(self):
        """Send what is due; True while a stream still has work (batches in flight or rows waiting)."""
        now = self.clock()
        self.budget.refill(now)
        busy = self._pump_stream(self.streams["events"], now, backlog_ok=True)
        if self.connected:              # paho reports a dead socket from inside publish(): stop, reconnect
            # A backlog yields to live events: it goes on once the events stream has nothing left to send.
            busy = self._pump_stream(self.streams["tx"], now, backlog_ok=not self._waiting("events")) or busy
        if not self.connected:
            return busy
        if now >= self._next_inventory:
            self.client.publish(self.topics.inventory, json.dumps(self._inventory()), qos=1)
            self._next_inventory = now + self.cloud.inventory_every_s
            # Housekeeping at the same pace: acknowledged events beyond the newest ones, and command ids
            # long expired, need not be kept (transactions are never pruned: they are the chain).
            outbox.prune_synced_events(self.ledger)
            outbox.prune_commands(self.ledger, self.ledger.clock.wall()[0])
        return busy

    def _waiting(self, name):
        """Rows of this stream not yet handed to paho."""
        return outbox.head(self.ledger, name) > self.streams[name].sent

    def _pump_stream(self, stream, now, backlog_ok):
        """Fill the stream's window; True while it has batches in flight or rows waiting."""
        window = stream.window
        acked = outbox.acked(self.ledger, stream.name)
        window.ack(acked, now)
        stream.sent = max(stream.sent, acked)
        if window.overdue(now):
            log.warning("cloud: no ack for %s %d-%d in %d s; sending %d batch(es) again from %d", stream.name,
                        window.batches[0].first_seq, window.batches[-1].last_seq, window.timeout_s, len(window),
                        acked + 1)
            self.stats.republished += len(window)
            window.restart()
            stream.sent = acked
        while not window.full:
            batch = outbox.read_batch(self.ledger, stream.name, stream.sent, self.cloud.batch_rows,
                                      self.cloud.batch_bytes)
            if batch is None:
                return len(window) > 0
            backlog = batch.last_seq <= stream.head_at_connect or (
                stream.resent_from is not None and batch.first_seq >= stream.resent_from)
            if backlog and stream.name == "tx":
                if not (backlog_ok and self.budget.open):
                    return True
                self.budget.spend(len(batch.items))
            if not self._publish(stream, batch, backlog, now):
                return True
        return True

    def _publish(self, stream, batch, backlog, now):
        key = "rows" if stream.name == "tx" else "events"
        payload = dict(self._envelope(), stream=stream.name, first_seq=batch.first_seq, last_seq=batch.last_seq,
                       backlog=bool(backlog), **{key: batch.items})
        info = self.client.publish(getattr(self.topics, stream.name), json.dumps(payload), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("cloud: publish of %s %d-%d failed locally (%s)", stream.name, batch.first_seq,
                        batch.last_seq, mqtt.error_string(info.rc))
            return False
        stream.window.add(batch.first_seq, batch.last_seq, len(batch.items), info.mid, now)
        stream.sent = batch.last_seq
        self.stats.batches_sent += 1
        return True

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        if not reason_code.is_failure:
            return                      # taken by the broker: the batch stays in flight until the cloud's ack
        for stream in self.streams.values():
            first = stream.window.refused(mid)
            if first is None:
                continue
            # The broker did not take it (quota, not authorised...): not sent, send it again from there.
            log.warning("cloud: PUBACK %s for %s from %d: sending again", reason_code, stream.name, first)
            stream.sent = min(stream.sent, first - 1)
            self.stats.republished += 1

    def _inventory(self):
        names = ("id", "kind", "sku", "on_hand", "min", "max", "quarantine", "capacity")
        rows = self.ledger.db.execute("SELECT %s FROM locations ORDER BY id" % ", ".join(names)).fetchall()
        return dict(self._envelope(), as_of_seq=outbox.head(self.ledger, "tx"),
                    locations=[dict(zip(names, r)) for r in rows])

    def rewind(self, stream_name, from_seq):
        """A resend asked for by the cloud: send again from from_seq (never below 1)."""
        stream = self.streams[stream_name]
        stream.sent = max(0, from_seq - 1)
        stream.window.clear()
        stream.resent_from = from_seq

    # -- receiving -----------------------------------------------------------------------------------------
    def _on_message(self, client, userdata, message):
        self.commands.handle(message.topic, message.payload)     # never raises: a bad message is refused


def _file_hash(path):
    if path is None:
        return None
    try:
        return hashlib.sha256(open(path, "rb").read()).hexdigest()
    except OSError:
        return None


def now_utc(ledger):
    """The ledger clock's wall time as an aware datetime, and whether it is synchronised."""
    wall, synced = ledger.clock.wall()
    value = datetime.datetime.fromisoformat(wall)
    return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)), bool(synced)
