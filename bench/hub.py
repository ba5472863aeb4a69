"""The hub at fleet scale (issue 16, docs/scaling.md): `locker-sim fleet --model contract` cabinets (written
from docs/mqtt.md alone, sim/fleet/) into one real Mosquitto and real `locker-hub serve` processes on a
throw-away PostgreSQL, on this machine.

Runs, each on a fresh database:
- live, for each worker count (default 1, 2, 4): every cabinet writes --rate rows/s for --seconds (each row
  sent at once, as a live agent does), then the run waits for every ack. Figures: rows stored per hub worker
  CPU second, ack latency p50/p99 (row written -> ack covering it received), PostgreSQL bytes per row and
  per cabinet-year at the pilot's 212 rows a day. A run where a cabinet was not acked to its head is marked
  invalid.
- backlog, for each worker count: every cabinet starts with --backlog rows unsent (a fleet back from an
  outage): rows/s stored until all are acked, the hub's capacity; scaling = that rate with N workers over
  the rate with 1.
- drain ratio (bench/drain.py's measure_drain): the real agent's CloudSync draining a --drain-rows backlog
  of a real ledger into the hub (rows/s), over raw paho QoS 1 small messages/s on the same broker.
The last line is JSON.
Usage: .venv/bin/python bench/hub.py [--cabinets 1000] [--workers 1,2,4] [--rate 0.5] [--seconds 60]
                                     [--backlog 100] [--drain-rows 20000] [--dir DIR]"""
import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drain import measure_drain  # noqa: E402
from sim.fleet.run import run_fleet, summary_lines  # noqa: E402

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cabinets", type=int, default=1000)
    ap.add_argument("--workers", default="1,2,4", help="worker counts to run, comma separated (default 1,2,4)")
    ap.add_argument("--rate", type=float, default=0.5, help="rows/s per cabinet in the live runs (default 0.5)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the live runs (default 60)")
    ap.add_argument("--backlog", type=int, default=100, help="rows per cabinet in the backlog runs (default 100)")
    ap.add_argument("--drain-rows", type=int, default=20000, help="one cabinet's backlog for the drain ratio")
    ap.add_argument("--raw-count", type=int, default=20000, help="raw QoS 1 messages (default 20000)")
    ap.add_argument("--dir", default=None, help="where the runs' files go (default: a temp dir)")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    out = {"bench": "hub", "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
           "cabinets": args.cabinets, "live": [], "backlog": []}
    with tempfile.TemporaryDirectory(prefix="hub-bench.", dir=args.dir) as tmp:
        for w in counts:
            f = run_fleet(Path(tmp) / ("live-%d" % w), cabinets=args.cabinets, workers=w, rate=args.rate,
                          seconds=args.seconds)
            print("\n".join(summary_lines(f)), flush=True)
            out["live"].append(f)
        for w in counts:
            f = run_fleet(Path(tmp) / ("backlog-%d" % w), cabinets=args.cabinets, workers=w, rate=0, seconds=0,
                          backlog=args.backlog)
            print("\n".join(summary_lines(f)), flush=True)
            out["backlog"].append(f)
        drain = measure_drain(tmp, rows=args.drain_rows, raw_messages=args.raw_count)
    base = out["backlog"][0]["backlog_rows_per_s"] if out["backlog"] else None
    out["scaling"] = {str(f["workers"]): round(f["backlog_rows_per_s"] / base, 2) if base and f["backlog_rows_per_s"]
                      else None for f in out["backlog"]}
    out["drain"] = drain
    print("worker scaling (backlog rows/s over 1 worker's): %s" % out["scaling"])
    print("drain: the agent drained %d rows into the hub at %.0f rows/s; raw paho QoS 1: %.0f msgs/s; ratio %.2fx"
          % (drain["rows"], drain["rows_per_s"], drain["raw_msgs_per_s"], drain["ratio"]))
    print(json.dumps(out))


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
