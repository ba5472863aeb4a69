"""Reading an import file's rows: the field parsers with their ceilings, and a strict CSV reader.

Every problem is a (row, field, words) triple; row numbers are as a spreadsheet shows them (the header is row
1). Nothing here writes: csv_io.py checks a whole file with these and writes only a clean one.

A file cannot say less than it looks like it says: a quote (`"`) that opens a cell and is not closed where
the cell ends would swallow the lines after it into one cell (a file of 40 SKUs imported as 1), so the reader
is strict and a line break or any other control character inside a cell is refused, naming the row where it
began. Every number has a ceiling far above any real cabinet and far below SQLite's 64-bit integers, so a
typo of ten extra zeros is an error naming its cell, not a refill task that never opens again or a crash.
"""
import csv
import datetime
import decimal
import re

from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
from edge_agent.ledger.errors import ImportRefused
from edge_agent.rules import pin_hashing

QUANTITY_MAX = 1_000_000                 # units: min, max, on hand, packs, limits
MONEY_MAX = decimal.Decimal("10000000.00")
WEIGHT_MAX_MG = 10 ** 9                  # a tonne: more than any weigh bin holds
LOAN_HOURS_MAX = 8784                    # a leap year
UNIT_MIN, UNIT_MAX = 1, 255              # unit numbers on the cabinet link (firmware/config.py)
TEXT_MAX = 200                           # characters in a name, description, department...
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- field parsers: each returns the value or raises ValueError with a sentence for the operator ----------
def text(value):
    if len(value) > TEXT_MAX:
        raise ValueError("is %d characters long; at most %d" % (len(value), TEXT_MAX))
    return value


def whole(minimum, maximum):
    def parse(value):
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise ValueError("%r is not a whole number" % _short(value))
        # More digits than the ceiling has is out of range either way: said before int() parses 5,000 digits.
        number = int(value) if len(value.lstrip("+-").lstrip("0")) <= len(str(maximum)) else None
        if number is None and value.startswith("-") or number is not None and number < minimum:
            raise ValueError("%s is below the minimum of %d" % (_short(value), minimum))
        if number is None or number > maximum:
            raise ValueError("%s is too large: at most %d" % (_short(value), maximum))
        return number
    return parse


def money_cents(value):
    """'12.50' -> 1250. Money is integer cents in the ledger; a third decimal is refused, not rounded."""
    try:
        amount = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError("%r is not an amount of money" % _short(value)) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("%r is not an amount of money of zero or more" % _short(value))
    if amount > MONEY_MAX:
        raise ValueError("%s is too large: at most %s" % (_short(value), MONEY_MAX))
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("%r has more than two decimals" % value)
    return int(cents)


def one_of(choices):
    def parse(value):
        if value not in choices:
            raise ValueError("%r is not one of %s" % (_short(value), ", ".join(choices)))
        return value
    return parse


def yes_no(value):
    lowered = value.lower()
    if lowered in ("1", "yes", "y", "true"):
        return 1
    if lowered in ("0", "no", "n", "false"):
        return 0
    raise ValueError("%r is not yes or no" % _short(value))


def iso_time(value):
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("%r is not an ISO date or time (like 2026-03-31 or 2026-03-31T18:00)"
                         % _short(value)) from None
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


def _short(value):
    return value if len(value) <= 40 else value[:20] + "...(%d characters)" % len(value)


# -- reading a file ---------------------------------------------------------------------------------------
def read_rows(path, columns):
    """Parse every row against `columns` {name: (required, parser)}; return (rows, problems).

    rows are (row_number, {column: value}) with empty cells as None and only the file's columns present.
    """
    try:
        return _read_rows(path, columns)
    except UnicodeDecodeError:
        return [], [(1, None, "is not UTF-8 text: save the spreadsheet as \"CSV UTF-8\"")]


def _records(handle, problems):
    """(row number, cells) for each row; a row the strict reader cannot read ends the file with a problem."""
    reader = csv.reader(handle, strict=True)
    row_number = 0
    while True:
        row_number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:   # in strict mode: a quote out of place, or a cell over the csv module's limit
            said = "a cell longer than %d characters" % csv.field_size_limit() if "field larger" in str(exc) \
                else "a quote (\") that opens a cell and is not closed where the cell ends (%s)" % exc
            problems.append((row_number, None, "has %s; nothing after it could be read" % said))
            return
        yield row_number, cells


def _read_rows(path, columns):
    problems, rows = [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        records = _records(handle, problems)
        header = [name.strip() for name in next(records, (1, []))[1]]
        for name in header:
            if name not in columns:
                problems.append((1, _short(name), "unknown column (expected some of %s)" % ", ".join(columns)))
        for name, (required, _) in columns.items():
            if required and name not in header:
                problems.append((1, name, "required column is missing"))
        if len(set(header)) != len(header):
            problems.append((1, None, "a column appears twice"))
        if problems:
            return [], problems
        for row_number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(cells) != len(header):
                problems.append((row_number, None, "has %d cells, the header has %d" % (len(cells), len(header))))
                continue
            rows.append((row_number, parse_record(row_number, zip(header, cells), columns, problems)))
    return rows, problems


def parse_record(row_number, named_cells, columns, problems):
    """One row's {column: value} from (column, cell text) pairs, each problem added to `problems` (also used on
    the cloud's desired catalog, its values as a cell would spell them: cloud/desired.py)."""
    record = {}
    for name, cell in named_cells:
        required, parse = columns[name]
        cell = cell.strip()
        control = CONTROL.search(cell)
        if control:
            said = "a line break: a quote (\") in this row opens a cell that runs over the next lines" \
                if control.group() in "\r\n" else "a control character (U+%04X)" % ord(control.group())
            problems.append((row_number, name, "contains %s" % said))
        elif not cell:
            if required:
                problems.append((row_number, name, "is required"))
            record[name] = None
        else:
            try:
                record[name] = parse(cell)
            except ValueError as exc:
                problems.append((row_number, name, str(exc)))
    return record


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
