"""Consumption: which of a period's movements are usage (the rules are in build.py's docstring and the
method section), and its totals per item, group (department, cost center, work order), week and billing
line. Pure functions of the usage rows; nothing here reads the ledger."""
import collections
import datetime

from edge_agent.reports.model import BillingLine, GroupUsage, ItemUsage, OwnershipTotal, UsageRow

COMMISSIONING = "commissioning"     # the reason edge_agent/cli/commissioning.py gives its test actuations
NO_COST_CENTER = "(none)"


def usage_rows(in_period, catalog):
    """One UsageRow per issue or return that moved stock in the period: consumption, tool loans
    (tool_out / tool_in) and commissioning test turns, the last two with no amount and never billed.
    in_period: the period's movements (history.Movement); catalog: a catalog.Catalog."""
    rows = []
    for m in in_period:
        if m.action not in ("issue", "return") or m.quantity <= 0:
            continue
        tool = m.location in catalog.tool_locations
        movement = ("tool_out" if m.action == "issue" else "tool_in") if tool else m.action
        if (m.intent_reason or "").startswith(COMMISSIONING):
            tool, movement = True, "commissioning"     # an installer's test turn: no amount, not usage
        cost = catalog.unit_cost(m)
        sign = 1 if m.action == "issue" else -1
        ownership = catalog.ownership(m.sku)
        rows.append(UsageRow(
            seq=m.seq, time=m.time, clock_synced=m.synced, movement=movement, location=m.location,
            sku=m.sku, description=catalog.description(m.sku), ownership=ownership, quantity=m.quantity,
            unit_cost_cents=cost, amount_cents=0 if tool else sign * m.quantity * (cost or 0),
            billable=not tool and ownership == "consignment", user_id=m.user_id,
            department=catalog.department(m.user_id) if m.user_id else None, cost_center=m.cost_center,
            work_order=m.work_order, machine_id=m.machine_id, outcome=m.outcome, cabinet=m.cabinet))
    return rows


def signed(u):
    """A usage row's units as they change what is out: + for an issue or tool out, - for what came back."""
    return u.quantity if u.movement in ("issue", "tool_out") else -u.quantity


def item_usage(consumption, days, catalog):
    """Consumption per SKU (with its net units per day of `days`), largest value first."""
    index = {d: i for i, d in enumerate(days)}
    by_sku = collections.OrderedDict()
    for u in consumption:
        item = by_sku.get(u.sku)
        if item is None:
            row = catalog.sku(u.sku)
            item = by_sku[u.sku] = ItemUsage(u.sku, u.description, row.get("category"), u.ownership, 0, 0, 0,
                                             0, [0] * len(days))
        _tally(item, u)
        day = index.get(u.time.date())
        if day is not None:
            item.daily[day] += signed(u)
    return sorted(by_sku.values(), key=lambda i: (-i.value_cents, -i.net, i.sku or ""))


def group_usage(consumption, key):
    """Consumption per key(row) (a department, cost center or work order), largest value first."""
    groups = {}
    for u in consumption:
        k = key(u)
        g = groups.setdefault(k, GroupUsage(k, 0, 0, 0, 0, 0))
        _tally(g, u)
        g.transactions += 1
    return sorted(groups.values(), key=lambda g: (-g.value_cents, -g.net, g.key))


def weekly_usage(consumption, days):
    """[(Monday, net units, value cents)] for every week that has a day in `days`."""
    monday = lambda d: d - datetime.timedelta(days=d.weekday())
    weeks = collections.OrderedDict((monday(d), [0, 0]) for d in days)
    for u in consumption:
        week = weeks.get(monday(u.time.date()))
        if week is not None:
            week[0] += signed(u)
            week[1] += u.amount_cents
    return [(w, q, v) for w, (q, v) in weeks.items()]


def billing(consumption):
    """(billing lines per cost center, SKU and unit price; totals per ownership)."""
    lines = {}
    totals = {o: OwnershipTotal(o, o == "consignment", 0, 0, 0, 0, 0) for o in ("consignment", "customer")}
    for u in consumption:
        t = totals.setdefault(u.ownership, OwnershipTotal(u.ownership, False, 0, 0, 0, 0, 0))
        _count(t, u)
        t.quantity += signed(u)
        t.value_cents += u.amount_cents
        if not u.billable:
            continue
        t.amount_cents += u.amount_cents
        key = (u.cost_center or NO_COST_CENTER, u.sku, u.unit_cost_cents or 0)
        line = lines.setdefault(key, BillingLine(key[0], u.sku, u.description, u.ownership, key[2], 0, 0, 0, 0))
        _count(line, u)
        line.quantity += signed(u)
        line.amount_cents += u.amount_cents
    ordered = sorted(lines.values(), key=lambda l: (l.cost_center, l.sku, l.unit_price_cents))
    return ordered, list(totals.values())


def _count(usage, u):
    """Add one consumption row's units to what was issued or what came back."""
    if u.movement == "issue":
        usage.issued += u.quantity
    else:
        usage.returned += u.quantity


def _tally(usage, u):
    """Add one consumption row to an ItemUsage or GroupUsage: issued or returned, net and value."""
    _count(usage, u)
    usage.net += signed(u)
    usage.value_cents += u.amount_cents
