"""Fleet: many pilot cabinets, each its own process with the agent's real CloudSync thread, against one real
Mosquitto (loopback, a free port) and the hub (hub/service.py) on a throw-away PostgreSQL, or on --db DSN
(sim/pilot/fleet.py). Virtual time runs --speed times faster than wall time, so each cabinet's transaction
rate is --speed times the pilot's realistic one (its demand: the takes and ledger rows per day printed).

Figures: CPU seconds and peak RSS per cabinet (the sync thread's CPU apart), messages per second at the
broker (counted at the hub: up messages, acks, resends), and cabinets per core at the realistic rate in
real time: the pilot loop's CPU per virtual day spread over a real day, plus the sync thread's CPU per wall
second (its polling floor). The last line is JSON.
Usage: .venv/bin/python bench/fleet.py [--cabinets N] [--days N] [--locations N] [--speed X] [--dir DIR]
       [--db DSN]"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.pilot.fleet import run_fleet, summary_lines  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cabinets", type=int, default=4, help="cabinets, one process each (default 4)")
    ap.add_argument("--days", type=int, default=2, help="virtual days per cabinet (default 2)")
    ap.add_argument("--locations", type=int, default=20, help="locations per cabinet (default 20)")
    ap.add_argument("--speed", type=float, default=2000.0, help="virtual time / wall time (default 2000)")
    ap.add_argument("--dir", default=None, help="where ledgers and the broker go (default: a temp dir)")
    ap.add_argument("--db", default=None, metavar="DSN",
                    help="the hub's PostgreSQL (migrated here; default: a throw-away one for the run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet.", dir=args.dir) as tmp:
        result = run_fleet(tmp, cabinets=args.cabinets, days=args.days, locations=args.locations,
                           speed=args.speed, dsn=args.db)
    for line in summary_lines(result):
        print(line)
    out = dict(result.figures, bench="fleet", hub=result.hub,
               per_cabinet=[{k: c[k] for k in ("cabinet", "takes", "cpu_s", "sync_cpu_s", "peak_rss_mb", "heads")}
                            for c in result.cabinets])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
