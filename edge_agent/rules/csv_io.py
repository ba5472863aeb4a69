"""CSV import of users, SKUs, locations (with min/max) and the access rules, and CSV export of transactions.

An import reads and checks the whole file first and refuses it with every problem listed (file, row,
field) if anything is wrong; only a clean file is written, in one SQLite transaction. Row numbers are as a
spreadsheet shows them: the header is row 1.

Users, SKUs and locations are upserted: rows not in the file stay, columns left out of a file are left
unchanged, a blank cell clears an optional field. The rules (role allows, user limits) are a site's
spreadsheet of the whole rule set, so their import replaces the table's content: a rule not in the file is
removed (a header-only file removes them all). The charge-to lists are replaced the same way.
"""
import csv
import re

from edge_agent.ledger import csv_cells
from edge_agent.ledger.admin_log import record_admin_change
from edge_agent.ledger.clock import instant
from edge_agent.ledger.schema_v1 import LOCATION_KINDS, OWNERSHIP, ROLES
from edge_agent.rules import pin_hashing
from edge_agent.rules.csv_rows import (LOAN_HOURS_MAX, QUANTITY_MAX, UNIT_MAX, UNIT_MIN, WEIGHT_MAX_MG, badge_list,
                                       duplicates, iso_time, money_cents, one_of, pin, read_rows, refuse_if, text,
                                       whole, yes_no)
from edge_agent.rules.charge_lists import LISTS
from edge_agent.rules.roles import TAKERS, UNRESTRICTED

SUPPLIER_ROLES = ("route_driver", "supplier_admin")
LOCATION_ID = re.compile(r"^[DLBS][1-9][0-9]*$")
KIND_BY_LETTER = {letter: kind for kind, letter in LOCATION_KINDS.items()}
PERIODS = ("shift", "day")   # the CHECK on user_limits.period
# Allow lists and limits bind only these roles (permissions.issue_refusal); a rule for another role would never
# apply, so it is refused rather than silently kept.
RULE_ROLES = tuple(role for role in TAKERS if role not in UNRESTRICTED)
TRANSACTION_INTEGER_COLUMNS = ("seq", "boot", "clock_synced", "monotonic_ms", "quantity", "unit_cost", "cmd_id",
                               "intent_seq", "weight_mg", "fw_boot")


USER_COLUMNS = {"id": (True, text), "name": (False, text), "role": (True, one_of(ROLES)),
                "department": (False, text), "cost_center": (False, text), "supplier": (False, text),
                "valid_from": (False, iso_time), "valid_to": (False, iso_time), "pin": (False, pin),
                "badges": (False, badge_list)}
SKU_COLUMNS = {"part_number": (True, text), "description": (False, text), "category": (False, text),
               "package_size": (False, whole(1, QUANTITY_MAX)), "unit_cost": (False, money_cents),
               "criticality": (False, text), "supplier": (False, text), "ownership": (False, one_of(OWNERSHIP)),
               "needs_approval": (False, yes_no), "needs_work_order": (False, yes_no),
               "needs_machine_id": (False, yes_no)}
LOCATION_COLUMNS = {"id": (True, text), "kind": (False, one_of(tuple(LOCATION_KINDS))),
                    "unit": (False, whole(UNIT_MIN, UNIT_MAX)), "sku": (False, text),
                    "min": (True, whole(0, QUANTITY_MAX)), "max": (True, whole(0, QUANTITY_MAX)),
                    "refill_pack": (False, whole(1, QUANTITY_MAX)),
                    "piece_weight_mg": (False, whole(1, WEIGHT_MAX_MG)), "on_hand": (False, whole(0, QUANTITY_MAX)),
                    "returnable": (False, yes_no), "loan_hours": (False, whole(1, LOAN_HOURS_MAX)),
                    "capacity": (False, whole(1, QUANTITY_MAX))}
REQUIREMENT_COLUMNS = ("needs_approval", "needs_work_order", "needs_machine_id")
ROLE_ALLOW_COLUMNS = {"role": (True, one_of(ROLES)), "sku": (False, text), "category": (False, text)}
CHARGE_LIST_COLUMNS = {"list": (True, one_of(LISTS)), "value": (True, text), "description": (False, text)}
USER_LIMIT_COLUMNS = {"user_id": (True, text), "sku": (False, text), "category": (False, text),
                      "period": (True, one_of(PERIODS)), "max_quantity": (True, whole(0, QUANTITY_MAX))}


# -- imports ----------------------------------------------------------------------------------------------
def commit(ledger, what, path, count, write):
    """The one place every import is written: `write()` in one SQLite transaction, all of it or none of it.
    `what` (skus, locations, users, allows, limits) and `path` say which import it was: an admin row on the
    chain, in the same transaction, records it. Returns count."""
    with ledger.transaction():
        write()
        record_admin_change(ledger, "import " + RULE_TABLES.get(what, what), str(path))
    return count


def import_skus(ledger, path):
    """Create or update SKUs (and their approval / work order / machine id requirements). Returns a count."""
    rows, problems = read_rows(path, SKU_COLUMNS)
    check_skus(rows, problems)
    refuse_if(path, problems)
    return commit(ledger, "skus", path, len(rows), lambda: write_skus(ledger, rows))


# Each import is read_rows, then check_<table>(..., rows, problems), then write_<table>: the cloud's desired
# catalog (cloud/desired.py) runs the same checks and writes on the rows it carries, so the two cannot differ.
def check_skus(rows, problems):
    duplicates(rows, "part_number", problems)


def write_skus(ledger, rows):
    for _, record in rows:
        sku = {k: v for k, v in record.items() if k not in REQUIREMENT_COLUMNS}
        ledger.db["skus"].upsert(_without_null_defaults(ledger, "skus", sku), pk="part_number")
        needs = {k: record[k] for k in REQUIREMENT_COLUMNS if k in record and record[k] is not None}
        if needs:
            ledger.db["sku_requirements"].upsert(dict(needs, sku=record["part_number"]), pk="sku")


def import_locations(ledger, path, cabinet=None):
    """Create or update locations with their SKU and min/max. An on_hand column, where it differs from the
    ledger, is written as a `count` transaction (stock only ever changes through the ledger). One location
    per unit; with `cabinet` (link.cabinet_file.read_cabinet_units) only units the cabinet has. Returns a count."""
    rows, problems = read_rows(path, LOCATION_COLUMNS)
    check_locations(ledger, rows, problems, cabinet)
    refuse_if(path, problems)
    return commit(ledger, "locations", path, len(rows), lambda: write_locations(ledger, rows, str(path)))


def check_locations(ledger, rows, problems, cabinet=None):
    """Ids and kinds, units (one location per unit; the cabinet's own with `cabinet`), known SKUs, and
    min <= max <= capacity (the capacity in the row, else the one on record)."""
    duplicates(rows, "id", problems)
    known_skus = {r["part_number"] for r in ledger.db.query("SELECT part_number FROM skus")}
    for row_number, record in rows:
        location_id = record.get("id")
        if location_id is not None:
            if not LOCATION_ID.match(location_id):
                problems.append((row_number, "id", "%r is not a location id like D2, L3, B1 or S1" % location_id))
            else:
                kind = KIND_BY_LETTER[location_id[0]]
                if record.get("kind") not in (None, kind):
                    problems.append((row_number, "kind", "%r disagrees with id %s (a %s)" % (
                        record["kind"], location_id, kind)))
                record["kind"] = kind
                unit_refused = any(problem[:2] == (row_number, "unit") for problem in problems)
                if kind != "scan" and record.get("unit") is None and not unit_refused:
                    problems.append((row_number, "unit", "a %s needs its unit number on the cabinet link" % kind))
        if record.get("sku") is not None and record["sku"] not in known_skus:
            problems.append((row_number, "sku", "%r is not a known part number (import SKUs first)" % record["sku"]))
        low, high = record.get("min"), record.get("max")
        if low is not None and high is not None and high < low:
            problems.append((row_number, "max", "max %d is below min %d" % (high, low)))
        capacity = record["capacity"] if "capacity" in record else _capacity(ledger, location_id)
        if high is not None and capacity is not None and high > capacity:
            problems.append((row_number, "max", capacity_words(high, capacity)))
    _check_units(ledger, rows, problems, cabinet)


def write_locations(ledger, rows, source):
    """Upsert checked rows; `source` (a file, the cloud's catalog version) is named in the count rows."""
    for _, record in rows:
        record = dict(record)
        counted = record.pop("on_hand", None)
        before = _min_max(ledger, record["id"])
        ledger.db["locations"].upsert(_without_null_defaults(ledger, "locations", record), pk="id")
        on_hand = ledger.on_hand(record["id"])
        if counted is not None and counted != on_hand:
            ledger.append("count", location=record["id"], quantity=counted, reason="imported from %s" % source)
        elif before != _min_max(ledger, record["id"]):
            # A new location, or new min/max: a count of what is there (no stock moves) puts the change
            # on record and lets min/max open or close the refill task right away, not at the next take.
            ledger.append("count", location=record["id"], quantity=on_hand, reason="min/max set by %s" % source)


def _check_units(ledger, rows, problems, cabinet):
    """One location per unit: a second location on lane 1 would drop from that lane's spiral and bill its own
    SKU. Units the file moves are free for other rows of the same file. With the cabinet's config, only units
    it has."""
    in_file = {record.get("id") for _, record in rows}
    taken = {(kind, unit): "%s (in the ledger)" % location_id for location_id, kind, unit in ledger.db.execute(
        "SELECT id, kind, unit FROM locations WHERE unit IS NOT NULL AND kind != 'scan'") if location_id not in in_file}
    for row_number, record in rows:
        kind, unit = record.get("kind"), record.get("unit")
        if unit is None or kind in (None, "scan"):
            continue
        if (kind, unit) in taken:
            problems.append((row_number, "unit", "%s %d is already %s" % (kind, unit, taken[kind, unit])))
        else:
            taken[kind, unit] = "%s on row %d" % (record["id"], row_number)
        if cabinet is not None and unit not in cabinet.units[kind]:
            problems.append((row_number, "unit", "%s %d is not on the cabinet in %s (%s)"
                             % (kind, unit, cabinet.path, cabinet.describe(kind))))


def capacity_words(high, capacity):
    """Why a max is refused: the location cannot hold it (a CSV import and the cloud's catalog say the same)."""
    return ("max %d is more than the location physically holds (capacity %d): lower max, or raise capacity "
            "if the location really holds more" % (high, capacity))


def _capacity(ledger, location_id):
    """The capacity on record for a location (None: not said, or no such location yet)."""
    row = ledger.db.execute("SELECT capacity FROM locations WHERE id = ?", [location_id]).fetchone()
    return row[0] if row else None


def _min_max(ledger, location_id):
    return ledger.db.execute("SELECT min, max FROM locations WHERE id = ?", [location_id]).fetchone()


def import_users(ledger, path):
    """Create or update users and their badges; PINs are hashed here and never stored in clear.

    A blank PIN keeps the user's current one. A `badges` column (ids separated by `;`) replaces the user's
    badges. Returns a count.
    """
    rows, problems = read_rows(path, USER_COLUMNS)
    check_user_rows(rows, problems)
    badge_rows = {}
    for row_number, record in rows:
        for badge in record.get("badges") or ():
            if badge in badge_rows:
                problems.append((row_number, "badges", "badge %r already on row %d" % (badge, badge_rows[badge])))
            badge_rows[badge] = row_number
            owner = ledger.db.execute("SELECT user_id FROM badges WHERE badge_id = ?", [badge]).fetchone()
            if owner and owner[0] != record.get("id") and owner[0] not in {r.get("id") for _, r in rows}:
                problems.append((row_number, "badges", "badge %r belongs to user %r" % (badge, owner[0])))
    refuse_if(path, problems)
    # Hash before the write transaction: scrypt is slow on purpose and the lock should be short.
    for _, record in rows:
        clear = record.pop("pin", None)
        if clear is not None:
            record["pin_hash"] = pin_hashing.hash_pin(clear)
    badge_changes = {record["id"]: record.pop("badges") or [] for _, record in rows if "badges" in record}

    def write():
        for _, record in rows:
            ledger.db["users"].upsert(_without_null_defaults(ledger, "users", record), pk="id")
        for user_id in badge_changes:  # every delete first, so a badge can move between users in one file
            ledger.db.execute("DELETE FROM badges WHERE user_id = ?", [user_id])
        for user_id, badges in badge_changes.items():
            ledger.db["badges"].insert_all([{"badge_id": b, "user_id": user_id} for b in badges])
    return commit(ledger, "users", path, len(rows), write)


def check_user_rows(rows, problems):
    """What every user row must be, from a file or the cloud: one row per id, a supplier's people name their
    supplier, valid_to not before valid_from."""
    duplicates(rows, "id", problems)
    for row_number, record in rows:
        if record.get("role") in SUPPLIER_ROLES and not record.get("supplier"):
            problems.append((row_number, "supplier", "a %s must name their supplier" % record["role"]))
        start, end = record.get("valid_from"), record.get("valid_to")
        if start and end and instant(end) < instant(start):
            problems.append((row_number, "valid_to", "%s is before valid_from %s" % (end, start)))


def import_role_allows(ledger, path):
    """Replace the role allow list: which roles (technician, contractor) may take which SKU or category.

    Each row names a role and exactly one of sku / category. Returns the number of rules now in force."""
    rows, problems = read_rows(path, ROLE_ALLOW_COLUMNS)
    check_allows(ledger, rows, problems)
    refuse_if(path, problems)
    return _replace_rules(ledger, "allows", path, [r for _, r in rows], ROLE_ALLOW_COLUMNS)


def check_allows(ledger, rows, problems):
    """Roles an allow list binds, and a known SKU or category (against the ledger's SKUs)."""
    for row_number, record in rows:
        role = record.get("role")
        if role is not None and role not in RULE_ROLES:
            problems.append((row_number, "role", "a %s is not bound by an allow list (it applies to %s)"
                             % (role, ", ".join(RULE_ROLES))))
    _check_rule_targets(ledger, rows, problems)
    duplicates(rows, ("role", "sku", "category"), problems)


def import_user_limits(ledger, path):
    """Replace the per-user limits: at most max_quantity of an SKU (or of a category) per shift or day.

    Returns the number of limits now in force."""
    rows, problems = read_rows(path, USER_LIMIT_COLUMNS)
    check_limits(ledger, rows, problems)
    refuse_if(path, problems)
    return _replace_rules(ledger, "limits", path, [r for _, r in rows], USER_LIMIT_COLUMNS)


def check_limits(ledger, rows, problems):
    """Known users a limit binds, and a known SKU or category (against the ledger's users and SKUs)."""
    roles = dict(ledger.db.execute("SELECT id, role FROM users").fetchall())
    for row_number, record in rows:
        user_id = record.get("user_id")
        if user_id is None:
            continue
        if user_id not in roles:
            problems.append((row_number, "user_id", "%r is not a known user (import users first)" % user_id))
        elif roles[user_id] not in RULE_ROLES:
            problems.append((row_number, "user_id", "%r is a %s, who has no limits (limits apply to %s)"
                             % (user_id, roles[user_id], ", ".join(RULE_ROLES))))
    _check_rule_targets(ledger, rows, problems)
    duplicates(rows, ("user_id", "period", "sku", "category"), problems)


def _check_rule_targets(ledger, rows, problems):
    """A rule names exactly one of a known SKU or a category some SKU has: permissions match categories
    exactly, so a misspelt one would silently match nothing."""
    skus = {r[0] for r in ledger.db.execute("SELECT part_number FROM skus")}
    categories = {r[0] for r in ledger.db.execute("SELECT DISTINCT category FROM skus WHERE category IS NOT NULL")}
    for row_number, record in rows:
        sku, category = record.get("sku"), record.get("category")
        if sku is None and category is None:
            problems.append((row_number, "sku", "a rule names a sku or a category; this row has neither"))
        elif sku is not None and category is not None:
            problems.append((row_number, "category", "a rule names a sku or a category, not both"))
        elif sku is not None and sku not in skus:
            problems.append((row_number, "sku", "%r is not a known part number (import SKUs first)" % sku))
        elif category is not None and category not in categories:
            problems.append((row_number, "category", "%r is the category of no SKU (known: %s)"
                             % (category, ", ".join(sorted(categories)) or "none")))


def import_charge_lists(ledger, path):
    """Replace the site's charge-to lists (cost centers, machines, work-order patterns: rules/charge_lists.py),
    one row per entry with its list named. A list with no row is empty: not checked. Returns the entry count."""
    rows, problems = read_rows(path, CHARGE_LIST_COLUMNS)
    check_charge_lists(rows, problems)
    refuse_if(path, problems)
    records = [dict(record, description=record.get("description") or "") for _, record in rows]
    return _replace_rules(ledger, "charge_lists", path, records, CHARGE_LIST_COLUMNS)


def check_charge_lists(rows, problems):
    duplicates(rows, ("list", "value"), problems)


RULE_TABLES = {"allows": "role_allows", "limits": "user_limits", "charge_lists": "charge_lists"}


def _replace_rules(ledger, what, path, records, columns):
    return commit(ledger, what, path, len(records), lambda: write_rules(ledger, what, records, columns))


def write_rules(ledger, what, records, columns):
    """Replace a rule table's content (allows, limits, charge_lists) with checked records."""
    table = RULE_TABLES[what]
    ledger.db.execute("DELETE FROM %s" % table)
    ledger.db[table].insert_all([{name: record.get(name) for name in columns} for record in records])


def _without_null_defaults(ledger, table, record):
    """A blank cell clears a nullable field, but leaves a NOT NULL one to its default (or current value)."""
    not_null = {c.name for c in ledger.db[table].columns if c.notnull}
    return {k: v for k, v in record.items() if v is not None or k not in not_null}


# -- export -----------------------------------------------------------------------------------------------
def export_transactions(ledger, path, since_seq=0):
    """Write transactions with seq > since_seq to a CSV file, in seq order, every column (text that a
    spreadsheet would run as a formula neutralised: ledger/csv_cells.py). Returns a count."""
    columns = [c.name for c in ledger.db["transactions"].columns]
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in ledger.transactions(since_seq):
            writer.writerow(["" if row[c] is None else csv_cells.safe(row[c]) for c in columns])
            count += 1
    return count


def read_transactions(path):
    """Read an export back as dicts typed like the ledger's rows (chain.verify_rows can check them)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = []
        for record in csv.DictReader(handle):
            row = {}
            for name, cell in record.items():
                if cell == "":
                    row[name] = None
                elif name in TRANSACTION_INTEGER_COLUMNS:
                    row[name] = int(cell)
                else:
                    row[name] = csv_cells.plain(cell)
            rows.append(row)
        return rows
