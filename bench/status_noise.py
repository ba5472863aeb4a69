"""STATUS on a noisy line: how long the agent's link core takes to get a STATUS answer when the line loses or
corrupts 2 % of its bytes (1 % dropped, 1 % with a bit flipped, both ways), against its 5 s request budget.
The real link core (edge_agent.link.core) and the real firmware on the simulated cabinet, in virtual time:
the figures are virtual milliseconds, the same on any machine. Between STATUS requests the line idles for a
varying while, as it does in the agent (heartbeat PINGs go on meanwhile, and their losses too).

Two cabinets: the example cabinet (4 doors, 12 lanes, 4 bins: a 48-byte STATUS frame) and the pilot's
(3 doors, 40 lanes, 2 bins: 65 bytes). Run it against another checkout to compare, e.g. before a change:
PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/status_noise.py
The last line is JSON. Usage: .venv/bin/python bench/status_noise.py [--tries N] [--seeds K] [--noise R]"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))     # after PYTHONPATH, so another checkout's code can be measured

from edge_agent.link.core import REQUEST_BUDGET_MS  # noqa: E402
from edge_agent.link.errors import LinkError  # noqa: E402
from firmware import messages as M  # noqa: E402
from firmware.codec import encode_frame  # noqa: E402
from sim.cabinet import Faults, SimCabinet  # noqa: E402
from sim.pilot.site import cabinet_config  # noqa: E402
from sim.virtual_host import VirtualHost  # noqa: E402
from tests.cabinets import example_config  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def run(raw, seed, tries, noise):
    """(ms per STATUS, failures, frame bytes) for `tries` STATUS requests on one seeded noisy line."""
    sim = SimCabinet(raw, seed=seed, faults=Faults(drop_rate=noise / 2, flip_rate=noise / 2, seed=1000 + seed))
    host = VirtualHost(sim, step_ms=2)
    while True:                       # HELLO on the same noisy line (it is not what is measured)
        try:
            host.hello()
            break
        except LinkError:
            pass
    times, failed, size = [], 0, None
    for i in range(tries):
        start = sim.now
        try:
            status = host.call(M.STATUS)
            if size is None:
                body = bytes(4 + len(status.doors) + len(status.lanes)) + bytes(5 * len(status.bins))
                size = len(encode_frame(0, M.STATUS | M.RESPONSE, bytes(1) + body))
        except LinkError:
            failed += 1
        times.append(sim.now - start)
        host.tick(50 + (i * 337) % 2000)      # idle between requests: heartbeats run, and can be lost
    return times, failed, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=500, help="STATUS requests per seed and cabinet")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--noise", type=float, default=0.02, help="share of bytes lost or corrupted (half each)")
    ap.add_argument("--dir", help="unused (the bench writes no files)")
    args = ap.parse_args()
    cabinets = {"example": example_config(), "pilot": cabinet_config(3, 40, 2)}
    out = {"bench": "status_noise", "noise": args.noise, "budget_ms": REQUEST_BUDGET_MS, "cabinets": {}}
    for name, raw in cabinets.items():
        times, failed, size = [], 0, None
        for seed in range(args.seeds):
            t, f, s = run(raw, seed, args.tries, args.noise)
            times += t
            failed += f
            size = size or s
        fig = {"n": len(times), "frame_bytes": size, "p50_ms": pct(times, 50), "p90_ms": pct(times, 90),
               "p99_ms": pct(times, 99), "max_ms": max(times), "over_half_budget": sum(t > REQUEST_BUDGET_MS / 2
                                                                                     for t in times),
               "failed": failed}
        out["cabinets"][name] = fig
        print("%-8s STATUS %3s-byte frame: p50 %5d ms  p90 %5d ms  p99 %5d ms  max %5d ms  failed %d of %d"
              % (name, size, fig["p50_ms"], fig["p90_ms"], fig["p99_ms"], fig["max_ms"], failed, len(times)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
