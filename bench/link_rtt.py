"""Link round trip over the pty: the agent's CabinetLink (pyserial) and the simulated cabinet running the real
firmware logic in real time, at the default line rate and at 115200 baud in the same run (each rate a fresh
cabinet and link, the same work). The cabinet is `locker-sim cabinet` in its own process, as a cabinet is
another machine: in one interpreter the link's reader would wait for the GIL while the sim's thread runs
(a whole catch-up chunk when it falls behind), which no real cabinet makes it do. Prints p50/p99 for PING, for a VEND frame answered by the firmware's replay
table (the full actuation path, no motor), and for whole vends (dominated by the 2 s spiral turn). The goal
(issue 18): ping p99 at most 5 ms at the chosen rate (docs/decisions/0051-link-line-rate.md).
The last line is JSON. Usage: .venv/bin/python bench/link_rtt.py [--pings N] [--replays N] [--vends N]
[--baud B ...]"""
import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.link.codes import LINE_BAUD, LONG_RUN_BAUD  # noqa: E402
from edge_agent.link.serial import CabinetLink  # noqa: E402
from firmware import messages as M  # noqa: E402
from sim.cabinet import load_raw_config  # noqa: E402

GOAL_P99_MS = 5.0


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(samples_s):
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def serve(baud, folder):
    """`locker-sim cabinet` on the example cabinet at this rate, in its own process; (process, port)."""
    raw = load_raw_config(ROOT / "examples/cabinet.toml")
    raw["link"] = dict(raw.get("link", {}), baud=baud)      # both ends at this rate
    config = Path(folder) / ("cabinet-%d.json" % baud)
    config.write_text(json.dumps(raw))
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "cabinet", "--config", str(config), "--seed", "1",
                             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("port: "):
        proc.kill()
        raise SystemExit("locker-sim cabinet did not start: %r" % line)
    return proc, line[len("port: "):].strip()


def measure(baud, args, folder):
    proc, port = serve(baud, folder)
    try:
        with CabinetLink(port, baud) as link:
            link.hello()
            pings = []
            for _ in range(args.pings):
                t = time.perf_counter()
                link.ping(b"12345678")
                pings.append(time.perf_counter() - t)
            vends, turns = [], 0
            for i in range(args.vends):
                t = time.perf_counter()
                result = link.vend(1 + i % 12, 1 + i)
                vends.append(time.perf_counter() - t)
                turns += result.detail if result.result in (M.R_VENDED, M.R_NO_DROP) else 0
            replays = []
            for i in range(args.replays):
                t = time.perf_counter()
                result = link.vend(1, 1)
                replays.append(time.perf_counter() - t)
                assert result.replayed
            bad = link.stats.bad_frames
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return {"baud": baud, "ping": summary(pings), "vend_replay": summary(replays), "vend_full": summary(vends),
            "motor_turns": turns, "bad_frames": bad}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pings", type=int, default=1000)
    ap.add_argument("--replays", type=int, default=1000)
    ap.add_argument("--vends", type=int, default=10)
    ap.add_argument("--baud", type=int, nargs="+", default=[LINE_BAUD, LONG_RUN_BAUD],
                    help="line rates to measure, in this order (default: %d %d)" % (LINE_BAUD, LONG_RUN_BAUD))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = [measure(baud, args, folder) for baud in args.baud]
    for r in runs:
        print("%7d baud: ping       p50 %7.2f ms  p99 %7.2f ms" % (r["baud"], r["ping"]["p50_ms"], r["ping"]["p99_ms"]))
        print("%7d baud: vend frame p50 %7.2f ms  p99 %7.2f ms  (answered from the replay table)"
              % (r["baud"], r["vend_replay"]["p50_ms"], r["vend_replay"]["p99_ms"]))
        print("%7d baud: whole vend p50 %7.0f ms  p99 %7.0f ms  (spiral turn included)"
              % (r["baud"], r["vend_full"]["p50_ms"], r["vend_full"]["p99_ms"]))
    first = runs[0]
    verdict = "met" if first["ping"]["p99_ms"] <= GOAL_P99_MS else "NOT met"
    print("goal: ping p99 <= %.0f ms at %d baud: %s" % (GOAL_P99_MS, first["baud"], verdict))
    out = {"bench": "link_rtt", "baud": first["baud"], "ping": first["ping"], "vend_replay": first["vend_replay"],
           "vend_full": first["vend_full"], "motor_turns": first["motor_turns"], "goal_p99_ms": GOAL_P99_MS,
           "goal_met": first["ping"]["p99_ms"] <= GOAL_P99_MS, "rates": runs}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
