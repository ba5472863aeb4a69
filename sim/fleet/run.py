"""A whole contract-fleet run: a Mosquitto, a throw-away PostgreSQL (or the hub database given), `workers`
real `locker-hub serve` processes on one shared subscription, and the cabinets in processes of at most
PER_PROCESS each (sim/fleet/loop.py). Returns what was measured; `valid` is false when a cabinet was not
acked to its head at the end (its figures then say nothing about a hub that keeps up).

    result = run_fleet(out_dir, cabinets=1000, workers=2, rate=0.5, seconds=60)
"""
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from hub import registry
from sim.cloud.broker import Broker
from sim.cloud.hub_db import hub_database
from sim.fleet.loop import cabinet_key, cabinet_name

ROOT = Path(__file__).resolve().parent.parent.parent
LOCKER_HUB = str(Path(sys.executable).parent / "locker-hub")
TENANT, SITE = "acme", "fleet"
PER_PROCESS = 250
WORKER_READY_S = 60
ROWS_PER_CABINET_DAY = 212      # the pilot's rate (docs/pilot.md): a cabinet-year's rows for bytes per year


def cpu_s(pid):
    """user + system CPU seconds of a process so far (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(p / 100 * len(ordered))) - 1)]


class HubWorker:
    """A `locker-hub serve` process; ready once it says it subscribed."""

    def __init__(self, dsn, port, worker_id, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([LOCKER_HUB, "--db", dsn, "serve", "--broker", "127.0.0.1:%d" % port,
                                      "--worker-id", worker_id, "--leave"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.ready = threading.Event()
        self.stored = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            if " subscribed to " in line:
                self.ready.set()
            elif line.startswith("stopped: "):         # "stopped: N messages, S stored, ..."
                self.stored = int(line.split(", ")[1].split()[0])

    def stop(self):
        """SIGTERM it; returns its CPU seconds (read just before). self.stored: the rows it stored."""
        used = cpu_s(self.proc.pid) if self.proc.poll() is None else None
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(10)
        self.log.close()
        return used


def register_all(dsn, names):
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        for name in names:
            registry.add_cabinet(conn, TENANT, SITE, name, cabinet_key(name))


def storage(dsn):
    """Bytes PostgreSQL holds for the transaction rows (table, TOAST and indexes) and how many rows."""
    with psycopg.connect(dsn) as conn:
        conn.execute("ANALYZE tx_rows")
        size, rows = conn.execute("SELECT pg_total_relation_size('tx_rows'), count(*) FROM tx_rows").fetchone()
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size, rows, database


def run_fleet(out_dir, cabinets=20, workers=1, rate=0.5, seconds=10.0, backlog=0, dsn=None, drain_timeout_s=300.0,
              progress=None):
    """Run the fleet and return its figures (a dict). dsn: a hub database to use (migrated here); None: a
    throw-away PostgreSQL for this run."""
    if cabinets < 1 or workers < 1 or rate < 0 or seconds < 0 or backlog < 0 or (rate == 0 and backlog == 0):
        raise ValueError("give at least 1 cabinet and 1 worker, and a --rate or a --backlog")
    say = progress or (lambda line: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))     # the broker's sockets: one per cabinet
    names = [cabinet_name(n) for n in range(1, cabinets + 1)]
    with hub_database(dsn) as hub_dsn:
        return _run(out_dir, names, hub_dsn, cabinets, workers, rate, seconds, backlog, drain_timeout_s, say)


def _run(out_dir, names, dsn, cabinets, workers, rate, seconds, backlog, drain_timeout_s, say):
    # Unlimited queues: Mosquitto's default of 1,000 queued messages per client would drop QoS 1 messages for a
    # hub worker that falls behind, and the run would measure the cabinets' ack timeout instead of the hub.
    broker = Broker(out_dir / "broker", extra_config=["max_queued_messages 0"]).start()
    hubs, procs = [], []
    try:
        register_all(dsn, names)
        say("%d cabinets registered; starting %d hub workers" % (cabinets, workers))
        hubs = [HubWorker(dsn, broker.port, "fleet-hub-%d" % i, out_dir / ("hub-%d.log" % i)) for i in range(workers)]
        for h in hubs:
            if not h.ready.wait(WORKER_READY_S):
                raise RuntimeError("a hub worker did not subscribe; its log: %s" % h.log.name)
        cpu0 = [cpu_s(h.proc.pid) for h in hubs]
        t0 = time.monotonic()
        for first in range(1, cabinets + 1, PER_PROCESS):
            count = min(PER_PROCESS, cabinets - first + 1)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "sim.fleet.loop", "--port", str(broker.port), "--tenant", TENANT, "--site",
                 SITE, "--first", str(first), "--count", str(count), "--rate", str(rate), "--backlog",
                 str(backlog), "--seconds", str(seconds), "--drain-timeout", str(drain_timeout_s)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        say("%d cabinet processes writing for %g s" % (len(procs), seconds))
        outs = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=seconds + drain_timeout_s + 120)
            if not stdout.strip():
                raise RuntimeError("a cabinet process failed (exit %s): %s" % (proc.returncode, stderr[-3000:]))
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        wall = time.monotonic() - t0
        hub_cpu = [h.stop() - c for h, c in zip(hubs, cpu0)]
        per_worker = [h.stored for h in hubs]
        hubs = []
        size, stored, database = storage(dsn)
    finally:
        for h in hubs:
            h.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        broker.stop()
    f = figures(outs, wall, hub_cpu, stored, size, database, cabinets, workers, rate, seconds, backlog)
    f["rows_stored_per_worker"] = per_worker
    return f


def figures(outs, wall, hub_cpu, stored, size, database, cabinets, workers, rate, seconds, backlog):
    cabs = [c for o in outs for c in o["cabinets"]]
    latencies = [x for o in outs for x in o["latencies"]]
    heads = sum(c["head"] for c in cabs)
    drained = [c["drained_s"] for c in cabs if c["drained_s"] is not None]
    drain_s = max(drained) if backlog and len(drained) == len(cabs) else None
    cpu = sum(hub_cpu)
    return {
        "cabinets": cabinets, "workers": workers, "rate_rows_per_s_per_cabinet": rate, "seconds": seconds,
        "backlog_rows_per_cabinet": backlog, "wall_s": round(wall, 2),
        "valid": all(c["acked"] >= c["head"] and not c["bad_ack_hashes"] for c in cabs) and stored == heads,
        "rows_written": heads, "rows_stored": stored,
        "messages": sum(c["batches"] for c in cabs), "resends": sum(c["resends"] for c in cabs),
        "hub_cpu_s": round(cpu, 2), "hub_cpu_s_per_worker": [round(c, 2) for c in hub_cpu],
        "rows_per_hub_cpu_s": round(stored / cpu, 1) if cpu else None,
        "backlog_drain_s": drain_s,
        "backlog_rows_per_s": round(backlog * cabinets / drain_s, 1) if drain_s else None,
        "ack_latency_s": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                          "samples": len(latencies)},
        "tx_bytes_per_row": round(size / stored, 1) if stored else None,
        "database_bytes": database,
        "tx_bytes_per_cabinet_year": round(size / stored * ROWS_PER_CABINET_DAY * 365) if stored else None,
        "cabinet_cpu_s": round(sum(o["cpu_s"] for o in outs), 2),
    }


def summary_lines(f):
    lines = ["fleet (contract cabinets): %d cabinets, %d hub worker(s), %g rows/s each for %g s, backlog %d rows "
             "each: %.1f s, %s" % (f["cabinets"], f["workers"], f["rate_rows_per_s_per_cabinet"], f["seconds"],
                                   f["backlog_rows_per_cabinet"], f["wall_s"],
                                   "every cabinet acked to its head" if f["valid"] else "INVALID: not all acked")]
    lines.append("hub: %d rows stored from %d messages (%d resends), %.1f CPU s: %s rows per worker CPU second"
                 % (f["rows_stored"], f["messages"], f["resends"], f["hub_cpu_s"], f["rows_per_hub_cpu_s"]))
    lat = f["ack_latency_s"]
    if lat["samples"]:
        lines.append("ack latency (row written to ack received): p50 %.3f s, p99 %.3f s over %d rows"
                     % (lat["p50"], lat["p99"], lat["samples"]))
    if f["backlog_rows_per_s"]:
        lines.append("backlog drained in %.1f s: %.0f rows/s" % (f["backlog_drain_s"], f["backlog_rows_per_s"]))
    lines.append("PostgreSQL: %s bytes per transaction row, %s bytes per cabinet-year at %d rows a day"
                 % (f["tx_bytes_per_row"], f["tx_bytes_per_cabinet_year"], ROWS_PER_CABINET_DAY))
    return lines


def command(args):
    """`locker-sim fleet --model contract`: run, print the figures; exit 1 when the run is not valid."""
    try:
        f = run_fleet(args.out, cabinets=args.cabinets, workers=args.workers, rate=args.rate, seconds=args.seconds,
                      backlog=args.backlog, dsn=args.db, progress=lambda line: print("fleet: " + line, flush=True))
    except (ValueError, RuntimeError) as e:
        sys.stderr.write("locker-sim: error: %s\n" % e)
        return 2
    for line in summary_lines(f):
        print(line)
    if args.json:
        print(json.dumps(f))
    return 0 if f["valid"] else 1
