"""What a person may do at a location, decided by the agent from the ledger's rules, never by the screen.

Issues: technicians and contractors may take an SKU only when their role is allowed it (by SKU or by its
category); supervisors may take anything and approve restricted items; route drivers and supplier admins
refill, they do not take. Per-user limits count what the user took in the current day (the ledger clock's
UTC date) or shift (the last `shift_hours`); SKUs may need a supervisor's approval, a work order or a
machine id, and a work order or machine id given must be on the site's list when it has one
(charge_lists.py). Refills: a driver or supplier admin touches only locations holding their own supplier's SKUs.
Each answers with the Refusal (a reason code and the plain words the screen shows) or None."""
import datetime

from edge_agent.ledger.locations import find_location
from edge_agent.rules.charge_lists import off_list_refusal
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import REFILLERS, SUPPLIER_BOUND, TAKERS, UNRESTRICTED


def _taken_since(ledger, user_id, sku, category, since_iso):
    """Units this user took of the SKU (or of any SKU in the category) since the given wall time."""
    match = "t.sku = ?" if sku else "t.sku IN (SELECT part_number FROM skus WHERE category = ?)"
    row = ledger.db.execute(
        "SELECT coalesce(sum(t.quantity), 0) FROM transactions t WHERE t.user_id = ? AND " + match +
        " AND t.wall_time >= ? AND (t.kind = 'issue' OR (t.kind = 'outcome' AND t.action = 'issue'))",
        [user_id, sku or category, since_iso]).fetchone()
    return row[0]


def _window_start(now, period, shift_hours):
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - datetime.timedelta(hours=shift_hours)


def issue_refusal(ledger, person, location_id, quantity, *, work_order=None, machine_id=None, approver=None,
              shift_hours=8, loc=None):
    """Why this person may not take `quantity` from the location now (a Refusal), or None: they may.
    approver: a Person who badged to approve. loc: the location as the caller has just read it (else read)."""
    loc = loc or find_location(ledger, location_id)
    if loc is None or loc.sku is None:
        return Refusal("no_such_item", "There is nothing to take at %s." % location_id)
    name = loc.description or loc.sku
    if person.role not in TAKERS:
        return Refusal("not_allowed", "Your role (%s) does not take items." % person.role.replace("_", " "))
    if quantity < 1:
        return Refusal("bad_quantity", "Choose at least one.")
    if loc.on_hand < quantity:
        return Refusal("out_of_stock", "%s: only %d left here." % (name, loc.on_hand) if loc.on_hand
                           else "%s is out of stock here." % name)
    restricted = person.role not in UNRESTRICTED
    # Whether the role may take it, and what the SKU needs (0s when it has no requirements row): one read.
    allowed, *needs = ledger.conn.execute(
        "SELECT EXISTS (SELECT 1 FROM role_allows WHERE role = ?1 AND (sku = ?2 OR category = ?3)), "
        "coalesce(r.needs_approval, 0), coalesce(r.needs_work_order, 0), coalesce(r.needs_machine_id, 0) "
        "FROM (SELECT 1) LEFT JOIN sku_requirements r ON r.sku = ?2", (person.role, loc.sku, loc.category)).fetchone()
    if restricted and not allowed:
        return Refusal("not_allowed", "You are not allowed to take %s." % name)
    if needs[1] and not work_order:
        return Refusal("needs_work_order", "%s needs a work order number." % name)
    if needs[2] and not machine_id:
        return Refusal("needs_machine_id", "%s needs the machine id it is for." % name)
    off_list = off_list_refusal(ledger, "work_order", work_order) or off_list_refusal(ledger, "machine", machine_id)
    if off_list:
        return off_list
    if restricted and needs[0] and (approver is None or approver.role not in UNRESTRICTED
                                    or approver.user_id == person.user_id):
        return Refusal("needs_approval", "%s needs a supervisor's approval: a supervisor can badge now."
                           % name)
    if restricted:
        now = datetime.datetime.fromisoformat(ledger.clock.wall()[0])
        for sku, category, period, limit in ledger.db.execute(
                "SELECT sku, category, period, max_quantity FROM user_limits WHERE user_id = ? "
                "AND (sku = ? OR category = ?)", [person.user_id, loc.sku, loc.category]).fetchall():
            since = _window_start(now, period, shift_hours).isoformat(timespec="milliseconds")
            taken = _taken_since(ledger, person.user_id, sku, category, since)
            if taken + quantity > limit:
                left = max(0, limit - taken)
                return Refusal("over_limit", "Over your limit for this %s: %d of %d taken, %d left."
                                   % (period, taken, limit, left))
    return None


def refill_refusal(ledger, person, location_id, loc=None):
    """Why this person may not open and refill the location (a Refusal), or None. Drivers only their own
    supplier's. loc: the location as the caller has just read it (else read)."""
    loc = loc or find_location(ledger, location_id)
    if loc is None:
        return Refusal("no_such_item", "There is no location %s." % location_id)
    if person.role not in REFILLERS:
        return Refusal("not_allowed", "Refilling is for route drivers and supervisors.")
    if person.role in SUPPLIER_BOUND and (not person.supplier or loc.supplier != person.supplier):
        return Refusal("other_supplier", "%s is another supplier's location." % location_id)
    return None


def approver_id(person, approver):
    """The approver's user id for the record, or None: only someone who may approve (roles.UNRESTRICTED, not
    the taker) is written as approver, whoever else badged."""
    if approver is not None and approver.role in UNRESTRICTED and approver.user_id != person.user_id:
        return approver.user_id
    return None
