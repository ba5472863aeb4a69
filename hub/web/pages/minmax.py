"""Min/max review (docs/hub/minmax.md): the proposals a viewer may see; the supplier proposes from the
recommendations, changes lines and submits; the customer's admin changes lines, approves or rejects; everyone
sees current vs recommended vs proposed, every change, and when each cabinet applied the new catalog.

The rules (who may do what, the figures' checks, one version per cabinet) are hub/minmax's, the same as the
CLI's; a page only shows and posts. Approval stores the catalog versions; `locker-hub minmax push` publishes
them (this process holds no broker connection: decision 0046)."""
from starlette.responses import RedirectResponse
from starlette.routing import Route

from hub.minmax import MinMaxRefused, proposals, push, recommend
from hub.web.html import Html, esc, field, form, link, page, table
from hub.web.posted import form_fields
from hub.web.viewer import now, require

NAV = (("Min/max", "/minmax", "minmax.view"),)
STATE_WORDS = {"draft": "draft (the supplier's)", "submitted": "waiting for the customer's approval",
               "approved": "approved", "rejected": "rejected"}


def _message(text, ok=False):
    return Html('<p class="%s">%s</p>' % ("notice" if ok else "refusal", esc(text))) if text else Html("")


def _when(moment):
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


# -- the list, and a new proposal -----------------------------------------------------------------------------
def index(request, message=None, status=200):
    viewer = require(request, "minmax.view")
    with request.app.state.pool.connection() as conn:
        rows = proposals.visible(conn, viewer)
        cabinets = viewer.cabinets(conn) if viewer.may("minmax.propose") else []
        sites = viewer.sites(conn) if viewer.may("minmax.propose") else []
    cells = [[link("/minmax/%d" % r["id"], "#%d" % r["id"]), r["customer"], r["site_name"], r["cabinet"] or "all",
              Html('<span class="state-%s">%s</span>' % (esc(r["state"]), esc(STATE_WORDS[r["state"]]))),
              r["created_by"], _when(r["created_at"]), r["decided_by"] or "", _when(r["decided_at"])] for r in rows]
    body = Html(_message(message) + table(
        ["Proposal", "Customer", "Site", "Cabinet", "State", "Proposed by", "On (UTC)", "Decided by", "On (UTC)"],
        cells, empty="No min/max proposals yet."))
    if viewer.may("minmax.propose"):
        options = "".join('<option value="cabinet:%s">cabinet %s</option>' % (esc(c), esc(c)) for c in cabinets)
        options += "".join('<option value="site:%s">every cabinet of site %s</option>' % (esc(s), esc(s))
                           for s in sites)
        body = Html(body + "<h2>Propose min/max</h2><p class=\"muted\">The recommendations come from the cabinet's "
                    "history, by the same formulas as the cabinet's own report.</p>" + form(
                        request, "/minmax", Html('<label>For <select name="what">%s</select></label>' % options
                                                 + field("History (days)", "days", str(recommend.DEFAULT_DAYS),
                                                         kind="number")), submit="Propose"))
    return page(request, viewer, "Min/max review", body, status=status)


def create(request):
    viewer = require(request, "minmax.propose")
    f = form_fields(request)
    kind, _, name = f.get("what", "").partition(":")
    moment = now(request)
    try:
        days = (f.get("days") or str(recommend.DEFAULT_DAYS)).strip()
        if not days.isdigit():
            raise MinMaxRefused("history: give a whole number of days, e.g. %d" % recommend.DEFAULT_DAYS)
        days = int(days)
        with request.app.state.pool.connection() as conn:
            if kind == "cabinet" and viewer.sees_cabinet(conn, name):
                found = conn.execute("SELECT site FROM cabinets WHERE id = %s", [name]).fetchone()
                site, cabinet, cabinets = found["site"], name, [name]
            elif kind == "site" and viewer.sees_site(conn, name):
                site, cabinet = name, None
                cabinets = [r["id"] for r in conn.execute(
                    "SELECT id FROM cabinets WHERE tenant = %s AND site = %s ORDER BY id", [viewer.tenant, name])]
            else:
                raise MinMaxRefused("choose one of your cabinets or sites")
            push.refuse_unless_run_from_hub(conn, cabinets)
            start, end = recommend.period(moment, days)
            lines, _ = recommend.for_cabinets(conn, cabinets, start, end, moment)
            proposal_id = proposals.create(conn, viewer, viewer.tenant, site, cabinet, lines, (start, end), moment)
    except (MinMaxRefused, ValueError) as e:
        return index(request, str(e), status=400)
    return RedirectResponse("/minmax/%d" % proposal_id, 303)


# -- one proposal ------------------------------------------------------------------------------------------
def _editable(viewer, proposal):
    if proposal["state"] == "draft":
        return viewer.may("minmax.propose") and viewer.customer is None
    return (proposal["state"] == "submitted" and viewer.may("minmax.approve")
            and viewer.customer == proposal["customer"])


def _pair(low, high):
    return "" if low is None else "%d / %d" % (low, high)


def _lines_table(lines, editable):
    cells = []
    for line in lines:
        key = "%s:%s" % (line["cabinet"], line["location"])
        if editable:
            proposed = Html('<input class="qty" name="min:%s" value="%d" aria-label="min %s"> / '
                            '<input class="qty" name="max:%s" value="%d" aria-label="max %s">' % (
                                esc(key), line["proposed_min"], esc(key), esc(key), line["proposed_max"], esc(key)))
        else:
            proposed = _pair(line["proposed_min"], line["proposed_max"])
        changed = (line["proposed_min"], line["proposed_max"]) != (line["current_min"], line["current_max"])
        why = (Html("<details><summary>why</summary>%s</details>" % esc(line["reason"])) if line["reason"]
               else Html('<span class="muted">%s</span>' % ("keep" if line["recommended_min"] is None else "")))
        cells.append([line["cabinet"], line["location"], line["sku"] or "",
                      "" if line["capacity"] is None else line["capacity"],
                      _pair(line["current_min"], line["current_max"]),
                      _pair(line["recommended_min"], line["recommended_max"])
                      or Html('<span class="muted">keep</span>'), why, proposed, "changes" if changed else ""])
    return table(["Cabinet", "Location", "SKU", "Capacity", "Now min / max", "Recommended", "Why",
                  "Proposed min / max", ""], cells, numeric=(3,))


def _status_table(conn, proposal_id):
    cells = []
    for s in push.status(conn, proposal_id):
        if s["state"] == "applied":
            words = "applied at %s" % s["at"]
        elif s["state"] == "refused":
            words = "refused (%s): %s" % (s["reason"], s["detail"])
        elif s["state"] == "superseded":
            words = "superseded by version %s before it was applied" % s["by"]
        else:
            words = s["state"]
        cells.append([s["cabinet"], "" if s["version"] is None else s["version"],
                      Html('<span class="state-%s">%s</span>' % (esc(s["state"]), esc(words))),
                      _when(s["published_at"])])
    return table(["Cabinet", "Catalog version", "At the cabinet", "Published (UTC)"], cells)


DONE = {"saved": "Changes saved.", "submitted": "Submitted to the customer's admin.",
        "approved": "Approved: the new catalog versions are made; each cabinet's state is below.",
        "rejected": "Rejected."}


def show(request, message=None, status=200):
    viewer = require(request, "minmax.view")
    ok = message is None and request.query_params.get("done") in DONE
    message = DONE[request.query_params["done"]] if ok else message
    proposal_id = request.path_params["id"]
    with request.app.state.pool.connection() as conn:
        try:
            p = proposals.get(conn, viewer, proposal_id)
        except MinMaxRefused as e:
            return page(request, viewer, "Min/max review", _message(str(e)), status=404)
        lines = proposals.lines(conn, proposal_id)
        history = proposals.changes(conn, proposal_id)
        status_html = _status_table(conn, proposal_id) if p["state"] == "approved" else Html("")
    editable = _editable(viewer, p)
    action = "/minmax/%d" % proposal_id
    facts = Html("<p>%s · site %s%s · history %s to %s · <strong class=\"state-%s\">%s</strong>%s</p>" % (
        esc(p["customer"]), esc(p["site_name"]), " · cabinet %s" % esc(p["cabinet"]) if p["cabinet"] else "",
        esc(p["period_start"].date()), esc(p["period_end"].date()), esc(p["state"]), esc(STATE_WORDS[p["state"]]),
        " · %s: %s" % (esc(p["decided_by"]), esc(p["note"])) if p["note"] else ""))
    body = [_message(message, ok), facts]
    if editable:
        save = Html('<button type="submit" name="do" value="save">Save changes</button> ')
        final = "Submit to the customer" if p["state"] == "draft" else "Approve"
        body.append(form(request, action, Html(_lines_table(lines, True) + save), submit=final))
        if p["state"] == "submitted":
            body += ["<h2>Reject</h2>", form(request, action + "/reject",
                                             field("Why (the supplier reads it)", "note", required=True),
                                             submit="Reject")]
    else:
        body.append(_lines_table(lines, False))
    if status_html:
        body += ["<h2>At the cabinets</h2>", status_html]
    body += ["<h2>History</h2>", table(["When (UTC)", "Who", "What", "Where", "Old", "New", "Note"], [
        [_when(c["at"]), c["by_user"], c["action"], " ".join(w for w in (c["cabinet"], c["location"]) if w),
         _pair(c["old_min"], c["old_max"]), _pair(c["new_min"], c["new_max"]), c["note"] or ""] for c in history])]
    return page(request, viewer, "Min/max proposal #%d" % proposal_id, Html("".join(body)), status=status)


def _edits(fields):
    """[(cabinet, location, min, max)] from the inputs named min:CABINET:LOCATION and max:CABINET:LOCATION."""
    found = []
    for name, low in fields.items():
        if name.startswith("min:"):
            cabinet, _, location = name[4:].partition(":")
            found.append((cabinet, location, low, fields.get("max:%s:%s" % (cabinet, location), "")))
    return found


def post(request):
    viewer = require(request, "minmax.view")
    proposal_id = request.path_params["id"]
    f = form_fields(request)
    moment = now(request)
    try:
        with request.app.state.pool.connection() as conn:
            p = proposals.get(conn, viewer, proposal_id)
            edits = _edits(f)
            if f.get("do") == "save":
                proposals.change(conn, viewer, proposal_id, edits, moment)
                done = "saved"
            elif p["state"] == "draft":
                proposals.change(conn, viewer, proposal_id, edits, moment)
                proposals.submit(conn, viewer, proposal_id, moment)
                done = "submitted"
            else:
                proposals.approve(conn, viewer, proposal_id, moment, edits if p["state"] == "submitted" else ())
                done = "approved"
    except MinMaxRefused as e:
        return show(request, str(e), status=400)
    return RedirectResponse("/minmax/%d?done=%s" % (proposal_id, done), 303)   # a reload does not post again


def reject(request):
    viewer = require(request, "minmax.approve")
    proposal_id = request.path_params["id"]
    try:
        with request.app.state.pool.connection() as conn:
            proposals.reject(conn, viewer, proposal_id, form_fields(request).get("note"), now(request))
    except MinMaxRefused as e:
        return show(request, str(e), status=400)
    return RedirectResponse("/minmax/%d?done=rejected" % proposal_id, 303)


def routes():
    return [Route("/minmax", lambda r: index(r) if r.method == "GET" else create(r), methods=["GET", "POST"]),
            Route("/minmax/{id:int}", lambda r: show(r) if r.method == "GET" else post(r), methods=["GET", "POST"]),
            Route("/minmax/{id:int}/reject", reject, methods=["POST"])]
