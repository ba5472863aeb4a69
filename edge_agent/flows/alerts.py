"""A supervisor acknowledges an alert, with a note (docs/alerts.md).

Who: SUPERVISORS ('supervisor', 'customer_admin'). The note says what was done or found (1 to NOTE_MAX
characters). A kind that ends by acknowledgement (ledger/alerts.py ENDS: a forced door, a cabinet fault, an
outcome nobody can know) ends here with cleared_how 'acknowledged'; any other kind keeps who acknowledged it
and the note, and stays open until its condition ends (low stock ends with the refill, not with a note).
Anyone else, a missing or overlong note, an alert that does not exist or has already ended: refused, and
the refusal goes on record as flows/stock.py does."""
from edge_agent.ledger.alerts import acknowledge_alert, find_alert
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import SUPERVISORS

NOTE_MAX = 200


def acknowledge(ledger, person, alert_id, note):
    """Acknowledge open alert `alert_id`; returns {"alert_id", "kind", "ended"}."""
    if person.role not in SUPERVISORS:
        _refuse(ledger, person, None, "not_allowed", "Only a supervisor can acknowledge an alert.")
    alert = find_alert(ledger.db, alert_id) if isinstance(alert_id, int) and not isinstance(alert_id, bool) else None
    if alert is None or alert["cleared_wall"] is not None:
        _refuse(ledger, person, None, "no_such_alert", "That alert is not open any more: look at the list again.")
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        _refuse(ledger, person, alert["location"], "needs_note", "Write a note: what you found or did.")
    if len(note) > NOTE_MAX:
        _refuse(ledger, person, alert["location"], "note_too_long",
                "The note is %d characters: keep it to %d." % (len(note), NOTE_MAX))
    if alert["acked_wall"] is not None:
        _refuse(ledger, person, alert["location"], "already_acknowledged",
                "This alert is already acknowledged; it ends when its cause does.")
    with ledger.transaction():
        ended = acknowledge_alert(ledger.db, alert_id, person.user_id, note, ledger.clock.wall()[0])
    return dict(alert_id=alert_id, kind=alert["kind"], ended=ended)


def _refuse(ledger, person, location, reason, words):
    raise Refusal(reason, words).record(ledger, user_id=person.user_id, location=location)
