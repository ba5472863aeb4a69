"""The hub in one process: a pool, the ingest and one worker, with the query and command API the tests, the
CLI and the simulations use (`locker-hub serve`, `locker-sim cloud`, `locker-sim fleet`).

    hub = Hub(dsn, "127.0.0.1", 1883).start()      # connected and subscribed when it returns
    hub.register("CAB-1", key, tenant="acme", site="plant-1")
    hub.wait_for(lambda: hub.watermark("CAB-1", "tx") >= 10, timeout=30)
    hub.send_command("CAB-1", "unlock", {"door": 2, "reason": "driver lost badge"})
    hub.stop()

More workers (other processes, other machines: `locker-hub serve`) can share the same database and broker:
wait_for() sees what any of them stored (it looks again at least every WAIT_POLL_S).
"""
import json
import threading
import time

from edge_agent.cloud.topics import Topics
from hub import chain_check, queries, registry
from hub.db import connect, open_pool
from hub.contract import Contract
from hub.ingest import SCHEMA_OF, Ingest, sign
from hub.worker import Worker

DESIRED = ("users", "catalog")
DESIRED_LIFETIME_S = 86400      # the longest an envelope may live: re-sign retained desired state daily
WAIT_POLL_S = 0.1               # wait_for's look at the database when our own worker stored nothing


class Hub:
    client_setup = None     # called with the paho client before it connects (TLS, user name)

    def __init__(self, dsn, host, port, grace_s=2.0, clock=time.time, worker_id="hub-1", group="hub", report=None,
                 trace=None, pool_size=4, schemas_dir=None):
        """report: called with a line for each connection, subscription and pause; trace: with a line for each
        message stored and ack or resend sent (the CLI's --verbose); schemas_dir: another docs/mqtt/schemas."""
        self.dsn = dsn
        self.host, self.port = host, port
        self.grace_s = grace_s
        self.clock = clock
        self.worker_id = worker_id
        self.group = group
        self.report = report
        self.trace = trace
        self.pool_size = pool_size
        self.schemas_dir = schemas_dir
        self.pool = None
        self.ingest = None
        self.worker = None
        self._changed = threading.Condition()

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, timeout=10.0):
        """Load the schemas (ContractError if one is missing or broken), open the pool, connect and subscribe;
        returns once subscribed (TimeoutError after `timeout` s; None returns at once and keeps trying)."""
        contract = None if self.schemas_dir is None else Contract(self.schemas_dir, needs=SCHEMA_OF.values())
        self.pool = open_pool(self.dsn, max_size=self.pool_size, name=self.worker_id)
        self.ingest = Ingest(self.pool, contract=contract, clock=self.clock, grace_s=self.grace_s, report=self.trace)
        self.worker = Worker(self.ingest, self.host, self.port, self.worker_id, self.group, report=self.report,
                             on_stored=self._notify)
        self.worker.client_setup = self.client_setup
        self.worker.start(timeout)
        return self

    def stop(self, leave=False):
        """Stop; leave=True ends the worker's MQTT session too (a worker taken away for good)."""
        if self.worker is not None:
            self.worker.stop(leave=leave)
        if self.pool is not None:
            self.pool.close()

    @property
    def stats(self):
        return self.ingest.stats

    def _notify(self):
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate, timeout):
        """Until predicate() is true (checked again whenever our worker stored something, and every
        WAIT_POLL_S for other workers), at most timeout s. Returns its last value."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            remaining = end - time.monotonic()
            if value or remaining <= 0:
                return value
            with self._changed:
                self._changed.wait(min(remaining, WAIT_POLL_S))

    # -- the books -----------------------------------------------------------------------------------------
    def register(self, cabinet, key, tenant, site):
        """Put a cabinet on the books (also before start(), so its first message is taken)."""
        if self.pool is None:
            with connect(self.dsn) as conn:
                registry.add_cabinet(conn, tenant, site, cabinet, key)
            return
        with self.pool.connection() as conn:
            registry.add_cabinet(conn, tenant, site, cabinet, key)

    def _read(self, query, *args):
        with self.pool.connection() as conn:
            return query(conn, *args)

    def rows(self, cabinet):
        return self._read(queries.rows, cabinet)

    def events(self, cabinet):
        return self._read(queries.events, cabinet)

    def command_results(self, cabinet):
        return self._read(queries.command_results, cabinet)

    def watermark(self, cabinet, stream):
        return self._read(queries.watermark, cabinet, stream)

    def status(self, cabinet):
        return self._read(queries.status, cabinet)

    def birth(self, cabinet):
        return self._read(queries.birth, cabinet)

    def inventory(self, cabinet):
        return self._read(queries.inventory, cabinet)

    def chain_breaks(self, cabinet=None):
        return self._read(queries.chain_breaks, cabinet)

    def alerts(self, cabinet=None):
        return self._read(queries.alerts, cabinet)

    def rejected(self):
        return self._read(queries.rejected)

    def clear_chain_break(self, cabinet):
        """Someone has looked at the break (restored the cabinet's ledger, or accepted its rows): acks go on."""
        with self.pool.connection() as conn, conn.transaction():
            chain_check.clear(conn, cabinet)

    # -- down ------------------------------------------------------------------------------------------------------
    def _signed(self, cabinet, type_, body, lifetime_s, id_=None):
        with self.pool.connection() as conn, conn.transaction():
            tenant, site, key = queries.where(conn, cabinet)
            env = sign(key, cabinet, type_, body, lifetime_s, id_)
            queries.record_sent(conn, env)
        return Topics(tenant, site, cabinet), env

    def send_command(self, cabinet, type_, body, lifetime_s=300, id_=None):
        """Sign and publish a command to the cabinet's {root}/cmd (QoS 1); returns its id. The cabinet judges
        the body: a malformed one comes back as a refused command_result."""
        topics, env = self._signed(cabinet, type_, body, lifetime_s, id_)
        self.worker.publish(topics.cmd, env)
        return env["id"]

    def publish_desired(self, cabinet, what, version, body, lifetime_s=DESIRED_LIFETIME_S):
        """Publish desired users or catalog, retained and signed, with body["version"] = version; returns the
        id. Retained state outlives an envelope's 24 h at most: publish it again at least daily."""
        if what not in DESIRED:
            raise ValueError("what must be one of %s, got %r" % (", ".join(DESIRED), what))
        topics, env = self._signed(cabinet, what, dict(body, version=version), lifetime_s)
        self.worker.publish(topics.root + "/desired/" + what, env, retain=True)
        return env["id"]

    def publish_raw(self, cabinet, leaf, message, retain=False):
        """Publish `message` (a dict, or bytes as they are) to {root}/leaf unsigned: for tests of what the
        cabinet refuses (retained too, as poison a broker hands out again)."""
        with self.pool.connection() as conn:
            tenant, site, _ = queries.where(conn, cabinet)
        payload = message if isinstance(message, bytes) else json.dumps(message)
        return self.worker.client.publish("%s/%s" % (Topics(tenant, site, cabinet).root, leaf), payload, qos=1,
                                          retain=retain)
