"""Desired state from the cloud (docs/mqtt.md): the full set of people, a delta on it, and the catalog with
min/max. Everything is checked before anything is written, and written in the caller's SQLite transaction
with the version it brings; a bad entry refuses the whole message as `malformed`, naming the entry.

People keep their local state (wrong-PIN count, lockout) across an update. A location's layout (kind, unit)
is the cabinet's own and never comes from the cloud: the catalog may only name locations that exist, and a
change of min/max is written as a count of what is there, so min/max opens or closes the refill task at once.
The catalog may carry the site's charge-to lists (cost centers, machines, work-order patterns).
"""
import datetime

from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
from edge_agent.cloud.envelope import Refused
from edge_agent.ledger.schema_v1 import OWNERSHIP, ROLES
from edge_agent.rules.charge_lists import LISTS
from edge_agent.rules.csv_io import capacity_words
from edge_agent.rules.csv_rows import CONTROL, MONEY_MAX, QUANTITY_MAX, TEXT_MAX

# The same ceilings as a CSV import of the same tables (rules/csv_rows.py; common.json admin_text, quantity).
UNIT_COST_MAX = int(MONEY_MAX * 100)     # integer cents
PIN_HASH_MAX = 300

USER_TEXT = ("name", "department", "cost_center", "supplier")
SKU_TEXT = ("description", "category", "criticality", "supplier")
# What an entry may hold (docs/mqtt/schemas/common.json user and sku, body_catalog.json location): no more.
USER_KEYS = ("id", "role", "valid_from", "valid_to", "badges", "pin_hash") + USER_TEXT
SKU_KEYS = ("part_number", "package_size", "unit_cost", "ownership") + SKU_TEXT
LOCATION_KEYS = ("id", "sku", "min", "max", "refill_pack", "capacity")


def _only(entry, keys, where):
    unknown = sorted(set(entry) - set(keys))
    if unknown:
        raise Refused("malformed", "%s: %s not known (takes %s)" % (where, ", ".join(unknown), ", ".join(keys)))


def _text(entry, name, where, required=False, longest=TEXT_MAX):
    value = entry.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise Refused("malformed", "%s: %s must be text" % (where, name))
    if len(value) > longest or CONTROL.search(value):
        raise Refused("malformed", "%s: %s must be at most %d characters, none of them control characters"
                      % (where, name, longest))
    return value


def _whole(entry, name, where, minimum=0, default=None, maximum=QUANTITY_MAX):
    value = entry.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused("malformed", "%s: %s must be a whole number from %d to %d" % (where, name, minimum, maximum))
    return value


def _user(entry, index):
    where = "users[%d]" % index
    if not isinstance(entry, dict):
        raise Refused("malformed", "%s is not an object" % where)
    _only(entry, USER_KEYS, where)
    row = {"id": _text(entry, "id", where, required=True)}
    where = "user %s" % row["id"]
    row["role"] = _text(entry, "role", where, required=True)
    if row["role"] not in ROLES:
        raise Refused("malformed", "%s: role %r is not one of %s" % (where, row["role"], ", ".join(ROLES)))
    for name in USER_TEXT:
        row[name] = _text(entry, name, where)
    row["name"] = row["name"] or ""
    for name in ("valid_from", "valid_to"):
        row[name] = _text(entry, name, where)
        if row[name]:
            try:
                datetime.datetime.fromisoformat(row[name])
            except ValueError:
                raise Refused("malformed", "%s: %s %r is not an ISO date" % (where, name, row[name])) from None
    pin_hash = _text(entry, "pin_hash", where, longest=PIN_HASH_MAX)
    if pin_hash is not None and not pin_hash.startswith("scrypt$"):
        raise Refused("malformed", "%s: pin_hash must be the agent's scrypt$ hash, never a PIN" % where)
    row["pin_hash"] = pin_hash
    badges = entry.get("badges", [])
    if not isinstance(badges, list):
        raise Refused("malformed", "%s: badges must be a list" % where)
    try:
        row["badges"] = [normalize_badge_id(b) for b in badges]
    except (BadBadgeId, TypeError, AttributeError) as e:
        raise Refused("malformed", "%s: a badge id is not valid: %s" % (where, e)) from None
    return row


def checked_users(users):
    if not isinstance(users, list):
        raise Refused("malformed", "users must be a list")
    rows = [_user(entry, i) for i, entry in enumerate(users)]
    seen_ids, seen_badges = set(), {}
    for row in rows:
        if row["id"] in seen_ids:
            raise Refused("malformed", "user %s is listed twice" % row["id"])
        seen_ids.add(row["id"])
        for badge in row["badges"]:
            if seen_badges.setdefault(badge, row["id"]) != row["id"]:
                raise Refused("malformed", "badge %s is on users %s and %s" % (badge, seen_badges[badge], row["id"]))
    return rows


def _write_user(ledger, row):
    badges = row.pop("badges")
    ledger.db["users"].upsert(row, pk="id")       # failed_pins and locked_until are left as they are
    ledger.db.execute("DELETE FROM badges WHERE user_id = ? OR badge_id IN (%s)" % ",".join("?" * len(badges)),
                      [row["id"]] + badges)
    for badge in badges:
        ledger.db.execute("INSERT INTO badges (badge_id, user_id) VALUES (?, ?)", [badge, row["id"]])


def apply_users(ledger, users, version):
    """The full set: everyone listed is created or updated, everyone else is removed."""
    rows = checked_users(users)
    for row in rows:
        _write_user(ledger, row)
    keep = [row["id"] for row in rows]
    ledger.db.execute("DELETE FROM users WHERE id NOT IN (%s)" % ",".join("?" * len(keep)), keep)


def checked_removals(remove):
    if not isinstance(remove, list) or not all(isinstance(r, str) and r and len(r) <= TEXT_MAX
                                               and not CONTROL.search(r) for r in remove):
        raise Refused("malformed", "remove must be a list of user ids")
    if len(set(remove)) != len(remove):
        raise Refused("malformed", "remove lists a user twice")
    return remove


def apply_users_delta(ledger, rows, remove):
    """Write a delta already judged whole: rows from checked_users, remove from checked_removals."""
    for row in rows:
        _write_user(ledger, row)
    for user_id in remove:
        ledger.db.execute("DELETE FROM users WHERE id = ?", [user_id])


def _charge_lists(lists):
    """{list: [(value, description)]} for each list the catalog names (rules/charge_lists.py)."""
    if not isinstance(lists, dict):
        raise Refused("malformed", "charge_lists must be an object of lists (%s)" % ", ".join(LISTS))
    _only(lists, LISTS, "charge_lists")
    checked = {}
    for name, entries in lists.items():
        if not isinstance(entries, list):
            raise Refused("malformed", "charge_lists.%s must be a list" % name)
        rows = []
        for i, entry in enumerate(entries):
            where = "charge_lists.%s[%d]" % (name, i)
            if not isinstance(entry, dict):
                raise Refused("malformed", "%s is not an object" % where)
            _only(entry, ("value", "description"), where)
            rows.append((_text(entry, "value", where, required=True), _text(entry, "description", where) or ""))
        values = [value for value, _ in rows]
        if len(set(values)) != len(values):
            raise Refused("malformed", "charge_lists.%s lists a value twice" % name)
        checked[name] = rows
    return checked


def apply_catalog(ledger, skus, locations, version, charge_lists=None):
    """SKUs (upserted), min/max of existing locations, and (when sent) the charge-to lists: each list named
    replaces that list, an empty one means not checked; a list not named stays as it is."""
    lists = _charge_lists(charge_lists) if charge_lists is not None else {}
    if not isinstance(skus, list) or not isinstance(locations, list):
        raise Refused("malformed", "catalog needs skus and locations lists")
    sku_rows = []
    for i, entry in enumerate(skus):
        if not isinstance(entry, dict):
            raise Refused("malformed", "skus[%d] is not an object" % i)
        _only(entry, SKU_KEYS, "skus[%d]" % i)
        row = {"part_number": _text(entry, "part_number", "skus[%d]" % i, required=True)}
        where = "sku %s" % row["part_number"]
        for name in SKU_TEXT:
            row[name] = _text(entry, name, where)
        row["description"] = row["description"] or ""
        row["package_size"] = _whole(entry, "package_size", where, 1, default=1)
        row["unit_cost"] = _whole(entry, "unit_cost", where, 0, default=0, maximum=UNIT_COST_MAX)
        row["ownership"] = entry.get("ownership", "consignment")
        if row["ownership"] not in OWNERSHIP:
            raise Refused("malformed", "%s: ownership must be one of %s" % (where, ", ".join(OWNERSHIP)))
        sku_rows.append(row)
    known = {r["part_number"] for r in sku_rows} | {r[0] for r in ledger.db.execute("SELECT part_number FROM skus")}
    loc_rows = []
    for i, entry in enumerate(locations):
        if not isinstance(entry, dict):
            raise Refused("malformed", "locations[%d] is not an object" % i)
        _only(entry, LOCATION_KEYS, "locations[%d]" % i)
        location = _text(entry, "id", "locations[%d]" % i, required=True)
        where = "location %s" % location
        if not ledger.db.execute("SELECT 1 FROM locations WHERE id = ?", [location]).fetchone():
            raise Refused("malformed", "%s is not in this cabinet's layout" % where)
        row = {"id": location, "sku": _text(entry, "sku", where), "min": _whole(entry, "min", where),
               "max": _whole(entry, "max", where), "refill_pack": _whole(entry, "refill_pack", where, 1, default=1)}
        if row["sku"] is not None and row["sku"] not in known:
            raise Refused("malformed", "%s: sku %s is not in the catalog" % (where, row["sku"]))
        if row["max"] < row["min"]:
            raise Refused("malformed", "%s: max %d is below min %d" % (where, row["max"], row["min"]))
        if "capacity" in entry:      # null: not said; absent: the capacity on record stays
            row["capacity"] = None if entry["capacity"] is None else _whole(entry, "capacity", where, 1)
        capacity = row["capacity"] if "capacity" in row else ledger.db.execute(
            "SELECT capacity FROM locations WHERE id = ?", [location]).fetchone()[0]
        if capacity is not None and row["max"] > capacity:
            raise Refused("malformed", "%s: %s" % (where, capacity_words(row["max"], capacity)))
        loc_rows.append(row)
    for name, rows in lists.items():
        ledger.db.execute("DELETE FROM charge_lists WHERE list = ?", [name])
        ledger.db.conn.executemany("INSERT INTO charge_lists (list, value, description) VALUES (?, ?, ?)",
                              [(name, value, description) for value, description in rows])
    for row in sku_rows:
        ledger.db["skus"].upsert(row, pk="part_number")
    for row in loc_rows:
        before = ledger.db.execute("SELECT sku, min, max, refill_pack FROM locations WHERE id = ?",
                                   [row["id"]]).fetchone()
        ledger.db["locations"].update(row["id"], {k: v for k, v in row.items() if k != "id"})
        if tuple(before) != tuple(row[k] for k in ("sku", "min", "max", "refill_pack")):
            ledger.append("count", location=row["id"], quantity=ledger.on_hand(row["id"]),
                          reason="min/max set by the cloud's catalog version %d" % version)
