"""Admin changes as chain rows (docs/decisions/0025-chain-anchored-by-the-cloud.md).

An import, a pushed setting or desired state, a PIN set by an admin and a remote unlock each write one
`admin` transaction in the SQLite transaction of the change: `reason` says what (`import users`,
`desired users`, `config`, `remote unlock`...), `detail` is compact JSON holding the particulars and
`people`, the digest of the people tables as they are after the change. The rows are chained and synced
like any other, so a change cannot be made or undone quietly through the agent, and `verify` (integrity.py)
recomputes the digest: a role, badge or PIN hash edited in the file without an admin row shows.

The digest covers who may do what: users (without the wrong-PIN counters, which a login changes), badges,
the role allow list and the per-user limits. Everything is text or integers, so the JSON is exact.
"""
import hashlib
import json

from edge_agent.ledger.schema_v6 import ADMIN

# Table: (columns, order). A column added later by another schema version stays out until it is named here.
PEOPLE_TABLES = {
    "users": (("id", "name", "role", "department", "cost_center", "supplier", "valid_from", "valid_to",
               "pin_hash"), "id"),
    "badges": (("badge_id", "user_id"), "badge_id"),
    "role_allows": (("role", "sku", "category"), "role, sku, category"),
    "user_limits": (("user_id", "sku", "category", "period", "max_quantity"), "user_id, sku, category, period"),
}
KIND = ADMIN                     # the transaction kind (schema_v6)
# The kind as a literal, so SQLite can read it from the partial index transactions_admin (schema_v8) instead
# of walking the log back to the last admin row.
LAST_ADMIN_SQL = "SELECT detail FROM transactions WHERE kind = '%s' ORDER BY seq DESC LIMIT 1" % KIND


def people_digest(db):
    """sha256 (hex) of the people tables' canonical JSON: {table: [[column values...] in order]}."""
    tables = {}
    for table, (columns, order) in PEOPLE_TABLES.items():
        tables[table] = [list(r) for r in db.execute("SELECT %s FROM %s ORDER BY %s"
                                                     % (", ".join(columns), table, order))]
    text = json.dumps(tables, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def record_admin_change(ledger, what, detail=None, user_id=None):
    """Write an `admin` chain row for a change just made (in the caller's SQLite transaction when one is
    open, so the change and its record land together); `detail` is a dict (or text) of particulars.
    Returns the row's seq."""
    if not isinstance(what, str) or not what:
        raise ValueError("an admin change needs a name, got %r" % (what,))
    with ledger.transaction():
        body = {"people": people_digest(ledger.db)}
        if detail is not None:
            body["detail"] = detail
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return ledger.append(KIND, reason=what, detail=text, user_id=user_id)["seq"]


def anchored_people_digest(db):
    """The people digest the last admin row recorded, or None when no admin row holds one."""
    row = db.execute(LAST_ADMIN_SQL).fetchone()
    if row is None or row[0] is None:
        return None
    try:
        return json.loads(row[0]).get("people")
    except (ValueError, AttributeError):
        return "(unreadable)"
