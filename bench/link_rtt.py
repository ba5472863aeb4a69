"""Link round trip over the pty: the agent's CabinetLink (pyserial) and the simulated cabinet running the real
firmware logic in real time. Prints p50/p99 for PING, for a VEND frame answered by the firmware's replay
table (the full actuation path, no motor), and for whole vends (dominated by the 2 s spiral turn).
The last line is JSON. Usage: .venv/bin/python bench/link_rtt.py [--pings N] [--vends N]"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.link.serial import CabinetLink  # noqa: E402
from sim.cabinet import SimCabinet, serve_pty  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(samples_s):
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pings", type=int, default=1000)
    ap.add_argument("--replays", type=int, default=1000)
    ap.add_argument("--vends", type=int, default=10)
    args = ap.parse_args()
    sim = SimCabinet(ROOT / "examples/cabinet.toml", seed=1)
    port = serve_pty(sim)
    try:
        with CabinetLink(port) as link:
            link.hello()
            pings = []
            for _ in range(args.pings):
                t = time.perf_counter()
                link.ping(b"12345678")
                pings.append(time.perf_counter() - t)
            vends = []
            for i in range(args.vends):
                t = time.perf_counter()
                link.vend(1 + i % 12, 1 + i)
                vends.append(time.perf_counter() - t)
            replays = []
            for i in range(args.replays):
                t = time.perf_counter()
                result = link.vend(1, 1)
                replays.append(time.perf_counter() - t)
                assert result.replayed
            turns = sum(sim.physics.lane(n).turns for n in range(1, 13))
    finally:
        sim.bridge.stop()
    out = {"bench": "link_rtt", "baud": sim.config["uart"]["baud"], "ping": summary(pings),
           "vend_replay": summary(replays), "vend_full": summary(vends), "motor_turns": turns}
    print("ping       p50 %(p50_ms)7.2f ms  p99 %(p99_ms)7.2f ms" % out["ping"])
    print("vend frame p50 %(p50_ms)7.2f ms  p99 %(p99_ms)7.2f ms  (answered from the replay table)" % out["vend_replay"])
    print("whole vend p50 %(p50_ms)7.0f ms  p99 %(p99_ms)7.0f ms  (spiral turn included)" % out["vend_full"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
