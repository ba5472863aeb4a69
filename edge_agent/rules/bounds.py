"""What a value given at the cabinet may be, checked before anything is recorded (decision 0023).

Ids match their pattern (a location is its kind's letter and a number, as the contract's location_id; a badge
is at most what a keyboard-wedge reader types for 16 bytes), text is capped, and every number a person types
is a whole number in a sane range: at most QUANTITY_MAX (a refill at most what the location holds, its max).
`check(name, value)` answers with the words for a 400, or None when the value is fine. `json_fault` judges
JSON text's nesting before it is parsed, for the local API and the cloud's down messages alike."""
import re

from edge_agent.badge.ids import MAX_BYTES
from edge_agent.rules.csv_io import LOCATION_ID
from edge_agent.rules.csv_rows import CONTROL, QUANTITY_MAX
from edge_agent.rules.csv_rows import TEXT_MAX as LONG_TEXT     # a reason said in words, as a name in a CSV

SHORT_TEXT = 64                             # ids a person or a site names: user, work order, machine, cost centre
# The longest each text field may be; anything not listed is SHORT_TEXT.
TEXT_MAX = {"location": 16, "badge": 3 * MAX_BYTES, "reason": LONG_TEXT, "disposition": 32, "condition": 32}
# The range of each number field; anything not listed is 1..QUANTITY_MAX.
NUMBER_RANGE = {"added": (0, QUANTITY_MAX), "counted": (0, QUANTITY_MAX), "delta": (-QUANTITY_MAX, QUANTITY_MAX)}


def check(name, value):
    """The words saying why `value` is not a good `name`, or None."""
    if isinstance(value, str):
        longest = TEXT_MAX.get(name, SHORT_TEXT)
        if len(value) > longest:
            return "%s is longer than %d characters" % (name, longest)
        if CONTROL.search(value):
            return "%s must not hold control characters" % name
        if name == "location" and not LOCATION_ID.match(value):
            return "%s must be a location id such as L3 or D1 (a letter D, L, B or S and a number)" % name
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = NUMBER_RANGE.get(name, (1, QUANTITY_MAX))
        if not low <= value <= high:
            return "%s must be from %d to %d" % (name, low, high)
    return None


def refill_ceiling(location):
    """The most one refill may put in (or count at) a location: what it physically holds (its capacity) when
    known, else what it holds when full (its max), else QUANTITY_MAX."""
    if location.capacity:
        return location.capacity
    return location.max if location.max > 0 else QUANTITY_MAX


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_INNERMOST = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_BRACKET = re.compile(rb"[\[\]{}]")


def json_fault(raw, levels):
    """Why JSON text `raw` (bytes) must not be parsed, judged without parsing it (so no recursion): "too deep"
    when [ and { nest more than `levels` deep, "unbalanced" when a bracket is left unmatched (not JSON);
    None when it may be parsed. Strings are blanked, then each pass folds the innermost [...] and {...}."""
    text = _JSON_STRING.sub(b'""', raw)
    for _ in range(levels):
        text, folded = _INNERMOST.subn(b"0", text)
        if not folded:
            break
    if _INNERMOST.search(text):
        return "too deep"
    return "unbalanced" if _BRACKET.search(text) else None
