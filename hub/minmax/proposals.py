"""A min/max proposal and its life: the supplier makes one per cabinet or site from the recommendations, may
change its lines, and submits it; the customer's admin approves it (maybe changing lines first) or rejects it
with a note. Every step and every changed figure is kept in minmax_changes (who, when, old -> new).

Who may do what is checked here, not only by the web pages, so the CLI and the web app refuse the same things:
the supplier's staff (no customer) of the proposal's tenant propose, change drafts and submit; the customer's
admin of the site's customer (and no one else) changes a submitted proposal, approves or rejects it."""
import dataclasses
from typing import FrozenSet, Optional

from hub.minmax import MinMaxRefused, push
from hub.minmax.figures import check_line, figure

PROPOSE, APPROVE, VIEW = "minmax.propose", "minmax.approve", "minmax.view"


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, as the web app's Viewer has it (user, tenant, customer: None for the supplier's staff, and
    may(capability)); the CLI makes one from --by and --customer."""
    user: str
    tenant: str
    customer: Optional[str]
    capabilities: FrozenSet[str]

    def may(self, capability):
        return capability in self.capabilities


def supplier(user, tenant):
    return Actor(user, tenant, None, frozenset({PROPOSE, VIEW}))


def customer_admin(user, tenant, customer):
    return Actor(user, tenant, customer, frozenset({APPROVE, VIEW}))


# -- reading -----------------------------------------------------------------------------------------------
def _scope(actor):
    """SQL and arguments limiting proposals (alias p) and their sites (alias s) to what the actor may see."""
    return ("p.tenant = %s AND (%s::text IS NULL OR s.customer = %s)", [actor.tenant, actor.customer, actor.customer])


def visible(conn, actor, state=None):
    """The proposals the actor may see, newest first, with the site's name and customer."""
    if not actor.may(VIEW):
        raise MinMaxRefused("%s may not see min/max proposals" % actor.user)
    where, args = _scope(actor)
    return conn.execute(
        "SELECT p.*, s.name AS site_name, s.customer FROM minmax_proposals p JOIN sites s ON (s.tenant, s.id) = "
        "(p.tenant, p.site) WHERE " + where + " AND (%s::text IS NULL OR p.state = %s) ORDER BY p.id DESC",
        args + [state, state]).fetchall()


def get(conn, actor, proposal_id, lock=False):
    """The proposal (with site_name and customer) if the actor may see it; refused in the same words whether
    it does not exist or is another customer's."""
    if not actor.may(VIEW) and not actor.may(PROPOSE) and not actor.may(APPROVE):
        raise MinMaxRefused("%s may not see min/max proposals" % actor.user)
    where, args = _scope(actor)
    found = conn.execute(
        "SELECT p.*, s.name AS site_name, s.customer FROM minmax_proposals p JOIN sites s ON (s.tenant, s.id) = "
        "(p.tenant, p.site) WHERE p.id = %s AND " + where + (" FOR UPDATE OF p" if lock else ""),
        [proposal_id] + args).fetchone()
    if found is None:
        raise MinMaxRefused("no min/max proposal %s among %s's" % (proposal_id, actor.customer or actor.tenant))
    return found


def lines(conn, proposal_id):
    return conn.execute("SELECT * FROM minmax_lines WHERE proposal = %s ORDER BY cabinet, "
                        "left(location, 1), length(location), location", [proposal_id]).fetchall()


def changes(conn, proposal_id):
    return conn.execute("SELECT * FROM minmax_changes WHERE proposal = %s ORDER BY id", [proposal_id]).fetchall()


def _log(conn, proposal_id, actor, action, now, line=None, old=(None, None), new=(None, None), note=None):
    conn.execute("INSERT INTO minmax_changes (proposal, at, by_user, action, cabinet, location, old_min, old_max, "
                 "new_min, new_max, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 [proposal_id, now, actor.user, action, line and line[0], line and line[1], old[0], old[1], new[0],
                  new[1], note])


# -- the workflow ------------------------------------------------------------------------------------------
def create(conn, actor, tenant, site, cabinet, found, period, now, edits=()):
    """A draft proposal from the recommendations `found` (recommend.Line per cabinet location): each line
    proposes the recommended min/max, else the current ones (only locations of the hub's catalog: see
    push.in_catalog); then `edits` (as change()), all in one
    transaction. period: (start, end) of the history used. Refused for anyone but the supplier's staff of
    `tenant`, and for a cabinet not run from the hub."""
    if not actor.may(PROPOSE) or actor.customer is not None or actor.tenant != tenant:
        raise MinMaxRefused("%s may not propose min/max for %s: only the supplier's staff of %s propose"
                            % (actor.user, "%s/%s" % (tenant, site), tenant))
    push.refuse_unless_run_from_hub(conn, sorted({line.cabinet for line in found}))
    found = push.in_catalog(conn, found)[0]
    if not found:
        raise MinMaxRefused("nothing to propose: no stocked location of the hub's catalog at %s"
                            % (cabinet or "%s/%s" % (tenant, site)))
    with conn.transaction():
        proposal_id = conn.execute(
            "INSERT INTO minmax_proposals (tenant, site, cabinet, period_start, period_end, created_by, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [tenant, site, cabinet, period[0], period[1], actor.user, now]).fetchone()["id"]
        for line in found:
            low = line.recommended_min if line.recommended_min is not None else line.current_min
            high = line.recommended_max if line.recommended_max is not None else line.current_max
            conn.execute(
                "INSERT INTO minmax_lines (proposal, cabinet, location, sku, capacity, current_min, current_max, "
                "recommended_min, recommended_max, reason, proposed_min, proposed_max) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [proposal_id, line.cabinet, line.location, line.sku, line.capacity, line.current_min,
                 line.current_max, line.recommended_min, line.recommended_max, line.reason, low, high])
        _log(conn, proposal_id, actor, "created", now,
             note="from the history of %s to %s" % (period[0].date(), period[1].date()))
        if edits:
            proposal = get(conn, actor, proposal_id, lock=True)
            for edit in edits:
                _change(conn, actor, proposal, *edit, now)
    return proposal_id


def _may_change(actor, proposal):
    """Drafts are the supplier's to change; a submitted proposal is the customer's admin's."""
    if proposal["state"] == "draft":
        if not actor.may(PROPOSE) or actor.customer is not None:
            raise MinMaxRefused("proposal %d is a draft: only the supplier's staff change it" % proposal["id"])
    elif proposal["state"] == "submitted":
        _must_decide(actor, proposal)
    else:
        raise MinMaxRefused("proposal %d is %s: it cannot be changed any more" % (proposal["id"], proposal["state"]))


def _must_decide(actor, proposal):
    if not actor.may(APPROVE) or not actor.customer or actor.customer != proposal["customer"]:
        raise MinMaxRefused("%s may not decide on proposal %d: only an admin of %s does"
                            % (actor.user, proposal["id"], proposal["customer"] or "the site's customer"))


def _change(conn, actor, proposal, cabinet, location, low, high, now):
    line = conn.execute("SELECT * FROM minmax_lines WHERE proposal = %s AND cabinet = %s AND location = %s",
                        [proposal["id"], cabinet, location]).fetchone()
    if line is None:
        raise MinMaxRefused("proposal %d has no location %s at %s" % (proposal["id"], location, cabinet))
    low, high = figure("min", low), figure("max", high)
    check_line("%s %s" % (cabinet, location), low, high, line["capacity"])
    if (low, high) == (line["proposed_min"], line["proposed_max"]):
        return False
    conn.execute("UPDATE minmax_lines SET proposed_min = %s, proposed_max = %s WHERE proposal = %s AND cabinet = %s "
                 "AND location = %s", [low, high, proposal["id"], cabinet, location])
    _log(conn, proposal["id"], actor, "changed", now, (cabinet, location),
         (line["proposed_min"], line["proposed_max"]), (low, high))
    return True


def change(conn, actor, proposal_id, edits, now):
    """Change lines: edits [(cabinet, location, min, max)] (min, max as typed). All or none. Returns how many
    lines changed."""
    with conn.transaction():
        proposal = get(conn, actor, proposal_id, lock=True)
        _may_change(actor, proposal)
        return sum(_change(conn, actor, proposal, *edit, now) for edit in edits)


def submit(conn, actor, proposal_id, now):
    """The supplier sends the draft to the customer's admin."""
    with conn.transaction():
        proposal = get(conn, actor, proposal_id, lock=True)
        if proposal["state"] == "submitted":
            return False                         # a second click: it already is
        if proposal["state"] != "draft" or not actor.may(PROPOSE) or actor.customer is not None:
            raise MinMaxRefused("proposal %d is %s: only the supplier's staff submit a draft"
                                % (proposal_id, proposal["state"]))
        conn.execute("UPDATE minmax_proposals SET state = 'submitted' WHERE id = %s", [proposal_id])
        _log(conn, proposal_id, actor, "submitted", now)
        return True


def approve(conn, actor, proposal_id, now, edits=(), note=None):
    """The customer's admin approves (after changing lines `edits`, if any): in the same transaction each
    cabinet whose min/max change gets its next catalog version (push.make_versions). Approving again (a
    double click, a resubmitted form) changes nothing and returns the versions made the first time.
    Returns (versions {cabinet: version}, True if this call approved it)."""
    with conn.transaction():
        proposal = get(conn, actor, proposal_id, lock=True)
        if proposal["state"] == "approved":
            _must_decide(actor, proposal)
            return push.versions_of(conn, proposal_id), False
        if proposal["state"] != "submitted":
            raise MinMaxRefused("proposal %d is %s: only a submitted proposal is approved" % (proposal_id,
                                                                                              proposal["state"]))
        _must_decide(actor, proposal)
        _refuse_if_overtaken(conn, proposal)
        for edit in edits:
            _change(conn, actor, proposal, *edit, now)
        versions = push.make_versions(conn, proposal_id, lines(conn, proposal_id))
        conn.execute("UPDATE minmax_proposals SET state = 'approved', decided_by = %s, decided_at = %s, note = %s "
                     "WHERE id = %s", [actor.user, now, note, proposal_id])
        _log(conn, proposal_id, actor, "approved", now, note=note)
        for cabinet, version in sorted(versions.items()):
            _log(conn, proposal_id, actor, "catalog version %d made" % version, now, (cabinet, None))
        return versions, True


def _refuse_if_overtaken(conn, proposal):
    """A proposal made before another one for the same cabinet was approved is refused: its 'now' figures are
    no longer what the cabinet holds, and approving it would silently undo the other's."""
    later = conn.execute(
        "SELECT DISTINCT p.id, l.cabinet FROM minmax_proposals p JOIN minmax_lines l ON l.proposal = p.id "
        "WHERE p.state = 'approved' AND p.id <> %s AND p.decided_at >= %s AND l.cabinet IN "
        "(SELECT cabinet FROM minmax_lines WHERE proposal = %s) ORDER BY p.id LIMIT 1",
        [proposal["id"], proposal["created_at"], proposal["id"]]).fetchone()
    if later is not None:
        raise MinMaxRefused("proposal %d for %s was approved after this one was made: its figures are out of date, "
                            "reject it and ask for a new proposal" % (later["id"], later["cabinet"]))


def reject(conn, actor, proposal_id, note, now):
    """The customer's admin rejects the proposal, saying why. Rejecting again changes nothing."""
    note = (note or "").strip()
    if not note:
        raise MinMaxRefused("say why the proposal is rejected (a note), so the supplier can make a better one")
    with conn.transaction():
        proposal = get(conn, actor, proposal_id, lock=True)
        if proposal["state"] == "rejected":
            return False
        if proposal["state"] != "submitted":
            raise MinMaxRefused("proposal %d is %s: only a submitted proposal is rejected" % (proposal_id,
                                                                                              proposal["state"]))
        _must_decide(actor, proposal)
        conn.execute("UPDATE minmax_proposals SET state = 'rejected', decided_by = %s, decided_at = %s, note = %s "
                     "WHERE id = %s", [actor.user, now, note, proposal_id])
        _log(conn, proposal_id, actor, "rejected", now, note=note)
        return True
