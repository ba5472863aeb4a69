"""How fast a cabinet's backlog drains into the hub, against what the broker itself can carry (issue 16 item 4,
docs/decisions/0038). Everything real: Mosquitto, the hub (hub.service.Hub) on a throw-away PostgreSQL, the
agent's CloudSync thread on a ledger holding `--rows` transactions never sent.

Three figures, in one run on the same broker:
- raw: plain paho QoS 1 small messages (64 bytes), one publisher to one subscriber: messages/s delivered;
- drain: the agent's backlog, from its first CONNECT until the hub's watermark is the ledger's head: rows/s;
  ratio = drain rows/s / raw messages/s (the goal: >= 1.0);
- hub only: the same batches, built beforehand and published all at once by plain paho to a fresh hub
  database: rows/s stored, with no agent in the way (where the time goes: agent or hub).
Also the agent's sync thread CPU seconds.

measure_drain(out_dir, rows=...) is importable (bench/hub.py calls it); run as a script it prints the figures
and a JSON last line. Usage: .venv/bin/python bench/drain.py [--rows N] [--batch-rows B] [--batch-bytes N]
[--max-inflight W] [--raw-messages M] [--dir D]"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402

from edge_agent.app.config import AgentConfig, CloudConfig  # noqa: E402
from edge_agent.cloud import outbox  # noqa: E402
from edge_agent.cloud.sync import CloudSync  # noqa: E402
from edge_agent.cloud.topics import Topics  # noqa: E402
from edge_agent.ledger import open_ledger  # noqa: E402
from hub import migrate  # noqa: E402
from hub.service import Hub  # noqa: E402
from sim.cloud.broker import Broker  # noqa: E402
from sim.cloud.postgres import Postgres  # noqa: E402
from sim.pilot.fleet import thread_cpu_s  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

CABINET = "CAB-DRAIN"
KEY = bytes(range(32))
TIMEOUT_S = 600


def raw_qos1(port, count, size=64):
    """Messages/s from one plain paho publisher (QoS 1, paho's defaults), until the broker has PUBACKed them
    all, with one QoS 1 subscriber taking them (the broker does the fan-out work as it does for the hub).
    Timed by PUBACKs: Mosquitto drops QoS 1 messages beyond a slow subscriber's queue (1000 by default), so a
    count at the subscriber would not be reliable."""
    acked = [0]
    done = threading.Event()

    def on_publish(client, userdata, mid, reason_code, properties):
        acked[0] += 1
        if acked[0] == count:
            done.set()

    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-sub")
    sub.on_connect = lambda client, *a: client.subscribe("bench/raw", qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-pub")
    connected = threading.Event()
    pub.on_connect = lambda *a: connected.set()
    pub.on_publish = on_publish
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    if not (subscribed.wait(10) and connected.wait(10)):
        raise SystemExit("raw: no SUBACK/CONNACK from the broker")
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(count):
        pub.publish("bench/raw", payload, qos=1)
    if not done.wait(TIMEOUT_S):
        raise SystemExit("raw: %d of %d messages PUBACKed" % (acked[0], count))
    elapsed = time.perf_counter() - start
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return count / elapsed


def new_hub_database(pg, name):
    dsn = pg.new_database(name)
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        migrate.apply(conn)
    return dsn


def agent_drain(folder, port, dsn, head, batch_rows, batch_bytes, max_inflight):
    """Seconds from the agent's start until the hub has every row, and the sync thread's CPU seconds."""
    hub = Hub(dsn, "127.0.0.1", port, grace_s=30)
    hub.register(CABINET, KEY, tenant="acme", site="plant1")
    hub.start()
    cloud = CloudConfig(host="127.0.0.1", port=port, tenant="acme", site="plant1", key_file=folder / "key",
                        batch_rows=batch_rows, batch_bytes=batch_bytes, max_inflight=max_inflight,
                        backlog_rows_per_s=1_000_000)
    config = AgentConfig(cabinet_id=CABINET, ledger=folder / "ledger.db", cabinet_port="none", cloud=cloud)
    sync = CloudSync(lambda: open_ledger(folder / "ledger.db", count_boot=False), config, cloud)
    try:
        start = time.perf_counter()
        sync.start()
        if not hub.wait_for(lambda: hub.watermark(CABINET, "tx") >= head, TIMEOUT_S):
            raise SystemExit("drain: the hub has %d of %d rows" % (hub.watermark(CABINET, "tx"), head))
        elapsed = time.perf_counter() - start
        cpu = thread_cpu_s(sync.thread_id)
        stored = len(hub.rows(CABINET))
        peak = sync.streams["tx"].window.peak
        resent = sync.stats.republished
    finally:
        sync.stop()
        hub.stop()
    return dict(seconds=elapsed, agent_cpu_s=cpu, stored=stored, peak_inflight=peak, republished=resent)


def hub_only(folder, port, dsn, batch_rows, batch_bytes):
    """Rows/s the hub stores when every batch is already waiting at the broker (no agent, no window)."""
    with open_ledger(folder / "ledger.db", count_boot=False) as ledger:
        payloads, after = [], 0
        while True:
            batch = outbox.read_batch(ledger, "tx", after, batch_rows, batch_bytes)
            if batch is None:
                break
            payloads.append(json.dumps({
                "v": 1, "cabinet": CABINET, "session": 1, "sent_wall": batch.items[0]["wall_time"],
                "clock_synced": True, "stream": "tx", "first_seq": batch.first_seq, "last_seq": batch.last_seq,
                "backlog": True, "rows": batch.items}))
            after = batch.last_seq
    hub = Hub(dsn, "127.0.0.1", port, grace_s=30)
    hub.register(CABINET, KEY, tenant="acme", site="plant1")
    hub.start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=CABINET, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    topic = Topics("acme", "plant1", CABINET).tx
    try:
        start = time.perf_counter()
        for payload in payloads:
            pub.publish(topic, payload, qos=1)
        if not hub.wait_for(lambda: hub.watermark(CABINET, "tx") >= after, TIMEOUT_S):
            raise SystemExit("hub only: the hub has %d of %d rows" % (hub.watermark(CABINET, "tx"), after))
        elapsed = time.perf_counter() - start
    finally:
        pub.loop_stop()
        pub.disconnect()
        hub.stop()
    return after / elapsed


def measure_drain(out_dir, rows=20000, batch_rows=200, max_inflight=8, raw_messages=None, postgres=None,
                  batch_bytes=65536):
    """The drain of a `rows` backlog against raw paho on the same broker; returns a dict: rows, rows_per_s,
    raw_msgs_per_s, ratio, hub_only_rows_per_s, agent_cpu_s, ... out_dir: a folder for the ledger, the broker
    and (unless `postgres`, a started sim.cloud.postgres.Postgres, is given) the database."""
    folder = Path(out_dir) / "drain"
    folder.mkdir(parents=True)
    (folder / "key").write_text(KEY.hex())
    ledger = ledger_from_csv(folder, skus="part_number,description\nGLV,Gloves\n",
                             locations="id,kind,unit,sku,on_hand,min,max\nD1,door,1,GLV,1,0,1\n",
                             users="id,name,role\nT1,Ana,technician\n")
    build = time.perf_counter()
    with ledger.transaction():                   # weeks offline: rows never sent
        for _ in range(rows):
            ledger.append("count", location="D1", quantity=1, reason="backlog")
    build = time.perf_counter() - build
    head = outbox.head(ledger, "tx")
    ledger.close()
    broker = Broker(folder / "broker").start()
    own_pg = postgres is None
    pg = Postgres().start() if own_pg else postgres
    tag = "%d_%d" % (os.getpid(), time.monotonic_ns())
    try:
        count = raw_messages or max(1000, head)
        raw_before = raw_qos1(broker.port, count)
        drain = agent_drain(folder, broker.port, new_hub_database(pg, "drain_agent_" + tag), head, batch_rows,
                            batch_bytes, max_inflight)
        raw_after = raw_qos1(broker.port, count)         # raw paho's figure varies run to run: taken twice
        only = hub_only(folder, broker.port, new_hub_database(pg, "drain_hub_" + tag), batch_rows,
                        batch_bytes)
    finally:
        broker.stop()
        if own_pg:
            pg.stop()
        else:
            for name in ("drain_agent_", "drain_hub_"):
                pg.drop_database(name + tag)
    rows_per_s = head / drain["seconds"]
    raw = (raw_before + raw_after) / 2
    return dict(rows=head, batch_rows=batch_rows, batch_bytes=batch_bytes, max_inflight=max_inflight,
                build_s=round(build, 2),
                drain_s=round(drain["seconds"], 3), rows_per_s=round(rows_per_s), raw_msgs_per_s=round(raw),
                raw_runs=[round(raw_before), round(raw_after)], raw_messages=count,
                ratio=round(rows_per_s / raw, 2), hub_only_rows_per_s=round(only),
                agent_cpu_s=drain["agent_cpu_s"], stored=drain["stored"], peak_inflight=drain["peak_inflight"],
                republished=drain["republished"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--batch-rows", type=int, default=200)
    ap.add_argument("--batch-bytes", type=int, default=65536)
    ap.add_argument("--max-inflight", type=int, default=8)
    ap.add_argument("--raw-messages", type=int, default=None)
    ap.add_argument("--dir", default=None, help="a folder for the temp dir (removed at the end)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        out = measure_drain(tmp, rows=args.rows, batch_rows=args.batch_rows, max_inflight=args.max_inflight,
                            raw_messages=args.raw_messages, batch_bytes=args.batch_bytes)
    print("backlog %d rows, batches of %d, %d in flight: drained in %.2f s = %d rows/s (agent CPU %s s)"
          % (out["rows"], out["batch_rows"], out["max_inflight"], out["drain_s"], out["rows_per_s"],
             out["agent_cpu_s"]))
    print("raw paho QoS 1 small messages on the same broker: %d msgs/s (%d messages, before and after: %s); "
          "ratio %.2fx" % (out["raw_msgs_per_s"], out["raw_messages"], out["raw_runs"], out["ratio"]))
    print("hub only (batches waiting at the broker, no agent): %d rows/s" % out["hub_only_rows_per_s"])
    print(json.dumps(dict(bench="drain", **out)))


if __name__ == "__main__":
    main()
