"""`verify` on a million-row ledger: the full check, and the incremental check of the last rows written since
(issue 18: the last 10,000 rows in under 0.5 s; docs/decisions/0050-append-path-and-incremental-verify.md).

The ledger is stocked and filled in bulk with valid rows by bench/minmax_million.py's builder (the agent's mix
of intents, outcomes, issues, refills, counts and refusals, chained), rows - tail of them. Opened with
open_ledger, it is verified in full (timed: the full figure, which also keeps the verified head), the cloud
acknowledges up to that head (a cabinet that syncs), and `tail` more rows are appended through Ledger's own
record_intent / record_outcome (issues at the lanes), in one SQLite transaction. Then `verify` (incremental)
is timed --reps times, the verified head put back before each so every run checks the same tail; each must
walk exactly tail + 1 rows (the head's own row again). pending_intents() is timed as start-up reads it.
The last line is JSON.
Usage: .venv/bin/python bench/verify_speed.py [--rows N] [--tail N] [--reps N] [--dir DIR] [--seed N]"""
import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.minmax_million import START, Builder, stock_ledger  # noqa: E402
from edge_agent.cloud import outbox  # noqa: E402
from edge_agent.ledger import ManualClock, open_ledger  # noqa: E402

GOAL_S = 0.5


def append_tail(ledger, clock, rows):
    """rows more rows (intent + outcome pairs at the lanes) through the ledger's own append path."""
    lanes = [r[0] for r in ledger.db.execute("SELECT id FROM locations WHERE kind = 'lane' ORDER BY id")]
    with ledger.transaction():
        for i in range(rows // 2):
            clock.advance(30_000)
            loc = lanes[i % len(lanes)]
            if ledger.on_hand(loc) < 1:
                ledger.append("refill", location=loc, quantity=30, user_id="drv-1")
            seq, _ = ledger.record_intent("issue", location=loc, quantity=1, user_id="tech-%d" % (1 + i % 250),
                                          cost_center="CC-404")
            ledger.record_outcome(seq, "vended", 1)


def timed_verify(ledger, full):
    t = time.perf_counter()
    result = ledger.verify(full=full)
    return time.perf_counter() - t, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the ledger in all (default 1,000,000)")
    ap.add_argument("--tail", type=int, default=10_000, help="rows written since the last verify (default 10,000)")
    ap.add_argument("--reps", type=int, default=3, help="incremental checks timed (default 3)")
    ap.add_argument("--dir", default=None, help="where the ledger goes (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify_speed.", dir=args.dir) as tmp:
        path = Path(tmp) / "ledger.db"
        t = time.perf_counter()
        stock_ledger(path, ManualClock(start=START.isoformat()))
        Builder(path, args.seed).build(args.rows - args.tail)
        build_s = time.perf_counter() - t

        with open_ledger(path, ManualClock(start=START.isoformat())) as peek:
            last_wall = peek.db.execute("SELECT wall_time FROM transactions ORDER BY seq DESC LIMIT 1").fetchone()[0]
        clock = ManualClock(start=(datetime.datetime.fromisoformat(last_wall)
                                   + datetime.timedelta(minutes=10)).isoformat())
        with open_ledger(path, clock) as ledger:
            full_s, full = timed_verify(ledger, True)
            if not full.ok:
                raise SystemExit("the built ledger does not verify: %s" % full)
            head = ledger.db.execute("SELECT seq, hash FROM verified_head").fetchone()
            outbox.next_session(ledger)                      # the cabinet syncs, and the cloud holds the head
            outbox.set_acked(ledger, "tx", head[0], head[1])
            kept = ledger.db.execute("SELECT * FROM verified_head").fetchone()
            t = time.perf_counter()
            append_tail(ledger, clock, args.tail)
            tail_s = time.perf_counter() - t
            total = ledger.db.execute("SELECT count(*) FROM transactions").fetchone()[0]
            samples = []
            for _ in range(args.reps):
                with ledger.transaction():                  # every run checks the same tail
                    ledger.db.execute("DELETE FROM verified_head")
                    ledger.db.execute("INSERT INTO verified_head VALUES (%s)" % ", ".join("?" * len(kept)), kept)
                seconds, result = timed_verify(ledger, False)
                walked = result.checked - result.first_seq + 1
                if not result.ok or result.first_seq != head[0] or walked != total - head[0] + 1:
                    raise SystemExit("the incremental check did not walk the tail: %s" % result)
                samples.append(seconds)
            t = time.perf_counter()
            pending = ledger.pending_intents()
            pending_s = time.perf_counter() - t
    incremental = {"rows_walked": walked, "min_s": round(min(samples), 4),
                   "median_s": round(statistics.median(samples), 4), "max_s": round(max(samples), 4),
                   "goal_s": GOAL_S, "under_goal": max(samples) < GOAL_S}
    out = {"bench": "verify_speed", "rows": total, "build_s": round(build_s, 1),
           "full": {"rows": full.checked, "s": round(full_s, 3), "us_per_row": round(full_s / full.checked * 1e6, 2)},
           "tail_append_s": round(tail_s, 3), "incremental": incremental,
           "pending_intents": {"s": round(pending_s, 6), "pending": len(pending)}}
    print("ledger of %d rows (built in %.1f s; the last %d through Ledger.record_intent/record_outcome in %.2f s)"
          % (total, build_s, args.tail, tail_s))
    print("verify --full: %d rows in %.2f s (%.2f us a row)" % (full.checked, full_s, out["full"]["us_per_row"]))
    print("verify (incremental: the %d rows after the verified head, and its own): min %.3f s, median %.3f s, "
          "max %.3f s over %d (goal < %.1f s: %s)"
          % (walked - 1, incremental["min_s"], incremental["median_s"], incremental["max_s"], args.reps, GOAL_S,
             "met" if incremental["under_goal"] else "NOT met"))
    print("pending_intents() at start-up: %.2f ms (%d pending)" % (pending_s * 1000, len(pending)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
