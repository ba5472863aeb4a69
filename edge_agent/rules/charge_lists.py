"""What a take may be charged to: the site's lists of cost centers, machines and work-order patterns
(table charge_lists; imported from CSV by csv_io.import_charge_lists, or sent by the cloud with the catalog).

An empty list means "not checked": a site that has not set one up works as before. A list with entries
refuses a value not on it, in words naming the field and saying to pick from the list.

Cost centers and machines are matched exactly (letter case aside: the screen's keypad types capitals).
A work-order list holds patterns, in a small language with no regular expressions (so no pattern can make
the check slow): `#` is one digit, `?` any one character, `*` any run of characters (also none), anything
else itself. `WO-######` takes WO-004512, `WO-*` any work order starting WO-, `4500######` a ten-digit SAP
number starting 4500.

A person's own cost center (users.csv, the cloud's users) is always accepted; naming another is an
override, allowed only where the site allows it (`[access] cost_center_override`, docs/agent-config.md)."""
import dataclasses

from edge_agent.rules.refusal import Refusal

LISTS = ("cost_center", "machine", "work_order")
FIELD_OF = {"cost_center": "cost_center", "machine": "machine_id", "work_order": "work_order"}
WORDS = {"cost_center": ("cost center", "cost centers"), "machine": ("machine", "machines"),
         "work_order": ("work order", "work orders")}
SHOWN = 5            # how many entries a refusal names before "..."


def matches(pattern, value):
    """Whether `value` fits the work-order `pattern` (#: a digit, ?: any one character, *: any run).
    Linear-time wildcard matching (one backtrack point), never a regular expression."""
    p, v = pattern.upper(), value.upper()
    i = j = 0
    star, mark = -1, 0
    while j < len(v):
        if i < len(p) and (p[i] == "?" or p[i] == v[j] or (p[i] == "#" and v[j].isdigit() and v[j].isascii())):
            i, j = i + 1, j + 1
        elif i < len(p) and p[i] == "*":
            star, mark = i, j
            i += 1
        elif star >= 0:
            i, mark = star + 1, mark + 1
            j = mark
        else:
            return False
    while i < len(p) and p[i] == "*":
        i += 1
    return i == len(p)


def entries(ledger, list_name):
    """[(value, description)] of one list, in order."""
    return ledger.db.execute("SELECT value, description FROM charge_lists WHERE list = ? ORDER BY value",
                             [list_name]).fetchall()


def choices(ledger):
    """What the screen offers: {list: [{"value", "description"}]} for each list that has entries (a
    work_order entry is a pattern, shown as a hint, not a value to pick as it is)."""
    found = {}
    for list_name in LISTS:
        rows = entries(ledger, list_name)
        if rows:
            found[list_name] = [{"value": v, "description": d} for v, d in rows]
    return found


def on_list(ledger, list_name, value):
    """True when the list is empty (not checked) or the value is on it (a work order: fits a pattern)."""
    rows = entries(ledger, list_name)
    if not rows:
        return True
    if list_name == "work_order":
        return any(matches(pattern, value) for pattern, _ in rows)
    return value.upper() in {v.upper() for v, _ in rows}


def off_list_refusal(ledger, list_name, value):
    """A Refusal naming the field and the choices when `value` is given and not on the list, else None."""
    if not value or on_list(ledger, list_name, value):
        return None
    one, many = WORDS[list_name]
    listed = [v for v, _ in entries(ledger, list_name)]
    shown = ", ".join(listed[:SHOWN]) + (", ..." if len(listed) > SHOWN else "")
    if list_name == "work_order":
        words = "Work order %s is not in this site's form (%s). Check the number on the work order." % (value, shown)
    else:
        words = "%s %s is not one of this site's %s. Pick one from the list (%s)." % (
            one.capitalize(), value, many, shown)
    return Refusal("not_on_list", words, field=FIELD_OF[list_name])


def charge_to(ledger, person, cost_center, may_override):
    """The person as the take is charged: to the cost center they named, else their own. Naming another
    than their own is refused where the site does not allow it (may_override), and off the list when the
    site has one; a person with no cost center of their own may name one (from the list, if any).
    Raises the Refusal, on record."""
    cost_center = (cost_center or "").strip()
    own = (person.cost_center or "").strip()
    if not cost_center or cost_center.upper() == own.upper():
        return person
    if own and not may_override:
        refusal = Refusal("cost_center_override", "Takes here are charged to your own cost center (%s); this "
                          "site does not allow charging another one." % own, field="cost_center")
    else:
        refusal = off_list_refusal(ledger, "cost_center", cost_center)
    if refusal:
        raise refusal.record(ledger, user_id=person.user_id)
    # Billed as the list spells it: "cc-200" typed is CC-200, one billing line, not two.
    listed = {v.upper(): v for v, _ in entries(ledger, "cost_center")}
    return dataclasses.replace(person, cost_center=listed.get(cost_center.upper(), cost_center))
