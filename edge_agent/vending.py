"""Issuing from spiral lanes and locker doors, and start-up recovery: the durability order in code.

For every unit: the permission check, then an intent row (its seq is the cabinet command id) committed
before anything moves, then the actuation, then the outcome row with what was really given (a lane vend
with no drop is not charged). When the outcome cannot be known (the link timed out, the firmware rebooted)
the intent stays pending and nothing is retried: `recover()` settles pending intents from the firmware's
replay table, and what cannot be proven is recorded as unknown, uncharged, with an alert for a supervisor.
An actuator is never pulsed again on a guess.

`cabinet` is anything with vend(lane, cmd_id), unlock(door, cmd_id) and query(cmd_id) returning a
CommandResult: the agent's CabinetLink, or sim.virtual_host.VirtualCabinet in virtual time."""
from dataclasses import dataclass, field
from typing import List, Optional

from edge_agent.alerts import raise_alert
from edge_agent.errors import CabinetError, LinkError
from edge_agent.permissions import Decision, may_issue
from firmware import messages as M

# What a finished command means for the ledger: (outcome text, units given).
LANE_OUTCOMES = {M.R_VENDED: ("vended", 1), M.R_NO_DROP: ("no_drop", 0), M.R_JAMMED: ("jammed", 0)}
DOOR_OUTCOMES = {M.R_OPENED: ("opened", None), M.R_NOT_OPENED: ("not_opened", 0)}


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


def outcome_of(result, kind, quantity):
    """(outcome, units given) for a finished CommandResult of a lane vend or a door unlock."""
    if result.result == M.R_ABORTED:
        # Cut by link loss or a fault: a drop seen before the cut means the item came out.
        return ("aborted_dropped", 1) if (kind == "lane" and result.detail) else ("aborted", 0)
    table = LANE_OUTCOMES if kind == "lane" else DOOR_OUTCOMES
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
        if loc["kind"] == "lane":
            for _ in range(quantity):          # one vend, one intent, one outcome per unit
                if not self._actuate(loc, 1, result, who):
                    break
        elif loc["kind"] == "door":
            self._actuate(loc, quantity, result, who)
        else:
            raise ValueError("issuing from a %s location is not built yet" % loc["kind"])
        return result

    def _actuate(self, loc, quantity, result, who):
        """One intent, one command, one outcome. False when issuing should stop here."""
        seq, cmd_id = self.ledger.record_intent("issue", location=loc["id"], quantity=quantity, **who)
        try:
            if loc["kind"] == "lane":
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
        return outcome in ("vended", "opened")

    def _settle(self, seq, outcome, given, loc, result, reason=None):
        """The outcome row, and the alert a supervisor needs for it, in one SQLite transaction."""
        alert = None
        if outcome == "jammed":
            alert = ("lane_jammed", "lane %d jammed" % loc["unit"])
        elif outcome == "unknown":
            alert = ("unknown_outcome", "intent %d: outcome unknown, count the location" % seq)
        with self.ledger.transaction():
            out_seq = self.ledger.record_outcome(seq, outcome, given, reason=reason)
            if alert:
                raise_alert(self.ledger.db, loc["id"], alert[0], alert[1], out_seq,
                            self.ledger.transaction_row(out_seq)["wall_time"])
        result.outcomes.append(outcome)
        result.given += given

    def recover(self):
        """Settle every pending intent before the locker accepts anyone. Returns [(intent seq, outcome)];
        intents the cabinet cannot be asked about right now stay pending (the locker stays closed)."""
        settled = []
        for intent in self.ledger.pending_intents():
            loc = self._location(intent["location"])
            try:
                answer = self.cabinet.query(intent["cmd_id"])
            except CabinetError as e:
                if e.code not in (M.E_UNKNOWN_ID, M.E_STALE_ID):
                    continue
                answer = None                  # this boot of the firmware cannot say
            except LinkError:
                continue
            if answer is not None and not answer.done:
                continue                       # still running: settle on the next pass
            if answer is None:
                outcome, given, reason = "unknown", 0, "not provable"
            else:
                outcome, given = outcome_of(answer, loc["kind"], intent["quantity"])
                reason = None
            self._settle(intent["seq"], outcome, given, loc, IssueResult(loc["id"], intent["quantity"]), reason)
            settled.append((intent["seq"], outcome))
        return settled
