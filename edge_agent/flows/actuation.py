"""Every actuation, whoever starts it: the durability order in code, and start-up recovery.

`Actuator.run` is one unit's actuation: an intent row committed before anything moves (its seq is the
cabinet command id), the command, then the outcome row with what was really given (a lane vend with no drop
is not charged). When the outcome cannot be known (the link timed out, the firmware rebooted) the intent
stays pending and nothing is retried: `Actuator.recover` settles pending intents from the firmware's replay
table or, for a vend the firmware can no longer answer for, from the EV_DROP the link received before the
answer was lost (the item came out: `dropped`, charged); what cannot be proven is recorded as unknown,
uncharged, with an alert for a supervisor. An actuator is never pulsed again on a guess.

The disk (docs/decisions/0022-durable-to-the-last-byte.md): below the ledger's free-space mark nothing is
actuated (Refusal 'disk_low', and the alert); an intent that cannot be written refuses ('ledger_unwritable')
with nothing sent; an outcome that cannot be written leaves its intent pending and the result unknown, and
recover() writes it from the firmware's answer once there is room.

Every flow that moves something goes through here: issues (vending.py), tool loans (loans.py), a lane clear
(stock.py), the installer's self-tests, tare and calibration (installer.py), a refill door (refill.py), a
remote unlock (remote.py), and commissioning and the pilot through those. Settling an outcome also writes
the tool loan it opens or closes (loan_records.py), in the outcome's SQLite transaction, whether the answer
came at once or through recover().

`cabinet` is anything with vend(lane, cmd_id), unlock(door, cmd_id), clear_lane(lane, cmd_id), tare(bin, cmd_id),
calibrate(bin, cmd_id, known_mg), hello(), boot_id and query(cmd_id) returning a CommandResult, and optionally
drop_seen(cmd_id): the agent's CabinetLink, or sim.virtual_host.VirtualCabinet in virtual time."""
import logging
from dataclasses import dataclass, field
from typing import List, Optional

from edge_agent.flows import loan_records
from edge_agent.ledger.alerts import clear_alert, disk_check, raise_alert
from edge_agent.ledger.count_tasks import NO_DROPS_SUSPECT, SUSPECTED_EMPTY, open_count_task
from edge_agent.ledger.errors import LedgerUnwritable
from edge_agent.ledger.locations import find_location
from edge_agent.link.codes import Result, Status
from edge_agent.link.errors import CabinetError, LinkError
from edge_agent.rules.refusal import Refusal

# What a finished command means for the ledger: (outcome text, units given; None: the quantity asked).
LANE_OUTCOMES = {Result.VENDED: ("vended", 1), Result.NO_DROP: ("no_drop", 0), Result.JAMMED: ("jammed", 0),
                 Result.OK: ("cleared", 0)}      # OK on a lane answers CLEAR_LANE
DOOR_OUTCOMES = {Result.OPENED: ("opened", None), Result.NOT_OPENED: ("not_opened", 0)}
BIN_OUTCOMES = {Result.OK: ("done", 0), Result.FAILED: ("failed", 0)}   # tare, calibrate: nothing given
DONE = ("vended", "opened", "cleared", "done")    # outcomes after which a multi-unit issue goes on
ACTIONS = ("issue", "return", "refill", "clear_lane", "tare", "calibrate")
OFFLINE = "The cabinet is not answering. Try again, or call your supervisor if it goes on."
DISK_LOW = "The locker is closed: its storage is nearly full. Call the supplier."
UNWRITABLE = "The locker cannot write its records, so nothing was opened. Call the supplier."
UNRECORDED = ("The locker could not write down what just happened: its storage is full. It is recorded as soon "
              "as there is room, and the locker stays closed until then. Call the supplier.")

log = logging.getLogger(__name__)


@dataclass
class IssueResult:
    location: str
    asked: int
    given: int = 0
    outcomes: List[str] = field(default_factory=list)
    refused: Optional[Refusal] = None   # why it stopped part way, after some units were given
    unknown: bool = False               # an outcome could not be known or written now; recovery settles it
    message: Optional[str] = None       # what the screen says when the outcome could not be written
    details: List[int] = field(default_factory=list)   # the firmware's detail of each command answered

    @property
    def ok(self):
        return self.refused is None and not self.unknown and self.given == self.asked


def outcome_of(result, kind, quantity):
    """(outcome, units given) for a finished CommandResult of a lane vend, a door unlock or a bin command."""
    if result.result == Result.ABORTED:
        # Cut by link loss or a fault: a drop seen before the cut means the item came out.
        return ("aborted_dropped", 1) if (kind == "lane" and result.detail) else ("aborted", 0)
    table = {"lane": LANE_OUTCOMES, "bin": BIN_OUTCOMES}.get(kind, DOOR_OUTCOMES)
    outcome, given = table.get(result.result, ("result_%d" % result.result, 0))
    return outcome, quantity if given is None else given


def no_drops_in_a_row(ledger, location):
    """How many of the location's latest rows are no_drop outcomes, back to the first row that is anything
    else that happened there (a vend, a jam, a count, a refill, an adjustment); intents and refusals move
    nothing and do not count."""
    streak = 0
    for kind, outcome in ledger.db.execute(
            "SELECT kind, outcome FROM transactions WHERE location = ? AND kind NOT IN ('intent', 'refusal') "
            "ORDER BY seq DESC LIMIT ?", [location, NO_DROPS_SUSPECT]):
        if (kind, outcome) != ("outcome", "no_drop"):
            break
        streak += 1
    return streak


def suspect_empty(ledger, loc, details, seq, wall):
    """The lane turned fully and dropped nothing NO_DROPS_SUSPECT times in a row: the ledger's count is not
    to be trusted. The suspected_empty alert (the lane is out of service until a count) and a count task, in
    the outcome's SQLite transaction; a count settles both (ledger/count_tasks.py)."""
    turns = " (%d turns each)" % details[0] if details and details[0] else ""
    what = ("%d vends in a row turned lane %d fully%s and nothing dropped, though the ledger says %d on hand"
            % (NO_DROPS_SUSPECT, loc.unit, turns, loc.on_hand))
    raise_alert(ledger.db, loc.id, SUSPECTED_EMPTY, what + ": out of service until it is counted", seq, wall)
    open_count_task(ledger.db, loc.id, what + ": it may be empty, or an item hangs", seq, wall)


class Actuator:
    def __init__(self, ledger, cabinet):
        self.ledger = ledger
        self.cabinet = cabinet

    def run(self, loc, quantity, result, who, action="issue", known_mg=None):
        """One intent, one command, one outcome for `loc` (a ledger Location), added to `result`. Returns
        whether it ended as asked (a flow issuing several units goes on). who: the intent's other fields
        (user, cost center, approver, condition, reason). Raises Refusal('cabinet_offline') when the cabinet
        cannot be asked: nothing was written or sent, and the person may try again. Below the ledger's free
        space mark (Refusal 'disk_low', with the alert raised) or when the intent cannot be written
        ('ledger_unwritable') nothing is sent either: no outcome must ever be left without room."""
        if action not in ACTIONS:
            raise ValueError("no such actuation: %r" % action)
        if self.ledger.space_low():
            try:
                disk_check(self.ledger)        # the disk_low alert, now rather than at the next periodic check
            except LedgerUnwritable as e:      # no room even for the alert: the periodic check tries again
                log.error("disk_low alert not written: %s", e)
            raise Refusal("disk_low", DISK_LOW)
        try:
            boot = self._firmware_boot()
        except LinkError:
            raise Refusal("cabinet_offline", OFFLINE) from None
        try:
            intent = self.ledger.intent(action, location=loc.id, quantity=quantity, fw_boot=boot, **who)
        except LedgerUnwritable as e:
            log.error("intent not written, nothing sent: %s", e)
            raise Refusal("ledger_unwritable", UNWRITABLE) from None
        try:
            answer = self._send(loc, action, intent["cmd_id"], known_mg)
        except CabinetError as e:
            # The firmware refused: nothing moved (a jammed lane, a busy cabinet past the deadline).
            self._settle_now(intent, "refused_%s" % e.name.lower(), 0, loc, result)
            return False
        except LinkError:
            result.unknown = True              # a copy may have reached the cabinet: recover() decides
            return False
        outcome, given = outcome_of(answer, loc.kind, quantity)
        result.details.append(answer.detail)   # ms to open a door, turns of a vend, why a jam or a bin failed
        return self._settle_now(intent, outcome, given, loc, result) and outcome in DONE

    def _settle_now(self, intent, outcome, given, loc, result):
        """_settle, or when the outcome cannot be written (the disk filled since the intent): the intent stays
        pending and the result unknown, so the locker closes until recover() writes it from the firmware's
        answer. Nothing is sent again. Returns whether the outcome was written."""
        try:
            self._settle(intent["seq"], outcome, given, loc, result, intent=intent)
            return True
        except LedgerUnwritable as e:
            log.error("intent %d: outcome %s not written (%s); settled by recovery once there is room",
                      intent["seq"], outcome, e)
            result.unknown = True
            result.message = UNRECORDED
            return False

    def _send(self, loc, action, cmd_id, known_mg):
        if action == "clear_lane":
            return self.cabinet.clear_lane(loc.unit, cmd_id)
        if action == "tare":
            return self.cabinet.tare(loc.unit, cmd_id)
        if action == "calibrate":
            return self.cabinet.calibrate(loc.unit, cmd_id, known_mg)
        if loc.kind == "lane":
            return self.cabinet.vend(loc.unit, cmd_id)
        return self.cabinet.unlock(loc.unit, cmd_id)

    def _firmware_boot(self):
        """The firmware boot the next command goes to (saying HELLO when the link does not know it yet)."""
        if self.cabinet.boot_id is None:
            self.cabinet.hello()
        return self.cabinet.boot_id

    def _settle(self, seq, outcome, given, loc, result, reason=None, intent=None):
        """The outcome row, the tool loan it opens or closes, and the alert a supervisor needs for it (or the
        jam alert a clear ends), in one SQLite transaction. intent: the intent row as written (run has it; the
        log's rows never change), else it is read."""
        alert = None
        if outcome == "jammed":
            alert = ("lane_jammed", "lane %d jammed" % loc.unit)
        elif outcome == "unknown":
            alert = ("unknown_outcome", "intent %d: outcome unknown, count the location" % seq)
        with self.ledger.transaction():
            if intent is None:
                intent = self.ledger.transaction_row(seq)
            # record_outcome copies who and what from the intent; approver and condition are passed on here.
            fields = dict(reason=reason, approver_id=intent["approver_id"], condition=intent["condition"])
            settled = loan_records.settle(self.ledger, intent, loc, outcome, given, fields)
            if settled is None:
                row = self.ledger.settle(intent, outcome, given, **fields)
                out_seq, wall = row["seq"], row["wall_time"]
            else:
                out_seq, given = settled        # a damaged tool goes to quarantine, not back on hand
                wall = self.ledger.transaction_row(out_seq)["wall_time"]
            if alert:
                raise_alert(self.ledger.db, loc.id, alert[0], alert[1], out_seq, wall)
            if outcome == "cleared":
                clear_alert(self.ledger.db, loc.id, "lane_jammed", out_seq, wall)
            if outcome == "no_drop" and loc.on_hand > 0 and no_drops_in_a_row(self.ledger, loc.id) >= NO_DROPS_SUSPECT:
                suspect_empty(self.ledger, loc, result.details[-1:], out_seq, wall)
        result.outcomes.append(outcome)
        result.given += given

    def _drop_seen(self, cmd_id):
        seen = getattr(self.cabinet, "drop_seen", None)
        return bool(seen is not None and seen(cmd_id))

    def recover(self):
        """Settle every pending intent before the locker accepts anyone. Returns [(intent seq, outcome)];
        intents the cabinet cannot be asked about right now stay pending (the locker stays closed)."""
        settled = []
        pending = self.ledger.pending_intents()
        if not pending:
            return settled
        try:
            boot = self.cabinet.hello().boot_id     # which boot is running now, not what the link last knew
        except LinkError:
            return settled
        for intent in pending:
            answer = self._settled_answer(intent, boot)
            if answer is None:
                continue
            outcome, given, reason = answer
            loc = find_location(self.ledger, intent["location"])
            self._settle(intent["seq"], outcome, given, loc, IssueResult(loc.id, intent["quantity"]), reason,
                         intent=intent)
            settled.append((intent["seq"], outcome))
        return settled

    def _settled_answer(self, intent, boot):
        """(outcome, given, reason) for a pending intent, or None while the cabinet cannot say yet."""
        try:
            answer = self.cabinet.query(intent["cmd_id"])
        except CabinetError as e:
            if e.code not in (Status.UNKNOWN_ID, Status.STALE_ID):
                return None
            # Commands carry their boot id and a firmware runs only its own boot's: if the boot the intent was
            # for is still running and never saw the id, the command never arrived.
            if e.code == Status.UNKNOWN_ID and intent["fw_boot"] == boot:
                return "not_sent", 0, "boot %d never received it" % boot
            if self._drop_seen(intent["cmd_id"]):
                # The firmware told of the item falling (EV_DROP) before the vend's result was lost to a
                # reset: it came out. How the vend ended is not known, and nothing is turned to find out.
                return ("dropped", 1, "EV_DROP: the beam saw the item fall; the result was lost (boot %d)"
                        % intent["fw_boot"])
            return "unknown", 0, "not provable"
        except LinkError:
            return None
        if not answer.done:
            return None                        # still running: settle on the next pass
        kind = find_location(self.ledger, intent["location"]).kind
        outcome, given = outcome_of(answer, kind, intent["quantity"])
        return outcome, given, None
