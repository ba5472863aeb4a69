"""Desired state from the cloud (docs/mqtt.md): the full set of people, a delta on it, and the catalog. The
people are checked whole before anything is written; the catalog is the admin's CSV files as JSON (decision
0041), each part checked and written by the CSV import's own functions (rules/csv_io.py) in the caller's
SQLite transaction, which writes nothing if any part is refused (`malformed`, naming each problem).

People keep their local state (wrong-PIN count, lockout) across an update. A change of min/max is written as
a count of what is there, so min/max opens or closes the refill task at once; stock itself never comes from
the cloud. The catalog may carry the site's charge-to lists (cost centers, machines, work-order patterns).
"""
import datetime

from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
from edge_agent.cloud.envelope import Refused
from edge_agent.ledger.schema_v1 import OWNERSHIP, ROLES
from edge_agent.rules import csv_io, csv_rows
from edge_agent.rules.charge_lists import LISTS
from edge_agent.rules.csv_rows import CONTROL, TEXT_MAX

# The same ceilings as a CSV import of the same tables (rules/csv_rows.py; common.json admin_text).
PIN_HASH_MAX = 300

USER_TEXT = ("name", "department", "cost_center", "supplier")
# What a user may hold (docs/mqtt/schemas/common.json user): no more.
USER_KEYS = ("id", "role", "valid_from", "valid_to", "badges", "pin_hash") + USER_TEXT


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
    problems = []
    csv_io.check_user_rows(list(enumerate(rows)), problems)     # the checks of a users.csv import
    refuse_problems("users", list(enumerate(rows)), problems)
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


# The catalog's entries are the rows of the CSV files an admin imports (docs/admin.md), typed as JSON: each
# is spelt as its cell would be and goes through the import's own parsers, checks and writes (rules/csv_io.py).
INTEGER_FIELDS = ("package_size", "unit", "min", "max", "refill_pack", "piece_weight_mg", "loan_hours", "capacity",
                  "max_quantity")
BOOLEAN_FIELDS = csv_io.REQUIREMENT_COLUMNS + ("returnable",)
CENTS_FIELDS = ("unit_cost",)
# A catalog never sets stock: on_hand changes only through the ledger (counts and refills at the cabinet).
CATALOG_COLUMNS = {"skus": csv_io.SKU_COLUMNS,
                   "locations": {k: v for k, v in csv_io.LOCATION_COLUMNS.items() if k != "on_hand"},
                   "allows": csv_io.ROLE_ALLOW_COLUMNS, "limits": csv_io.USER_LIMIT_COLUMNS}


def _cell(name, value):
    """The text a CSV cell would hold for `value`, or None when the JSON type is not the field's."""
    if value is None:
        return ""
    if name in BOOLEAN_FIELDS:
        return ("yes" if value else "no") if isinstance(value, bool) else None
    if name in INTEGER_FIELDS or name in CENTS_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return "%d" % value if name in INTEGER_FIELDS else "%s%d.%02d" % ("-" if value < 0 else "", abs(value) // 100,
                                                                          abs(value) % 100)
    return value if isinstance(value, str) else None


def catalog_rows(entries, table, problems):
    """[(index, record)] for a list of catalog entries, as csv_rows.read_rows gives a file's rows; each
    problem is (index, field, words)."""
    columns = CATALOG_COLUMNS[table]
    if not isinstance(entries, list):
        problems.append((None, None, "%s must be a list" % table))
        return []
    rows = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append((index, None, "is not an object"))
            continue
        cells = []
        for name, value in entry.items():
            if name not in columns:
                problems.append((index, name, "not known (takes %s)" % ", ".join(columns)))
                continue
            cell = _cell(name, value)
            if cell is None:
                problems.append((index, name, "must be %s" % ("true or false" if name in BOOLEAN_FIELDS else
                                                               "a whole number" if name in INTEGER_FIELDS + CENTS_FIELDS
                                                               else "text")))
                continue
            cells.append((name, cell))
        for name, (required, _) in columns.items():
            if required and name not in entry:
                problems.append((index, name, "is required"))
        rows.append((index, csv_rows.parse_record(index, cells, columns, problems)))
    return rows


SINGULAR = {"skus": "sku", "locations": "location", "users": "user"}


def refuse_problems(table, rows, problems):
    """Refused (malformed) naming every problem, as an import refuses a file: `location L3: max 20 is ...`,
    `limits[2] user_id: ...`."""
    if not problems:
        return
    labels = {index: record.get("id") or record.get("part_number") for index, record in rows}
    said = []
    for index, field, words in sorted(problems, key=lambda p: (-1 if p[0] is None else p[0], p[1] or "")):
        if index is None:
            where = table
        elif labels.get(index) and table in SINGULAR:
            where = "%s %s" % (SINGULAR[table], labels[index])
        else:
            where = "%s[%d]" % (table, index)
        named = field and not str(words).startswith(field)       # "max 20 is ..." names its field already
        said.append("%s%s: %s" % (where, " " + field if named else "", words))
    raise Refused("malformed", "; ".join(said))


def _layout_on_record(ledger, rows):
    """A location the catalog names without its unit keeps the unit on record (as capacity does)."""
    for _, record in rows:
        if "unit" not in record and isinstance(record.get("id"), str):
            found = ledger.db.execute("SELECT unit FROM locations WHERE id = ?", [record["id"]]).fetchone()
            if found is not None:
                record["unit"] = found[0]


def _checked(ledger, body, table, check):
    problems = []
    rows = catalog_rows(body[table], table, problems)
    if not problems:
        check(ledger, rows, problems)
    refuse_problems(table, rows, problems)
    return rows


def apply_catalog(ledger, body, version):
    """Apply a catalog in the caller's transaction, in the order an admin imports the files: SKUs (with their
    approval / work order / machine id flags), locations (layout, SKU, min/max, capacity, returnable, loan
    hours), charge-to lists, allows, limits. Each part is checked as its CSV import checks it, against what
    the parts before it wrote; the first part refused raises Refused and the caller's transaction writes
    nothing. allows and limits left out stay as they are; sent, they replace the rules (as their import)."""
    lists = _charge_lists(body["charge_lists"]) if body.get("charge_lists") is not None else {}
    source = "the cloud's catalog version %d" % version
    csv_io.write_skus(ledger, _checked(ledger, body, "skus", lambda _, rows, problems: csv_io.check_skus(rows, problems)))

    def check_locations(ledger, rows, problems):
        _layout_on_record(ledger, rows)
        csv_io.check_locations(ledger, rows, problems)
    csv_io.write_locations(ledger, _checked(ledger, body, "locations", check_locations), source)
    for name, rows in lists.items():
        ledger.db.execute("DELETE FROM charge_lists WHERE list = ?", [name])
        ledger.db.conn.executemany("INSERT INTO charge_lists (list, value, description) VALUES (?, ?, ?)",
                                   [(name, value, description) for value, description in rows])
    for table, what, check in (("allows", "allows", csv_io.check_allows), ("limits", "limits", csv_io.check_limits)):
        if body.get(table) is not None:
            rows = _checked(ledger, body, table, check)
            csv_io.write_rules(ledger, what, [r for _, r in rows], CATALOG_COLUMNS[table])
