"""A backlog drains with several batches in flight (docs/decisions/0038): the agent's real CloudSync thread
and ledger, a real Mosquitto, the hub on this test's own PostgreSQL database. What is in flight is seen at
the broker (a plain subscriber beside the hub), never inferred from timing; the ack timeout and the backlog
budget run on an injected clock."""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_agent.app.config import AgentConfig, AgentConfigError, CloudConfig, load_agent_config
from edge_agent.cloud import outbox
from edge_agent.cloud.sync import CloudSync
from edge_agent.cloud.topics import Topics
from edge_agent.ledger import open_ledger
from hub.service import Hub
from tests.ledgers import ledger_from_csv
from tests.mqtt_broker import Broker

CABINET = "CAB-D"
KEY = bytes(range(32))
WAIT_S = 30


class Clock:
    """The sync loop's monotonic clock: real time plus what the test adds, or frozen where it is told."""

    def __init__(self, frozen=False):
        self.offset = 0.0
        self.frozen = 0.0 if frozen else None

    def thaw(self):
        """Run on from where it stood, at real time's pace."""
        self.offset, self.frozen = self.frozen + self.offset - time.monotonic(), None

    def __call__(self):
        return (self.frozen if self.frozen is not None else time.monotonic()) + self.offset


class Watcher:
    """A plain MQTT subscriber on the cabinet's tx, events and ack topics: what passed the broker, in order."""

    def __init__(self, port, topics):
        self.seen = []
        self.changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *a: client.subscribe(
            [(topics.tx, 1), (topics.events, 1), (topics.ack, 1)])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client, userdata, message):
        with self.changed:
            self.seen.append((message.topic.rsplit("/", 1)[1], json.loads(message.payload)))
            self.changed.notify_all()

    def wait(self, predicate):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.seen), WAIT_S), self.seen[-5:]

    def batches(self, stream):
        return [(m["first_seq"], m["last_seq"]) for leaf, m in self.seen if leaf == stream]

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def rig(tmp_path, hub_dsn):
    """A ledger, a broker with a watcher, and start(rows, clock, **cloud) -> the agent's CloudSync; the hub
    (registered, not started) is rig.hub."""
    ledger = ledger_from_csv(tmp_path, skus="part_number,description\nGLV,Gloves\n",
                             locations="id,kind,unit,sku,on_hand,min,max\nD1,door,1,GLV,1,0,1\n",
                             users="id,name,role\nT1,Ana,technician\n")
    (tmp_path / "key").write_text(KEY.hex())
    broker = Broker(tmp_path / "broker").start()
    topics = Topics("acme", "plant1", CABINET)
    watcher = Watcher(broker.port, topics)
    hub = Hub(hub_dsn, "127.0.0.1", broker.port, grace_s=60)
    hub.register(CABINET, KEY, tenant="acme", site="plant1")
    syncs = []

    class Rig:
        pass

    def backlog(rows):
        """Rows written while offline; returns the head (the CSV import wrote a few rows first)."""
        for _ in range(rows):
            ledger.append("count", location="D1", quantity=1, reason="backlog")
        return outbox.head(ledger, "tx")

    def start(clock, **options):
        cloud = CloudConfig(**dict(dict(host="127.0.0.1", port=broker.port, tenant="acme", site="plant1",
                                        key_file=tmp_path / "key", batch_rows=10), **options))
        config = AgentConfig(cabinet_id=CABINET, ledger=tmp_path / "ledger.db", cabinet_port="none", cloud=cloud)
        sync = CloudSync(lambda: open_ledger(tmp_path / "ledger.db", count_boot=False), config, cloud,
                         clock=clock)
        sync.start()
        syncs.append(sync)
        return sync

    r = Rig()
    r.ledger, r.watcher, r.hub, r.backlog, r.start = ledger, watcher, hub, backlog, start
    yield r
    for sync in syncs:
        sync.stop()
    watcher.stop()
    if hub.worker is not None:
        hub.stop()
    broker.stop()
    ledger.close()


def stored_once(hub, rows):
    seqs = [r["seq"] for r in hub.rows(CABINET)]
    return seqs == list(range(1, rows + 1))


def test_a_backlog_drains_completely_with_a_full_window_in_flight_and_each_row_stored_once(rig):
    head = rig.backlog(300)
    clock = Clock()
    sync = rig.start(clock, max_inflight=8, publish_timeout_s=600, backlog_rows_per_s=1_000_000)
    # No cloud yet: the agent sends one window (8 batches of 10) and then waits for an ack.
    rig.watcher.wait(lambda seen: len([m for leaf, m in seen if leaf == "tx"]) >= 8)
    assert rig.watcher.batches("tx") == [(n, n + 9) for n in range(1, 80, 10)]    # 8 at once, none acked
    rig.hub.start()
    # The window went nowhere (no cloud was subscribed); after the ack timeout it is sent again from the ack.
    clock.offset += 601
    assert rig.hub.wait_for(lambda: rig.hub.watermark(CABINET, "tx") == head, WAIT_S)
    assert stored_once(rig.hub, head)
    tx = rig.watcher.batches("tx")
    assert tx.count((1, 10)) == 2 and len(tx) == 8 + (head + 9) // 10          # the window once more, no more
    assert sync.stats.republished == 8 and sync.streams["tx"].window.peak == 8


def test_with_the_cloud_up_more_than_one_batch_is_in_flight_before_the_first_ack(rig):
    head = rig.backlog(400)
    rig.hub.start()
    sync = rig.start(Clock(), max_inflight=8, backlog_rows_per_s=1_000_000)
    assert rig.hub.wait_for(lambda: rig.hub.watermark(CABINET, "tx") == head, WAIT_S)
    assert stored_once(rig.hub, head)
    ahead, most, acked = 0, 0, 0
    for leaf, message in rig.watcher.seen:              # at the broker: batches sent beyond the last ack seen
        if leaf == "ack" and message["body"]["stream"] == "tx":
            acked = message["body"]["upto_seq"]
        elif leaf == "tx":
            ahead = sum(1 for first, last in rig.watcher.batches("tx") if acked < last <= message["last_seq"])
            most = max(most, ahead)
    assert most > 1 and sync.stats.republished == 0


def test_live_events_go_ahead_of_a_backlog_held_by_its_budget(rig):
    head = rig.backlog(200)
    clock = Clock(frozen=True)                          # the budget's clock stands still: it never refills
    rig.hub.start()
    sync = rig.start(clock, max_inflight=4, backlog_rows_per_s=100)
    burst = 10 * 4                                      # one window's worth of rows, then the budget is spent
    assert rig.hub.wait_for(lambda: rig.hub.watermark(CABINET, "tx") == burst, WAIT_S)
    outbox.record_event(rig.ledger, "desired_applied", 1, what="users", version=7)
    assert rig.hub.wait_for(lambda: any(e["type"] == "desired_applied" for e in rig.hub.events(CABINET)), WAIT_S)
    assert rig.hub.watermark(CABINET, "tx") == burst    # the event went out while the backlog waited
    assert sync.streams["tx"].sent == burst
    clock.thaw()                                        # the budget pays back: the rest drains
    assert rig.hub.wait_for(lambda: rig.hub.watermark(CABINET, "tx") == head, WAIT_S)
    assert stored_once(rig.hub, head)


# -- the config's keys ---------------------------------------------------------------------------------------
AGENT = '[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/null"\n'
CLOUD = '[cloud]\nhost = "broker"\ntenant = "acme"\nsite = "plant1"\nkey_file = "k"\n'


def load(tmp_path, extra):
    path = tmp_path / "agent.toml"
    path.write_text(AGENT + CLOUD + extra)
    return load_agent_config(path).cloud


def test_the_new_keys_have_defaults_and_are_read(tmp_path):
    cloud = load(tmp_path, "")
    assert (cloud.backlog_rows_per_s, cloud.max_inflight) == (20000, 8)
    cloud = load(tmp_path, "backlog_rows_per_s = 500\nmax_inflight = 3\n")
    assert (cloud.backlog_rows_per_s, cloud.max_inflight) == (500, 3)


def test_the_old_backlog_batches_per_s_keeps_its_pace_in_rows(tmp_path):
    assert load(tmp_path, "backlog_batches_per_s = 4\n").backlog_rows_per_s == 4 * 200
    assert load(tmp_path, "backlog_batches_per_s = 4\nbatch_rows = 50\n").backlog_rows_per_s == 4 * 50


@pytest.mark.parametrize("extra, message", [
    ("backlog_batches_per_s = 4\nbacklog_rows_per_s = 800\n", "old name of backlog_rows_per_s"),
    ("max_inflight = 0\n", r"max_inflight must be 1 to 64"),
    ("backlog_rows_per_s = 0\n", r"backlog_rows_per_s must be 1 to 1000000"),
])
def test_both_names_at_once_or_a_value_out_of_range_is_refused(tmp_path, extra, message):
    with pytest.raises(AgentConfigError, match=message):
        load(tmp_path, extra)


def test_the_agent_refuses_both_names_at_start_with_exit_2(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(AGENT + CLOUD + "backlog_batches_per_s = 4\nbacklog_rows_per_s = 800\n")
    proc = subprocess.run([str(Path(sys.executable).parent / "locker-agent"), "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "backlog_rows_per_s" in proc.stderr, proc.stderr
