"""CSV import of users, SKUs, locations (with min/max) and the access rules, and CSV export of transactions.

An import reads and checks the whole file first and refuses it with every problem listed (file, row,
field) if anything is wrong; only a clean file is written, in one SQLite transaction. Row numbers are as a
spreadsheet shows them: the header is row 1.

Users, SKUs and locations are upserted: rows not in the file stay, columns left out of a file are left
unchanged, a blank cell clears an optional field. The rules (role allows, user limits) are a site's
spreadsheet of the whole rule set, so their import replaces the table's content: a rule not in the file is
removed (a header-only file removes them all).
"""
import csv
import datetime
import decimal
import re

from edge_agent.rules import pin_hashing
from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
from edge_agent.ledger import csv_cells
from edge_agent.ledger.clock import instant
from edge_agent.ledger.errors import ImportRefused
from edge_agent.ledger.schema_v1 import LOCATION_KINDS, OWNERSHIP, ROLES
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


# -- field parsers: each returns the value or raises ValueError with a sentence for the operator ----------
def text(value):
    return value


def whole(minimum=None):
    def parse(value):
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise ValueError("%r is not a whole number" % value)
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError("%d is below the minimum of %d" % (number, minimum))
        return number
    return parse


def money_cents(value):
    """'12.50' -> 1250. Money is integer cents in the ledger; a third decimal is refused, not rounded."""
    try:
        amount = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError("%r is not an amount of money" % value) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("%r is not an amount of money of zero or more" % value)
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("%r has more than two decimals" % value)
    return int(cents)


def one_of(choices):
    def parse(value):
        if value not in choices:
            raise ValueError("%r is not one of %s" % (value, ", ".join(choices)))
        return value
    return parse


def yes_no(value):
    lowered = value.lower()
    if lowered in ("1", "yes", "y", "true"):
        return 1
    if lowered in ("0", "no", "n", "false"):
        return 0
    raise ValueError("%r is not yes or no" % value)


def iso_time(value):
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("%r is not an ISO date or time (like 2026-03-31 or 2026-03-31T18:00)" % value) from None
    return value


def pin(value):
    problem = pin_hashing.check_pin_format(value)
    if problem:
        raise ValueError(problem)  # never echo the PIN itself
    return value


def badge_list(value):
    """Badge ids separated by `;`, stored in the one format every reader reports (decision 0007), so a
    typed `04:a1:b2:c3` matches the tap of that card."""
    try:
        return [normalize_badge_id(badge) for badge in (part.strip() for part in value.split(";")) if badge]
    except BadBadgeId as e:
        raise ValueError(str(e)) from None


USER_COLUMNS = {"id": (True, text), "name": (False, text), "role": (True, one_of(ROLES)),
                "department": (False, text), "cost_center": (False, text), "supplier": (False, text),
                "valid_from": (False, iso_time), "valid_to": (False, iso_time), "pin": (False, pin),
                "badges": (False, badge_list)}
SKU_COLUMNS = {"part_number": (True, text), "description": (False, text), "category": (False, text),
               "package_size": (False, whole(1)), "unit_cost": (False, money_cents),
               "criticality": (False, text), "supplier": (False, text), "ownership": (False, one_of(OWNERSHIP)),
               "needs_approval": (False, yes_no), "needs_work_order": (False, yes_no),
               "needs_machine_id": (False, yes_no)}
LOCATION_COLUMNS = {"id": (True, text), "kind": (False, one_of(tuple(LOCATION_KINDS))),
                    "unit": (False, whole(0)), "sku": (False, text), "min": (True, whole(0)),
                    "max": (True, whole(0)), "refill_pack": (False, whole(1)),
                    "piece_weight_mg": (False, whole(1)), "on_hand": (False, whole(0)),
                    "returnable": (False, yes_no), "loan_hours": (False, whole(1))}
REQUIREMENT_COLUMNS = ("needs_approval", "needs_work_order", "needs_machine_id")
ROLE_ALLOW_COLUMNS = {"role": (True, one_of(ROLES)), "sku": (False, text), "category": (False, text)}
USER_LIMIT_COLUMNS = {"user_id": (True, text), "sku": (False, text), "category": (False, text),
                      "period": (True, one_of(PERIODS)), "max_quantity": (True, whole(0))}


def read_rows(path, columns):
    """Parse every row against `columns` {name: (required, parser)}; return (rows, problems).

    rows are (row_number, {column: value}) with empty cells as None and only the file's columns present.
    """
    try:
        return _read_rows(path, columns)
    except UnicodeDecodeError:
        return [], [(1, None, "is not UTF-8 text: save the spreadsheet as \"CSV UTF-8\"")]
    except csv.Error as exc:
        return [], [(1, None, "is not a readable CSV file (%s)" % exc)]


def _read_rows(path, columns):
    problems, rows = [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        for name in header:
            if name not in columns:
                problems.append((1, name, "unknown column (expected some of %s)" % ", ".join(columns)))
        for name, (required, _) in columns.items():
            if required and name not in header:
                problems.append((1, name, "required column is missing"))
        if len(set(header)) != len(header):
            problems.append((1, None, "a column appears twice"))
        if problems:
            return [], problems
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(cells) != len(header):
                problems.append((row_number, None, "has %d cells, the header has %d" % (len(cells), len(header))))
                continue
            record = {}
            for name, cell in zip(header, cells):
                required, parse = columns[name]
                cell = cell.strip()
                if not cell:
                    if required:
                        problems.append((row_number, name, "is required"))
                    record[name] = None
                    continue
                try:
                    record[name] = parse(cell)
                except ValueError as exc:
                    problems.append((row_number, name, str(exc)))
            rows.append((row_number, record))
    return rows, problems


def duplicates(rows, key, problems):
    """Report rows repeating an earlier row's key: one column, or a tuple of columns (then the problem is
    reported on the last of them the row fills)."""
    names = (key,) if isinstance(key, str) else tuple(key)
    seen = {}
    for row_number, record in rows:
        value = tuple(record.get(name) for name in names)
        filled = [name for name, v in zip(names, value) if v is not None]
        if not filled:
            continue
        if value in seen:
            said = "%r already on row %d" % (value[0], seen[value]) if len(names) == 1 else \
                "the same rule is already on row %d" % seen[value]
            problems.append((row_number, filled[-1], said))
        else:
            seen[value] = row_number


def refuse_if(path, problems):
    if problems:
        raise ImportRefused(path, sorted(problems, key=lambda p: (p[0], p[1] or "")))


# -- imports ----------------------------------------------------------------------------------------------
def import_skus(ledger, path):
    """Create or update SKUs (and their approval / work order / machine id requirements). Returns a count."""
    rows, problems = read_rows(path, SKU_COLUMNS)
    duplicates(rows, "part_number", problems)
    refuse_if(path, problems)
    with ledger.transaction(admin=("import skus", str(path))):
        for _, record in rows:
            sku = {k: v for k, v in record.items() if k not in REQUIREMENT_COLUMNS}
            ledger.db["skus"].upsert(_without_null_defaults(ledger, "skus", sku), pk="part_number")
            needs = {k: record[k] for k in REQUIREMENT_COLUMNS if k in record and record[k] is not None}
            if needs:
                ledger.db["sku_requirements"].upsert(dict(needs, sku=record["part_number"]), pk="sku")
    return len(rows)


def import_locations(ledger, path):
    """Create or update locations with their SKU and min/max. An on_hand column, where it differs from the
    ledger, is written as a `count` transaction (stock only ever changes through the ledger). Returns a count."""
    rows, problems = read_rows(path, LOCATION_COLUMNS)
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
                if kind != "scan" and record.get("unit") is None:
                    problems.append((row_number, "unit", "a %s needs its unit number on the cabinet link" % kind))
        if record.get("sku") is not None and record["sku"] not in known_skus:
            problems.append((row_number, "sku", "%r is not a known part number (import SKUs first)" % record["sku"]))
        low, high = record.get("min"), record.get("max")
        if low is not None and high is not None and high < low:
            problems.append((row_number, "max", "max %d is below min %d" % (high, low)))
    refuse_if(path, problems)
    with ledger.transaction(admin=("import locations", str(path))):
        for _, record in rows:
            counted = record.pop("on_hand", None)
            before = _min_max(ledger, record["id"])
            ledger.db["locations"].upsert(_without_null_defaults(ledger, "locations", record), pk="id")
            on_hand = ledger.on_hand(record["id"])
            if counted is not None and counted != on_hand:
                ledger.append("count", location=record["id"], quantity=counted, reason="imported from %s" % path)
            elif before != _min_max(ledger, record["id"]):
                # A new location, or new min/max: a count of what is there (no stock moves) puts the change
                # on record and lets min/max open or close the refill task right away, not at the next take.
                ledger.append("count", location=record["id"], quantity=on_hand,
                              reason="min/max set by %s" % path)
    return len(rows)


def _min_max(ledger, location_id):
    return ledger.db.execute("SELECT min, max FROM locations WHERE id = ?", [location_id]).fetchone()


def import_users(ledger, path):
    """Create or update users and their badges; PINs are hashed here and never stored in clear.

    A blank PIN keeps the user's current one. A `badges` column (ids separated by `;`) replaces the user's
    badges. Returns a count.
    """
    rows, problems = read_rows(path, USER_COLUMNS)
    duplicates(rows, "id", problems)
    badge_rows = {}
    for row_number, record in rows:
        if record.get("role") in SUPPLIER_ROLES and not record.get("supplier"):
            problems.append((row_number, "supplier", "a %s must name their supplier" % record["role"]))
        start, end = record.get("valid_from"), record.get("valid_to")
        if start and end and instant(end) < instant(start):
            problems.append((row_number, "valid_to", "%s is before valid_from %s" % (end, start)))
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
    with ledger.transaction(admin=("import users", str(path))):
        for _, record in rows:
            ledger.db["users"].upsert(_without_null_defaults(ledger, "users", record), pk="id")
        for user_id in badge_changes:  # every delete first, so a badge can move between users in one file
            ledger.db.execute("DELETE FROM badges WHERE user_id = ?", [user_id])
        for user_id, badges in badge_changes.items():
            ledger.db["badges"].insert_all([{"badge_id": b, "user_id": user_id} for b in badges])
    return len(rows)


def import_role_allows(ledger, path):
    """Replace the role allow list: which roles (technician, contractor) may take which SKU or category.

    Each row names a role and exactly one of sku / category. Returns the number of rules now in force."""
    rows, problems = read_rows(path, ROLE_ALLOW_COLUMNS)
    for row_number, record in rows:
        role = record.get("role")
        if role is not None and role not in RULE_ROLES:
            problems.append((row_number, "role", "a %s is not bound by an allow list (it applies to %s)"
                             % (role, ", ".join(RULE_ROLES))))
    _check_rule_targets(ledger, rows, problems)
    duplicates(rows, ("role", "sku", "category"), problems)
    refuse_if(path, problems)
    return _replace_rules(ledger, "role_allows", [r for _, r in rows], ROLE_ALLOW_COLUMNS)


def import_user_limits(ledger, path):
    """Replace the per-user limits: at most max_quantity of an SKU (or of a category) per shift or day.

    Returns the number of limits now in force."""
    rows, problems = read_rows(path, USER_LIMIT_COLUMNS)
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
    refuse_if(path, problems)
    return _replace_rules(ledger, "user_limits", [r for _, r in rows], USER_LIMIT_COLUMNS)


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


def _replace_rules(ledger, table, records, columns):
    with ledger.transaction(admin=("import " + table, None)):
        ledger.db.execute("DELETE FROM %s" % table)
        ledger.db[table].insert_all([{name: record.get(name) for name in columns} for record in records])
    return len(records)


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
