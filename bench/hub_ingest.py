"""The hub's ingest speed without MQTT: Ingest.handle (hub/ingest.py) on N synthetic tx_batch messages (rows as a
ledger writes them, a valid hash chain per cabinet) straight into a throw-away PostgreSQL (sim/cloud/postgres.py).

Figures: rows stored per CPU-second of the hub process, and per CPU-second of hub + its PostgreSQL backend
(one pooled connection, so one backend; its CPU from /proc); database round trips per message, counted from
libpq's protocol trace (each run of client messages the server then answers: a pipeline's batch counts once);
the pool's connection check is included (hub/db.py checks every connection it hands out). --profile prints
cProfile's top functions by cumulative time. The last line is JSON.
Usage: .venv/bin/python bench/hub_ingest.py [--cabinets N] [--batches N] [--rows N] [--profile] [--dir DIR]"""
import argparse
import cProfile
import datetime
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from edge_agent.ledger.chain import GENESIS_HASH, row_hash  # noqa: E402
from hub import migrate, registry  # noqa: E402
from hub.db import open_pool  # noqa: E402
from hub.ingest import Ingest  # noqa: E402
from sim.cloud.postgres import Postgres  # noqa: E402

TENANT, SITE = "acme", "plant1"
KEY = bytes(range(32))
START = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.timezone.utc)


def batches(cabinet, count, rows_per):
    """`count` tx_batch payloads of one cabinet, seq 1 up, chained as the ledger chains them."""
    prev, seq, out = GENESIS_HASH, 1, []
    for _ in range(count):
        rows = []
        for _ in range(rows_per):
            row = {"seq": seq, "boot": 1, "wall_time": (START + datetime.timedelta(seconds=seq)).isoformat(
                timespec="milliseconds"), "clock_synced": 1, "monotonic_ms": 1000 * seq, "kind": "intent",
                "action": "issue", "user_id": "u-%d" % (seq % 50), "badge_id": "04A1B2C3", "sku": "P-100",
                "location": "L%d" % (seq % 12 + 1), "quantity": 1, "unit_cost": 1250, "work_order": "WO-5521",
                "cmd_id": seq, "prev_hash": prev}
            row["hash"] = prev = row_hash(prev, row)
            rows.append(row)
            seq += 1
        out.append({"v": 1, "cabinet": cabinet, "session": 1, "sent_wall": START.isoformat(), "clock_synced": True,
                    "stream": "tx", "first_seq": rows[0]["seq"], "last_seq": rows[-1]["seq"], "backlog": True,
                    "rows": rows})
    return out


def messages(cabinets, count, rows_per):
    """(topic, raw) in the order a busy broker would interleave them: round robin over the cabinets."""
    per = {c: batches(c, count, rows_per) for c in cabinets}
    return [("locker/v1/%s/%s/%s/tx" % (TENANT, SITE, c), json.dumps(per[c][n]).encode())
            for n in range(count) for c in cabinets]


def backend_cpu_s(pid):
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trips(trace_path):
    """Round trips in libpq's trace: each run of messages the client sent (F lines) that the server then answers
    (B lines), so a pipeline's statements sent together count once."""
    n, sending = 0, False
    with open(trace_path) as f:
        for line in f:
            side = line.split("\t", 1)[0]      # F or B (timestamps suppressed)
            if side == "F":
                sending = True
            elif side == "B" and sending:
                n, sending = n + 1, False
    return n


def run(pg, cabinets, count, rows_per, profile, folder=None):
    dsn = pg.new_database("bench_%d" % time.monotonic_ns())
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        migrate.apply(conn)
        for c in cabinets:
            registry.add_cabinet(conn, TENANT, SITE, c, KEY)
    todo = messages(cabinets, count, rows_per)
    pool = open_pool(dsn, min_size=1, max_size=1, name="bench")
    ingest = Ingest(pool, grace_s=3600)
    with tempfile.NamedTemporaryFile(mode="w", suffix=".trace", dir=folder) as trace:
        with pool.connection() as conn:
            backend = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
            conn.pgconn.trace(trace.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        before = round_trips(trace.name)
        prof = cProfile.Profile() if profile else None
        pg0, cpu0, wall0 = backend_cpu_s(backend), time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        published = 0
        for topic, raw in todo:
            published += len(ingest.handle(topic, raw))
        if prof:
            prof.disable()
        cpu, wall, pg_cpu = time.process_time() - cpu0, time.perf_counter() - wall0, backend_cpu_s(backend) - pg0
        with pool.connection() as conn:
            conn.pgconn.untrace()
            stored = conn.execute("SELECT count(*) AS n FROM tx_rows").fetchone()["n"]
            breaks = conn.execute("SELECT count(*) AS n FROM chain_breaks").fetchone()["n"]
        trace.flush()
        trips = round_trips(trace.name) - before
    pool.close()
    rows = len(todo) * rows_per
    assert stored == rows and breaks == 0 and ingest.stats.stored == rows, (stored, breaks, ingest.stats)
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return {"messages": len(todo), "rows": rows, "hub_cpu_s": round(cpu, 3), "pg_backend_cpu_s": round(pg_cpu, 3),
            "wall_s": round(wall, 3), "rows_per_hub_cpu_s": round(rows / cpu), "rows_per_total_cpu_s":
            round(rows / (cpu + pg_cpu)), "rows_per_wall_s": round(rows / wall),
            "round_trips_per_message": round(trips / len(todo), 2), "acks_published": published}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cabinets", type=int, default=50)
    ap.add_argument("--batches", type=int, default=20, help="tx batches per cabinet (default 20)")
    ap.add_argument("--rows", type=int, default=20, help="rows per batch (default 20; the agent's cap is 200)")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top 25 by cumulative time")
    ap.add_argument("--dir", default=None, help="where the protocol trace goes (default: the temp dir)")
    args = ap.parse_args()
    pg = Postgres().start()
    try:
        result = run(pg, ["CAB-%04d" % n for n in range(args.cabinets)], args.batches, args.rows, args.profile,
                     args.dir)
    finally:
        pg.stop()
    print("%d tx messages of %d rows (%d cabinets): %.2f database round trips per message"
          % (result["messages"], args.rows, args.cabinets, result["round_trips_per_message"]))
    print("hub CPU %.2f s, PostgreSQL backend CPU %.2f s, wall %.2f s" % (result["hub_cpu_s"],
                                                                       result["pg_backend_cpu_s"], result["wall_s"]))
    print("rows stored per hub CPU-second %d, per hub+PostgreSQL CPU-second %d, per wall second %d"
          % (result["rows_per_hub_cpu_s"], result["rows_per_total_cpu_s"], result["rows_per_wall_s"]))
    print(json.dumps(dict(result, bench="hub_ingest", cabinets=args.cabinets, batches=args.batches,
                          rows_per_batch=args.rows)))


if __name__ == "__main__":
    main()
