"""Refill mode for a route driver, on the ledger: the pick list for this visit, then per location the refill
and the count the driver confirms. A driver sees and touches only their own supplier's locations (the
agent enforces it here, whatever the screen shows). Min/max closes a location's task and clears its alerts
by itself once the stock is back at or above min (edge_agent/ledger/minmax.py). A locker door is unlocked
for the refill through the actuation core (an intent like any actuation, nothing charged); lanes and bins
sit behind the cabinet's service door, opened with the driver's key. Refusals are on record and raised.

The pick list (decision 0031): the open refill tasks (below min) first, then top-off lines up to max for
the driver's other locations below max (they are at the cabinet anyway), then the open count tasks the
driver counts with nothing added. A refill is recorded with the driver's count after loading: `counted`
is required except at a weigh bin (the scale counts what goes in, flows/weighing.py). Every line done goes
into the driver's open visit (flows/refill_visits.py)."""
from dataclasses import dataclass, field, replace
from typing import Optional

from edge_agent.flows import refill_visits
from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.ledger import count_tasks
from edge_agent.ledger.locations import find_location
from edge_agent.ledger.minmax import refill_quantity
from edge_agent.rules.bounds import refill_ceiling
from edge_agent.rules.permissions import refill_refusal
from edge_agent.rules.roles import SUPPLIER_BOUND

REFILL, TOP_OFF, COUNT = "refill", "top_off", "count"     # the kinds of pick line, in the list's order


@dataclass(frozen=True)
class PickLine:
    location: str
    sku: str
    description: str
    on_hand: int
    maximum: int
    quantity: int          # to bring: up to max in whole refill packs (0 for a count line)
    kind: Optional[str] = field(default=None, compare=False)   # lane, door, bin or scan: how the screen opens it
    unit: Optional[int] = field(default=None, compare=False)   # its door, lane or bin number
    line: str = field(default=REFILL, compare=False)           # refill (below min), top_off or count
    reason: Optional[str] = field(default=None, compare=False)  # a count line's: why it is to be counted


@dataclass(frozen=True)
class RefillDone:
    location: str
    added: int
    on_hand: int
    corrected_from: Optional[int] = None     # what the ledger thought was there, when the count differed


_LINE = ("SELECT l.id, l.sku, coalesce(s.description, l.sku, l.id) AS description, l.on_hand, l.max, %s, l.kind, "
         "l.unit FROM %s LEFT JOIN skus s ON s.part_number = l.sku WHERE %s")


def open_count_tasks(ledger):
    """{location: reason} of the open count tasks (ledger/count_tasks.py)."""
    return {task["location"]: task["reason"] for task in count_tasks.open_count_tasks(ledger)}


def pick_list(ledger, person):
    """This person's lines, in order: open refill tasks, top-off lines, count lines (each by location)."""
    where, args = "", []
    if person.role in SUPPLIER_BOUND:
        where, args = " AND s.supplier = ?", [person.supplier]
    db = ledger.db
    below = [PickLine(*row) for row in db.execute(
        _LINE % ("t.quantity", "refill_tasks t JOIN locations l ON l.id = t.location",
                 "t.closed_seq IS NULL" + where + " ORDER BY l.id"), args)]
    listed = {line.location for line in below}
    top_off = []
    for row in db.execute(_LINE % ("l.refill_pack", "locations l", "l.sku IS NOT NULL AND l.returnable = 0 "
                                   "AND l.max > 0 AND l.on_hand >= l.min AND l.on_hand < l.max" + where +
                                   " ORDER BY l.id"), args):
        if row[0] not in listed:
            top_off.append(PickLine(*row[:5], refill_quantity(row[3], row[4], row[5]), *row[6:], line=TOP_OFF))
    listed |= {line.location for line in top_off}
    tasks = open_count_tasks(ledger)
    counts = []
    for location, reason in tasks.items():
        row = db.execute(_LINE % ("0", "locations l", "l.id = ?" + where), [location] + args).fetchone()
        if row is not None and location not in listed:     # else its refill line's count settles it
            counts.append(PickLine(*row, line=COUNT, reason=reason))
    return ([replace(line, reason=tasks.get(line.location)) for line in below + top_off]
            + sorted(counts, key=lambda line: line.location))


def count_required(location, added):
    """The words when a refill of `added` into `location` (a Location) comes without the driver's count, else
    None. A weigh bin's scale counts what goes in (its refill goes through weighing), unless nothing did."""
    if location.kind == "bin" and added:
        return None
    return ("Count what is in %s now and enter that count: a refill is recorded with the count after "
            "loading." % location.id)


def confirm_refill(ledger, person, location, added, counted=None):
    """Record `added` units put in (none: a count line) and the driver's count after it (required but at a
    weigh bin): a count that differs from the ledger is written as a count row (so is any count where a
    count task is open: it settles it). The line goes into the driver's open visit. Returns RefillDone;
    raises the Refusal (on record), ValueError for a quantity out of bounds or a missing count."""
    refusal = refill_refusal(ledger, person, location)
    if refusal:
        raise refusal.record(ledger, user_id=person.user_id, location=location, quantity=added)
    if added < 0 or (counted is not None and counted < 0):
        raise ValueError("quantities must not be negative")
    loc = find_location(ledger, location)
    ceiling = refill_ceiling(loc)
    if added > ceiling or (counted is not None and counted > ceiling):
        raise ValueError("%s holds at most %d: a refill cannot put in or count more" % (location, ceiling))
    if counted is None and count_required(loc, added):
        raise ValueError(count_required(loc, added))
    with ledger.transaction():
        if added:                          # a count line puts nothing in: no refill row
            ledger.append("refill", user_id=person.user_id, location=location, quantity=added)
        expected = ledger.on_hand(location)
        corrected = None
        if counted is not None and (counted != expected or location in open_count_tasks(ledger)):
            ledger.append("count", user_id=person.user_id, location=location, quantity=counted,
                          reason="count at refill")
            corrected = expected if counted != expected else None
        refill_visits.add_line(ledger, person.user_id, location, loc.sku, added, counted, expected)
    return RefillDone(location, added, ledger.on_hand(location), corrected)


def weighed_in(ledger, person, counted):
    """A weigh bin's refill as the scale counted it (weighing.Counted): a line of the driver's visit."""
    if counted.action == "refill":
        loc = find_location(ledger, counted.location)
        refill_visits.add_line(ledger, person.user_id, loc.id, loc.sku, counted.quantity, None, loc.on_hand)


def open_for_refill(ledger, cabinet, person, location):
    """Unlock a locker door for the driver to refill (intent 'refill', quantity 0); for a lane or a bin
    nothing moves (the service door is the driver's key). Returns the IssueResult; raises the Refusal."""
    refusal = refill_refusal(ledger, person, location)
    if refusal:
        raise refusal.record(ledger, user_id=person.user_id, location=location)
    result = IssueResult(location, 0)
    loc = find_location(ledger, location)
    if loc.kind == "door":
        Actuator(ledger, cabinet).run(loc, 0, result, dict(user_id=person.user_id), action="refill")
    return result
