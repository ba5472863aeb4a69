"""A supplier's pilot on the hub (`locker-sim fleet --hub`): pilot cabinets at several customers' sites, each
its own process with the agent's real CloudSync (sim/pilot/lockstep.py), one real Mosquitto, the hub
(hub/service.py) on PostgreSQL, an SMTP server (smtp_sink.py) and the supplier's ERP (erp_sink.py) on
loopback, and the hub's scheduled jobs (hub.jobs.run_all) run on the pilot's virtual clock. HubSide is the
hub's half; `locker-sim pilot --hub` drives it from one cabinet in its own process (run.py HubArm).

Virtual time moves in steps (an hour by default): every cabinet runs its pilot up to the step's end and
waits until the hub holds what it wrote; then the hub's jobs run at that time (escalations, order batches,
route cut-offs happen when they would have), then the next step. At the end the supplier's capabilities
(capabilities.py) are asked what a supplier would have seen: van loads, orders, alert e-mails, one report
per customer; written into the output folder with a summary (hub_summary.py)."""
import contextlib
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sim.pilot import capabilities, supplier as supplier_setup
from sim.pilot.demand import DAY_MS
from sim.pilot.runner import START

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_DAYS = 92
SNAPSHOT_TIMEOUT_S = 60


@dataclass
class Context:
    """What the capabilities' adapters get: where to write, the hub, the mailbox and the period."""
    out_dir: Path
    dsn: str
    supplier: object
    start: datetime.datetime
    end: datetime.datetime
    locations: int = 20
    hub: object = None
    smtp: object = None
    sites: dict = None             # cabinet -> site.Site when the cabinets' sites are made elsewhere (run.py)
    adapters: list = field(default_factory=list)     # this run's (capabilities.install makes them)


@dataclass
class HubPilotResult:
    out_dir: Path
    supplier: object
    days: int
    cabinets: list                 # each worker's result
    wall_s: float
    steps: int
    jobs: dict                     # job name -> things it did, summed over the run
    job_failures: dict             # job name -> ["time: failed: why"]
    hub: dict                      # the hub's ingest counts
    sections: list                 # capabilities.Section, in the summary's order
    summary: list = field(default_factory=list)


def virtual(ms):
    return datetime.datetime.fromisoformat(START) + datetime.timedelta(milliseconds=ms)


class Workers:
    """The cabinets' processes and the lock-step protocol with them (lockstep.py)."""

    def __init__(self, supplier, out_dir, days, locations, port):
        self.procs = {}
        self.logs = []
        self.heads = {}
        for c in supplier.cabinets:
            folder = out_dir / c.id
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder / "worker.log", "w")
            self.logs.append(log)
            cmd = [sys.executable, "-m", "sim.pilot.lockstep", "--cabinet", c.id, "--tenant", supplier.tenant,
                   "--site", c.site, "--dir", str(out_dir), "--visits", c.visits, "--seed", str(c.seed),
                   "--days", str(days), "--locations", str(locations), "--port", str(port)]
            try:
                self.procs[c.id] = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                    stderr=log, text=True)
            except BaseException:
                self.close()            # the ones already started
                raise

    def _read(self, cabinet):
        proc = self.procs[cabinet]
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            log = Path(self.logs[list(self.procs).index(cabinet)].name).read_text()
            raise RuntimeError("cabinet %s stopped (exit %s):\n%s" % (cabinet, proc.returncode, log[-3000:]))
        return json.loads(line)

    def _send(self, cabinet, message):
        self.procs[cabinet].stdin.write(json.dumps(message) + "\n")
        self.procs[cabinet].stdin.flush()

    def wait_at(self, until):
        """Every cabinet's report that it did everything up to `until` and the hub holds it."""
        for cabinet in self.procs:
            message = self._read(cabinet)
            if message.get("at") != until:
                raise RuntimeError("cabinet %s is at %r, expected %r" % (cabinet, message.get("at"), until))
            self.heads[cabinet] = message["heads"]

    def grant(self, until):
        for cabinet in self.procs:
            self._send(cabinet, {"until": until})

    def end(self):
        results = []
        for cabinet in self.procs:
            self._send(cabinet, {"end": True})
        for cabinet in self.procs:
            results.append(self._read(cabinet)["result"])
            self.procs[cabinet].wait(timeout=60)
        return results

    def close(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


def wait_for_snapshots(conn, heads, timeout=SNAPSHOT_TIMEOUT_S):
    """Until the hub's inventory of every cabinet is as of its ledger's head (the worker asked for one)."""
    deadline = time.monotonic() + timeout
    while True:
        have = {r["cabinet"]: r["as_of_seq"] for r in conn.execute("SELECT cabinet, as_of_seq FROM inventory")}
        late = [c for c, h in heads.items() if have.get(c, -1) < h["tx"]]
        if not late:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("no inventory snapshot as of the ledger's head from %s" % ", ".join(late))
        time.sleep(0.005)               # polling the database for the snapshot the worker asked for, with a deadline


def refuse_unless_empty(conn):
    """A pilot dates what the hub receives on its own clock (hub_clock.py) and starts its cabinets' ledgers
    afresh: it takes a hub database with nobody on it, never one that holds a hub's or another pilot's data."""
    held = [r["id"] for r in conn.execute("SELECT id FROM tenants ORDER BY id LIMIT 3")]
    if held:
        raise RuntimeError("the hub database given already holds tenant(s) %s: a pilot takes an empty hub "
                           "database of its own (create one, or leave out the DSN for a throw-away one)"
                           % ", ".join(held))


def check_options(days, step_minutes, locations):
    if not 1 <= days <= MAX_DAYS:
        raise ValueError("--days must be between 1 and %d with --hub, got %d" % (MAX_DAYS, days))
    if not 5 <= step_minutes <= 24 * 60 or (24 * 60) % step_minutes:
        raise ValueError("--step must divide a day into whole steps (5 to 1440 minutes), got %d" % step_minutes)
    if not os.path.exists("/usr/sbin/mosquitto"):
        raise RuntimeError("a pilot on the hub needs Mosquitto (/usr/sbin/mosquitto; scripts/setup installs it)")
    from sim.pilot.site import hardware_for
    hardware_for(locations)                      # refuses a bad --locations in words before anything starts


class HubSide:
    """The hub's side of a pilot: its database, the broker, the SMTP server, the hub, the supplier's set-up,
    and what happens at each step of virtual time. The cabinets' side drives it: begin() once they are up,
    then for each step grant(until) before they run to `until` and reached(until) once the hub holds it all;
    next_until() says the next step's end (None: the pilot is over); finish() collects what the supplier saw."""

    def __init__(self, out_dir, supplier, days, locations, dsn=None, step_minutes=60, progress=None, sites=None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.supplier = supplier
        self.days = days
        self.locations = locations
        self.dsn_given = dsn
        self.step_ms = step_minutes * 60_000
        self.end_ms = days * DAY_MS
        self.progress = progress
        self.sites = sites
        self.jobs, self.failures, self.steps = {}, {}, 0
        self.stack = contextlib.ExitStack()
        self.t0 = time.monotonic()

    def open(self):
        from hub import db
        from hub.service import Hub
        from sim.cloud.broker import Broker
        from sim.cloud.hub_db import hub_database
        from sim.pilot.smtp_sink import SmtpSink
        try:
            dsn = self.stack.enter_context(hub_database(self.dsn_given))
            self.broker = Broker(self.out_dir / "broker").start()
            self.stack.callback(self.broker.stop)
            smtp = SmtpSink(self.out_dir / "mail").start()
            self.stack.callback(smtp.stop)
            self.ctx = Context(self.out_dir, dsn, self.supplier, virtual(0), virtual(self.end_ms), self.locations,
                               smtp=smtp, sites=self.sites)
            self.stack.callback(capabilities.close, self.ctx)
            with db.connect(dsn) as conn:
                refuse_unless_empty(conn)
                supplier_setup.register(conn, self.supplier)
                capabilities.install(conn, self.ctx)
            self.hub = self.ctx.hub = Hub(dsn, "127.0.0.1", self.broker.port, worker_id="pilot-hub").start()
            self.stack.callback(self.hub.stop)
            self.conn = self.stack.enter_context(db.connect(dsn, autocommit=True))   # jobs commit their own
        except BaseException:
            self.stack.close()
            raise
        return self

    def close(self):
        self.stack.close()

    def begin(self, heads):
        wait_for_snapshots(self.conn, heads)
        capabilities.start(self.conn, self.ctx)

    def next_until(self, until):
        return min(max(until, 0) + self.step_ms, self.end_ms) if until < self.end_ms else None

    def grant(self, until):
        capabilities.before_step(self.conn, self.ctx, virtual(until))

    def reached(self, until, heads):
        conn, ctx, now = self.conn, self.ctx, virtual(until)
        wait_for_snapshots(conn, heads)
        capabilities.before_jobs(conn, ctx, now)
        for name, done in capabilities.run_jobs(conn, now).items():
            if isinstance(done, int):
                self.jobs[name] = self.jobs.get(name, 0) + done
            else:                            # "failed: why" (hub/jobs.py goes on with the others)
                self.failures.setdefault(name, []).append("%s: %s" % (now.isoformat(), done))
        capabilities.after_step(conn, ctx, now)
        self.steps += 1
        if self.progress and until % DAY_MS == 0:
            self.progress(until // DAY_MS, self.days)

    def advance_for(self, cabinet):
        """lockstep.Gate's advance() for one cabinet run in this process (`locker-sim pilot --hub`); the heads
        it was last given are kept in self.heads for finish()."""
        self.heads = {}

        def advance(at, heads):
            self.heads = {cabinet: heads}
            if at < 0:
                self.begin(self.heads)
            else:
                self.reached(at, self.heads)
            until = self.next_until(at)
            if until is not None:
                self.grant(until)
            return until
        return advance

    def finish(self, results, heads):
        for r in results:                    # the hub holds what each cabinet wrote, every seq of it
            for stream, head in heads[r["cabinet"]].items():
                if self.hub.watermark(r["cabinet"], stream) < head:
                    raise RuntimeError("the hub has %s %s up to %d of %d" % (
                        r["cabinet"], stream, self.hub.watermark(r["cabinet"], stream), head))
        sections = capabilities.collect(self.conn, self.ctx)
        s = self.hub.stats
        counts = {"received": s.received, "stored": s.stored, "duplicates": s.duplicates, "rejected": s.rejected,
                  "acks": s.acks, "resends": s.resends}
        result = HubPilotResult(self.out_dir, self.supplier, self.days, results, time.monotonic() - self.t0,
                                self.steps, self.jobs, self.failures, counts, sections)
        from sim.pilot import hub_summary
        result.summary = hub_summary.write(result)
        return result


def run_hub_pilot(out_dir, customers=3, cabinets=10, days=30, locations=20, seed=1, dsn=None, step_minutes=60,
                  progress=None):
    """The whole pilot, each cabinet its own process; RuntimeError when a cabinet fails or the hub does not
    hold what it wrote."""
    check_options(days, step_minutes, locations)
    supplier = supplier_setup.plan_supplier(customers, cabinets, seed)
    side = HubSide(out_dir, supplier, days, locations, dsn, step_minutes, progress).open()
    try:
        workers = Workers(supplier, side.out_dir, days, locations, side.broker.port)
        try:
            workers.wait_at(-1)
            side.begin(workers.heads)
            until = side.next_until(-1)
            while until is not None:
                side.grant(until)
                workers.grant(until)
                workers.wait_at(until)
                side.reached(until, workers.heads)
                until = side.next_until(until)
            results = workers.end()
        finally:
            workers.close()
        return side.finish(results, workers.heads)
    finally:
        side.close()
