"""Refill mode for a route driver, on the ledger: the pick list for this visit, then per location the refill
and the count the driver confirms. A driver sees and touches only their own supplier's locations (the
agent enforces it here, whatever the screen shows). Min/max closes a location's task and clears its alerts
by itself once the stock is back at or above min (edge_agent/ledger/minmax.py). Opening the door or lane for the
refill is the vending side's job; this records what was put in."""
from dataclasses import dataclass, field
from typing import Optional

from edge_agent.rules.permissions import SUPPLIER_BOUND, may_refill


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
    ledger (a count row) when it differs. Returns RefillDone, or the refusing Decision (on record)."""
    decision = may_refill(ledger, person, location)
    if not decision.allowed:
        ledger.append("refusal", user_id=person.user_id, location=location, quantity=added,
                      reason=decision.reason)
        return decision
    if added < 0 or (counted is not None and counted < 0):
        raise ValueError("quantities must not be negative")
    with ledger.transaction():
        ledger.append("refill", user_id=person.user_id, location=location, quantity=added)
        expected = ledger.on_hand(location)
        corrected = None
        if counted is not None and counted != expected:
            ledger.append("count", user_id=person.user_id, location=location, quantity=counted,
                          reason="count at refill")
            corrected = expected
    return RefillDone(location, added, ledger.on_hand(location), corrected)
