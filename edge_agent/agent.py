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

from edge_agent.access import Access, NeedPin, Person, Refused
from edge_agent.alerts import clear_alert, raise_alert
from edge_agent.badge.ids import BadBadgeId
from edge_agent.badge.wedge import normalize_wedge_entry
from edge_agent.errors import LinkError
from edge_agent.refill import confirm_refill, pick_list
from edge_agent.vending import Vending
from firmware import messages as M

log = logging.getLogger(__name__)

RECOVER_RETRY_S = 1.0
WAKE_S = 0.1          # how often the worker looks at the idle timer and the cabinet's events
CALL_TIMEOUT_S = 120  # longest a caller waits for one job (a multi-unit vend)


class NotReady(Exception):
    """The locker is still reconciling with the cabinet: nobody can log in yet."""


class NoSession(Exception):
    """Nobody is logged in."""


@dataclasses.dataclass
class Session:
    person: Person
    via: str                  # "badge", "pin" or "badge+pin"
    last_active: float


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
        self.session = None
        self.pending_pin = None   # user id whose badge was good and whose role must add a PIN
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

    def call(self, fn, *args, timeout=CALL_TIMEOUT_S, **kwargs):
        """Run fn(*args) on the worker and return its result (or raise its exception)."""
        future = concurrent.futures.Future()
        self._jobs.put((future, fn, args, kwargs))
        return future.result(timeout)

    def _run(self):
        try:
            self.ledger = self._open_ledger()
            self.vending = Vending(self.ledger, self.cabinet)
            self.access = Access(self.ledger, self.config.max_pin_tries, self.config.lockout_s,
                                 self.config.pin_roles)
        except BaseException as e:       # noqa: BLE001 - reported to start()'s caller
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        next_recovery = 0.0
        try:
            while not self._stop.is_set():
                if not self.ready and self.clock() >= next_recovery:
                    self._recover()
                    next_recovery = self.clock() + RECOVER_RETRY_S
                try:
                    future, fn, args, kwargs = self._jobs.get(timeout=WAKE_S)
                except queue.Empty:
                    pass
                else:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn(*args, **kwargs))
                        except BaseException as e:  # noqa: BLE001 - handed to the caller
                            future.set_exception(e)
                self._expire_idle_session()
                self._take_cabinet_events()
        finally:
            self.ledger.close()

    # -- start-up recovery ---------------------------------------------------------------------------------
    def _recover(self):
        try:
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
        self.ready = True
        log.info("ready: ledger and cabinet agree, accepting people")

    # -- sessions ------------------------------------------------------------------------------------------
    def _begin(self, person, via):
        self.session = Session(person, via, self.clock())
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
        if self.session is None:
            raise NoSession("Nobody is logged in. Tap your badge.")
        self.session.last_active = self.clock()
        return self.session.person

    def tap(self, badge_id):
        """A badge read by any reader: a new session (ending the current one), NeedPin, or Refused."""
        self._require_ready()
        self.session = None
        answer = self.access.by_badge(badge_id)
        if isinstance(answer, NeedPin):
            self.pending_pin = (answer.user_id, self.clock())
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
        after_badge = self.pending_pin is not None and self.pending_pin[0] == user_id
        if self.pending_pin is not None and not after_badge:
            self.pending_pin = None
        answer = self.access.by_pin(user_id, pin)
        if isinstance(answer, Refused):
            return answer
        return self._begin(answer, "badge+pin" if after_badge else "pin")

    def logout(self):
        self.session = None
        self.pending_pin = None

    # -- flows -------------------------------------------------------------------------------------------
    def issue(self, location, quantity=1, work_order=None, machine_id=None):
        self._require_ready()
        person = self._person()
        result = self.vending.issue(person, location, quantity, work_order=work_order, machine_id=machine_id)
        if result.unknown:
            self.ready = False      # reconcile with the cabinet before anyone goes on (the worker retries it)
        self.session.last_active = self.clock()
        return result

    def pick_list(self):
        """A route driver's open refill tasks (only their supplier's)."""
        self._require_ready()
        return pick_list(self.ledger, self._person())

    def refill(self, location, added, counted=None):
        """What the driver put in, and their count after it when they made one (it corrects the ledger)."""
        self._require_ready()
        return confirm_refill(self.ledger, self._person(), location, added, counted)

    def state(self):
        """What the screen shows: readiness, who is here, the cabinet link."""
        person = self.session.person if self.session else None
        return {
            "cabinet_id": self.config.cabinet_id,
            "ready": self.ready,
            "session": dataclasses.asdict(person) if person else None,
            "need_pin_for": self.pending_pin[0] if self.pending_pin else None,
            "firmware_boot": getattr(self.cabinet, "boot_id", None),
        }

    # -- what the cabinet reports by itself ------------------------------------------------------------------
    def _take_cabinet_events(self):
        take = getattr(self.cabinet, "next_event", None)
        if take is None:
            return
        while True:
            event = take(0)
            if event is None:
                return
            self._on_event(event)

    def _on_event(self, event):
        """Alerts a supervisor must see from what the firmware reports on its own (forced or left-open
        doors, faults). Stock is never changed here: only the flows move stock."""
        f = event.fields
        door = "D%d" % f["door"] if "door" in f else None
        if door and not self.ledger.db.execute("SELECT 1 FROM locations WHERE id = ?", [door]).fetchone():
            door = None        # a door the layout does not list: the alert's detail still names it
        wall = self.ledger.clock.wall()[0]
        with self.ledger.transaction():
            if event.type == M.EV_DOOR_FORCED:
                raise_alert(self.ledger.db, door, "door_forced", "door %d opened without an unlock" % f["door"],
                            None, wall)
            elif event.type == M.EV_DOOR_LEFT_OPEN:
                raise_alert(self.ledger.db, door, "door_left_open", "door %d open %d s" % (f["door"], f["open_s"]),
                            None, wall)
            elif event.type == M.EV_DOOR_CLOSED:
                clear_alert(self.ledger.db, door, "door_left_open", None, wall)
            elif event.type == M.EV_FAULT:
                raise_alert(self.ledger.db, None, "cabinet_fault", "fault %d detail %d" % (f["code"], f["detail"]),
                            None, wall)
