"""How long a failed PIN sign-in takes by its cause (issue 14, item 3): no such user, no PIN set, a wrong PIN,
a locked PIN, a role that must badge first, against a right PIN. Each is Access.by_pin on a real ledger
file, with the default scrypt cost; the median of ROUNDS tries per cause. The answers are one and each try
checks one hash (tests/test_pin_rules.py); this prints how close the times are. The last line is JSON.
Usage: .venv/bin/python bench/pin_answers.py [rounds]"""
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.ledger import ManualClock  # noqa: E402
from edge_agent.rules.access import Access  # noqa: E402
from edge_agent.rules.refusal import Refusal  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

USERS = """id,name,role,supplier,pin,badges
T1,Ana,technician,,2580,04A1B2C3
T2,Bo,technician,,2580,04A1B2C4
R1,Ray,route_driver,Acme,,CAFEF00D
S1,Dee,supervisor,,1357,0A0B0C0D
"""
CAUSES = {"no such user": ("ZZ", "2580"), "no PIN set": ("R1", "2580"), "wrong PIN": ("T1", "1111"),
          "PIN locked": ("T2", "2580"), "badge needed": ("S1", "1357"), "right PIN": ("T1", "2580")}


def main(rounds=30):
    with tempfile.TemporaryDirectory() as folder:
        ledger = ledger_from_csv(Path(folder), users=USERS, clock=ManualClock())
        access = Access(ledger, max_tries=10 ** 6, lockout_s=86400, pin_roles=("supervisor",))
        locker = Access(ledger, max_tries=1, lockout_s=86400)
        try:
            locker.by_pin("T2", "0000")
        except Refusal:
            pass
        times = {cause: [] for cause in CAUSES}
        order = list(CAUSES.items())
        for _ in range(rounds):
            random.shuffle(order)                 # no cause always runs after another (caches, the other cores)
            for cause, (user, pin) in order:
                start = time.perf_counter()
                try:
                    access.by_pin(user, pin)
                except Refusal:
                    pass
                times[cause].append((time.perf_counter() - start) * 1000)
        ledger.close()
    medians = {cause: round(statistics.median(ms), 2) for cause, ms in times.items()}
    for cause, ms in medians.items():
        print("%-13s %7.2f ms" % (cause, ms))
    failed = [ms for cause, ms in medians.items() if cause != "right PIN"]
    spread = round(max(failed) - min(failed), 2)
    print("spread between failure causes: %.2f ms (%.1f%% of the slowest)" % (spread, 100 * spread / max(failed)))
    print(json.dumps({"median_ms": medians, "failure_spread_ms": spread, "rounds": rounds}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
