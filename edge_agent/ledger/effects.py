"""How a transaction row moves on-hand: one rule for Ledger.append, for `verify` (which replays the log to
check locations.on_hand) and for the reports (reports/history.py)."""

# A signed delta per unit, or "set" for a count.
STOCK_EFFECT = {"issue": -1, "return": +1, "refill": +1, "adjustment": +1, "count": "set"}
MOVES_STOCK_ON_OUTCOME = ("issue", "return", "refill")


def effect_of(kind, action):
    """None, a signed multiplier for quantity, or "set", for a row of `kind` (an outcome: of its action)."""
    if kind == "outcome":
        return STOCK_EFFECT[action] if action in MOVES_STOCK_ON_OUTCOME else None
    return STOCK_EFFECT.get(kind)
