"""The ledger flood of issue 14: what a stream of refused requests writes to the ledger, through the real agent
(`locker-agent run` as its own process, its API on loopback) over the simulated cabinet behind a pty.

Two phases of --seconds each, --clients concurrent HTTP clients each:
  1. unknown badges: POST /api/badge with a new random card number each time, nobody logged in (anyone on
     the site network can do this);
  2. oversized location: a technician logged in, POST /api/issue with a 16 KB "location".
For each: requests/s and their answers, refusal rows and refusals_coalesced events written per second, and the
ledger's growth (its SQLite pages, WAL included, as a reader sees them) and the agent's disk writes
(/proc/PID/io write_bytes) in MB per minute. The last line is JSON.
Usage: .venv/bin/python bench/refusal_flood.py [--seconds S] [--clients N] [--dir DIR]"""
import argparse
import collections
import contextlib
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config  # noqa: E402
from tests.api_client import ApiClient  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

TECH_BADGE = "04A1B2C3"
MB = 1024 * 1024


def build_site(folder):
    ledger_from_csv(folder, skus="part_number,description,category\nGLV,Nitrile gloves,ppe\n",
                    locations="id,kind,unit,sku,on_hand,min,max,refill_pack\nL1,lane,1,GLV,8,1,8,1\n",
                    users="id,name,role,badges\nT1,Ana,technician,%s\n" % TECH_BADGE).close()


def ledger_figures(path):
    """(refusal rows, refusals_coalesced events, bytes of the database as a reader sees it)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        rows = db.execute("SELECT count(*) FROM transactions WHERE kind = 'refusal'").fetchone()[0]
        events = db.execute("SELECT count(*) FROM outbox_events WHERE type = 'refusals_coalesced'").fetchone()[0]
        size = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
        return rows, events, size
    finally:
        db.close()


def disk_writes(pid):
    """Bytes the process has caused to be written to storage (0 where /proc has no io file)."""
    try:
        for line in Path("/proc/%d/io" % pid).read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def flood(agent, seconds, clients, body_of, token=None):
    """clients threads posting body_of(rng) for `seconds`: (requests, Counter of statuses, elapsed s)."""
    statuses = collections.Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run(seed):
        rng = random.Random(seed)
        client = ApiClient(agent.host, agent.port, token=token) if token else ApiClient(agent.host, agent.port)
        while time.monotonic() < end:
            path, body = body_of(rng)
            status, _ = client.request("POST", path, body)
            with lock:
                statuses[status] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(statuses.values()), statuses, time.monotonic() - started


def phase(agent, ledger_path, name, seconds, clients, body_of, token=None):
    rows0, events0, size0 = ledger_figures(ledger_path)
    disk0 = disk_writes(agent.proc.pid)
    requests, statuses, elapsed = flood(agent, seconds, clients, body_of, token)
    rows1, events1, size1 = ledger_figures(ledger_path)
    disk1 = disk_writes(agent.proc.pid)
    result = {
        "requests": requests, "requests_per_s": round(requests / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "refusal_rows": rows1 - rows0, "coalesced_events": events1 - events0,
        "rows_per_s": round((rows1 - rows0 + events1 - events0) / elapsed, 3),
        "ledger_mb_per_min": round((size1 - size0) / MB * 60 / elapsed, 3),
        "disk_mb_per_min": round((disk1 - disk0) / MB * 60 / elapsed, 3),
        "seconds": round(elapsed, 1)}
    print("%-18s %6d requests (%s), %5d refusal rows + %d count events: %.3f rows/s, ledger +%.3f MB/min, "
          "disk writes %.3f MB/min" % (name, requests, result["statuses"], result["refusal_rows"],
                                       result["coalesced_events"], result["rows_per_s"],
                                       result["ledger_mb_per_min"], result["disk_mb_per_min"]))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--dir", default=None, help="where the temporary folder goes")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="refusal-flood-", dir=args.dir))
    out = {"bench": "refusal_flood", "seconds": args.seconds, "clients": args.clients}
    try:
        with contextlib.ExitStack() as cleanup:
            build_site(folder)
            sim, port = simulated_cabinet(speed=3.0)
            cleanup.callback(sim.bridge.stop)
            agent = AgentProcess(write_agent_config(folder, port))
            cleanup.callback(agent.kill)
            agent.start()
            agent.wait_ready()
            ledger_path = folder / "ledger.db"
            out["unknown_badges"] = phase(agent, ledger_path, "unknown badges", args.seconds, args.clients,
                                          lambda rng: ("/api/badge", {"badge": "%08X" % rng.getrandbits(32)}))
            status, answer = agent.request("POST", "/api/badge", {"badge": TECH_BADGE})
            if status != 200:
                raise AssertionError("technician not logged in: %r" % (answer,))
            huge = "X" * 16000
            out["oversized_location"] = phase(agent, ledger_path, "16 KB location", args.seconds, args.clients,
                                              lambda rng: ("/api/issue", {"location": huge}),
                                              token=agent.client.token)
            status = agent.stop()
            if status != 0:
                raise AssertionError("agent exited with %s; log:\n%s" % (status, agent.log()[-3000:]))
            rows, events, _ = ledger_figures(ledger_path)
            out["after_stop"] = {"refusal_rows": rows, "coalesced_events": events}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
