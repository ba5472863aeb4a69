"""One hub worker's MQTT side: a member of the shared subscription $share/<group>/... on every up topic
(MQTT 5), so several workers on several machines split one broker's traffic; the broker gives each message
to one of them.

A message is PUBACKed only after Ingest has committed it (paho's manual_ack): a worker killed at any moment
leaves its unacknowledged messages in its persistent session, delivered again when it comes back, and the
cabinet resends whatever the cloud never acknowledged in any case. When PostgreSQL is unreachable the worker
stops taking messages (it disconnects, PUBACKing nothing), waits for the database, and connects again.
The grace-period sweep (resends for streams with a hole) runs on every worker; the database makes each
resend one worker's.
"""
import json
import logging
import threading

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg_pool import PoolTimeout

from edge_agent.cloud.topics import PREFIX, UP

log = logging.getLogger(__name__)

# A worker back within this finds the messages given to it while away waiting in its session. One gone for
# good strands its share of the shared subscription that long at most: the cabinets send again whatever the
# cloud did not acknowledge in time (docs/mqtt.md), and stop(leave=True) ends the session at once.
SESSION_EXPIRY_S = 300
KEEPALIVE_S = 30
DB_RETRY_S = 1.0
DATABASE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def subscriptions(group):
    """The shared subscriptions of a worker of `group`: the up topics only (acks and commands are ours)."""
    return ["$share/%s/%s/+/+/+/%s" % (group, PREFIX, leaf) for leaf in UP]


class Worker:
    client_setup = None     # called with the paho client before it connects: TLS, user name and password

    def __init__(self, ingest, host, port, worker_id, group="hub", report=None, on_stored=None,
                 session_expiry_s=SESSION_EXPIRY_S):
        self.ingest = ingest
        self.host, self.port = host, port
        self.worker_id = worker_id
        self.group = group
        self.session_expiry_s = session_expiry_s
        self.report = report or (lambda line: log.info("%s", line))
        self.on_stored = on_stored or (lambda: None)
        self.client = None
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._db_lost = threading.Event()
        self._threads = []

    def start(self, timeout=10.0):
        """Connect and subscribe; returns once subscribed (TimeoutError after `timeout`; None: at once)."""
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.worker_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        setup = self.client_setup or type(self).client_setup
        if setup is not None:
            setup(self.client)
        self._connect()
        for target, name in ((self._sweep, "sweep"), (self._recover, "recover")):
            thread = threading.Thread(target=target, name="hub-%s-%s" % (self.worker_id, name), daemon=True)
            thread.start()
            self._threads.append(thread)
        if timeout is not None and not self._subscribed.wait(timeout):
            self.stop()
            raise TimeoutError("hub worker %s: not subscribed at %s:%d after %.0f s"
                               % (self.worker_id, self.host, self.port, timeout))
        return self

    def _connect(self):
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        self.client.connect_async(self.host, self.port, KEEPALIVE_S, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self, leave=False):
        """Disconnect; leave=True also ends the session, so the broker stops giving this worker a share."""
        self._stopping.set()
        self._db_lost.set()             # wakes the recovery thread so it can end
        if self.client is not None:
            props = None
            if leave:
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
            self.client.loop_stop()
        for thread in self._threads:
            thread.join(5)

    def publish(self, topic, env, retain=False):
        return self.client.publish(topic, json.dumps(env), qos=1, retain=retain)

    # -- paho's thread ---------------------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.report("broker %s:%d refused worker %s: %s" % (self.host, self.port, self.worker_id, reason_code))
            return
        client.subscribe([(topic, 1) for topic in subscriptions(self.group)])
        self.report("worker %s connected to %s:%d (session %s)" % (
            self.worker_id, self.host, self.port, "resumed" if flags.session_present else "new"))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if all(not rc.is_failure for rc in reason_codes):
            self.report("worker %s subscribed to $share/%s/%s/+/+/+/{%s}" % (self.worker_id, self.group, PREFIX,
                                                                           ",".join(UP)))
            self._subscribed.set()
        else:
            self.report("worker %s: subscription refused: %s" % (self.worker_id, reason_codes))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if not self._stopping.is_set() and not self._db_lost.is_set():
            self.report("worker %s disconnected (%s); paho reconnects" % (self.worker_id, reason_code))

    def _on_message(self, client, userdata, message):
        if self._db_lost.is_set():
            return                      # not PUBACKed: the broker delivers it again once we are back
        try:
            out = self.ingest.handle(message.topic, message.payload)
        except DATABASE_ERRORS as e:
            self.report("worker %s: the database is unreachable (%s); pausing" % (self.worker_id, _first_line(e)))
            self._db_lost.set()
            client.disconnect()
            return
        except Exception:               # noqa: BLE001 - a bug must not take the worker down with it
            # PUBACKed anyway: it would come back to fail again; nothing was acked to the cabinet, so it sends
            # the rows again, and the log says what went wrong.
            log.exception("hub worker %s: failed on a message on %s", self.worker_id, message.topic)
            out = []
        for topic, env in out:
            self.publish(topic, env)
        client.ack(message.mid, message.qos)
        self.on_stored()

    # -- our threads -------------------------------------------------------------------------------------------
    def _sweep(self):
        tick = max(0.05, min(0.5, self.ingest.grace_s / 4))
        while not self._stopping.wait(tick):
            if self._db_lost.is_set():
                continue
            try:
                for topic, env in self.ingest.sweep():
                    self.publish(topic, env)
            except DATABASE_ERRORS as e:
                log.warning("hub worker %s: sweep failed: %s", self.worker_id, _first_line(e))
            except Exception:   # noqa: BLE001
                log.exception("hub worker %s: sweep failed", self.worker_id)

    def _recover(self):
        """When the database is lost: wait for it, then take messages again."""
        while not self._stopping.is_set():
            self._db_lost.wait()
            if self._stopping.is_set():
                return
            self.client.loop_stop()
            while not self._stopping.is_set():
                try:
                    with self.ingest.pool.connection(timeout=5) as conn:
                        conn.execute("SELECT 1")
                    break
                except DATABASE_ERRORS:
                    self._stopping.wait(DB_RETRY_S)
            if self._stopping.is_set():
                return
            self.report("worker %s: the database is back; taking messages again" % self.worker_id)
            self._db_lost.clear()
            self._connect()


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
