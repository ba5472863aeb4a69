"""What the free-space check before every intent costs (flows/actuation.py: Ledger.space_low, one os.statvfs
on the ledger's folder), next to what the intent it guards costs (Ledger.record_intent: one fsync-backed
SQLite transaction). The check runs once per actuation, so its cost is to be read against the intent's.
The last line is JSON.
Usage: .venv/bin/python bench/disk_check.py [--reps N] [--dir DIR]"""
import argparse
import json
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.ledger import ManualClock, open_ledger  # noqa: E402


def best_us(fn, number, repeat=5):
    """The best of `repeat` runs, per call, in microseconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20000, help="checks timed per run (best of 5 runs)")
    parser.add_argument("--dir", help="where the ledger goes (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="disk-check-"))
    ledger = open_ledger(folder / "ledger.db", ManualClock())
    ledger.db.execute("INSERT INTO locations (id, kind, unit, on_hand) VALUES ('L1', 'lane', 1, 0)")
    check_us = best_us(ledger.space_low, args.reps)
    intents = max(args.reps // 200, 5)
    intent_us = best_us(lambda: ledger.record_intent("issue", location="L1", quantity=1, user_id="T1"), intents, 3)
    ledger.close()
    print("free-space check (Ledger.space_low, os.statvfs): %.1f us per actuation" % check_us)
    print("the intent it guards (Ledger.record_intent, WAL + synchronous=FULL): %.0f us" % intent_us)
    print("check / intent: %.2f %%" % (100 * check_us / intent_us))
    print(json.dumps(dict(bench="disk_check", check_us=round(check_us, 2), intent_us=round(intent_us, 1),
                          reps=args.reps)))


if __name__ == "__main__":
    main()
