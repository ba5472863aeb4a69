"""Issuing from spiral lanes and locker doors, and start-up recovery: the durability order in code.

For every unit: the permission check, then an intent row (its seq is the cabinet command id) committed
before anything moves, then the actuation, then the outcome row with what was really given (a lane vend
with no drop is not charged). When the outcome cannot be known (the link timed out, the firmware rebooted)
the intent stays pending and nothing is retried: `recover()` settles pending intents from the firmware's
replay table or, for a vend the firmware can no longer answer for, from the EV_DROP the link received
before the answer was lost (the item came out: `dropped`, charged), and what cannot be proven is recorded
as unknown, uncharged, with an alert for a supervisor. An actuator is never pulsed again on a guess.

The same machinery runs tool check-out and check-in (edge_agent/flows/loans.py, actions 'issue' and 'return' at a
returnable door) and a supervisor's lane clear (edge_agent/flows/stock.py, action 'clear_lane'). Settling an
outcome asks tools.settle first, so a tool loan opens or closes in the outcome's SQLite transaction whether
the answer came at once or through recover(). An issue approved by a supervisor carries approver_id on its
intent and outcome rows.

An installer's tare and calibration of a weigh bin (agent.py, actions 'tare' and 'calibrate') go through
`_actuate` the same way: intent, command, outcome ("done" or "failed"), nothing given.

`cabinet` is anything with vend(lane, cmd_id), unlock(door, cmd_id), clear_lane(lane, cmd_id), tare(bin, cmd_id),
calibrate(bin, cmd_id, known_mg) and query(cmd_id) returning a CommandResult, and optionally drop_seen(cmd_id):
the agent's CabinetLink, or sim.virtual_host.VirtualCabinet in virtual time."""
from dataclasses import dataclass, field
from typing import List, Optional

from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.link.errors import CabinetError, LinkError
from edge_agent.rules.permissions import UNRESTRICTED, Decision, may_issue
from firmware import messages as M

# What a finished command means for the ledger: (outcome text, units given).
# R_OK on a lane answers CLEAR_LANE (the only other lane command the agent logs, HOME_CHECK, is not sent).
LANE_OUTCOMES = {M.R_VENDED: ("vended", 1), M.R_NO_DROP: ("no_drop", 0), M.R_JAMMED: ("jammed", 0),
                 M.R_OK: ("cleared", 0)}
DOOR_OUTCOMES = {M.R_OPENED: ("opened", None), M.R_NOT_OPENED: ("not_opened", 0)}
# An installer's tare or calibration of a weigh bin: nothing given either way.
BIN_OUTCOMES = {M.R_OK: ("done", 0), M.R_FAILED: ("failed", 0)}


@dataclass
class IssueResult:
    location: str
    asked: int
    given: int = 0
    outcomes: List[str] = field(default_factory=list)
    refused: Optional[Decision] = None
    unknown: bool = False          # an outcome could not be known now; recovery settles it

    @property
    def ok(self):
        return self.refused is None and not self.unknown and self.given == self.asked


def approver_id(person, approver):
    """The approver's user id for the record, or None: only someone who may approve (permissions.UNRESTRICTED,
    not the taker) is written as approver, whoever else badged."""
    if approver is not None and approver.role in UNRESTRICTED and approver.user_id != person.user_id:
        return approver.user_id
    return None


def outcome_of(result, kind, quantity):
    """(outcome, units given) for a finished CommandResult of a lane vend or a door unlock."""
    if result.result == M.R_ABORTED:
        # Cut by link loss or a fault: a drop seen before the cut means the item came out.
        return ("aborted_dropped", 1) if (kind == "lane" and result.detail) else ("aborted", 0)
    table = {"lane": LANE_OUTCOMES, "bin": BIN_OUTCOMES}.get(kind, DOOR_OUTCOMES)
    outcome, given = table.get(result.result, ("result_%d" % result.result, 0))
    return outcome, quantity if given is None else given


class Vending:
    def __init__(self, ledger, cabinet):
        self.ledger = ledger
        self.cabinet = cabinet

    def _location(self, location_id):
        rows = list(self.ledger.db.query("SELECT id, kind, unit FROM locations WHERE id = ?", [location_id]))
        return rows[0] if rows else None

    def issue(self, person, location_id, quantity, *, work_order=None, machine_id=None, approver=None):
        result = IssueResult(location_id, quantity)
        decision = may_issue(self.ledger, person, location_id, quantity, work_order=work_order,
                             machine_id=machine_id, approver=approver)
        who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
                   machine_id=machine_id)
        if not decision.allowed:
            self.ledger.append("refusal", location=location_id, quantity=quantity, reason=decision.reason, **who)
            result.refused = decision
            return result
        loc = self._location(location_id)
        if loc["kind"] == "lane" and self.ledger.db.execute(
                "SELECT 1 FROM alerts WHERE location = ? AND kind = 'lane_jammed' AND cleared_wall IS NULL",
                [location_id]).fetchone():
            # The ledger remembers a jam the firmware may have forgotten (a reset re-enables its lanes):
            # no motor runs until a supervisor has freed the spiral and cleared the lane.
            decision = Decision.no("lane_jammed", "Lane %d is jammed. A supervisor must clear it first."
                                   % loc["unit"])
            self.ledger.append("refusal", location=location_id, quantity=quantity, reason=decision.reason, **who)
            result.refused = decision
            return result
        who["approver_id"] = approver_id(person, approver)     # after the check: a refusal names no approver
        if loc["kind"] == "lane":
            for _ in range(quantity):          # one vend, one intent, one outcome per unit
                if not self._actuate(loc, 1, result, who):
                    break
        elif loc["kind"] == "door":
            self._actuate(loc, quantity, result, who)
        else:
            raise ValueError("issuing from a %s location is not built yet" % loc["kind"])
        return result

    def _actuate(self, loc, quantity, result, who, action="issue", known_mg=None):
        """One intent, one command, one outcome. False when issuing should stop here.
        who: the intent's other fields (user, cost center, approver, condition, reason).
        action 'tare' and 'calibrate' (known_mg: the reference weight) run on a weigh bin."""
        try:
            boot = self._firmware_boot()
        except LinkError:
            # Nothing written, nothing sent: the person is told, and may try again.
            result.refused = Decision.no("cabinet_offline", "The cabinet is not answering. Try again, or call "
                                                            "your supervisor if it goes on.")
            return False
        seq, cmd_id = self.ledger.record_intent(action, location=loc["id"], quantity=quantity, fw_boot=boot,
                                                **who)
        try:
            if action == "clear_lane":
                answer = self.cabinet.clear_lane(loc["unit"], cmd_id)
            elif action == "tare":
                answer = self.cabinet.tare(loc["unit"], cmd_id)
            elif action == "calibrate":
                answer = self.cabinet.calibrate(loc["unit"], cmd_id, known_mg)
            elif loc["kind"] == "lane":
                answer = self.cabinet.vend(loc["unit"], cmd_id)
            else:
                answer = self.cabinet.unlock(loc["unit"], cmd_id)
        except CabinetError as e:
            # The firmware refused: nothing moved (a jammed lane, a busy cabinet past the deadline).
            self._settle(seq, "refused_%s" % e.name.lower(), 0, loc, result)
            return False
        except LinkError:
            result.unknown = True              # a copy may have reached the cabinet: recover() decides
            return False
        outcome, given = outcome_of(answer, loc["kind"], quantity)
        self._settle(seq, outcome, given, loc, result)
        return outcome in ("vended", "opened", "cleared", "done")

    def _firmware_boot(self):
        """The firmware boot the next command goes to (saying HELLO when the link does not know it yet)."""
        if self.cabinet.boot_id is None:
            self.cabinet.hello()
        return self.cabinet.boot_id

    def _settle(self, seq, outcome, given, loc, result, reason=None):
        """The outcome row, the tool loan it opens or closes, and the alert a supervisor needs for it (or the
        jam alert a clear ends), in one SQLite transaction."""
        from edge_agent.flows import loans       # loans.py builds on Vending: imported here to avoid an import cycle
        alert = None
        if outcome == "jammed":
            alert = ("lane_jammed", "lane %d jammed" % loc["unit"])
        elif outcome == "unknown":
            alert = ("unknown_outcome", "intent %d: outcome unknown, count the location" % seq)
        with self.ledger.transaction():
            intent = self.ledger.transaction_row(seq)
            # record_outcome copies who and what from the intent; approver and condition are passed on here.
            fields = dict(reason=reason, approver_id=intent["approver_id"], condition=intent["condition"])
            settled = loans.settle(self.ledger, intent, outcome, given, fields)
            if settled is None:
                out_seq = self.ledger.record_outcome(seq, outcome, given, **fields)
            else:
                out_seq, given = settled        # a damaged tool goes to quarantine, not back on hand
            wall = self.ledger.transaction_row(out_seq)["wall_time"]
            if alert:
                raise_alert(self.ledger.db, loc["id"], alert[0], alert[1], out_seq, wall)
            if outcome == "cleared":
                clear_alert(self.ledger.db, loc["id"], "lane_jammed", out_seq, wall)
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
            loc = self._location(intent["location"])
            try:
                answer = self.cabinet.query(intent["cmd_id"])
            except CabinetError as e:
                if e.code not in (M.E_UNKNOWN_ID, M.E_STALE_ID):
                    continue
                answer = None                  # this boot of the firmware cannot say
                # Commands carry their boot id and a firmware runs only its own boot's: if the boot the intent
                # was for is still running and never saw the id, the command never arrived.
                never_arrived = e.code == M.E_UNKNOWN_ID and intent["fw_boot"] == boot
            except LinkError:
                continue
            if answer is not None and not answer.done:
                continue                       # still running: settle on the next pass
            if answer is None and never_arrived:
                outcome, given, reason = "not_sent", 0, "boot %d never received it" % boot
            elif answer is None and self._drop_seen(intent["cmd_id"]):
                # The firmware told of the item falling (EV_DROP) before the vend's result was lost to a
                # reset: it came out. How the vend ended is not known, and nothing is turned to find out.
                outcome, given = "dropped", 1
                reason = "EV_DROP: the beam saw the item fall; the result was lost (boot %d)" % intent["fw_boot"]
            elif answer is None:
                outcome, given, reason = "unknown", 0, "not provable"
            else:
                outcome, given = outcome_of(answer, loc["kind"], intent["quantity"])
                reason = None
            self._settle(intent["seq"], outcome, given, loc, IssueResult(loc["id"], intent["quantity"]), reason)
            settled.append((intent["seq"], outcome))
        return settled
