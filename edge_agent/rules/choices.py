"""What the screen offers a person to take, their usual items first.

A technician in a hurry mostly takes what they took last week: the items this person took in the last
`USUAL_DAYS` days come first (most often taken first, then most recently), then the rest in cabinet order.
Each item carries its category (to browse), what it needs on the way out (a work order, a machine id, a
supervisor's approval), so the screen can ask before the cabinet refuses, and whether its lane is out of
service: jammed (a supervisor clears it) or suspected empty (a count puts it back); listed last, with why.
`issue_refusal` still decides everything on the issue itself."""
import datetime

from edge_agent.rules.permissions import issue_refusal

USUAL_DAYS = 90
NOT_OFFERED = ("not_allowed", "no_such_item")    # refusals that mean "not yours to take", not "not now"

_OFFER = (
    "SELECT l.id AS location, l.kind, l.unit, l.sku, s.description, s.category, l.on_hand, "
    "COALESCE(r.needs_work_order, 0) AS needs_work_order, COALESCE(r.needs_machine_id, 0) AS needs_machine_id, "
    "COALESCE(r.needs_approval, 0) AS needs_approval, EXISTS (SELECT 1 FROM alerts a WHERE a.location = l.id "
    "AND a.kind = 'lane_jammed' AND a.cleared_wall IS NULL) AS jammed, EXISTS (SELECT 1 FROM alerts a "
    "WHERE a.location = l.id AND a.kind = 'suspected_empty' AND a.cleared_wall IS NULL) AS suspected_empty "
    "FROM locations l JOIN skus s ON s.part_number = l.sku LEFT JOIN sku_requirements r ON r.sku = l.sku "
    "WHERE l.kind IN ('lane', 'door', 'bin', 'scan') AND l.on_hand > 0 "
    "ORDER BY CASE l.kind WHEN 'lane' THEN 0 WHEN 'door' THEN 1 WHEN 'bin' THEN 2 ELSE 3 END, l.unit, l.id")

# What this person took, per SKU: an issue row (scan-only bins, weigh bins) or a vend/door outcome.
_USUAL = (
    "SELECT sku, COUNT(*) AS times, MAX(seq) AS last FROM transactions "
    "WHERE user_id = ? AND wall_time >= ? AND sku IS NOT NULL AND quantity > 0 "
    "AND (kind = 'issue' OR (kind = 'outcome' AND action = 'issue')) GROUP BY sku")


def offered_items(ledger, person, usual_days=USUAL_DAYS):
    wall = datetime.datetime.fromisoformat(ledger.clock.wall()[0])
    since = (wall - datetime.timedelta(days=usual_days)).isoformat()
    usual = {r["sku"]: r for r in ledger.db.query(_USUAL, [person.user_id, since])}
    offered = []
    for order, row in enumerate(ledger.db.query(_OFFER)):
        if getattr(issue_refusal(ledger, person, row["location"], 1), "reason", None) in NOT_OFFERED:
            continue
        mine = usual.get(row["sku"])
        row.update(usual=mine is not None, times=mine["times"] if mine else 0)
        for flag in ("needs_work_order", "needs_machine_id", "needs_approval", "jammed", "suspected_empty"):
            row[flag] = bool(row[flag])
        row["out_of_service"] = row["jammed"] or row["suspected_empty"]
        # A lane out of service (jammed, or suspected empty until a count) stays in the list (the person
        # learns why), after everything that can be taken now.
        offered.append((row["out_of_service"], -(mine["times"] if mine else 0), -(mine["last"] if mine else 0),
                        order, row))
    return [row for *_, row in sorted(offered, key=lambda t: t[:4])]
