"""A ledger of a million transactions: the time to evaluate min/max after a transaction, and the database size.

The ledger is stocked through the CSV importers (60 locations: lanes, doors, weigh bins, scan bins; a few
hundred users; role allows and per-day / per-shift limits), then filled in bulk, in one SQLite transaction,
with rows that are valid: consecutive seq, boots and monotonic readings, the hash chain computed with
chain.row_hash, the cabinet's next_seq and head_hash, on-hand consistent with what the rows moved, and the
refill tasks and alerts min/max would have opened and closed along the way. The mix is what the agent
writes: intent/outcome pairs for lanes and doors, issue rows for weigh and scan bins, refill (and count)
rows from route drivers' visits, refusals. (Ledger.append does about a thousand fsync-backed rows a second:
too slow to write a million.) The build is checked with ledger.verify() before anything is timed.

Then, on the ledger opened with open_ledger (WAL, synchronous=FULL): one Ledger.append('issue', ...) (which
runs minmax.evaluate in the same transaction and commits), minmax.evaluate alone (in a transaction rolled
back), issue_refusal() for a technician with per-day and per-shift limits (it sums the user's takes), the
start-up pending_intents() query, ledger.verify() over the whole chain, and the file sizes after a
checkpoint. The query plans of the statements that matter are printed too. The last line is JSON.
Usage: .venv/bin/python bench/minmax_million.py [--rows N] [--reps N] [--dir DIR] [--seed N]"""
import argparse
import datetime
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.ledger import minmax  # noqa: E402
from edge_agent.rules.access import Person  # noqa: E402
from edge_agent.ledger import ManualClock, record_admin_change, open_ledger  # noqa: E402
from edge_agent.ledger.admin_log import LAST_ADMIN_SQL  # noqa: E402
from edge_agent.ledger.alerts import OPEN_ONE  # noqa: E402
from edge_agent.ledger.chain import row_hash  # noqa: E402
from edge_agent.ledger.db import PENDING_SQL  # noqa: E402
from edge_agent.ledger.minmax import LOW_STOCK, STOCKOUT, refill_quantity  # noqa: E402
from edge_agent.rules.permissions import issue_refusal  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

START = datetime.datetime(2024, 1, 1, 6, 0, tzinfo=datetime.timezone.utc)
MEAN_GAP_MS = 55_000          # about 1,500 rows a day: a million rows is about two years of a busy crib
ROWS_PER_BOOT = 40_000        # the agent restarts now and then
VISIT_EVERY = 800             # a route driver's visit about twice a day
SUPPLIERS = ("Acme", "Bolt")
CATEGORIES = ("ppe", "cutting", "abrasives", "fasteners", "tools")

# 60 locations: (prefix, how many, kind, min, max, refill_pack, weight of a pick)
LAYOUT = (("L", 36, "lane", 8, 30, 1, 55), ("D", 12, "door", 5, 20, 1, 10), ("B", 8, "bin", 20, 200, 10, 20),
          ("S", 4, "scan", 30, 200, 10, 15))


def sku_csv():
    rows = []
    for i in range(40):
        category = CATEGORIES[i % len(CATEGORIES)]
        rows.append("P%03d,Part %d,%s,%d.%02d,%s,%s" % (
            i, i, category, 1 + i * 3 % 90, i * 7 % 100, SUPPLIERS[i % 2], "yes" if category == "tools" else "no"))
    return "part_number,description,category,unit_cost,supplier,needs_work_order\n" + "\n".join(rows) + "\n"


def location_csv():
    rows, n_sku = [], 0
    for prefix, count, kind, low, high, pack, _ in LAYOUT:
        for unit in range(1, count + 1):
            sku = "P%03d" % (n_sku % 40)
            n_sku += 1
            weight = "12500" if kind == "bin" else ""
            rows.append("%s%d,%s,%d,%s,%d,%d,%d,%d,%s" % (prefix, unit, kind, unit, sku, low, high, pack, high, weight))
    return "id,kind,unit,sku,min,max,refill_pack,on_hand,piece_weight_mg\n" + "\n".join(rows) + "\n"


def user_csv():
    rows = []
    for i in range(1, 251):
        rows.append("tech-%d,Tech %d,technician,Maint,CC-%d," % (i, i, 400 + i % 12))
    for i in range(1, 31):
        rows.append("con-%d,Contractor %d,contractor,Outside,CC-900," % (i, i))
    for i in range(1, 11):
        rows.append("sup-%d,Supervisor %d,supervisor,Maint,CC-400," % (i, i))
    for i, supplier in enumerate(SUPPLIERS * 3, start=1):
        rows.append("drv-%d,Driver %d,route_driver,,,%s" % (i, i, supplier))
    return "id,name,role,department,cost_center,supplier\n" + "\n".join(rows) + "\n"


def stock_ledger(path, clock):
    """The ledger file, stocked through the CSV importers, with rules and limits. Returns it closed."""
    ledger = ledger_from_csv(path.parent, skus=sku_csv(), locations=location_csv(), users=user_csv(), clock=clock)
    with ledger.transaction():
        ledger.db["role_allows"].insert_all([{"role": "technician", "category": c} for c in CATEGORIES] +
                                            [{"role": "contractor", "category": c} for c in ("ppe", "fasteners")])
        limits = []
        for i in range(1, 251):
            limits.append({"user_id": "tech-%d" % i, "category": "ppe", "period": "day", "max_quantity": 60})
            limits.append({"user_id": "tech-%d" % i, "category": "cutting", "period": "shift", "max_quantity": 40})
        for i in range(1, 31):
            limits.append({"user_id": "con-%d" % i, "category": "ppe", "period": "day", "max_quantity": 20})
        ledger.db["user_limits"].insert_all(limits)
        record_admin_change(ledger, "import rules and limits")    # an admin row, as the importers write
    ledger.close()
    assert path.exists()


class Builder:
    """Writes valid transaction rows straight into the file, emulating what Ledger.append and
    minmax.evaluate would have written, in one SQLite transaction."""

    def __init__(self, path, seed):
        self.rng = random.Random(seed)
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        conn = self.conn
        # A builder, not the agent: no WAL, no fsync, a big cache. open_ledger switches WAL back on.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA foreign_keys = ON")
        self.columns = [r[1] for r in conn.execute("PRAGMA table_info(transactions)")]
        self.known = frozenset(self.columns)
        self.seq, self.head, self.boot = conn.execute(
            "SELECT next_seq, head_hash, boot FROM cabinet WHERE id = 1").fetchone()
        last = conn.execute("SELECT wall_time, monotonic_ms FROM transactions ORDER BY seq DESC LIMIT 1").fetchone()
        self.wall_ms = int(datetime.datetime.fromisoformat(last[0]).timestamp() * 1000) if last else \
            int(START.timestamp() * 1000)
        self.wall_ms = max(self.wall_ms, int(START.timestamp() * 1000))
        self.mono = (last[1] if last else 0) + 1000
        self.rows_this_boot = 0
        self.costs = dict(conn.execute("SELECT part_number, unit_cost FROM skus"))
        self.sku_info = {r[0]: r[1:] for r in conn.execute("SELECT part_number, category, supplier FROM skus")}
        self.locations = {}
        for lid, kind, sku, on_hand, low, high, pack, weight in conn.execute(
                "SELECT id, kind, sku, on_hand, min, max, refill_pack, piece_weight_mg FROM locations ORDER BY id"):
            self.locations[lid] = {"id": lid, "kind": kind, "sku": sku, "on_hand": on_hand, "min": low, "max": high,
                                   "pack": pack, "weight": weight}
        self.by_kind = {}
        for loc in self.locations.values():
            self.by_kind.setdefault(loc["kind"], []).append(loc["id"])
        self.kind_weights = [(kind, w) for _, _, kind, _, _, _, w in LAYOUT]
        self.users = {r[0]: r[1:] for r in conn.execute("SELECT id, role, cost_center, supplier FROM users")}
        self.takers = [u for u, (role, _, _) in self.users.items()
                       if role in ("technician", "contractor", "supervisor")]
        # a few heavy users, as on a real site
        self.taker_weights = [8 if u in ("tech-1", "tech-2", "tech-3") else (1 if u.startswith("tech") else 0.5)
                              for u in self.takers]
        self.drivers = {s: [u for u, (role, _, sup) in self.users.items() if role == "route_driver" and sup == s]
                        for s in SUPPLIERS}
        self.next_task_id = 1 + conn.execute("SELECT coalesce(max(id), 0) FROM refill_tasks").fetchone()[0]
        self.next_alert_id = 1 + conn.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]
        self.open_tasks = {}      # location -> task row (a list, for the insert)
        self.open_alerts = {}     # (location, kind) -> alert row
        self.tasks, self.alerts = [], []
        self.pending = []
        self.kinds = {}
        self.since_visit = 0

    # -- rows ----------------------------------------------------------------------------------------------
    def _clock(self):
        gap = int(self.rng.expovariate(1 / MEAN_GAP_MS)) + 200
        self.wall_ms += gap
        self.mono += gap
        self.rows_this_boot += 1
        if self.rows_this_boot > ROWS_PER_BOOT:
            self.boot += 1
            self.rows_this_boot = 0
            self.mono = 15_000 + self.rng.randrange(5000)    # the Pi restarted: monotonic starts again
        wall = datetime.datetime.fromtimestamp(self.wall_ms / 1000, datetime.timezone.utc)
        return wall.isoformat(timespec="milliseconds")

    def row(self, kind, **fields):
        """One row as Ledger._append writes it (sku and unit_cost from the location), chained."""
        wall = self._clock()
        loc = fields.get("location")
        if loc is not None and fields.get("sku") is None:
            fields["sku"] = self.locations[loc]["sku"]
        if fields.get("sku") is not None and fields.get("unit_cost") is None:
            fields["unit_cost"] = self.costs.get(fields["sku"])
        row = {k: v for k, v in fields.items() if v is not None}
        if not self.known.issuperset(row):
            raise SystemExit("the transactions table has no column for %s" % sorted(set(row) - self.known))
        row.update(seq=self.seq, boot=self.boot, wall_time=wall, clock_synced=1, monotonic_ms=self.mono, kind=kind)
        row["prev_hash"] = self.head
        row["hash"] = self.head = row_hash(self.head, row)
        self.pending.append(tuple(row.get(c) for c in self.columns))
        self.seq += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return row

    def stock(self, row, delta=None, count=None):
        """Apply a row's stock change and min/max, as Ledger._append + minmax.evaluate do."""
        loc = self.locations[row["location"]]
        loc["on_hand"] = count if count is not None else loc["on_hand"] + delta
        self.evaluate(loc, row["seq"], row["wall_time"])

    def evaluate(self, loc, seq, wall):
        lid, on_hand = loc["id"], loc["on_hand"]
        if on_hand < loc["min"]:
            quantity = refill_quantity(on_hand, loc["max"], loc["pack"])
            task = self.open_tasks.get(lid)
            if task is None:
                task = [self.next_task_id, lid, loc["sku"], quantity, seq, wall, None, None]
                self.next_task_id += 1
                self.open_tasks[lid] = task
                self.tasks.append(task)
            else:
                task[3] = quantity
            self._raise(lid, LOW_STOCK, "%d on hand, min %d" % (on_hand, loc["min"]), seq, wall)
        else:
            task = self.open_tasks.pop(lid, None)
            if task is not None:
                task[6], task[7] = seq, wall
            self._clear(lid, LOW_STOCK, seq, wall)
        if on_hand <= 0:
            self._raise(lid, STOCKOUT, "nothing on hand", seq, wall)
        else:
            self._clear(lid, STOCKOUT, seq, wall)

    def _raise(self, lid, kind, detail, seq, wall):
        if (lid, kind) not in self.open_alerts:
            alert = [self.next_alert_id, lid, kind, detail, seq, wall, None, None]
            self.next_alert_id += 1
            self.open_alerts[(lid, kind)] = alert
            self.alerts.append(alert)

    def _clear(self, lid, kind, seq, wall):
        alert = self.open_alerts.pop((lid, kind), None)
        if alert is not None:
            alert[6], alert[7] = seq, wall

    # -- the mix -------------------------------------------------------------------------------------------
    def event(self):
        rng = self.rng
        self.since_visit += 1
        if self.since_visit >= VISIT_EVERY and self.open_tasks:
            self.since_visit = 0
            self.visit()
            return
        user = rng.choices(self.takers, self.taker_weights)[0]
        role, cost_center, _ = self.users[user]
        kind = rng.choices([k for k, _ in self.kind_weights], [w for _, w in self.kind_weights])[0]
        lid = rng.choice(self.by_kind[kind])
        loc = self.locations[lid]
        category = self.sku_info[loc["sku"]][0]
        quantity = rng.randint(1, 5) if kind in ("bin", "scan") else 1
        who = dict(user_id=user, cost_center=cost_center)
        work_order = "WO-%06d" % rng.randrange(10 ** 6) if category == "tools" else None
        reason = None
        if role == "contractor" and category not in ("ppe", "fasteners"):
            reason = "not_allowed"
        elif loc["on_hand"] < quantity:
            reason = "out_of_stock"
        elif rng.random() < 0.015:
            reason = rng.choice(("over_limit", "needs_work_order"))
        if reason:
            self.row("refusal", location=lid, quantity=quantity, reason=reason, **who)
            return
        if kind in ("lane", "door"):
            intent = self.row("intent", action="issue", location=lid, quantity=1, work_order=work_order,
                              cmd_id=self.seq, **who)
            if kind == "lane":
                outcome, given = ("vended", 1) if rng.random() > 0.02 else ("no_drop", 0)
            else:
                outcome, given = ("opened", 1) if rng.random() > 0.005 else ("not_opened", 0)
            copied = {k: intent.get(k) for k in ("action", "user_id", "badge_id", "sku", "location", "unit_cost",
                                                  "work_order", "machine_id", "cost_center")}
            out = self.row("outcome", intent_seq=intent["seq"], outcome=outcome, quantity=given, **copied)
            self.stock(out, delta=-given)
        else:
            weight = quantity * loc["weight"] if loc["weight"] else None
            out = self.row("issue", location=lid, quantity=quantity, weight_mg=weight, **who)
            self.stock(out, delta=-quantity)

    def visit(self):
        """A route driver of each supplier refills every location of theirs with an open task."""
        rng = self.rng
        for supplier in SUPPLIERS:
            driver = rng.choice(self.drivers[supplier])
            for lid in sorted(self.open_tasks):
                loc = self.locations[lid]
                if self.sku_info[loc["sku"]][1] != supplier:
                    continue
                added = refill_quantity(loc["on_hand"], loc["max"], loc["pack"])
                row = self.row("refill", user_id=driver, location=lid, quantity=added)
                self.stock(row, delta=added)
                if rng.random() < 0.05:                  # the driver's count differs: a count row corrects it
                    counted = max(0, loc["on_hand"] + rng.choice((-1, 1)))
                    row = self.row("count", user_id=driver, location=lid, quantity=counted, reason="count at refill")
                    self.stock(row, count=counted)

    def build(self, rows):
        conn = self.conn
        insert = "INSERT INTO transactions (%s) VALUES (%s)" % (
            ", ".join(self.columns), ", ".join("?" * len(self.columns)))
        first = self.seq
        conn.execute("BEGIN IMMEDIATE")
        try:
            while self.seq - first < rows:
                self.event()
                if len(self.pending) >= 20_000:
                    conn.executemany(insert, self.pending)
                    self.pending = []
            conn.executemany(insert, self.pending)
            self.pending = []
            conn.executemany("INSERT INTO refill_tasks (id, location, sku, quantity, opened_seq, opened_wall, "
                             "closed_seq, closed_wall) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.tasks)
            conn.executemany("INSERT INTO alerts (id, location, kind, detail, raised_seq, raised_wall, cleared_seq, "
                             "cleared_wall) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.alerts)
            conn.executemany("UPDATE locations SET on_hand = ? WHERE id = ?",
                             [(loc["on_hand"], lid) for lid, loc in self.locations.items()])
            conn.execute("UPDATE cabinet SET next_seq = ?, head_hash = ?, boot = ? WHERE id = 1",
                         [self.seq, self.head, self.boot])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.close()
        return self.seq - first


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms_summary(samples_s):
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p99_ms": round(pct(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3), "max_ms": round(max(ms), 3)}


def query_plan(db, sql, args):
    return " | ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())


TAKEN_SQL = ("SELECT coalesce(sum(t.quantity), 0) FROM transactions t WHERE t.user_id = ? AND "
             "t.sku IN (SELECT part_number FROM skus WHERE category = ?) AND t.wall_time >= ? AND "
             "(t.kind = 'issue' OR (t.kind = 'outcome' AND t.action = 'issue'))")


def measure(path, reps, rng):
    db_path = Path(path)
    # open_ledger: WAL, synchronous=FULL, migrations checked, a boot counted.
    peek = sqlite3.connect(str(db_path))
    last_wall = peek.execute("SELECT wall_time FROM transactions ORDER BY seq DESC LIMIT 1").fetchone()[0]
    peek.close()
    clock = ManualClock(start=(datetime.datetime.fromisoformat(last_wall) + datetime.timedelta(minutes=10)).isoformat())
    t = time.perf_counter()
    ledger = open_ledger(db_path, clock=clock)
    open_s = time.perf_counter() - t
    out = {"open_s": round(open_s, 3)}
    try:
        db = ledger.db
        total = db.execute("SELECT count(*) FROM transactions").fetchone()[0]
        t = time.perf_counter()
        verdict = ledger.verify()
        out["verify_s"] = round(time.perf_counter() - t, 3)
        out["verify_ok"], out["verify_checked"] = verdict.ok, verdict.checked
        if not verdict.ok or verdict.checked != total:
            raise SystemExit("the built ledger does not verify: %s" % verdict)

        # issue_refusal for a technician with a per-day (ppe) limit, at a ppe location; and the heaviest user.
        ppe_loc = db.execute("SELECT l.id FROM locations l JOIN skus s ON s.part_number = l.sku "
                             "WHERE s.category = 'ppe' AND l.kind = 'lane' ORDER BY l.id LIMIT 1").fetchone()[0]
        cutting_loc = db.execute("SELECT l.id FROM locations l JOIN skus s ON s.part_number = l.sku "
                                 "WHERE s.category = 'cutting' AND l.kind = 'lane' ORDER BY l.id LIMIT 1").fetchone()[0]
        timings = {}
        for label, user in (("typical_user", "tech-100"), ("heaviest_user", "tech-1")):
            row = dict(next(db.query("SELECT * FROM users WHERE id = ?", [user])))
            person = Person(row["id"], row["name"], row["role"], row["department"], row["cost_center"], row["supplier"])
            user_rows = db.execute("SELECT count(*) FROM transactions WHERE user_id = ?", [user]).fetchone()[0]
            samples, decisions = [], set()
            for i in range(reps):
                loc = ppe_loc if i % 2 == 0 else cutting_loc
                t = time.perf_counter()
                refusal = issue_refusal(ledger, person, loc, 1)
                samples.append(time.perf_counter() - t)
                decisions.add(refusal.reason if refusal else "allowed")
            timings[label] = dict(ms_summary(samples), user=user, user_rows=user_rows, decisions=sorted(decisions))
        out["issue_refusal"] = timings
        since = datetime.datetime.fromisoformat(clock.wall()[0]).replace(hour=0, minute=0, second=0, microsecond=0)
        since = since.isoformat(timespec="milliseconds")
        t = time.perf_counter()
        db.execute(TAKEN_SQL, ["tech-1", "ppe", since]).fetchone()
        out["taken_since_heaviest_ms"] = round((time.perf_counter() - t) * 1000, 3)

        # minmax.evaluate alone, inside a transaction rolled back.
        locations = [r[0] for r in db.execute("SELECT id FROM locations ORDER BY id")]
        head = ledger.cabinet()["next_seq"] - 1
        samples = []
        for i in range(reps):
            loc = locations[i % len(locations)]
            db.execute("BEGIN IMMEDIATE")
            try:
                t = time.perf_counter()
                minmax.evaluate(ledger, loc, head, clock.wall()[0])
                samples.append(time.perf_counter() - t)
            finally:
                db.execute("ROLLBACK")
        out["evaluate"] = ms_summary(samples)

        # Ledger.append('issue', ...) on the weigh and scan bins: row, stock, min/max, durable commit.
        bins = [r[0] for r in db.execute("SELECT id FROM locations WHERE kind IN ('bin', 'scan') ORDER BY id")]
        samples, refills = [], 0
        for i in range(reps):
            loc = bins[i % len(bins)]
            clock.advance(rng.randrange(5_000, 60_000))
            if ledger.on_hand(loc) < 1:
                high = db.execute("SELECT max FROM locations WHERE id = ?", [loc]).fetchone()[0]
                ledger.append("refill", user_id="drv-1", location=loc, quantity=high - ledger.on_hand(loc))
                refills += 1
            t = time.perf_counter()
            ledger.append("issue", user_id="tech-100", cost_center="CC-404", location=loc, quantity=1)
            samples.append(time.perf_counter() - t)
        out["append_issue"] = dict(ms_summary(samples), refills_between=refills)

        # Start-up recovery's query over every intent.
        t = time.perf_counter()
        pending = ledger.pending_intents()
        out["pending_intents_s"] = round(time.perf_counter() - t, 3)
        out["pending_intents"] = len(pending)

        wall = clock.wall()[0]
        out["plans"] = {
            "taken_since (issue_refusal limit sum)": query_plan(db, TAKEN_SQL, ["tech-1", "ppe", wall]),
            "refill task lookup (evaluate)": query_plan(
                db, "SELECT id FROM refill_tasks WHERE location = ? AND closed_seq IS NULL", ["L1"]),
            "clear_alert (evaluate)": query_plan(
                db, "UPDATE alerts SET cleared_seq = ?, cleared_wall = ? WHERE " + OPEN_ONE,
                [1, wall, "L1", "low_stock"]),
            "raise_alert (evaluate)": query_plan(
                db, "INSERT INTO alerts (location, kind, detail, raised_seq, raised_wall) SELECT ?, ?, ?, ?, ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE " + OPEN_ONE + ")",
                [None, "k", "d", 1, wall, None, "k"]),
            "pending_intents (start-up)": query_plan(db, PENDING_SQL, []),
            "last admin row (verify's people check)": query_plan(db, LAST_ADMIN_SQL, []),
        }
        out["alerts_rows"] = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        out["refill_tasks_rows"] = db.execute("SELECT count(*) FROM refill_tasks").fetchone()[0]
        if not ledger.verify().ok:
            raise SystemExit("the ledger does not verify after the appends")

        # Size: everything checkpointed into the main file.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(str(db_path) + "-wal")
        out["db_bytes"] = db_path.stat().st_size
        out["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
        out["rows"] = db.execute("SELECT count(*) FROM transactions").fetchone()[0]
        out["bytes_per_row"] = round((out["db_bytes"] + out["wal_bytes"]) / out["rows"], 1)
        try:
            sizes = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
            out["largest_objects_bytes"] = {name: size for name, size in sizes[:8]}
        except sqlite3.DatabaseError:
            out["largest_objects_bytes"] = None          # SQLite built without dbstat
    finally:
        ledger.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="transaction rows to build (default 1,000,000)")
    ap.add_argument("--reps", type=int, default=200, help="repetitions of each timed call (default 200)")
    ap.add_argument("--dir", default=None, help="where the ledger goes (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="minmax_million.", dir=args.dir) as tmp:
        path = Path(tmp) / "ledger.db"
        t = time.perf_counter()
        stock_ledger(path, ManualClock(start=START.isoformat()))
        builder = Builder(path, args.seed)
        built = builder.build(args.rows)
        build_s = time.perf_counter() - t
        kinds = dict(sorted(builder.kinds.items()))
        figures = measure(path, args.reps, rng)
    out = {"bench": "minmax_million", "rows_built": built, "build_s": round(build_s, 1),
           "build_rows_per_s": round(built / build_s), "kinds": kinds, "reps": args.reps}
    out.update(figures)
    mb = (out["db_bytes"] + out["wal_bytes"]) / 1e6
    print("built %d rows in %.1f s (%d rows/s, one SQLite transaction): %s" % (
        built, build_s, out["build_rows_per_s"], ", ".join("%s %d" % kv for kv in kinds.items())))
    print("database %.1f MB after a checkpoint (main %d B + WAL %d B) = %.0f bytes per row; "
          "%d alerts, %d refill tasks" % (
        mb, out["db_bytes"], out["wal_bytes"], out["bytes_per_row"], out["alerts_rows"], out["refill_tasks_rows"]))
    if out["largest_objects_bytes"]:
        print("  largest: " + ", ".join("%s %.1f MB" % (k, v / 1e6) for k, v in out["largest_objects_bytes"].items()))
    print("verify(): %(verify_checked)d rows, ok=%(verify_ok)s, %(verify_s).2f s; open_ledger %(open_s).3f s" % out)
    print("Ledger.append('issue') incl. min/max and commit: p50 %(p50_ms).2f ms p99 %(p99_ms).2f ms"
          % out["append_issue"])
    print("minmax.evaluate alone:                           p50 %(p50_ms).3f ms p99 %(p99_ms).3f ms" % out["evaluate"])
    for label, m in out["issue_refusal"].items():
        print("issue_refusal(), %-14s (%5d rows of theirs):  p50 %.3f ms p99 %.3f ms (%s)" % (
            label, m["user_rows"], m["p50_ms"], m["p99_ms"], "/".join(m["decisions"])))
    print("pending_intents() at start-up: %(pending_intents_s).3f s (%(pending_intents)d pending)" % out)
    for name, plan in out["plans"].items():
        print("  plan, %s: %s" % (name, plan))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
