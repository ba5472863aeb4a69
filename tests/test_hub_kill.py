"""Issue 16's crash proofs, every piece real: three `locker-hub serve` processes on one shared subscription of a
real Mosquitto, a real PostgreSQL, and cabinets that are the agent's own sync code (edge_agent/cloud/sync.py)
on real ledger files with a backlog to send. A worker is SIGKILLed while it is storing, and PostgreSQL's
postmaster is SIGKILLed while the workers write; each is started again. At the end every row of every cabinet
is in the hub exactly once, chained, and every cabinet's ledger holds the hub's ack up to its head."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_agent.app.config import AgentConfig, CloudConfig
from edge_agent.cloud import outbox
from edge_agent.cloud.sync import CloudSync
from edge_agent.ledger import open_ledger, record_admin_change
from hub import migrate, queries, registry
from hub.db import connect
from sim.cloud.postgres import Postgres
from tests.ledgers import ledger_from_csv
from tests.mqtt_broker import Broker, free_port

LOCKER_HUB = str(Path(sys.executable).parent / "locker-hub")
TENANT, SITE = "acme", "plant1"
CABINETS = ["CAB-%d" % n for n in range(1, 5)]
BACKLOG_ROWS = 240          # per cabinet, sent 4 rows a batch: 60 messages each
WAIT_S = 90


class HubProcess:
    """One `locker-hub serve` worker process; its --verbose lines are read as they come."""

    def __init__(self, dsn, broker_port, worker_id):
        self.args = [LOCKER_HUB, "--db", dsn, "serve", "--broker", "127.0.0.1:%d" % broker_port,
                     "--worker-id", worker_id, "--grace", "1", "--verbose"]
        self.worker_id = worker_id
        self.lines = []
        self.changed = threading.Condition()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        assert self.wait_line(lambda line: " subscribed to " in line), self.text()
        return self

    def _read(self, proc):
        for line in proc.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def count(self, words):
        with self.changed:
            return sum(words in line for line in self.lines)

    def wait_line(self, predicate, timeout=WAIT_S, after=0):
        """Until a line from index `after` on satisfies predicate (False after timeout)."""
        with self.changed:
            return self.changed.wait_for(lambda: any(predicate(x) for x in self.lines[after:]), timeout)

    def stored(self):
        """Messages this worker stored new rows from (its --verbose lines)."""
        return self.count(" new, ")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def text(self):
        with self.changed:
            return "".join(self.lines[-60:])


class Fleet:
    """Cabinets with a backlog in their ledgers, and their agents' CloudSync threads (started on demand)."""

    def __init__(self, folder, broker_port, dsn):
        self.syncs = {}
        self.paths = {}
        with connect(dsn) as conn:
            for name in CABINETS:
                home = folder / name
                home.mkdir()
                ledger = ledger_from_csv(home, skus="part_number,description,category\nGLV,Gloves,ppe\n")
                for n in range(BACKLOG_ROWS):
                    record_admin_change(ledger, "backlog row %d" % n)
                ledger.close()
                key = bytes([CABINETS.index(name)]) * 32
                (home / "cabinet.key").write_text(key.hex())
                registry.add_cabinet(conn, TENANT, SITE, name, key)
                self.paths[name] = home / "ledger.db"
                cloud = CloudConfig(host="127.0.0.1", port=broker_port, tenant=TENANT, site=SITE,
                                    key_file=home / "cabinet.key", batch_rows=4, publish_timeout_s=2)
                config = AgentConfig(cabinet_id=name, ledger=self.paths[name], cabinet_port="none", cloud=cloud)
                self.syncs[name] = CloudSync(lambda path=self.paths[name]: open_ledger(path, count_boot=False),
                                             config, cloud)

    def start(self):
        for sync in self.syncs.values():
            sync.start()

    def stop(self):
        for sync in self.syncs.values():
            sync.stop()

    def heads_and_acks(self):
        found = {}
        for name, path in self.paths.items():
            ledger = open_ledger(path, count_boot=False)
            try:
                found[name] = {s: (outbox.head(ledger, s), outbox.acked(ledger, s)) for s in outbox.STREAMS}
            finally:
                ledger.close()
        return found

    def wait_all_acked(self):
        """Until every cabinet's ledger holds the hub's ack up to its head (polled with a deadline)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            state = self.heads_and_acks()
            if all(acked >= head for streams in state.values() for head, acked in streams.values()):
                return state
            time.sleep(0.2)     # polling the ledgers' outbox for the hub's ack; the deadline is the failure
        raise AssertionError("not every cabinet acked to its head: %s" % self.heads_and_acks())

    def transactions(self, name):
        ledger = open_ledger(self.paths[name], count_boot=False)
        try:
            return [(r["seq"], r["hash"]) for r in ledger.transactions()]
        finally:
            ledger.close()


def assert_everything_stored_once(fleet, dsn, state):
    with connect(dsn) as conn:
        for name in CABINETS:
            mine = fleet.transactions(name)
            theirs = [(r["seq"], r["hash"]) for r in queries.rows(conn, name)]
            assert theirs == mine, name                          # every row, once, in seq order, same hash
            stored = conn.execute("SELECT count(*) AS n FROM tx_rows WHERE cabinet = %s", [name]).fetchone()["n"]
            assert stored == state[name]["tx"][0] == len(mine) >= BACKLOG_ROWS
            events = [e["seq"] for e in queries.events(conn, name)]
            assert events == list(range(1, len(events) + 1)) and len(events) >= state[name]["events"][0]
            for stream in outbox.STREAMS:
                assert queries.watermark(conn, name, stream) >= state[name][stream][0]
        assert queries.chain_breaks(conn) == [] and queries.rejected(conn) == []


@pytest.fixture
def broker(tmp_path):
    instance = Broker(tmp_path / "broker", persistence=True, port=free_port()).start()
    yield instance
    instance.stop()


def test_a_worker_killed_while_storing_loses_nothing_and_stores_nothing_twice(tmp_path, broker, hub_dsn):
    workers = [HubProcess(hub_dsn, broker.port, "hub-%s" % n).start() for n in "abc"]
    fleet = Fleet(tmp_path, broker.port, hub_dsn)
    try:
        fleet.start()
        victim = workers[0]
        assert victim.wait_line(lambda line: line.count(" new, ") and victim.stored() >= 5), victim.text()
        victim.kill()                                   # SIGKILL while the backlogs are still coming in
        killed_after = victim.stored()
        left = sum(head - acked for streams in fleet.heads_and_acks().values() for head, acked in streams.values())
        assert left > 0, "the backlog was already drained: the kill came too late to prove anything"
        others = [w.stored() for w in workers[1:]]
        assert all(w.wait_line(lambda line: w.stored() > n) for w, n in zip(workers[1:], others))  # they go on
        workers[0] = HubProcess(hub_dsn, broker.port, victim.worker_id).start()   # and it comes back
        state = fleet.wait_all_acked()
        assert_everything_stored_once(fleet, hub_dsn, state)
        assert killed_after >= 5 and all(w.stored() > 0 for w in workers[1:])   # the load was shared
    finally:
        fleet.stop()
        for w in workers:
            w.stop()


def test_postgresql_killed_under_running_workers_loses_nothing_and_stores_nothing_twice(tmp_path, broker):
    pg = Postgres().start()
    try:
        dsn = pg.new_database("hub")
        with connect(dsn) as conn:
            migrate.apply(conn)
        workers = [HubProcess(dsn, broker.port, "hub-%s" % n).start() for n in "ab"]
        fleet = Fleet(tmp_path, broker.port, dsn)
        try:
            fleet.start()
            assert workers[0].wait_line(lambda line: workers[0].stored() + workers[1].stored() >= 10)
            pg.kill()                                   # a power cut of the database under the workers
            for w in workers:                           # each says so and pauses (acking nothing)
                assert w.wait_line(lambda line: "the database is unreachable" in line), w.text()
            left = sum(head - acked for s in fleet.heads_and_acks().values() for head, acked in s.values())
            assert left > 0, "the backlog was already drained: the kill came too late to prove anything"
            pg.start()                                  # crash recovery, then the workers come back
            for w in workers:
                assert w.wait_line(lambda line: "the database is back" in line), w.text()
            state = fleet.wait_all_acked()
            assert_everything_stored_once(fleet, dsn, state)
        finally:
            fleet.stop()
            for w in workers:
                w.stop()
    finally:
        pg.stop()
