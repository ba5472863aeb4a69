"""How fast the real agent drains a burst of firmware events now that each is acknowledged only once stored
(issue 15, carried item; decision 0029). The agent process (`locker-agent run`) against the simulated
cabinet on a pty in real time (speed 1): the firmware queues `--events` EV_FAULT output-capped events at
once (16 is its queue), and the time is measured until its queue is empty (every event acknowledged), and
whether any were lost. Each event is a SQLite commit in the agent (the alert raised, then its detail
updated). Also the time of one issue from a lane (POST /api/issue, a fast lane): a vend's EV_DROP and
EV_CMD_DONE are not held for a store, so the result does not wait for the 1 s QUERY backstop.
Run it on main (copy this file there) for the figure before (acknowledged on delivery).
The last line is JSON. Usage: .venv/bin/python bench/event_burst.py [--events N] [--runs R]"""
import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmware import messages as M  # noqa: E402
from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config  # noqa: E402
from edge_agent.ledger import record_admin_change  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

FAST_LANES = {"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5}
BADGE = "04A1B2C3"


def drained(sim):
    # The firmware's own queue (firmware/link.py): nothing queued, nothing in flight.
    return sim.bridge.call(lambda s: (not s.cab.link._queue and s.cab.link._head is None, s.cab.link.events_lost))


def burst(agent, sim, n):
    start = time.monotonic()
    sim.bridge.call(lambda s: [s.cab.event(M.EV_FAULT, M.F_OUTPUT_CAPPED, pin) for pin in range(1, n + 1)])
    while True:
        empty, lost = drained(sim)
        if empty:
            return time.monotonic() - start, lost
        if time.monotonic() - start > 30:
            raise SystemExit("not drained after 30 s; log:\n" + agent.log()[-2000:])
        threading.Event().wait(0.002)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=16)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim, port = simulated_cabinet(speed=1.0, lane_matrix=FAST_LANES,
                                      sim=dict(drop_delay_min_ms=50, drop_delay_max_ms=120, lane_items=20))
        ledger = ledger_from_csv(Path(tmp), skus="part_number,description,category\nGLV,Gloves,ppe\n",
                                 locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,20,0,20\n",
                                 users="id,name,role,badges\nT1,Ana,technician,%s\n" % BADGE)
        ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
        record_admin_change(ledger, "access rules written by the bench")
        ledger.close()
        agent = AgentProcess(write_agent_config(tmp, port, access={"session_idle_s": 3600}))
        try:
            agent.start().wait_ready()
            burst(agent, sim, 1)                                  # the first alert: the rest only update it
            times, lost = [], 0
            for _ in range(args.runs):
                seconds, lost = burst(agent, sim, args.events)
                times.append(seconds)
            agent.login(BADGE)
            issues = []
            for _ in range(args.runs):
                start = time.monotonic()
                status, answer = agent.request("POST", "/api/issue", {"location": "L1", "quantity": 1})
                issues.append(time.monotonic() - start)
                assert status == 200 and answer["given"] == 1, answer
        finally:
            agent.kill()
            sim.bridge.stop()
    result = dict(events=args.events, runs=args.runs, median_s=round(statistics.median(times), 3),
                  max_s=round(max(times), 3), per_event_ms=round(statistics.median(times) * 1000 / args.events, 1),
                  events_lost=lost, issue_median_s=round(statistics.median(issues), 3))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
