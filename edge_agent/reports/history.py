"""The ledger's stock movements as a report reads them, and on-hand over time rebuilt from them.

A movement is a transaction row that changes on-hand, the same rule Ledger.append applies (effects.py
STOCK_EFFECT): issue, return, refill and adjustment rows, counts (which set on-hand), and outcomes of
issue/return/refill intents (the quantity that actually moved). Replaying them in seq order from seq 1
gives every location's on-hand after every movement; nothing is ordered by wall time (a Pi's clock may
step), but wall time is what places a movement in a period and measures how long a location was out.

The rows may come from a ledger (read_movements) or from anywhere else that holds the same transaction rows
(the hub's tx_rows: hub/history.py): both go through `replay`, so a report built from either reads the same
movements."""
from dataclasses import dataclass
from typing import Dict, List, Optional

from edge_agent.ledger.effects import MOVES_STOCK_ON_OUTCOME, STOCK_EFFECT
from edge_agent.reports.period import hours_between, parse_time

MOVEMENT_KINDS = ("issue", "return", "refill", "count", "adjustment")
# The columns a movement is read from, in this order (the last: the reason of the row's intent, if any).
MOVEMENT_COLUMNS = ("seq", "wall_time", "clock_synced", "kind", "action", "user_id", "sku", "location", "quantity",
                    "unit_cost", "work_order", "machine_id", "cost_center", "outcome", "reason", "intent_reason")

MOVEMENT_QUERY = (
    "SELECT seq, wall_time, clock_synced, kind, action, user_id, sku, location, quantity, unit_cost, "
    "work_order, machine_id, cost_center, outcome, reason, "
    "(SELECT i.reason FROM transactions i WHERE i.seq = t.intent_seq) FROM transactions t "
    "WHERE kind IN ('issue', 'return', 'refill', 'count', 'adjustment') "
    "OR (kind = 'outcome' AND action IN (%s)) ORDER BY seq"
    % ", ".join("'%s'" % a for a in MOVES_STOCK_ON_OUTCOME))


@dataclass
class Movement:
    seq: int
    time: object                 # aware UTC datetime (the wall clock as recorded)
    synced: bool
    kind: str                    # the row's kind (outcome for an actuation)
    action: str                  # what moved: issue, return, refill, count, adjustment
    location: str
    sku: Optional[str]
    quantity: int
    unit_cost: Optional[int]
    user_id: Optional[str]
    cost_center: Optional[str]
    work_order: Optional[str]
    machine_id: Optional[str]
    outcome: Optional[str]
    reason: Optional[str]
    intent_reason: Optional[str]  # an outcome's intent's reason (why the actuation was made)
    on_hand_before: int = 0
    on_hand_after: int = 0
    cabinet: Optional[str] = None  # whose ledger the row is from (set when a report spans several cabinets)


def is_movement(kind, action):
    """Whether a transaction row of this kind (and action) changes on-hand: the rule MOVEMENT_QUERY applies."""
    return kind in MOVEMENT_KINDS or (kind == "outcome" and action in MOVES_STOCK_ON_OUTCOME)


def read_movements(ledger):
    """Every stock movement in seq order, with on-hand before and after it at its location."""
    return replay(ledger.db.execute(MOVEMENT_QUERY))


def replay(rows, cabinet=None):
    """Movements from transaction rows that move stock, given in seq order as tuples in MOVEMENT_COLUMNS
    order (one cabinet's, from seq 1), each with on-hand before and after it at its location."""
    on_hand: Dict[str, int] = {}
    moves = []
    for row in rows:
        (seq, wall, synced, kind, action, user_id, sku, location, quantity, unit_cost, work_order,
         machine_id, cost_center, outcome, reason, intent_reason) = row
        what = action if kind == "outcome" else kind
        quantity = quantity or 0
        before = on_hand.get(location, 0)
        effect = STOCK_EFFECT[what]
        after = quantity if effect == "set" else before + effect * quantity
        on_hand[location] = after
        moves.append(Movement(seq, parse_time(wall), bool(synced), kind, what, location, sku, quantity, unit_cost,
                              user_id, cost_center, work_order, machine_id, outcome, reason, intent_reason,
                              before, after, cabinet))
    return moves


def final_on_hand(moves):
    """On-hand per location after the last movement (what locations.on_hand must also say)."""
    result = {}
    for m in moves:
        result[m.location] = m.on_hand_after
    return result


def on_hand_at(moves, moment):
    """On-hand per location after the last movement stamped before `moment` (seq order, so a later row
    with an earlier stamp still counts once reached)."""
    result = {}
    for m in moves:
        if m.time < moment:
            result[m.location] = m.on_hand_after
    return result


@dataclass
class OutInterval:
    start: object
    end: object


def out_intervals(moves, location, start, stop):
    """Times the location was out (on-hand at or below zero) within [start, stop), and how many stockouts
    began in that window; movements stamped at or after stop are not looked at. A location is tracked from
    its first movement: before it was ever stocked it is not 'out'. Returns (intervals, stockouts_started, out_at_stop)."""
    intervals: List[OutInterval] = []
    began = 0
    out_since = None          # when the current out spell began (may be before start)
    for m in moves:
        if m.location != location or m.time >= stop:
            continue
        was_out = out_since is not None
        is_out = m.on_hand_after <= 0
        if not was_out and is_out:
            out_since = m.time
            if start <= m.time < stop:
                began += 1
        elif was_out and not is_out:
            _clip(intervals, out_since, m.time, start, stop)
            out_since = None
    if out_since is not None:
        _clip(intervals, out_since, stop, start, stop)
    return intervals, began, out_since is not None


def _clip(intervals, a, b, start, stop):
    a, b = max(a, start), min(b, stop)
    if b > a:
        intervals.append(OutInterval(a, b))


def total_hours(intervals):
    return sum(hours_between(i.start, i.end) for i in intervals)
