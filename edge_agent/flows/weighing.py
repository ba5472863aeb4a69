"""Weigh bins and scan-only bins: counting what a person took from the scale, honestly.

A weigh bin has no actuator: the person reaches in. `WeighBins.begin` checks permission and reads a stable
weight before they touch anything; `Take.finish` reads a stable weight after and records the difference.
The rules:

- Only stable, calibrated readings count. `stable_reading` polls until two stable readings a poll apart
  agree (a lone stable flag may predate a change the load cell has not sampled yet); an uncalibrated bin is
  refused, and a bin that will not settle raises NotStable (finish can be called again, nothing is written).
  A finish that reads the weight before ("nothing taken") reads again after CONFIRM_MS and counts from that:
  the scale's average can still hold samples from before the hand, and a hand in the bin can press about
  what it lifted for a moment, so the same weight twice a poll apart is not yet proof that nothing left.
- A change counts as n pieces only when it is within the tolerance (a fraction of the piece weight, at
  least an absolute floor in mg) of n whole pieces; n = 0 is "nothing taken". Anything else is not counted:
  an `adjustment` row of quantity 0, outcome "flagged", saying grams and pieces, and a bin_weight_mismatch
  alert (a mis-stocked item, a wrong-bin return, drift): a supervisor counts, nobody is charged on a guess.
- Whole pieces down in a take is an `issue` row, up is a `return` row; in a refill, up is a `refill` row
  (weigh bins count the refill by themselves), down is an `adjustment` by the driver plus an alert.
- The baseline (locations.weight_mg) is the last stable weight the ledger has a row for. Every row written
  here moves it to the reading the row was counted from, in the same SQLite transaction as the stock
  change, so the next person's count starts from what is really in the bin, even after a flagged change.
  A change that wrote no row (nothing taken) leaves it alone, so slow drift adds up and gets flagged.
- Permission comes first: issue_refusal with the quantity the person announces (1 at least) before the take,
  refill_refusal before a refill. The scale may then show more than was allowed: what was taken is still
  recorded (it happened) with outcome "over_allowed" and a bin_over_allowed alert.
- A bin that differs from its baseline before anyone touches it (at begin, or at start-up in `recover`) is
  an unexplained change: recorded with no user (whole pieces correct on-hand, anything else does not), a
  bin_unexplained_change alert, and a new baseline, so it is never charged to the person at the bin.
- A take in progress is on record (`open_bin_takes`: who, on what terms, the weight before), written in the
  same transaction as what begin wrote and deleted in the one that records the take. One take per bin: a
  bin held by a take still open in this agent is refused (bin_busy) with who holds it. A row nobody holds
  (the agent stopped mid-take, or a session ended and its take could not be read: `release`) is an
  interrupted take, settled the next time the bin is weighed (start-up `recover`, or the next begin): whole
  pieces are recorded for the person on record (their cost center, work order; outcome "interrupted") with a
  bin_take_interrupted alert saying who and what; a change that is not whole pieces is flagged and names
  them. See docs/decisions/0034-interrupted-takes-and-status-budget.md.

Scan-only bins (kind 'scan': no actuator, no sensor) record the quantity the person states, after the same
issue_refusal check (`issue_scanned`). Refusals are `refusal` rows, raised as the Refusal the screen shows.

`cabinet` is anything with read_bin(bin) -> BinReading; `wait(ms)` defaults to cabinet.wait (virtual time in
sim.virtual_host.VirtualCabinet) or a real sleep. See docs/decisions/0008-weigh-bin-counting.md."""
import time
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.alerts import raise_alert
from edge_agent.ledger.locations import all_locations, find_location
from edge_agent.link.errors import LinkError
from edge_agent.rules.permissions import approver_id, issue_refusal, refill_refusal
from edge_agent.rules.refusal import Refusal

TOLERANCE = 0.25          # of a piece weight: 3.2 pieces by weight is 3, 3.3 is flagged
FLOOR_MG = 500            # tolerance never below this: the scale's own noise after averaging
POLL_MS = 250             # between reads: more than two HX711 samples (10/s), so a change shows as unstable
TRIES = 40                # 10 s for a hand to leave the bin and the reading to settle
CONFIRM_MS = 1000         # "nothing taken" is read again this much later: longer than the firmware's average
                          # (8 samples at 10/s), so no sample from before the hand is left in it

MISMATCH = "bin_weight_mismatch"
OVER_ALLOWED = "bin_over_allowed"
UNEXPLAINED = "bin_unexplained_change"
REMOVED_AT_REFILL = "bin_removed_at_refill"
INTERRUPTED = "bin_take_interrupted"


class NotStable(Exception):
    """The bin gave no stable reading within the tries; nothing was recorded."""


@dataclass(frozen=True)
class Counted:
    location: str
    action: str                     # issue, return, refill, adjustment, flagged, baseline, none
    quantity: int = 0               # pieces recorded (0 when flagged or nothing moved)
    weight_mg: Optional[int] = None  # the stable change it was counted from (None for scan-only)
    seq: Optional[int] = None       # the ledger row, None when nothing was written
    alert: Optional[str] = None     # the alert kind raised, if any


def whole_pieces(delta_mg, piece_mg, tolerance=TOLERANCE, floor_mg=FLOOR_MG):
    """The signed whole number of pieces a weight change is, or None when it is not close to one."""
    n = round(delta_mg / piece_mg)
    return n if abs(delta_mg - n * piece_mg) <= max(tolerance * piece_mg, floor_mg) else None


def waiter(cabinet, wait=None):
    """wait(ms): the one given, else the cabinet's (virtual time), else a real sleep."""
    return wait or getattr(cabinet, "wait", None) or (lambda ms: time.sleep(ms / 1000))


def stable_reading(cabinet, bin, *, tries=TRIES, poll_ms=POLL_MS, agree_mg=FLOOR_MG, wait=None):
    """A stable reading confirmed by the next one; an uncalibrated reading at once (waiting cannot help)."""
    wait = waiter(cabinet, wait)
    last = None
    for _ in range(tries):
        reading = cabinet.read_bin(bin)
        if not reading.calibrated:
            return reading
        if reading.stable and last is not None and abs(reading.weight_mg - last.weight_mg) <= agree_mg:
            return reading
        last = reading if reading.stable else None
        wait(poll_ms)
    raise NotStable("bin %d: no stable reading after %d reads" % (bin, tries))


def _grams(mg):
    return "%+.1f g" % (mg / 1000)


class WeighBins:
    def __init__(self, ledger, cabinet, *, tolerance=TOLERANCE, floor_mg=FLOOR_MG, tries=TRIES,
                 poll_ms=POLL_MS, confirm_ms=CONFIRM_MS, wait=None):
        self.ledger = ledger
        self.cabinet = cabinet
        self.tolerance = tolerance
        self.floor_mg = floor_mg
        self.tries = tries
        self.poll_ms = poll_ms
        self.confirm_ms = confirm_ms
        self.wait = wait
        self.held = {}            # location -> the Take open on it in this agent (its row is in open_bin_takes)

    def read(self, unit):
        return stable_reading(self.cabinet, unit, tries=self.tries, poll_ms=self.poll_ms, agree_mg=self.floor_mg,
                              wait=self.wait)

    def read_later(self, unit):
        """A stable reading confirm_ms from now (see CONFIRM_MS)."""
        waiter(self.cabinet, self.wait)(self.confirm_ms)
        return self.read(unit)

    def pieces(self, delta_mg, piece_mg):
        return whole_pieces(delta_mg, piece_mg, self.tolerance, self.floor_mg)

    def _bin(self, location_id):
        loc = find_location(self.ledger, location_id)
        if loc is None or loc.kind != "bin":
            raise ValueError("%s is not a weigh bin" % location_id)
        return loc

    # -- sessions ----------------------------------------------------------------------------------------
    def begin(self, person, location_id, quantity=1, *, work_order=None, machine_id=None, approver=None):
        """Check the person may take `quantity` (what they announce) and read the weight before; returns a
        Take to finish() once they are done; raises the Refusal (on record)."""
        loc = self._bin(location_id)
        refusal = issue_refusal(self.ledger, person, location_id, max(1, quantity), work_order=work_order,
                                machine_id=machine_id, approver=approver, loc=loc)
        who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
                   machine_id=machine_id, approver_id=approver_id(person, approver))
        return self._open("issue", person, loc, quantity, refusal, who,
                          dict(work_order=work_order, machine_id=machine_id, approver=approver))

    def refill_bin(self, person, location_id):
        """Check the person may refill the bin (drivers only their supplier's) and read the weight before."""
        loc = self._bin(location_id)
        refusal = refill_refusal(self.ledger, person, location_id, loc=loc)
        return self._open("refill", person, loc, None, refusal, dict(user_id=person.user_id), {})

    def _open(self, purpose, person, loc, quantity, refusal, who, terms):
        """The take on record and held, once the bin may count; loc: the bin (_bin)."""
        reading = None
        if refusal is None:
            refusal = self._busy(loc, person)
        if refusal is None:
            refusal, reading = self._ready(loc)
        if refusal:
            raise refusal.record(self.ledger, location=loc.id, quantity=quantity, **who)
        with self.ledger.transaction():
            unexplained = self._reconcile(loc, reading)
            row = dict(dict(cost_center=None, work_order=None, machine_id=None, approver_id=None), **who)
            row.update(location=loc.id, purpose="take" if purpose == "issue" else "refill", announced=quantity,
                       before_mg=reading.weight_mg, opened_wall=self.ledger.clock.wall()[0])
            self.ledger.conn.execute("INSERT INTO open_bin_takes (%s) VALUES (%s)" % (
                ", ".join(row), ", ".join("?" * len(row))), tuple(row.values()))
        take = self.held[loc.id] = Take(self, purpose, person, loc, reading, who, terms, unexplained)
        return take

    def _busy(self, loc, person):
        """The Refusal when a take still open in this agent holds the bin, else None."""
        holder = self.held.get(loc.id)
        if holder is None:
            return None
        if holder.person.user_id == person.user_id:
            return Refusal("bin_busy", "Bin %s is already open for you: finish that take first." % loc.id)
        return Refusal("bin_busy", "Bin %s is open for %s right now. Wait until they are done." % (loc.id,
                                                                                            holder.person.name))

    def release(self, keep=None):
        """Every take open in this agent but `keep` (its session ended: logout, idle, another badge) is
        finished for its person now; one whose bin cannot be read stays on record, settled as interrupted
        when the bin is next weighed. Returns {location: Counted or the error}."""
        done = {}
        for location, take in list(self.held.items()):
            if take is keep:
                continue
            try:
                done[location] = take.finish()
            except (NotStable, LinkError) as e:
                done[location] = e
            self.held.pop(location, None)
        return done

    def _ready(self, loc):
        """(None, stable reading) when this bin can count now, else (the Refusal, None)."""
        piece = loc.piece_weight_mg
        if not piece or 2 * max(self.tolerance * piece, self.floor_mg) >= piece:
            return Refusal("no_piece_weight", "Bin %s cannot count by weight (no usable piece weight). "
                                                  "Ask your supervisor." % loc.id), None
        try:
            reading = self.read(loc.unit)
        except NotStable:
            return Refusal("not_stable", "Bin %s is still moving. Take your hand out and try again."
                               % loc.id), None
        if not reading.calibrated:
            return Refusal("not_calibrated", "Bin %s is not calibrated and cannot count. Ask your "
                                                 "supervisor." % loc.id), None
        return None, reading

    # -- recording ---------------------------------------------------------------------------------------
    def _record(self, loc, kind, weight_mg, new_baseline, alert=None, **fields):
        """One row, its stock change, the new baseline and the alert: all of it lands, or none of it."""
        with self.ledger.transaction():
            row = self.ledger.append(kind, location=loc.id, weight_mg=weight_mg, **fields)
            self.ledger.db.execute("UPDATE locations SET weight_mg = ? WHERE id = ?", [new_baseline, loc.id])
            if alert:
                raise_alert(self.ledger.db, loc.id, alert[0], alert[1], row["seq"], row["wall_time"])
        return row

    def _flag_mismatch(self, loc, delta, reading, context="", **who):
        piece = loc.piece_weight_mg
        why = "%s%s is %.2f pieces of %.1f g: not a whole number, not counted" % (
            context, _grams(delta), delta / piece, piece / 1000)
        row = self._record(loc, "adjustment", delta, reading.weight_mg, (MISMATCH, why + "; count the bin"),
                           quantity=0, outcome="flagged", reason=why, **who)
        return Counted(loc.id, "flagged", 0, delta, row["seq"], MISMATCH)

    def _reconcile(self, loc, reading):
        """Compare the scale with the baseline before anyone touches the bin (or settle the interrupted take
        left on it); None when they agree."""
        left = self.ledger.one("SELECT * FROM open_bin_takes WHERE location = ?", (loc.id,))
        if left is not None:
            settled = self._settle_interrupted(loc, reading, left)
            if settled is not None:
                return settled
            loc = self._bin(loc.id)           # nothing taken: the bin against its baseline, as usual
        if loc.weight_mg is None:          # first weighing: adopt it, and say if it is not what the ledger holds
            on_hand = self.ledger.on_hand(loc.id)
            differs = self.pieces(reading.weight_mg - on_hand * loc.piece_weight_mg, loc.piece_weight_mg) != 0
            alert = (MISMATCH, "first weighing %s is not the %d pieces on record; count the bin"
                     % (_grams(reading.weight_mg), on_hand)) if differs else None
            row = self._record(loc, "adjustment", None, reading.weight_mg, alert, quantity=0, outcome="baseline",
                               reason="first stable weight %s" % _grams(reading.weight_mg))
            return Counted(loc.id, "baseline", 0, None, row["seq"], alert and alert[0])
        delta = reading.weight_mg - loc.weight_mg
        n = self.pieces(delta, loc.piece_weight_mg)
        if n == 0:
            return None
        if n is None:
            counted = self._flag_mismatch(loc, delta, reading)
        else:                                 # the scale is sure of the pieces, not of who: no user on it
            why = "%d pieces by weight (%s) with nobody at the bin" % (n, _grams(delta))
            row = self._record(loc, "adjustment", delta, reading.weight_mg, (UNEXPLAINED, why + "; check it"),
                               quantity=n, outcome="unexplained", reason=why)
            counted = Counted(loc.id, "adjustment", n, delta, row["seq"], UNEXPLAINED)
        return counted

    def _settle_interrupted(self, loc, reading, left):
        """A take on record that nobody finished: what the scale says now against its weight before, for the
        person on record. None (and the record gone) when nothing moved."""
        who = {k: left[k] for k in ("user_id", "cost_center", "work_order", "machine_id", "approver_id")}
        named = self.ledger.db.execute("SELECT name FROM users WHERE id = ?", [left["user_id"]]).fetchone()
        person = "%s (%s)" % (named[0], left["user_id"]) if named else left["user_id"]
        delta = reading.weight_mg - left["before_mg"]
        n = self.pieces(delta, loc.piece_weight_mg)
        with self.ledger.transaction():
            self.ledger.db.execute("DELETE FROM open_bin_takes WHERE location = ?", [loc.id])
            if n == 0:
                return None
            context = "%s by %s, opened %s and cut short before it was finished: " % (
                "refill" if left["purpose"] == "refill" else "take", person, left["opened_wall"])
            if n is None:
                return self._flag_mismatch(loc, delta, reading, context, **who)
            if left["purpose"] == "refill":
                kind = "refill" if n > 0 else "adjustment"
                what = "%d pieces %s" % (abs(n), "put in" if n > 0 else "taken out during the refill")
            else:
                kind = "return" if n > 0 else "issue"
                terms = " / ".join(filter(None, [left["cost_center"], left["work_order"], left["machine_id"]]))
                charged = "charged to " + (terms or "them")
                what = "%d pieces %s" % (abs(n), "put back" if n > 0 else "taken, " + charged)
            why = "%s%s by weight (%s), recorded for them" % (context, what, _grams(delta))
            quantity = n if kind == "adjustment" else abs(n)      # an adjustment is signed, the rest are not
            row = self._record(loc, kind, delta, reading.weight_mg, (INTERRUPTED, why + "; check it with them"),
                               quantity=quantity, outcome="interrupted", reason=why, **who)
        return Counted(loc.id, kind, quantity, delta, row["seq"], INTERRUPTED)

    def recover(self):
        """At start-up, before anyone is let in: every weigh bin's scale against its baseline. Returns
        {location: Counted (None when it agrees) or the Refusal saying why it could not be checked}."""
        checked = {}
        for loc in sorted(all_locations(self.ledger, ["bin"]), key=lambda loc: loc.id):
            refusal, reading = self._ready(loc)
            checked[loc.id] = refusal or self._reconcile(loc, reading)
        return checked


class Take:
    """A person at one weigh bin, between begin (weight before) and finish (weight after)."""

    def __init__(self, bins, purpose, person, loc, before, who, terms, unexplained):
        self.bins = bins
        self.purpose = purpose              # "issue" or "refill"
        self.person = person
        self.location = loc
        self.before = before
        self.who = who
        self.terms = terms
        self.unexplained = unexplained      # what begin found and recorded before the person's turn
        self.result = None

    def finish(self):
        """Read the weight after and record what it says. Raises NotStable (nothing recorded, call again)."""
        if self.result is not None:
            return self.result
        bins, loc = self.bins, self.location
        after = bins.read(loc.unit)
        delta = after.weight_mg - self.before.weight_mg
        if after.calibrated and bins.pieces(delta, loc.piece_weight_mg) == 0:
            after = bins.read_later(loc.unit)     # "nothing taken" may be a reading from before the hand
            delta = after.weight_mg - self.before.weight_mg
        if not after.calibrated:
            raise NotStable("bin %s lost its calibration during the take" % loc.id)
        n = bins.pieces(delta, loc.piece_weight_mg)
        with bins.ledger.transaction():        # the take leaves open_bin_takes with what records it
            bins.ledger.db.execute("DELETE FROM open_bin_takes WHERE location = ?", [loc.id])
            if n == 0:
                result = Counted(loc.id, "none", 0, delta)
            elif n is None:
                result = bins._flag_mismatch(loc, delta, after, **self.who)
            elif self.purpose == "refill":
                result = self._refill(n, delta, after)
            else:
                result = self._take(n, delta, after)
        self.result = result
        if bins.held.get(loc.id) is self:
            del bins.held[loc.id]
        return self.result

    def _take(self, n, delta, after):
        bins, loc = self.bins, self.location
        if n > 0:                             # weight went up: put back
            row = bins._record(loc, "return", delta, after.weight_mg, quantity=n, **self.who)
            return Counted(loc.id, "return", n, delta, row["seq"])
        taken = -n
        # Checked again with what the scale says was taken: it happened either way, so it is recorded.
        refusal = issue_refusal(bins.ledger, self.person, loc.id, taken, **self.terms)
        alert = None
        if refusal:
            alert = (OVER_ALLOWED, "%s took %d: %s" % (self.person.user_id, taken, refusal.words))
        row = bins._record(loc, "issue", delta, after.weight_mg, alert, quantity=taken,
                           outcome="over_allowed" if refusal else None, reason=refusal and refusal.reason,
                           **self.who)
        return Counted(loc.id, "issue", taken, delta, row["seq"], alert and alert[0])

    def _refill(self, n, delta, after):
        bins, loc = self.bins, self.location
        if n > 0:
            row = bins._record(loc, "refill", delta, after.weight_mg, quantity=n, **self.who)
            return Counted(loc.id, "refill", n, delta, row["seq"])
        why = "%d pieces taken out during a refill (%s)" % (-n, _grams(delta))
        row = bins._record(loc, "adjustment", delta, after.weight_mg, (REMOVED_AT_REFILL, why), quantity=n,
                           outcome="removed_at_refill", reason=why, **self.who)
        return Counted(loc.id, "adjustment", n, delta, row["seq"], REMOVED_AT_REFILL)


def issue_scanned(ledger, person, location_id, quantity, *, work_order=None, machine_id=None, approver=None):
    """A scan-only bin: record the quantity the person states, after issue_refusal. Returns Counted; raises
    the Refusal (on record)."""
    loc = find_location(ledger, location_id)
    if loc is None or loc.kind != "scan":
        raise ValueError("%s is not a scan-only bin" % location_id)
    refusal = issue_refusal(ledger, person, location_id, quantity, work_order=work_order, machine_id=machine_id,
                            approver=approver, loc=loc)
    who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
               machine_id=machine_id, approver_id=approver_id(person, approver))
    if refusal:
        raise refusal.record(ledger, location=location_id, quantity=quantity, **who)
    row = ledger.append("issue", location=location_id, quantity=quantity, outcome="stated", **who)
    return Counted(location_id, "issue", quantity, None, row["seq"])
