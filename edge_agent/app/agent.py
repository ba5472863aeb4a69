"""The agent at the cabinet: the worker, the sessions, and every flow a person starts, behind one face.

Each public method is a job run on the worker (`Agent.call`): it checks readiness and the session, and its
role gate where it has one (declared with `@job(area)`, from roles.AREAS), then hands over to the flow that
owns the rules (flows/). A flow answers with its result or raises a Refusal; the API turns that into 403 in
one place.

Nobody is let in until start-up recovery has settled every intent left without an outcome (`ready`); a
cabinet that cannot be asked keeps the locker closed and recovery is tried again every `RECOVER_RETRY_S`.
An actuation whose outcome could not be known (the link failed, the firmware rebooted mid-vend) or written
(the disk filled) closes the locker again the same way until it is settled; the ledger's free space is
checked every `DISK_CHECK_S` for the disk_low alert (flows/actuation.py refuses below the mark)."""
import dataclasses
import logging
import time

from edge_agent.app.installer_jobs import InstallerJobs
from edge_agent.app.jobs import NotReady, job
from edge_agent.app.live_state import LiveCabinet
from edge_agent.app.sessions import Approved, NoSession, Sessions, client_view
from edge_agent.app.watches import LINK_CHECK_S, CabinetLinkWatch, VisitWatch
from edge_agent.app.worker import CALL_TIMEOUT_S, Worker
from edge_agent.badge.ids import BadBadgeId
from edge_agent.badge.wedge import normalize_wedge_entry
from edge_agent.cloud import outbox
from edge_agent.flows import alerts as alert_flows
from edge_agent.flows import loans, refill, remote, stock
from edge_agent.flows.actuation import DISK_LOW
from edge_agent.flows.cabinet_events import take_events
from edge_agent.flows.vending import Vending
from edge_agent.flows.weighing import NotStable, WeighBins, issue_scanned
from edge_agent.ledger import alerts, count_tasks, lockouts
from edge_agent.ledger.errors import LedgerError
from edge_agent.ledger.locations import find_location
from edge_agent.link.codes import DoorState, Event, Fault
from edge_agent.link.errors import LinkError
from edge_agent.rules import charge_lists
from edge_agent.rules.access import Access
from edge_agent.rules.choices import offered_items
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import capabilities

__all__ = ["Agent", "Approved", "NoSession", "NotReady", "client_view", "CALL_TIMEOUT_S"]

log = logging.getLogger(__name__)

RECOVER_RETRY_S = 1.0
OVERDUE_CHECK_S = 60  # how often lent tools are checked against their due time
DISK_CHECK_S = 30     # how often the ledger's free space is checked for the disk_low alert


class Agent(InstallerJobs):
    def __init__(self, open_ledger, cabinet, config, clock=time.monotonic):
        """open_ledger: a function that opens the ledger (called on the worker thread)."""
        self._open_ledger = open_ledger
        self.cabinet = cabinet
        self.config = config
        self.clock = clock
        self.ledger = self.vending = self.bins = self.access = None
        self.ready = False
        self.hello = None          # the cabinet's last HELLO answer
        self.live = LiveCabinet()  # open doors and bin weights as the firmware reports them, for the screen
        self.cloud = None          # the CloudSync (cli/service.py): the state shows its cloud_state(); None: no cloud
        self.link = CabinetLinkWatch(cabinet, clock)
        self.visit = VisitWatch()
        self.worker = Worker(clock)
        # Access needs the ledger, opened on the worker: the sessions get it in _setup.
        self.sessions = Sessions(None, clock, config.session_idle_s, lambda: self.worker.client)
        self._next_recovery = 0.0
        self.worker.every(0, self._recover_when_due)
        self.worker.every(0, self._housekeeping)
        self.worker.every(OVERDUE_CHECK_S, lambda: loans.raise_overdue_alerts(self.ledger))
        self.worker.every(DISK_CHECK_S, lambda: alerts.disk_check(self.ledger))
        self.worker.every(lockouts.CHECKPOINT_S, lambda: lockouts.checkpoint(self.ledger))
        self.worker.every(LINK_CHECK_S, lambda: self.link.check(self.ready))

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout=30):
        self.worker.start(self._setup, lambda: (Refusal.flush(self.ledger, everything=True), self.ledger.close()),
                          self.snapshot, timeout)

    def stop(self):
        self.worker.stop()

    def call(self, fn, *args, timeout=CALL_TIMEOUT_S, as_client=None, **kwargs):
        """Run fn(*args) on the worker (Worker.call); as_client: the API client asking."""
        return self.worker.call(fn, *args, timeout=timeout, as_client=as_client, **kwargs)

    def watch(self, fn):
        """fn(snapshot) is called on the worker each time the state changes (the API's event streams)."""
        self.worker.watch(fn)

    def screen_opened(self, client):
        """The API: this client loaded the screen or opened its event stream, so it is the cabinet's screen
        (the kiosk): a badge on a reader logs in for it. Loopback only: the kiosk is the one browser there."""
        self.sessions.kiosk_client = client

    @property
    def client(self):
        """The API client the running job is for (None: in-process)."""
        return self.worker.client

    @property
    def session(self):
        return self.sessions.session

    def _setup(self):
        self.ledger = self._open_ledger()
        self.ledger.min_free_mb = self.config.min_free_mb
        self.vending = Vending(self.ledger, self.cabinet)
        self.bins = WeighBins(self.ledger, self.cabinet)
        self.access = Access(self.ledger, self.config.max_pin_tries, self.config.lockout_s, self.config.pin_roles)
        self.sessions.access = self.access
        self.apply_settings(**outbox.settings(self.ledger))    # what the cloud pushed outlives a restart
        self.visit.close_left_open(self.ledger)

    def _housekeeping(self):
        self.sessions.expire_idle()
        Refusal.flush(self.ledger)          # the refusals counted, once their window is over
        take_events(self.ledger, self.cabinet, self._seen)
        self.visit.check(self.ledger, self.sessions.session)
        self._release_takes()

    # -- start-up recovery -----------------------------------------------------------------------------------
    def _recover_when_due(self):
        if not self.ready and self.clock() >= self._next_recovery:
            self._recover()
            self._next_recovery = self.clock() + RECOVER_RETRY_S

    def _recover(self):
        try:
            self.hello = self.cabinet.hello()       # which firmware, which boot: for recovery and the cloud
            settled = self.vending.recover()
        except LinkError as e:
            log.warning("recovery: cabinet not answering (%s); the locker stays closed", e)
            self.link.quiet = True
            return
        except LedgerError as e:     # the disk is still full: the outcome is written on a later pass
            log.warning("recovery: outcome not written (%s); the locker stays closed", e)
            return
        self.link.quiet = False
        for seq, outcome in settled:
            log.info("recovery: intent %d settled as %s", seq, outcome)
        pending = self.ledger.pending_intents()
        if pending:
            log.warning("recovery: %d intents still pending; the locker stays closed", len(pending))
            return
        try:
            for location, found in self.bins.recover().items():
                if found is not None:
                    log.warning("recovery: bin %s: %s", location, getattr(found, "words", found))
        except (LinkError, NotStable) as e:
            log.warning("recovery: weigh bins not checked (%s); each is checked again when next opened", e)
        self._seed_live()
        self.ready = True
        log.info("ready: ledger and cabinet agree, accepting people")

    def _seen(self, event):
        """Each event from the cabinet, once recorded: the screen's live state follows it. After EV_FAULT events
        lost, STATUS is read again (docs/protocol.md): a dropped door or bin event would leave it wrong."""
        self.live.seen(event)
        if event.type == Event.FAULT and event.fields and event.fields["code"] == Fault.EVENTS_LOST:
            log.warning("the cabinet dropped %d events since its boot: reading its state again",
                        event.fields["detail"])
            self._seed_live()

    def _seed_live(self):
        try:
            self.live.seed(self.cabinet.status(), DoorState.OPEN)
        except LinkError as e:      # STATUS lost: the firmware's events alone keep the live state from here
            log.info("live state starts from events only (%s)", e)

    def require_ready(self):
        if not self.ready:
            if self.ledger is not None and self.ledger.space_low():   # an outcome waits for room on the disk
                raise NotReady(DISK_LOW)
            raise NotReady("The locker is checking with the cabinet. Please wait a moment.")

    # -- sessions --------------------------------------------------------------------------------------------
    def tap(self, badge_id):
        """A badge read by any reader (Sessions.tap)."""
        self.require_ready()
        return self.sessions.tap(badge_id)

    def wedge(self, typed):
        """What a keyboard-wedge reader typed into the screen's badge field."""
        try:
            badge_id = normalize_wedge_entry(typed, self.config.wedge_format, reverse=self.config.wedge_reverse)
        except BadBadgeId:
            badge_id = typed   # refused and recorded as an unknown badge by Access
        return self.tap(badge_id)

    def pin(self, user_id, pin):
        """A PIN typed for a user, alone or after a badge that needs one."""
        self.require_ready()
        return self.sessions.pin(user_id, pin)

    def logout(self):
        self.sessions.logout()

    def begin_session(self, person, via):
        """Log a person in from a tool at the cabinet (commissioning logs its installer in), not a reader."""
        return self.sessions.begin(person, via)

    @job()
    def approve(self, person, badge=None, user_id=None, pin=None):
        return self.sessions.approve(badge=badge, user_id=user_id, pin=pin)

    # -- taking ----------------------------------------------------------------------------------------------
    def _taker(self, person, cost_center):
        """The person, charging the cost center they named (their own when they named none): another than their
        own only where the site allows it, and from the site's list when it has one (rules/charge_lists.py)."""
        return charge_lists.charge_to(self.ledger, person, cost_center, self.config.may_override_cost_center)

    @job(moves=True)
    def issue(self, person, location, quantity=1, work_order=None, machine_id=None, cost_center=None):
        """Take from a lane, a locker door (a returnable tool is lent) or a scan-only bin. Weigh bins count
        what was taken by themselves: take_begin / take_finish."""
        person = self._taker(person, cost_center)
        terms = dict(work_order=work_order, machine_id=machine_id, approver=self.sessions.take_approver())
        loc = find_location(self.ledger, location)
        kind = loc.kind if loc else None
        if kind == "scan":
            return issue_scanned(self.ledger, person, location, quantity, **terms)
        if kind == "bin":
            raise Refusal("weigh_bin", "Bin %s weighs what you take: open it with take_begin." % location)
        if kind == "door" and loc.returnable:
            return loans.check_out(self.ledger, self.cabinet, person, location, quantity, **terms)
        return self.vending.issue(person, location, quantity, **terms)

    @job(moves=True)
    def take_begin(self, person, location, quantity=1, work_order=None, machine_id=None, cost_center=None):
        """Open a weigh-bin take: permission for what the person says they take, the weight before."""
        self._release_takes(everyone=True)      # their own open take too: they moved on from it
        self.session.take = self.bins.begin(self._taker(person, cost_center), location, quantity,
                                            work_order=work_order, machine_id=machine_id,
                                            approver=self.sessions.take_approver())
        return self.session.take

    @job(moves=True)
    def refill_begin(self, person, location):
        """A driver at a weigh bin: the weight before; take_finish counts what went in."""
        self._release_takes(everyone=True)
        self.session.take = self.bins.refill_bin(person, location)
        return self.session.take

    @job(moves=True)
    def take_finish(self, person):
        """The weight after: records what the bin says was taken (or put in). NotStable: nothing recorded."""
        take = self.session.take
        if take is None:
            raise Refusal("no_take", "No bin is open. Choose a bin first.")
        counted = take.finish()
        self.session.take = None
        if take.purpose == "refill":
            self.visit.weighed_in(self.ledger, person, counted)
        return counted

    def _release_takes(self, everyone=False):
        """A take whose session ended (logout, idle, another badge), or every open take (everyone), is finished
        for its person (WeighBins.release)."""
        keep = None if everyone or self.session is None else self.session.take
        for location, done in self.bins.release(keep=keep).items():
            log.info("take at %s finished as its session ended: %s", location, done)

    @job(moves=True)
    def give_back(self, person, location, condition="good"):
        """Return a lent tool to its door, in the condition the person says (damaged goes to quarantine)."""
        return loans.check_in(self.ledger, self.cabinet, person, location, condition)

    @job()
    def items(self, person):
        """What the screen offers the person, their usual items first (rules/choices.py)."""
        return offered_items(self.ledger, person)

    @job("take")
    def charge_lists(self, person):
        """The site's lists a take may be charged to, for the screen to offer (rules/charge_lists.py)."""
        return dict(lists=charge_lists.choices(self.ledger), cost_center_override=self.config.may_override_cost_center)

    @job()
    def loans(self, person):
        """The person's tools out, each with its SKU's description for the screen."""
        return [dict(dataclasses.asdict(loan), description=find_location(self.ledger, loan.location).description)
                for loan in loans.loans_of(self.ledger, person.user_id)]

    # -- refilling -------------------------------------------------------------------------------------------
    @job()
    def pick_list(self, person):
        """A route driver's lines (only their supplier's): refills, top-offs, counts. Opens their visit."""
        self.visit.touched(self.ledger, person, open_now=True)
        return refill.pick_list(self.ledger, person)

    @job(moves=True)
    def open_for_refill(self, person, location):
        """Unlock a locker door for the driver to refill (refill.open_for_refill)."""
        return refill.open_for_refill(self.ledger, self.cabinet, person, location)

    @job(moves=True)
    def refill(self, person, location, added, counted=None):
        """What the driver put in, and their count after it when they made one (it corrects the ledger)."""
        self.visit.touched(self.ledger, person)       # the line goes into their visit (refill_visits)
        return refill.confirm_refill(self.ledger, person, location, added, counted)

    @job("refill")
    def finish_visit(self, person):
        """The driver is done: their visit closes; its summary (also sent to the cloud), or None."""
        return self.visit.finish(self.ledger, person)

    # -- a supervisor's work (flows/stock.py checks the role again, and keeps the refusal on record) ----------
    @job()
    def cycle_count(self, person, location, counted, reason=None):
        return stock.cycle_count(self.ledger, person, location, counted, reason)

    @job()
    def adjust(self, person, location, delta, reason):
        return stock.adjust(self.ledger, person, location, delta, reason)

    @job()
    def release_quarantine(self, person, location, quantity, disposition):
        return stock.release_quarantine(self.ledger, person, location, quantity, disposition)

    @job(moves=True)
    def clear_lane(self, person, location):
        return stock.clear_lane(self.ledger, person, self.cabinet, location)

    @job("supervise")
    def open_alerts(self, person):
        """The open alerts, oldest first, as dicts (ledger.alerts.open_alert_rows: id, kind, raised_wall...)."""
        return alerts.open_alert_rows(self.ledger.db)

    @job()
    def acknowledge_alert(self, person, alert_id, note):
        """A supervisor's acknowledgement with a note (flows/alerts.py checks the role, on record)."""
        return alert_flows.acknowledge(self.ledger, person, alert_id, note)

    @job("supervise")
    def stock(self, person):
        """Every stock location with on_hand and quarantine (stock.stock_listing)."""
        return stock.stock_listing(self.ledger)

    # -- tools lost, count tasks (issue 15: docs/decisions/0030) ----------------------------------------------
    @job("supervise")
    def tools_out(self, person):
        return loans.tools_out(self.ledger)

    @job("supervise")
    def mark_lost(self, person, loan_id, note=None):
        return dataclasses.asdict(loans.mark_lost(self.ledger, person, loan_id, note))

    @job("supervise")
    def count_tasks(self, person):
        return count_tasks.open_count_tasks(self.ledger)

    # -- what the cloud asks (cloud/commands.py has checked signature, expiry and replay) --------------------
    def remote_unlock(self, door, command_id, reason=None):
        """Unlock a door for a signed cloud command (flows/remote.py)."""
        self.require_ready()
        result = remote.remote_unlock(self.ledger, self.cabinet, door, command_id, reason)
        if result.unknown:
            self.ready = False
        return result

    def apply_settings(self, **values):
        """Settings pushed by the cloud (already persisted in the ledger by the sync side)."""
        self.config = dataclasses.replace(self.config, **values)
        self.access.max_tries = self.config.max_pin_tries
        self.access.lockout_s = self.config.lockout_s
        self.sessions.idle_s = self.config.session_idle_s
        return self.config

    # -- what the screens see --------------------------------------------------------------------------------
    def state(self):
        """What the screen shows: readiness, who is here, the cabinet link (as the calling client sees it)."""
        return client_view(self.snapshot(), self.client)

    def snapshot(self):
        """The state for everyone, with whose session and awaited PIN it is (_session_owner, _pin_owner)."""
        session = self.sessions.session
        return dict(
            self.sessions.view(),
            cabinet_id=self.config.cabinet_id,
            ask_cost_center=self.config.ask_cost_center,
            ready=self.ready,
            may=capabilities(session.person.role) if session else [],
            firmware_boot=getattr(self.cabinet, "boot_id", None),
            firmware_version=self.hello.firmware if self.hello else None,
            doors_open=sorted(self.live.open_doors),
            take=self.live.take_progress(session.take) if session and session.take else None,
            cabinet_link=self.link.state(self.ready),
            cloud=self.cloud.cloud_state() if self.cloud is not None else None,
        )
