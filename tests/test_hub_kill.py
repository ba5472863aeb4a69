"""Issue 16, item 2 and its done-when: kill -9 of a hub worker mid-batch (two others running) and of the
PostgreSQL postmaster mid-run, then restarted: every row stored once, the hash chain whole, every cabinet acked
to its ledger head.

Everything real: a Mosquitto, a PostgreSQL of the test's own (killed in the second test), three `locker-hub serve`
processes (the CLI, one shared-subscription group, distinct worker ids), and cabinets that are the agent's own
CloudSync on real ledgers holding a backlog. "Mid-batch" is observed, not timed: the victim's --verbose lines on
stdout say what it has stored, and it is killed once it has taken some batches while rows are still missing.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from edge_agent.app.config import AgentConfig, CloudConfig
from edge_agent.cloud import outbox
from edge_agent.cloud.sync import CloudSync
from edge_agent.ledger import open_ledger
from edge_agent.ledger.chain import GENESIS_HASH
from hub import migrate, registry
from sim.cloud.broker import Broker
from sim.cloud.postgres import Postgres
from tests.ledgers import ledger_from_csv

ROOT = Path(__file__).resolve().parent.parent
HUB = [sys.executable, "-m", "hub.cli"]
TENANT, SITE = "acme", "plant1"
CABINETS = 6
ROWS = 240                  # per cabinet: 30 batches of 8
BATCH_ROWS = 8
WAIT_S = 120


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own: the second test kills it, which must not touch the session's."""
    pg = Postgres().start()
    yield pg
    pg.stop()


class Worker:
    """One `locker-hub serve --verbose` process; its stdout lines are kept and waited on."""

    def __init__(self, dsn, broker_port, worker_id, folder):
        self.args = HUB + ["--db", dsn, "serve", "--broker", "127.0.0.1:%d" % broker_port, "--worker-id",
                           worker_id, "--group", "kill", "--grace", "1", "--verbose"]
        self.id = worker_id
        self.folder = folder
        self.lines = []
        self.proc = None
        self._changed = threading.Condition()

    def start(self):
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        assert self.wait(lambda lines: any(" subscribed to " in line for line in lines)), self.log()
        return self

    def _read(self, proc):
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait(self, predicate, timeout=WAIT_S):
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.lines), timeout)

    def stored_batches(self):
        return sum(1 for line in self.lines if " tx " in line and " new, " in line)

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(30) == 0, self.log()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise

    def log(self):
        return "\n".join(self.lines[-60:])


class Cabinet:
    """The agent's own CloudSync on a real ledger that holds a backlog of ROWS transactions."""

    def __init__(self, folder, cabinet_id, broker_port):
        folder.mkdir()
        self.id = cabinet_id
        self.key = bytes(range(1, 33))
        self.path = folder / "ledger.db"
        ledger = ledger_from_csv(folder, skus="part_number,description\nGLV,Gloves\n",
                                 locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,5,2,8\n")
        for n in range(ROWS - 1):
            ledger.append("refusal", location="L1", reason="test row %d" % n)
        ledger.close()
        key_file = folder / "cabinet.key"
        key_file.write_text(self.key.hex())
        cloud = CloudConfig(host="127.0.0.1", port=broker_port, tenant=TENANT, site=SITE, key_file=key_file,
                            batch_rows=BATCH_ROWS, backlog_batches_per_s=5, publish_timeout_s=2)
        config = AgentConfig(cabinet_id=cabinet_id, ledger=self.path, cabinet_port="none", cloud=cloud)
        self.sync = CloudSync(lambda: open_ledger(self.path, count_boot=False), config, cloud)

    def heads(self):
        with open_ledger(self.path, count_boot=False) as ledger:
            return {s: (outbox.head(ledger, s), outbox.acked(ledger, s)) for s in outbox.STREAMS}

    def hashes(self):
        with open_ledger(self.path, count_boot=False) as ledger:
            return [(r["seq"], r["hash"]) for r in ledger.transactions()]


@pytest.fixture
def rig(tmp_path, own_postgres):
    """A broker, a migrated database, the cabinets registered, three workers running; cabinets not started."""
    dsn = own_postgres.new_database("hub_kill")
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        migrate.apply(conn)
    broker = Broker(tmp_path / "broker", persistence=True).start()
    cabinets = [Cabinet(tmp_path / ("cab%d" % n), "CAB-%d" % n, broker.port) for n in range(CABINETS)]
    with psycopg.connect(dsn) as conn:
        for cab in cabinets:
            registry.add_cabinet(conn, TENANT, SITE, cab.id, cab.key)
    workers = [Worker(dsn, broker.port, "hub-w%d" % n, tmp_path).start() for n in range(3)]
    rig = type("Rig", (), dict(dsn=dsn, pg=own_postgres, broker=broker, cabinets=cabinets, workers=workers))
    yield rig
    for cab in cabinets:
        cab.sync.stop()
    for worker in workers:
        worker.stop()
    broker.stop()


def stored_count(dsn):
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM tx_rows").fetchone()[0]
    except psycopg.OperationalError:
        return None


def wait_until(predicate, timeout=WAIT_S):
    """Polls observable state (the database, the ledgers) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def all_acked(cabinets):
    for cab in cabinets:
        heads = cab.heads()
        if any(acked < head for head, acked in heads.values()):
            return False
    return True


def check_everything(rig):
    """Every row once, the chain whole with no break recorded, every cabinet acked to its head (hub and agent)."""
    assert wait_until(lambda: all_acked(rig.cabinets)), (
        {c.id: c.heads() for c in rig.cabinets}, "\n\n".join(w.log() for w in rig.workers))
    with psycopg.connect(rig.dsn, row_factory=psycopg.rows.dict_row) as conn:
        for cab in rig.cabinets:
            mine = cab.hashes()
            theirs = conn.execute("SELECT seq, hash, prev_hash FROM tx_rows WHERE cabinet = %s ORDER BY seq",
                                  [cab.id]).fetchall()
            assert [(r["seq"], r["hash"].hex()) for r in theirs] == mine            # each once, in full
            previous = GENESIS_HASH
            for r in theirs:                                                        # the chain continuous
                assert r["prev_hash"].hex() == previous, (cab.id, r["seq"])
                previous = r["hash"].hex()
            heads = cab.heads()
            for stream, (head, acked) in heads.items():
                watermark = conn.execute("SELECT watermark FROM streams WHERE cabinet = %s AND stream = %s",
                                         [cab.id, stream]).fetchone()["watermark"]
                assert watermark == head == acked, (cab.id, stream, watermark, head, acked)
            events = conn.execute("SELECT count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS top FROM events "
                                  "WHERE cabinet = %s", [cab.id]).fetchone()
            assert events["n"] == events["d"] == (events["top"] or 0) == heads["events"][0]
        assert conn.execute("SELECT count(*) AS n FROM chain_breaks").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM alerts WHERE cleared_at IS NULL").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM rejected").fetchone()["n"] == 0


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(rig):
    victim, others = rig.workers[0], rig.workers[1:]
    for cab in rig.cabinets:
        cab.sync.start()
    total = CABINETS * ROWS
    # Mid-batch, seen on its stdout: it has stored some batches, and the backlog is far from all stored.
    assert victim.wait(lambda lines: victim.stored_batches() >= 3), victim.log()
    victim.kill()
    at_kill = stored_count(rig.dsn)
    assert at_kill < total, "the run ended before the kill: not mid-run"
    # The two others go on with the shared subscription's messages; what the victim held comes to it when it
    # is back (its session) or from the cabinets when the cloud asks (the grace period).
    assert wait_until(lambda: stored_count(rig.dsn) > at_kill), "\n\n".join(w.log() for w in others)
    victim.lines.clear()
    victim.start()
    check_everything(rig)
    assert all(w.stored_batches() > 0 for w in others)


def test_postgres_killed_mid_run_then_restarted(rig):
    for cab in rig.cabinets:
        cab.sync.start()
    total = CABINETS * ROWS
    assert wait_until(lambda: (stored_count(rig.dsn) or 0) >= total // 4)
    rig.pg.kill()
    # Every worker notices (on its next message or sweep), pauses and PUBACKs nothing it did not commit.
    assert wait_until(lambda: any("database is unreachable" in line for w in rig.workers for line in w.lines)), \
        "\n\n".join(w.log() for w in rig.workers)
    paused = [w for w in rig.workers if any("database is unreachable" in line for line in w.lines)]
    rig.pg.start()
    assert all(w.wait(lambda lines: any("database is back" in line for line in lines)) for w in paused), \
        "\n\n".join(w.log() for w in rig.workers)
    check_everything(rig)
