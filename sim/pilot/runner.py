"""The pilot arm's event loop: takes, the driver's visits (scheduled and emergency), supervisor rounds that
clear jammed lanes, cloud outages and the outbox backlog, shrinkage and MCU resets mid-vend, in virtual
time on one ledger file; stock and charge accuracy against the physical truth (accuracy.py).

Each event moves the ledger's ManualClock to its time (never back: an event that comes while the cabinet is
still busy with the previous one waits for it), then runs the agent's real flow for it on the station."""
import contextlib
import heapq
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.rules.access import Access, Person
from edge_agent.cloud import outbox
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.reports.period import parse_time
from edge_agent.flows.stock import clear_lane, cycle_count
from edge_agent.flows.weighing import Counted, NotStable, issue_scanned
from edge_agent.rules.refusal import Refusal
from sim.pilot import faults as fault_model
from sim.pilot.baseline import DemandStats
from sim.pilot.demand import DAY_MS, DemandModel
from sim.pilot.accuracy import Accuracy
from sim.pilot.driver import EMERGENCY_RESPONSE_MS, RouteDriver
from sim.pilot.plan import PilotPlan
from sim.pilot.site import SUPERVISOR, badge_of, import_site
from sim.pilot.station import STEP_MS, Station
from sim.pilot.stock import ledger_timelines

START = "2026-03-02T00:00:00+00:00"      # a Monday: demand.weekday counts from it
SYNC_EVERY_MS = 60_000                   # the agent's sync loop, as seen from the pilot: once a minute
JAM_NOTICE_MS = 15 * 60_000              # a jam is reported to the supervisor within a quarter hour
# Same-time order: the network first, then the driver, the supervisor, people, the day's end.
ORDER = {"outage_start": 0, "outage_end": 0, "visit": 1, "emergency": 2, "supervisor": 3, "take": 4, "shrink": 4,
         "day": 5}


@dataclass
class SyncStats:
    outages: int = 0
    outage_hours: float = 0.0
    queued_offline: int = 0        # rows and events written while offline, sent once the link was back
    max_backlog: int = 0           # the largest unacknowledged backlog (tx rows + events)
    syncs: int = 0


@dataclass
class PilotResult:
    ledger_path: Path
    days: int
    end_ms: int
    demand: DemandStats
    visits: int = 0
    emergency_visits: int = 0
    refill_lines: int = 0
    refill_units: int = 0
    count_corrections: int = 0
    jams: int = 0
    lanes_cleared: int = 0
    jammed_hours: float = 0.0
    hangs: int = 0
    refusals: dict = field(default_factory=dict)
    sync: SyncStats = field(default_factory=SyncStats)
    timelines: dict = field(default_factory=dict)
    lowest_on_hand: int = 0
    lane_mismatches: list = field(default_factory=list)   # (lane, ledger given, physically dropped)
    physical_mismatches: list = field(default_factory=list)  # (location, ledger on hand, physically there)
    dropped: dict = field(default_factory=dict)          # lane location -> items the lane physically dropped
    firmware_exceptions: int = 0
    virtual_cabinet_s: float = 0.0  # virtual time the cabinet spent working (ticked), of the whole period
    below_min_after_refill: int = 0  # refills that left a location below its min
    shrinkage: list = field(default_factory=list)        # (location, items gone) for each shrinkage event
    mcu_resets: int = 0                                  # MCU resets injected mid-vend
    unknown_outcomes: int = 0                            # intents recovery could only record as unknown
    supervisor_counts: int = 0                           # counts the supervisor made (count tasks, unknowns)
    unexplained_mismatches: list = field(default_factory=list)  # differences no injected fault explains
    accuracy: Accuracy = None


PILOT_CABINETS = ("PILOT-", "FLEET-")


def refuse_foreign_ledger(path):
    """A pilot replaces only a pilot's ledger: any other ledger.db in --out is refused, never deleted."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect("file:%s?mode=ro" % path, uri=True)) as db:
            cabinet = db.execute("SELECT cabinet_id FROM cabinet WHERE id = 1").fetchone()
    except sqlite3.Error:
        cabinet = None
    if not cabinet or not str(cabinet[0] or "").startswith(PILOT_CABINETS):
        raise ValueError("%s is not a pilot's ledger: it is left alone; choose another --out" % path)


def supervisor_person():
    return Person(*SUPERVISOR, None)


class Pilot:
    def __init__(self, site, seed, days, out_dir, takes=None, faults=None, step_ms=STEP_MS, progress=None,
                 live_cloud=False, pace=None, cabinet_id="PILOT-1", plan=None, events=True):
        """live_cloud: a real CloudSync publishes the outbox (fleet mode): the pilot neither acks nor
        simulates outages then. pace(t_ms): called before each event (fleet mode waits for wall time).
        events=False: a firmware pass every step_ms instead of event-driven time (the same run, slower)."""
        self.site = site
        self.days = days
        self.end_ms = days * DAY_MS
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.ledger_path = self.out_dir / "ledger.db"
        refuse_foreign_ledger(self.ledger_path)
        for suffix in ("", "-wal", "-shm"):           # a previous pilot's ledger in the same place
            Path(str(self.ledger_path) + suffix).unlink(missing_ok=True)
        self.clock = ManualClock(START)
        self.ledger = open_ledger(self.ledger_path, clock=self.clock, cabinet_id=cabinet_id)
        # A simulation's ledger need not outlive a power cut or an OS crash of the computer running it (the
        # pilot is run again, and a new run removes the old file first): synchronous=OFF, still atomic if the
        # process itself dies, saves the fsyncs of every commit and every WAL checkpoint, a quarter and then
        # another twentieth of the run's wall time (docs/decisions/0049). The agent's own ledger stays FULL.
        self.ledger.conn.execute("PRAGMA synchronous = OFF")
        if not live_cloud:
            # Nothing else opens this file while the pilot runs (fleet mode's CloudSync does: it keeps the
            # shared locks): the lock is taken once, not on every statement (docs/decisions/0049).
            self.ledger.conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        import_site(self.ledger, site, self.out_dir)
        self.station = Station(site, self.ledger, self.clock, seed, step_ms=step_ms, events=events)
        self.supervisor = supervisor_person()
        self.station.calibrate_bins(self.supervisor)
        self.driver = RouteDriver(self.station, self.ledger, site)
        self.plan = plan or PilotPlan()
        self.takes = takes if takes is not None else DemandModel(site, seed, days).takes()
        self.faults = faults or fault_model.FaultPlan(seed, days)
        self.progress = progress
        self.live_cloud = live_cloud
        self.pace = pace
        self.access = Access(self.ledger)
        self.result = PilotResult(self.ledger_path, days, self.end_ms, DemandStats())
        self.accuracy = self.result.accuracy = Accuracy.of(site)
        self._queue = []
        self._n = 0
        self._emergency_pending = set()
        self._clear_pending = {}            # lane location -> when it jammed
        self._last_sync = None
        self._online = True
        self._outage_head = 0

    # -- the queue -----------------------------------------------------------------------------------------
    def _push(self, t, kind, payload=None):
        self._n += 1
        heapq.heappush(self._queue, (t, ORDER[kind], self._n, kind, payload))

    def _advance_to(self, t):
        now = self.clock.monotonic_ms()
        if t > now:
            self.clock.advance(t - now)

    def run(self):
        for take in self.takes:
            self._push(take.t_ms, "take", take)
        for t in self.plan.pilot.times(self.days):
            self._push(t, "visit")
        for t, pick, n in self.faults.shrinkage:
            self._push(t, "shrink", (pick, n))
        for a, b in ([] if self.live_cloud else self.faults.outages):
            self._push(a, "outage_start")
            self._push(b, "outage_end")
        for d in range(1, self.days + 1):
            self._push(d * DAY_MS, "day", d)
        handlers = {"take": self._take, "visit": self._visit, "emergency": self._emergency,
                    "supervisor": self._supervisor_round, "outage_start": self._outage_start,
                    "outage_end": self._outage_end, "day": self._day, "shrink": self._shrink}
        while self._queue:
            t, _, _, kind, payload = heapq.heappop(self._queue)
            if t > self.end_ms:
                break
            if self.pace:
                self.pace(t)
            self._advance_to(t)
            handlers[kind](payload)
            self._sync_if_due()
        return self._finish()

    # -- events --------------------------------------------------------------------------------------------
    def _take(self, take):
        loc = self.site.location(take.location)
        try:
            person = self.access.by_badge(badge_of(take.user_id))      # the tap at the reader
        except Refusal as refused:
            self._refused(refused.reason)
            self.result.demand.count(loc, take.quantity, 0)
            return
        try:
            given = self._take_as(person, take, loc)
        except Refusal as refused:                    # nothing was given: what they asked for is unmet demand
            self._refused(refused.reason)
            given = 0
        self.result.demand.count(loc, take.quantity, given)
        if loc.critical and self.ledger.on_hand(loc.id) <= 0 and loc.id not in self._emergency_pending:
            self._emergency_pending.add(loc.id)
            self._push(self.clock.monotonic_ms() + EMERGENCY_RESPONSE_MS, "emergency")

    def _take_as(self, person, take, loc):
        """What the person is given (the agent's flows, as the screen would run them); raises the Refusal."""
        st = self.station
        approver = self.supervisor if loc.needs_approval else None
        on_hand = self.ledger.on_hand(loc.id)
        # The screen shows what is there: a person asks for what they need, or what is left of it. At an
        # empty location they still try (the agent refuses it, on record).
        asked = min(take.quantity, on_hand) if on_hand > 0 else take.quantity
        terms = dict(work_order=take.work_order, approver=approver)
        given = 0
        if loc.kind == "lane":
            jam = loc.id not in self._clear_pending and on_hand > 0 and self.faults.jams_now()
            if jam:
                st.jam(loc.unit)
            reset_ms = self.faults.reset_now() if on_hand > 0 and not jam else None
            dropped, seq = st.dropped(loc.unit), self._head()
            with st.reset_mid_vend(reset_ms) if reset_ms is not None else contextlib.nullcontext():
                result = st.vending.issue(person, loc.id, asked, **terms)
            if result.unknown:                        # the agent settles it from the firmware at once
                st.vending.recover()
            given = st.dropped(loc.unit) - dropped   # what the person physically got
            self._charged(loc.id, given, seq)
            if result.refused is not None:
                self._refused(result.refused.reason)
            if "jammed" in result.outcomes:
                self.result.jams += 1
                self._clear_pending[loc.id] = self.clock.monotonic_ms()
                self._push(fault_model.next_supervisor_round(self.clock.monotonic_ms() + JAM_NOTICE_MS),
                           "supervisor", loc.id)
        elif loc.kind == "door":
            result = st.vending.issue(person, loc.id, asked, **terms)
            given = result.given
            if result.refused is not None:
                self._refused(result.refused.reason)
            if "opened" in result.outcomes:
                st.held[loc.id] -= given
                st.close_door(loc.unit)
        elif loc.kind == "bin":
            given = self._bin_take(person, loc, asked, terms)
        else:
            given = issue_scanned(self.ledger, person, loc.id, asked, **terms).quantity
            st.held[loc.id] -= given
        return given

    def _bin_take(self, person, loc, asked, terms):
        take = self.station.bins.begin(person, loc.id, asked, **terms)
        taken = self.station.bin_take(loc.unit, asked)
        for _ in range(3):
            try:
                counted = take.finish()
            except NotStable:
                continue
            charged = counted.quantity if counted.action == "issue" else 0
            self.accuracy.charge(loc.id, taken, charged)
            return charged
        self._refused("not_stable")
        # They walk away: the take is finished for them now, or settled for them when the bin is next weighed.
        late = self.station.bins.release().get(loc.id)
        charged = late.quantity if isinstance(late, Counted) and late.action == "issue" else 0
        self.accuracy.charge(loc.id, taken, charged)
        return charged

    def _head(self):
        return self.ledger.db.execute("SELECT coalesce(max(seq), 0) FROM transactions").fetchone()[0]

    def _charged(self, location, out, since_seq):
        """What the ledger charged at `location` after since_seq against the `out` units that physically
        left; an unknown outcome marks the location for a count."""
        charged, unknown = self.ledger.db.execute(
            "SELECT coalesce(sum(quantity), 0), coalesce(sum(outcome = 'unknown'), 0) FROM transactions "
            "WHERE seq > ? AND location = ? AND kind = 'outcome' AND action = 'issue'",
            [since_seq, location]).fetchone()
        self.accuracy.charge(location, out, charged)
        if unknown:
            self.result.unknown_outcomes += unknown
            self.accuracy.fault(location, "unknown outcome")

    def _refused(self, reason):
        self.result.refusals[reason] = self.result.refusals.get(reason, 0) + 1

    def _visit(self, _payload, emergency=False):
        self.accuracy.check_visit(self.ledger, self.station, self.site)   # on arrival: what the ledger knows
        if not emergency:
            self._count_round()
        visit = self.driver.visit(emergency=emergency)
        for location in visit.counted:
            self.accuracy.counted(location)
        if emergency:
            self.result.emergency_visits += 1
        else:
            self.result.visits += 1
        self.result.refill_lines += visit.lines
        self.result.refill_units += visit.units
        self.result.count_corrections += visit.corrections
        self.result.below_min_after_refill += visit.below_min

    def _count_round(self):
        """At a scheduled visit the supervisor counts what the agent asks to count: open count tasks, and
        locations with an unknown vend outcome ("count the location")."""
        asked = self.ledger.db.execute(
            "SELECT location FROM count_tasks WHERE closed_wall IS NULL UNION SELECT location FROM alerts "
            "WHERE cleared_wall IS NULL AND kind = 'unknown_outcome' AND location IS NOT NULL").fetchall()
        for (location,) in sorted(asked):
            cycle_count(self.ledger, self.supervisor, location, self.station.physical(self.site.location(location)),
                        reason="count asked by the agent")
            self.accuracy.counted(location)
            self.result.supervisor_counts += 1

    def _shrink(self, payload):
        """Items leave a lane with no vend: the lane is physically emptier than the ledger thinks."""
        pick, n = payload
        lanes = [l for l in self.site.locations if l.kind == "lane" and self.station.lane_items(l.unit) > 0]
        if not lanes:
            return
        loc = lanes[min(len(lanes) - 1, int(pick * len(lanes)))]
        gone = self.station.shrink_lane(loc.unit, self.station.lane_items(loc.unit) if n is None else n)
        self.result.shrinkage.append((loc.id, gone))
        self.accuracy.fault(loc.id, "shrinkage")

    def _emergency(self, _payload):
        still_out = [l for l in self._emergency_pending if self.ledger.on_hand(l) <= 0]
        self._emergency_pending.clear()
        if still_out:                       # a scheduled visit may have come first
            self._visit(None, emergency=True)

    def _supervisor_round(self, location):
        jammed_at = self._clear_pending.pop(location, None)
        if jammed_at is None:
            return
        loc = self.site.location(location)
        self.station.jam(loc.unit, False)             # frees the spiral by hand, then clears the lane
        dropped, seq = self.station.dropped(loc.unit), self._head()
        cleared = clear_lane(self.ledger, self.supervisor, self.station.cabinet, location)
        self._charged(location, self.station.dropped(loc.unit) - dropped, seq)
        if cleared.ok:
            self.result.lanes_cleared += 1
            self.result.jammed_hours += (self.clock.monotonic_ms() - jammed_at) / 3_600_000

    def _outage_start(self, _payload):
        self._sync(force=True)
        self._online = False
        self._outage_head = self._backlog_heads()
        self.result.sync.outages += 1

    def _outage_end(self, _payload):
        self._online = True
        self.result.sync.queued_offline += self._backlog_heads() - self._outage_head
        self._sync(force=True)

    def _day(self, day):
        self.station.forget_events()
        if self.progress:
            self.progress(day, self.days)

    # -- cloud sync, as the outbox sees it ------------------------------------------------------------------
    def _backlog_heads(self):
        return sum(outbox.head(self.ledger, s) for s in outbox.STREAMS)

    def _sync_if_due(self):
        now = self.clock.monotonic_ms()
        if self._last_sync is None or now - self._last_sync >= SYNC_EVERY_MS:
            self._sync()

    def _sync(self, force=False):
        """Online: the cloud acks everything written so far (the outbox's acked seqs move to the heads), as
        the hub does over a live broker (fleet mode). Offline: nothing moves, the backlog grows."""
        if self.live_cloud:
            return
        streams = outbox.heads_and_acked(self.ledger)   # nothing writes between here and the acks below
        backlog = sum(head - acked for head, acked in streams.values())
        self.result.sync.max_backlog = max(self.result.sync.max_backlog, backlog)
        if not self._online:
            return
        if backlog or force:
            with self.ledger.transaction():          # one commit (one fsync) for the streams that moved
                for stream, (head, acked) in streams.items():
                    if head > acked:
                        outbox.set_acked(self.ledger, stream, head)
            self.result.sync.syncs += 1
        self._last_sync = self.clock.monotonic_ms()

    # -- the end -------------------------------------------------------------------------------------------
    def _finish(self):
        self._advance_to(self.end_ms)
        self._sync(force=True)
        r = self.result
        if not self.live_cloud:
            r.sync.outage_hours = sum(b - a for a, b in self.faults.outages) / 3_600_000
        r.hangs = self.station.hangs()
        r.firmware_exceptions = self.station.sim.firmware_exceptions
        r.mcu_resets = self.station.resets
        r.virtual_cabinet_s = self.station.sim.now / 1000
        r.timelines, r.lowest_on_hand = ledger_timelines(self.ledger, parse_time(START))
        given = {row[0]: row[1] for row in self.ledger.db.execute(
            "SELECT location, sum(quantity) FROM transactions WHERE kind = 'outcome' AND action = 'issue' "
            "GROUP BY location")}
        for loc in self.site.locations:
            if loc.kind == "lane":
                r.dropped[loc.id] = self.station.dropped(loc.unit)
            if loc.kind == "lane" and given.get(loc.id, 0) != self.station.dropped(loc.unit):
                r.lane_mismatches.append((loc.id, given.get(loc.id, 0), self.station.dropped(loc.unit)))
        # Differences at the end are reported, not hidden: shrinkage stays a difference until someone counts.
        r.physical_mismatches, r.unexplained_mismatches = self.accuracy.finish(self.ledger, self.station, self.site)
        return r

    def close(self):
        self.ledger.close()
