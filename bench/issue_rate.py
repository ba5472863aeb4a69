"""Issue transactions per second through the whole flow, with durable writes: a real ledger file (WAL,
synchronous=FULL, as open_ledger sets it) stocked through the CSV importers, and Vending.issue(person,
location, 1) repeated: the permission check (role allows, SKU requirements and per-day / per-shift limits
present, so they are evaluated), the intent row, the actuation, the outcome row, on-hand and min/max.

Two runs, each on a fresh ledger:
  sim      the simulated cabinet running the real firmware in virtual time (VirtualCabinet), issuing in turn
           from the 12 lanes and 4 locker doors; the CPU time the simulation took (link core, firmware,
           physics: everything inside vend/unlock) is reported, and what is left is the agent's own cost.
  instant  a stand-in cabinet that answers every vend/unlock at once with a finished CommandResult, which
           isolates the agent: issues (intent + outcome pairs) per second, fsync-backed commits per second,
           p50/p99 per issue. Its commits are counted with SQLite's trace over a first block of BLOCK issues,
           untimed: the trace costs every statement (trigger programs too) a Python call, about 15 % of an issue.
The raw fsync cost of the disk holding the ledger is measured too, for scale, and SQLite's own ceiling on that
disk in the same run: single-row commits to a fresh file in WAL mode with synchronous=FULL (what open_ledger
sets), as many as the issues' commits, interleaved with them in blocks of BLOCK issues so that the load of a
shared machine weighs on both sides alike (each side's time is its own). An issue is two commits (intent,
outcome), so the anchor is issues/s / (raw commits/s / 2): issue 18 asks for at least 0.5. The last line is
JSON.
Usage: .venv/bin/python bench/issue_rate.py [--count N] [--sim-count N] [--dir DIR]"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.rules.access import Person  # noqa: E402
from edge_agent.link.errors import CabinetError  # noqa: E402
from edge_agent.ledger import ManualClock, record_admin_change  # noqa: E402
from edge_agent.link.messages import CommandResult, Hello  # noqa: E402
from edge_agent.flows.vending import Vending  # noqa: E402
from firmware import messages as M  # noqa: E402
from sim.virtual_host import VirtualCabinet  # noqa: E402
from tests.cabinets import cabinet  # noqa: E402
from tests.ledgers import ledger_from_csv, rows_of  # noqa: E402

LANES, DOORS = 12, 4
STOCK = 1_000_000           # on hand and max everywhere: nothing runs out, min/max still runs every time
TECHS = 8

SKUS = """part_number,description,category,unit_cost,needs_work_order
GLV,Nitrile gloves,ppe,1.20,no
DRL,Drill bit 6 mm,cutting,4.75,no
TRQ,Torque wrench,tools,89.00,yes
"""


def locations_csv():
    rows = ["L%d,lane,%d,%s,10,%d,1,%d" % (n, n, "GLV" if n <= 6 else "DRL", STOCK, STOCK)
            for n in range(1, LANES + 1)]
    rows += ["D%d,door,%d,TRQ,1,%d,1,%d" % (n, n, STOCK, STOCK) for n in range(1, DOORS + 1)]
    return "id,kind,unit,sku,min,max,refill_pack,on_hand\n" + "\n".join(rows) + "\n"


def users_csv():
    rows = ["tech-%d,Tech %d,technician,Maint,CC-%d" % (i, i, 400 + i % 3) for i in range(1, TECHS + 1)]
    return "id,name,role,department,cost_center\n" + "\n".join(rows) + "\n"


def stocked_ledger(directory, clock):
    """A ledger file stocked through the CSV importers, with rules and limits that every issue evaluates."""
    ledger = ledger_from_csv(Path(directory), skus=SKUS, locations=locations_csv(), users=users_csv(), clock=clock)
    with ledger.transaction():
        ledger.db["role_allows"].insert_all([{"role": "technician", "category": c}
                                             for c in ("ppe", "cutting", "tools")])
        limits = []
        for i in range(1, TECHS + 1):
            user = "tech-%d" % i
            limits += [{"user_id": user, "category": "ppe", "period": "day", "max_quantity": STOCK},
                       {"user_id": user, "category": "cutting", "period": "day", "max_quantity": STOCK},
                       {"user_id": user, "sku": "TRQ", "period": "shift", "max_quantity": STOCK}]
        ledger.db["user_limits"].insert_all(limits)
        record_admin_change(ledger, "import rules and limits")    # an admin row, as the importers write
    people = [Person(r["id"], r["name"], r["role"], r["department"], r["cost_center"], r["supplier"])
              for r in ledger.db.query("SELECT * FROM users ORDER BY id")]
    return ledger, people


def plan(count):
    """(location id, location kind) for each issue: lanes and doors in turn, so a door has long been closed
    again before it is unlocked the next time."""
    order = ["L%d" % n for n in range(1, LANES + 1)]
    for d in range(DOORS):                      # a door after every third lane
        order.insert(3 * (d + 1) + d, "D%d" % (d + 1))
    return [order[i % len(order)] for i in range(count)]


class CommitCounter:
    """Counts COMMIT statements on the ledger's connection: each is an fsync-backed commit (WAL, FULL). Tracing
    costs every statement a Python call: the instant run counts a block of issues first, untimed."""

    def __init__(self, conn):
        self.commits = 0
        conn.set_trace_callback(self._trace)

    def _trace(self, statement):
        if statement.lstrip()[:6].upper() == "COMMIT":
            self.commits += 1


class InstantCabinet:
    """The CabinetLink interface answering every actuation at once, finished and successful."""

    boot_id = 0x1234ABCD

    def __init__(self):
        self.records = {}

    def _done(self, cmd_id, kind, result, detail):
        record = CommandResult(cmd_id, kind, M.DONE, result, detail, via="answer", replayed=False)
        self.records[cmd_id] = record
        return record

    def hello(self):
        return Hello(M.PROTOCOL_VERSION, self.boot_id, 0, 0, DOORS, LANES, 0, "instant")

    def vend(self, lane, cmd_id):
        return self._done(cmd_id, M.VEND, M.R_VENDED, 1)            # detail: turns made

    def unlock(self, door, cmd_id, pulse_ms=0):
        return self._done(cmd_id, M.UNLOCK, M.R_OPENED, 170)        # detail: ms from pulse to open

    def query(self, cmd_id):
        if cmd_id not in self.records:
            raise CabinetError(M.E_UNKNOWN_ID, M.QUERY, cmd_id)
        return self.records[cmd_id]


class TimedCabinet:
    """Wraps a VirtualCabinet: moves the ledger's ManualClock with the simulation's virtual time and adds
    up the wall and CPU time spent inside the simulation (link core + firmware + physics)."""

    def __init__(self, inner, sim, clock):
        self.inner, self.sim, self.clock = inner, sim, clock
        self.wall_s = self.cpu_s = 0.0
        self.last_call_s = 0.0
        self._virtual = sim.now

    def _timed(self, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            self.last_call_s = time.perf_counter() - w
            self.wall_s += self.last_call_s
            self.cpu_s += time.process_time() - c
            self.clock.advance(self.sim.now - self._virtual)
            self._virtual = self.sim.now

    def vend(self, lane, cmd_id):
        return self._timed(self.inner.vend, lane, cmd_id)

    def unlock(self, door, cmd_id, pulse_ms=0):
        return self._timed(self.inner.unlock, door, cmd_id, pulse_ms)

    def query(self, cmd_id):
        return self._timed(self.inner.query, cmd_id)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms_summary(samples_s):
    ms = [x * 1000 for x in samples_s]
    return {"p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3), "mean_ms": round(statistics.fmean(ms), 3)}


def run_issues(ledger, people, port, count, per_issue=None, between=None, traced=True, before=0):
    """Issue one unit `count` times; return (wall seconds in all, per-issue seconds, commits: None untraced).
    `between` runs after every BLOCK issues, its time not counted; `before`: issues already in the ledger."""
    vending = Vending(ledger, port)
    counter = CommitCounter(ledger.db.conn) if traced else None
    targets = plan(count)
    samples = []
    paused = 0.0
    start = time.perf_counter()
    for i, location in enumerate(targets):
        person = people[i % len(people)]
        work_order = "WO-%d" % (1000 + i) if location.startswith("D") else None
        t = time.perf_counter()
        result = vending.issue(person, location, 1, work_order=work_order)
        samples.append(time.perf_counter() - t)
        if per_issue:
            per_issue(i)
        if not result.ok:
            raise SystemExit("issue %d at %s did not go through: %r" % (i, location, result))
        if between and (i + 1) % BLOCK == 0:
            t = time.perf_counter()
            between()
            paused += time.perf_counter() - t
    wall = time.perf_counter() - start - paused
    ledger.db.conn.set_trace_callback(None)
    intents, outcomes = rows_of(ledger, "intent"), rows_of(ledger, "outcome")
    if len(intents) != before + count or len(outcomes) != before + count:
        raise SystemExit("expected %d intents and outcomes, found %d and %d"
                         % (before + count, len(intents), len(outcomes)))
    if not ledger.verify(full=True).ok:
        raise SystemExit("the ledger's chain does not verify after the run")
    return wall, samples, counter and counter.commits


def fsync_cost(directory, n=200):
    """The disk's own cost: write 4 KiB and fsync, n times, in the directory holding the ledgers."""
    path = Path(directory) / "fsync.probe"
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for i in range(n):
            os.pwrite(fd, os.urandom(4096), (i % 16) * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            samples.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return ms_summary(samples)


RAW_ROW = "x" * 300          # about the size of an intent or outcome row
BLOCK = 50                   # issues between two blocks of raw commits


class RawCommits:
    """SQLite's own ceiling: single-row commits (WAL, synchronous=FULL, autocommit) to a fresh file in the
    directory holding the ledgers, run a block at a time."""

    def __init__(self, directory):
        self.path = Path(directory) / "raw.db"
        self.conn = sqlite3.connect(str(self.path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.samples, self.wall = [], 0.0

    def run(self, n):
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            self.conn.execute("INSERT INTO t (body) VALUES (?)", (RAW_ROW,))
            self.samples.append(time.perf_counter() - t)
        self.wall += time.perf_counter() - start

    def close(self):
        self.conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def figures(self):
        out = {"commits": len(self.samples), "commits_per_s": round(len(self.samples) / self.wall, 1)}
        out.update(ms_summary(self.samples))
        return out


def filesystem(directory):
    try:
        return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(directory)], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def bench_sim(directory, count):
    clock = ManualClock()
    ledger, people = stocked_ledger(directory, clock)
    try:
        sim, host = cabinet(sim={"lane_items": min(100000, count // LANES + 10)})
        port = TimedCabinet(VirtualCabinet(host), sim, clock)
        virtual0 = sim.now
        sim_per_issue = []
        sim_before = [0.0]

        def per_issue(i):
            sim_per_issue.append(port.wall_s - sim_before[0])
            sim_before[0] = port.wall_s
        cpu0 = time.process_time()
        wall, samples, commits = run_issues(ledger, people, port, count, per_issue)
        cpu = time.process_time() - cpu0
        agent_only = [s - x for s, x in zip(samples, sim_per_issue)]
        turns = sum(sim.physics.lane(n).turns for n in range(1, LANES + 1))
        virtual_s = (sim.now - virtual0) / 1000
    finally:
        ledger.close()
    return {
        "issues": count, "lane_turns": turns, "virtual_s": round(virtual_s, 1), "wall_s": round(wall, 3),
        "issues_per_s": round(count / wall, 1), "commits": commits,
        "sim_cpu_s": round(port.cpu_s, 3), "sim_wall_s": round(port.wall_s, 3), "process_cpu_s": round(cpu, 3),
        "agent_wall_s": round(wall - port.wall_s, 3),
        "agent_issues_per_s": round(count / max(1e-9, wall - port.wall_s), 1),
        "virtual_to_cpu": round(virtual_s / max(1e-9, port.cpu_s), 1),
        "per_issue": ms_summary(samples), "per_issue_agent_only": ms_summary(agent_only),
    }


def commits_per_issue(ledger, people, port, clock):
    """Count the commits of BLOCK issues with SQLite's trace (every statement, trigger programs included, goes
    through it: about 15 % of an issue's CPU, so the timed run does without)."""
    counter = CommitCounter(ledger.db.conn)
    vending = Vending(ledger, port)
    for i, location in enumerate(plan(BLOCK)):
        work_order = "WO-%d" % i if location.startswith("D") else None
        vending.issue(people[i % len(people)], location, 1, work_order=work_order)
        clock.advance(1000)
    ledger.db.conn.set_trace_callback(None)
    return counter.commits / BLOCK


def bench_instant(directory, count, raw=None):
    """The instant cabinet; with `raw` (RawCommits), as many raw commits as the issues make, interleaved. The
    commits are counted over a block of issues before the timed ones (commits_per_issue)."""
    clock = ManualClock()
    ledger, people = stocked_ledger(directory, clock)
    try:
        port = InstantCabinet()
        per_issue = commits_per_issue(ledger, people, port, clock)
        wall, samples, _ = run_issues(ledger, people, port, count, per_issue=lambda i: clock.advance(1000),
                                      between=raw and (lambda: raw.run(2 * BLOCK)), traced=False, before=BLOCK)
        commits = int(round(per_issue * count))
        if raw:
            raw.run(2 * count - len(raw.samples))       # the last part block
    finally:
        ledger.close()
    out = {"issues": count, "wall_s": round(wall, 3), "issues_per_s": round(count / wall, 1),
           "transactions_per_s": round(count / wall, 1), "rows_per_s": round(2 * count / wall, 1),
           "commits": commits, "commits_per_s": round(commits / wall, 1)}
    out.update(ms_summary(samples))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500, help="issues with the instant cabinet (default 500)")
    ap.add_argument("--sim-count", type=int, default=None,
                    help="issues with the simulated cabinet (default: --count; 0: no simulated run)")
    ap.add_argument("--dir", default=None,
                    help="where the ledger files go (default: a temp dir); its disk is what fsyncs")
    args = ap.parse_args()
    sim_count = args.count if args.sim_count is None else args.sim_count
    with tempfile.TemporaryDirectory(prefix="issue_rate.", dir=args.dir) as tmp:
        fs = filesystem(tmp)
        fsync = fsync_cost(tmp)
        (Path(tmp) / "sim").mkdir()
        (Path(tmp) / "instant").mkdir()
        sim = bench_sim(Path(tmp) / "sim", sim_count) if sim_count else None
        committer = RawCommits(tmp)
        try:
            instant = bench_instant(Path(tmp) / "instant", args.count, committer)
            raw = committer.figures()
        finally:
            committer.close()
    anchor = {"issues_per_s": instant["issues_per_s"], "raw_commits_per_s_over_2": round(raw["commits_per_s"] / 2, 1),
              "ratio": round(2 * instant["issues_per_s"] / raw["commits_per_s"], 3), "goal": 0.5}
    out = {"bench": "issue_rate", "ledger_dir_fs": fs, "fsync": fsync, "sim": sim, "instant": instant,
           "raw_sqlite_full": raw, "anchor": anchor}
    print("ledger on %s; a bare 4 KiB write+fsync: p50 %.2f ms, p99 %.2f ms" % (fs, fsync["p50_ms"], fsync["p99_ms"]))
    if sim:
        print_sim(sim)
    print("instant cabinet:   %(issues)d issues in %(wall_s).2f s = %(transactions_per_s).1f transactions/s "
          "(intent+outcome pairs), %(commits)d commits = %(commits_per_s).1f fsync-backed commits/s" % instant)
    print("  per issue p50 %(p50_ms).2f ms p99 %(p99_ms).2f ms mean %(mean_ms).2f ms" % instant)
    print("raw SQLite, WAL + synchronous=FULL, one row per commit, interleaved: %(commits)d commits = "
          "%(commits_per_s).1f commits/s; p50 %(p50_ms).2f ms p99 %(p99_ms).2f ms" % raw)
    print("anchor: %(issues_per_s).1f issues/s / (raw commits/s / 2 = %(raw_commits_per_s_over_2).1f) = %(ratio).3f "
          "(goal >= %(goal)s)" % anchor)
    print(json.dumps(out))


def print_sim(sim):
    print("simulated cabinet: %(issues)d issues (%(lane_turns)d lane turns, %(virtual_s).0f s virtual) "
          "in %(wall_s).2f s"
          " = %(issues_per_s).1f issues/s" % sim)
    print("  simulation CPU %(sim_cpu_s).2f s (%(virtual_to_cpu).0fx faster than real time); agent %(agent_wall_s).2f s"
          " = %(agent_issues_per_s).1f issues/s" % sim)
    print("  per issue p50 %.2f ms p99 %.2f ms; agent's share p50 %.2f ms p99 %.2f ms" % (
        sim["per_issue"]["p50_ms"], sim["per_issue"]["p99_ms"],
        sim["per_issue_agent_only"]["p50_ms"], sim["per_issue_agent_only"]["p99_ms"]))


if __name__ == "__main__":
    main()
