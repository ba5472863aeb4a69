"""Refill mode for a route driver, on the ledger: the pick list for this visit, then per location the refill
and the count the driver confirms. A driver sees and touches only their own supplier's locations (the
agent enforces it here, whatever the screen shows). Min/max closes a location's task and clears its alerts
by itself once the stock is back at or above min (edge_agent/ledger/minmax.py). A locker door is unlocked
for the refill through the actuation core (an intent like any actuation, nothing charged); lanes and bins
sit behind the cabinet's service door, opened with the driver's key. Refusals are on record and raised."""
from dataclasses import dataclass, field
from typing import Optional

from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.ledger.locations import find_location
from edge_agent.rules.bounds import refill_ceiling
from edge_agent.rules.permissions import refill_refusal
from edge_agent.rules.roles import SUPPLIER_BOUND


@dataclass(frozen=True)
class PickLine:
    location: str
    sku: str
    description: str
    on_hand: int
    maximum: int
    quantity: int          # to bring: up to max in whole refill packs
    kind: Optional[str] = field(default=None, compare=False)   # lane, door, bin or scan: how the screen opens it
    unit: Optional[int] = field(default=None, compare=False)   # its door, lane or bin number


@dataclass(frozen=True)
class RefillDone:
    location: str
    added: int
    on_hand: int
    corrected_from: Optional[int] = None     # what the ledger thought was there, when the count differed


def pick_list(ledger, person):
    """Open refill tasks this person may work, in location order."""
    query = ("SELECT t.location, t.sku, coalesce(s.description, t.sku) AS description, l.on_hand, l.max, "
             "t.quantity, l.kind, l.unit FROM refill_tasks t JOIN locations l ON l.id = t.location "
             "LEFT JOIN skus s ON s.part_number = t.sku WHERE t.closed_seq IS NULL")
    args = []
    if person.role in SUPPLIER_BOUND:
        query += " AND s.supplier = ?"
        args.append(person.supplier)
    query += " ORDER BY t.location"
    return [PickLine(*row) for row in ledger.db.execute(query, args).fetchall()]


def confirm_refill(ledger, person, location, added, counted=None):
    """Record `added` units put in; with `counted`, the driver's count after the refill corrects the
    ledger (a count row) when it differs. Returns RefillDone; raises the Refusal (on record)."""
    refusal = refill_refusal(ledger, person, location)
    if refusal:
        raise refusal.record(ledger, user_id=person.user_id, location=location, quantity=added)
    if added < 0 or (counted is not None and counted < 0):
        raise ValueError("quantities must not be negative")
    ceiling = refill_ceiling(find_location(ledger, location))
    if added > ceiling or (counted is not None and counted > ceiling):
        raise ValueError("%s holds at most %d: a refill cannot put in or count more" % (location, ceiling))
    with ledger.transaction():
        ledger.append("refill", user_id=person.user_id, location=location, quantity=added)
        expected = ledger.on_hand(location)
        corrected = None
        if counted is not None and counted != expected:
            ledger.append("count", user_id=person.user_id, location=location, quantity=counted,
                          reason="count at refill")
            corrected = expected
    return RefillDone(location, added, ledger.on_hand(location), corrected)


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
