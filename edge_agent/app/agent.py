"""The agent at the cabinet: who is logged in, and every flow they start, run one at a time.

One worker thread owns the ledger and the cabinet and runs every job in turn: a cabinet serves one person
at a time, and a SQLite connection stays on the thread that opened it. Badge readers, the local API and the
idle timer hand the worker jobs (`Agent.call`) and wait for the answer.

Nobody is let in until start-up recovery has settled every intent left without an outcome (`ready`); a
cabinet that cannot be asked keeps the locker closed and recovery is tried again every `RECOVER_RETRY_S`.
An issue whose outcome could not be known (the link failed, the firmware rebooted mid-vend) closes the
locker again the same way until it is settled.
A session ends on logout, after `session_idle_s` with nothing done, or when a new badge is tapped.
"""
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from typing import Optional

from edge_agent.flows import stock
from edge_agent.flows import loans
from edge_agent.ledger.alerts import open_alerts
from edge_agent.rules.access import Access, NeedPin, Person, Refused
from edge_agent.badge.ids import BadBadgeId
from edge_agent.badge.wedge import normalize_wedge_entry
from edge_agent.flows.cabinet_events import take_events
from edge_agent.rules.choices import offered_items
from edge_agent.link.errors import LinkError
from edge_agent.app.live_state import LiveCabinet
from edge_agent.rules.permissions import INSTALLERS, UNRESTRICTED, Decision, capabilities, may_refill
from edge_agent.flows.refill import confirm_refill, pick_list
from edge_agent.flows.vending import IssueResult, Vending
from edge_agent.flows.weighing import NotStable, WeighBins, issue_scanned
from firmware import messages as M

log = logging.getLogger(__name__)

RECOVER_RETRY_S = 1.0
WAKE_S = 0.1          # how often the worker looks at the idle timer and the cabinet's events
CALL_TIMEOUT_S = 120  # longest a caller waits for one job (a multi-unit vend)
OVERDUE_CHECK_S = 60  # how often lent tools are checked against their due time
DOOR_STATES = {M.DOOR_CLOSED: "closed", M.DOOR_OPEN: "open", M.DOOR_UNLOCKING: "unlocking"}
UNIT_WORDS = {"door": "door", "lane": "lane", "bin": "weigh bin"}    # "L9 is not a lane."
LANE_STATES = {M.LANE_IDLE: "ok", M.LANE_RUNNING: "running", M.LANE_DISABLED: "disabled"}


class NotReady(Exception):
    """The locker is still reconciling with the cabinet: nobody can log in yet."""


class NoSession(Exception):
    """Nobody is logged in."""


@dataclasses.dataclass
class Session:
    person: Person
    via: str                  # "badge", "pin" or "badge+pin"
    last_active: float
    approver: Optional[Person] = None   # a supervisor who badged to approve the next issue
    take: Optional[object] = None       # an open weigh-bin take (weighing.Take)
    awaiting_approval: bool = False     # the last issue needs a supervisor: their tap approves, not logs in
    owner: Optional[str] = None         # the API client it belongs to (its token); None: in-process only


@dataclasses.dataclass(frozen=True)
class Approved:
    """A supervisor's badge, tapped while an issue waited for approval: it approves the next issue."""
    approver: Person


def client_view(snapshot, client):
    """The state as one client sees it (Agent.snapshot): the session, its approver and its open take, and a
    PIN awaited after a badge, only for the client they belong to. client None: in-process, sees all."""
    view = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    if client is not None and snapshot["_session_owner"] != client:
        view.update(session=None, approver=None, take=None, may=[])
    if client is not None and snapshot["_pin_owner"] != client:
        view["need_pin_for"] = None
    return view


class Agent:
    def __init__(self, open_ledger, cabinet, config, clock=time.monotonic):
        """open_ledger: a function that opens the ledger (called on the worker thread)."""
        self._open_ledger = open_ledger
        self.cabinet = cabinet
        self.config = config
        self.clock = clock
        self.ledger = None
        self.vending = None
        self.access = None
        self.ready = False
        self.hello = None         # the cabinet's last HELLO answer
        self.live = LiveCabinet()  # open doors and bin weights as the firmware reports them, for the screen
        self.session = None
        self.pending_pin = None   # (user id, since, client) of a good badge whose role must add a PIN
        self.client = None        # the API client the running job is for (Agent.call's as_client)
        self.kiosk_client = None  # the client showing the cabinet's screen: a reader's tap logs in for it
        self._watchers = []       # called on the worker with the new snapshot each time the state changes
        self._snapshot = None
        self._jobs = queue.Queue()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="agent-worker", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self, timeout=30):
        self._thread.start()
        self._started.wait(timeout)
        if self._start_error:
            raise self._start_error

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def call(self, fn, *args, timeout=CALL_TIMEOUT_S, as_client=None, **kwargs):
        """Run fn(*args) on the worker and return its result (or raise its exception). as_client: the API
        client asking (its token); it sees and acts on only the session it logged in (or the kiosk's reader
        logged in for it). None: an in-process caller (a reader, the cloud, a test), which sees everything."""
        future = concurrent.futures.Future()
        self._jobs.put((future, fn, args, kwargs, as_client))
        return future.result(timeout)

    def watch(self, fn):
        """fn(snapshot) is called on the worker each time the state changes (the API's event streams)."""
        self._watchers.append(fn)

    def screen_opened(self, client):
        """The API: this client loaded the screen or opened its event stream, so it is the cabinet's screen
        (the kiosk): a badge on a reader logs in for it. Loopback only: the kiosk is the one browser there."""
        self.kiosk_client = client

    def _run(self):
        try:
            self.ledger = self._open_ledger()
            self.vending = Vending(self.ledger, self.cabinet)
            self.bins = WeighBins(self.ledger, self.cabinet)
            self.access = Access(self.ledger, self.config.max_pin_tries, self.config.lockout_s,
                                 self.config.pin_roles)
        except BaseException as e:       # noqa: BLE001 - reported to start()'s caller
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        next_recovery = next_overdue_check = 0.0
        try:
            while not self._stop.is_set():
                if not self.ready and self.clock() >= next_recovery:
                    self._recover()
                    next_recovery = self.clock() + RECOVER_RETRY_S
                try:
                    future, fn, args, kwargs, self.client = self._jobs.get(timeout=WAKE_S)
                except queue.Empty:
                    pass
                else:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn(*args, **kwargs))
                        except BaseException as e:  # noqa: BLE001 - handed to the caller
                            future.set_exception(e)
                    self.client = None
                    self._publish()                 # a login or a vend reaches the screens now
                self._expire_idle_session()
                take_events(self.ledger, self.cabinet, self._seen)
                if self.clock() >= next_overdue_check:
                    loans.raise_overdue_alerts(self.ledger)
                    next_overdue_check = self.clock() + OVERDUE_CHECK_S
                self._publish()
        finally:
            self.ledger.close()

    # -- start-up recovery ---------------------------------------------------------------------------------
    def _recover(self):
        try:
            self.hello = self.cabinet.hello()       # which firmware, which boot: for recovery and the cloud
            settled = self.vending.recover()
        except LinkError as e:
            log.warning("recovery: cabinet not answering (%s); the locker stays closed", e)
            return
        for seq, outcome in settled:
            log.info("recovery: intent %d settled as %s", seq, outcome)
        pending = self.ledger.pending_intents()
        if pending:
            log.warning("recovery: %d intents still pending; the locker stays closed", len(pending))
            return
        try:
            for location, found in self.bins.recover().items():
                if found is not None:
                    log.warning("recovery: bin %s: %s", location, getattr(found, "message", found))
        except (LinkError, NotStable) as e:
            log.warning("recovery: weigh bins not checked (%s); each is checked again when next opened", e)
        self._seed_live()
        self.ready = True
        log.info("ready: ledger and cabinet agree, accepting people")

    def _seen(self, event):
        """Each event from the cabinet, once recorded: the screen's live state follows it. After EV_FAULT events
        lost the firmware's STATUS is read again (docs/protocol.md): a dropped door or bin event would
        otherwise leave the live state wrong until the next one."""
        self.live.seen(event)
        if event.type == M.EV_FAULT and event.fields and event.fields["code"] == M.F_EVENTS_LOST:
            log.warning("the cabinet dropped %d events since its boot: reading its state again",
                        event.fields["detail"])
            self._seed_live()

    def _seed_live(self):
        try:
            self.live.seed(self.cabinet.status(), M.DOOR_OPEN)
        except LinkError as e:      # STATUS lost: the firmware's events alone keep the live state from here
            log.info("live state starts from events only (%s)", e)

    def _publish(self):
        """Hand the state to the watchers when it differs from the last one handed (pushed, not polled)."""
        snapshot = self.snapshot()
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            for fn in self._watchers:
                try:
                    fn(snapshot)
                except Exception:  # noqa: BLE001 - a watcher never stops the worker
                    log.exception("state watcher failed")

    # -- sessions ------------------------------------------------------------------------------------------
    def _owner(self):
        """Whom a login now belongs to: the asking API client, or for an in-process caller (a badge reader)
        the client showing the cabinet's screen."""
        return self.client if self.client is not None else self.kiosk_client

    def _mine(self, owner):
        return self.client is None or owner == self.client

    def _visible(self):
        """The session, when the caller may see it: its own client's, or any for an in-process caller."""
        return self.session if self.session is not None and self._mine(self.session.owner) else None

    def _begin(self, person, via):
        self.session = Session(person, via, self.clock(), owner=self._owner())
        self.pending_pin = None
        log.info("login: %s (%s) by %s", person.user_id, person.role, via)
        return person

    def _expire_idle_session(self):
        if self.session and self.clock() - self.session.last_active > self.config.session_idle_s:
            log.info("logout: %s idle for %d s", self.session.person.user_id, self.config.session_idle_s)
            self.session = None
        if self.pending_pin and self.clock() - self.pending_pin[1] > self.config.session_idle_s:
            self.pending_pin = None

    def _require_ready(self):
        if not self.ready:
            raise NotReady("The locker is checking with the cabinet. Please wait a moment.")

    def _person(self):
        if self._visible() is None:
            raise NoSession("Nobody is logged in. Tap your badge.")
        self.session.last_active = self.clock()
        return self.session.person

    def tap(self, badge_id):
        """A badge read by any reader: a new session (ending the current one), NeedPin, or Refused; or,
        while an issue waits for a supervisor, that supervisor's approval (Approved)."""
        self._require_ready()
        answer = self.access.by_badge(badge_id)
        session = self._visible()
        if (session and session.awaiting_approval and isinstance(answer, Person)
                and answer.role in UNRESTRICTED and answer.user_id != session.person.user_id):
            session.approver, session.awaiting_approval = answer, False
            session.last_active = self.clock()
            log.info("approval: %s approves %s's next issue", answer.user_id, session.person.user_id)
            return Approved(answer)
        self.session = None
        if isinstance(answer, NeedPin):
            self.pending_pin = (answer.user_id, self.clock(), self._owner())
            return answer
        if isinstance(answer, Refused):
            return answer
        return self._begin(answer, "badge")

    def wedge(self, typed):
        """What a keyboard-wedge reader typed into the screen's badge field."""
        try:
            badge_id = normalize_wedge_entry(typed, self.config.wedge_format, reverse=self.config.wedge_reverse)
        except BadBadgeId:
            badge_id = typed   # refused and recorded as an unknown badge by Access
        return self.tap(badge_id)

    def pin(self, user_id, pin):
        """A PIN typed for a user, alone or after a badge that needs one."""
        self._require_ready()
        after_badge = (self.pending_pin is not None and self.pending_pin[0] == user_id
                       and self._mine(self.pending_pin[2]))
        if self.pending_pin is not None and not after_badge and self._mine(self.pending_pin[2]):
            self.pending_pin = None
        answer = self.access.by_pin(user_id, pin)
        if isinstance(answer, Refused):
            return answer
        return self._begin(answer, "badge+pin" if after_badge else "pin")

    def logout(self):
        """Ends the caller's session (another client's stays: it is not theirs to end)."""
        if self._visible() is not None:
            self.session = None
        if self.pending_pin is not None and self._mine(self.pending_pin[2]):
            self.pending_pin = None

    # -- flows: each checks readiness and the session, then hands over to the module that owns the rules --
    def _settled(self, result):
        """After an actuation: an outcome that could not be known closes the locker until recovery settles
        it (the worker retries); the session's clock restarts."""
        if getattr(result, "unknown", False):
            self.ready = False
        refused = result if isinstance(result, Decision) else getattr(result, "refused", None)
        self.session.awaiting_approval = getattr(refused, "reason", None) == "needs_approval"
        self.session.last_active = self.clock()
        return result

    def _location_kind(self, location):
        row = self.ledger.db.execute("SELECT kind, returnable FROM locations WHERE id = ?", [location]).fetchone()
        return row if row else (None, 0)

    def approve(self, badge=None, user_id=None, pin=None):
        """A supervisor badges (or types their PIN) on the same screen to approve the next issue."""
        self._require_ready()
        person = self._person()
        answer = self.access.by_pin(user_id, pin) if badge is None else self.access.by_badge(badge)
        if isinstance(answer, (Refused, NeedPin)):
            return answer
        if answer.role not in UNRESTRICTED or answer.user_id == person.user_id:
            return Decision.no("not_an_approver", "%s cannot approve this." % answer.name)
        self.session.approver = answer
        return answer

    def _taker(self, cost_center):
        """The person at the screen, charging the cost center they named (their own when they named none)."""
        person = self._person()
        cost_center = (cost_center or "").strip()
        return dataclasses.replace(person, cost_center=cost_center) if cost_center else person

    def issue(self, location, quantity=1, work_order=None, machine_id=None, cost_center=None):
        """Take from a lane, a locker door (a returnable tool is lent) or a scan-only bin. Weigh bins count
        what was taken by themselves: take_begin / take_finish."""
        self._require_ready()
        person = self._taker(cost_center)
        approver, self.session.approver = self.session.approver, None     # an approval is for one issue
        kind, returnable = self._location_kind(location)
        terms = dict(work_order=work_order, machine_id=machine_id, approver=approver)
        if kind == "scan":
            return self._settled(issue_scanned(self.ledger, person, location, quantity, **terms))
        if kind == "bin":
            return Decision.no("weigh_bin", "Bin %s weighs what you take: open it with take_begin." % location)
        if kind == "door" and returnable:
            return self._settled(loans.check_out(self.ledger, self.cabinet, person, location, quantity, **terms))
        return self._settled(self.vending.issue(person, location, quantity, **terms))

    def take_begin(self, location, quantity=1, work_order=None, machine_id=None, cost_center=None):
        """Open a weigh-bin take: permission for what the person says they take, the weight before."""
        self._require_ready()
        person = self._taker(cost_center)
        approver, self.session.approver = self.session.approver, None
        answer = self.bins.begin(person, location, quantity, work_order=work_order, machine_id=machine_id,
                                 approver=approver)
        if not isinstance(answer, Decision):
            self.session.take = answer
        return self._settled(answer)

    def refill_begin(self, location):
        """A driver at a weigh bin: the weight before; take_finish counts what went in."""
        self._require_ready()
        answer = self.bins.refill_bin(self._person(), location)
        if not isinstance(answer, Decision):
            self.session.take = answer
        return self._settled(answer)

    def take_finish(self):
        """The weight after: records what the bin says was taken (or put in). NotStable: nothing recorded."""
        self._require_ready()
        self._person()
        take = self.session.take
        if take is None:
            return Decision.no("no_take", "No bin is open. Choose a bin first.")
        counted = take.finish()
        self.session.take = None
        return self._settled(counted)

    def give_back(self, location, condition="good"):
        """Return a lent tool to its door, in the condition the person says (damaged goes to quarantine)."""
        self._require_ready()
        return self._settled(loans.check_in(self.ledger, self.cabinet, self._person(), location, condition))

    def items(self):
        """What the screen offers the person, their usual items first (choices.py); approvals, work orders
        and limits are still checked on issue."""
        self._require_ready()
        return offered_items(self.ledger, self._person())

    def loans(self):
        """The person's tools out, each with its SKU's description for the screen."""
        self._require_ready()
        described = []
        for loan in loans.loans_of(self.ledger, self._person().user_id):
            row = self.ledger.db.execute("SELECT description FROM skus WHERE part_number = ?", [loan.sku]).fetchone()
            described.append(dict(dataclasses.asdict(loan), description=row[0] if row else None))
        return described

    def pick_list(self):
        """A route driver's open refill tasks (only their supplier's)."""
        self._require_ready()
        return pick_list(self.ledger, self._person())

    def open_for_refill(self, location):
        """Unlock a locker door for the driver to refill (an intent like any actuation, nothing charged).
        Lanes and bins sit behind the cabinet's service door, opened with the driver's key."""
        self._require_ready()
        person = self._person()
        decision = may_refill(self.ledger, person, location)
        if not decision.allowed:
            self.ledger.append("refusal", user_id=person.user_id, location=location, reason=decision.reason)
            return decision
        kind, _ = self._location_kind(location)
        result = IssueResult(location, 0)
        if kind == "door":
            loc = self.vending._location(location)
            self.vending._actuate(loc, 0, result, dict(user_id=person.user_id), action="refill")
        return self._settled(result)

    def refill(self, location, added, counted=None):
        """What the driver put in, and their count after it when they made one (it corrects the ledger)."""
        self._require_ready()
        return self._settled(confirm_refill(self.ledger, self._person(), location, added, counted))

    def cycle_count(self, location, counted, reason=None):
        self._require_ready()
        return stock.cycle_count(self.ledger, self._person(), location, counted, reason)

    def adjust(self, location, delta, reason):
        self._require_ready()
        return stock.adjust(self.ledger, self._person(), location, delta, reason)

    def release_quarantine(self, location, quantity, disposition):
        self._require_ready()
        return stock.release_quarantine(self.ledger, self._person(), location, quantity, disposition)

    def clear_lane(self, location):
        self._require_ready()
        return self._settled(stock.clear_lane(self.ledger, self._person(), self.cabinet, location))

    def _refused_unless(self, roles, message):
        """A refusal unless the person logged in has one of these roles; None when they do."""
        self._require_ready()
        if self._person().role not in roles:
            return Decision.no("not_allowed", message)
        return None

    def _supervisor(self):
        return self._refused_unless(stock.SUPERVISORS, "Only a supervisor can do this.")

    def open_alerts(self):
        """Supervisor: the open alerts, oldest first, as dicts (location, kind, detail)."""
        refused = self._supervisor()
        if refused:
            return refused
        return [dict(location=a[0], kind=a[1], detail=a[2]) for a in open_alerts(self.ledger.db)]

    def stock(self):
        """Supervisor: every stock location (empty ones too) with on_hand and quarantine, for counts,
        adjustments and quarantine releases."""
        refused = self._supervisor()
        if refused:
            return refused
        return list(self.ledger.db.query(
            "SELECT l.id AS location, l.kind, l.unit, l.sku, s.description, l.on_hand, l.quarantine "
            "FROM locations l LEFT JOIN skus s ON s.part_number = l.sku "
            "WHERE l.kind IN ('lane', 'door', 'bin', 'scan') "
            "ORDER BY CASE l.kind WHEN 'lane' THEN 0 WHEN 'door' THEN 1 WHEN 'bin' THEN 2 ELSE 3 END, l.unit, l.id"))

    # -- the installer: the cabinet's health, taring and calibrating weigh bins ------------------------------
    def _installer(self):
        return self._refused_unless(INSTALLERS, "Only a supervisor or an installer can do this.")

    def health(self):
        """Installer: the cabinet link (firmware, boot), each door, lane and bin as the firmware reports them."""
        refused = self._installer()
        if refused:
            return refused
        units = {(r["kind"], r["unit"]): r["id"] for r in self.ledger.db.query(
            "SELECT id, kind, unit FROM locations WHERE kind IN ('door', 'lane', 'bin')")}
        link = dict(firmware=self.hello.firmware if self.hello else None,
                    boot_id=self.hello.boot_id if self.hello else None)
        try:
            status = self.cabinet.status()
        except LinkError as e:
            return dict(link=dict(link, online=False, message=str(e)), doors=[], lanes=[], bins=[])
        return dict(
            link=dict(link, online=True, events_lost=status.events_lost),
            doors=[dict(door=n, location=units.get(("door", n)), state=DOOR_STATES.get(s, "state %d" % s))
                   for n, s in enumerate(status.doors, 1)],
            lanes=[dict(lane=n, location=units.get(("lane", n)), state=LANE_STATES.get(s, "state %d" % s))
                   for n, s in enumerate(status.lanes, 1)],
            bins=[dict(bin=n, location=units.get(("bin", n)), stable=bool(b.flags & M.BIN_STABLE),
                       calibrated=bool(b.flags & M.BIN_CALIBRATED), weight_mg=b.weight_mg)
                  for n, b in enumerate(status.bins, 1)])

    def test_door(self, location):
        """Installer: pulse a door's latch to see it open (an intent and outcome like any actuation, quantity
        0: nothing charged). The screen then shows the door open live, from the firmware's events."""
        return self._self_test(location, "door", 0)

    def test_lane(self, location):
        """Installer: one test turn of a lane, home to home. On a stocked lane an item drops, and it is recorded
        as taken by the installer: what left the cabinet is always on record."""
        return self._self_test(location, "lane", 1)

    def _installer_unit(self, location, kind):
        """(None, the location) when an installer is here and it is a `kind` location; else (the refusal, None)."""
        refused = self._installer()
        if refused:
            return refused, None
        loc = self.vending._location(location)
        if loc is None or loc["kind"] != kind:
            return Decision.no("not_a_%s" % kind, "%s is not a %s." % (location, UNIT_WORDS[kind])), None
        return None, loc

    def _self_test(self, location, kind, quantity):
        refused, loc = self._installer_unit(location, kind)
        if refused:
            return refused
        result = IssueResult(location, quantity)
        self.vending._actuate(loc, quantity, result, dict(user_id=self._person().user_id, reason="self-test"))
        return self._settled(result)

    def _bin_command(self, location, action, known_mg=None):
        refused, loc = self._installer_unit(location, "bin")
        if refused:
            return refused
        result = IssueResult(location, 0)
        reason = "tare" if action == "tare" else "calibrate with %.1f g" % (known_mg / 1000)
        self.vending._actuate(loc, 0, result, dict(user_id=self._person().user_id, reason=reason),
                              action=action, known_mg=known_mg)
        if result.refused is None and not result.unknown and result.outcomes != ["done"]:
            result.refused = Decision.no("bin_%s_failed" % action, "Bin %d could not be %s (%s). Check the bin "
                                         "is still and try again." % (loc["unit"], "tared" if action == "tare"
                                                                       else "calibrated", result.outcomes[-1]))
        return self._settled(result)

    def tare_bin(self, location):
        """Installer: zero an empty weigh bin (intent, TARE, outcome)."""
        return self._bin_command(location, "tare")

    def calibrate_bin(self, location, known_mg):
        """Installer: calibrate a weigh bin with a known weight lying in it (intent, CALIBRATE, outcome). The
        bin's baseline is cleared: the next weighing adopts a new one (weighing.py)."""
        if known_mg <= 0:
            raise ValueError("known_g must be more than 0")
        result = self._bin_command(location, "calibrate", known_mg)
        if isinstance(result, IssueResult) and result.ok:
            self.ledger.db.execute("UPDATE locations SET weight_mg = NULL WHERE id = ?", [location])
        return result

    def read_bin(self, location):
        """Installer: a stable reading of a weigh bin (NotStable when it will not settle)."""
        refused, loc = self._installer_unit(location, "bin")
        if refused:
            return refused
        reading = self.bins.read(loc["unit"])
        return dict(location=location, bin=loc["unit"], weight_mg=reading.weight_mg, stable=reading.stable,
                    calibrated=reading.calibrated)

    # -- what the cloud asks (commands.py has checked signature, expiry and replay) --------------------------
    def remote_unlock(self, door, command_id, reason=None):
        """Unlock a door for a signed cloud command: an intent and outcome like any actuation, nothing
        charged (who takes what is unknown: a supervisor counts), recorded as user cloud:<command id>."""
        self._require_ready()
        location = "D%d" % door
        loc = self.vending._location(location)
        if loc is None:
            return IssueResult(location, 0, refused=Decision.no("no_such_door", "There is no door %d." % door))
        result = IssueResult(location, 0)
        self.vending._actuate(loc, 0, result, dict(user_id="cloud:%s" % command_id,
                                                   reason="remote unlock: %s" % (reason or "no reason given")))
        if result.unknown:
            self.ready = False
        return result

    def apply_settings(self, **values):
        """Settings pushed by the cloud (already persisted in the ledger by the sync side)."""
        self.config = dataclasses.replace(self.config, **values)
        self.access.max_tries = self.config.max_pin_tries
        self.access.lockout_s = self.config.lockout_s
        return self.config

    def state(self):
        """What the screen shows: readiness, who is here, the cabinet link (as the calling client sees it)."""
        return client_view(self.snapshot(), self.client)

    def snapshot(self):
        """The state for everyone, with whose session and awaited PIN it is (_session_owner, _pin_owner)."""
        person = self.session.person if self.session else None
        return {
            "_session_owner": self.session.owner if self.session else None,
            "_pin_owner": self.pending_pin[2] if self.pending_pin else None,
            "cabinet_id": self.config.cabinet_id,
            "ask_cost_center": self.config.ask_cost_center,
            "approver": self.session.approver.name if self.session and self.session.approver else None,
            "ready": self.ready,
            "session": dataclasses.asdict(person) if person else None,
            "may": capabilities(person.role) if person else [],
            "need_pin_for": self.pending_pin[0] if self.pending_pin else None,
            "firmware_boot": getattr(self.cabinet, "boot_id", None),
            "firmware_version": self.hello.firmware if self.hello else None,
            "doors_open": sorted(self.live.open_doors),
            "take": self.live.take_progress(self.session.take) if self.session and self.session.take else None,
        }
