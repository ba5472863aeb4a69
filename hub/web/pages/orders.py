"""Replenishment orders (docs/hub/orders.md): the list and one order's page for the supplier (orders.view;
orders.edit may cancel or mark delivered) and for a customer's people (orders.view, their own sites only);
an order as a cXML file; and the ERP's signed confirmation call (/erp/..., exempt from the browser's CSRF
check because every call is authenticated by its HMAC signature: hub/web/security.py EXEMPT_PREFIXES)."""
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from edge_agent.reports import money
from hub.orders import cxml, inbound, lifecycle, outbox, rules
from hub.web.html import Html, cell, esc, field, form, link, page, table
from hub.web.posted import body as raw_body, form_fields
from hub.web.viewer import now, require

NAV = (("Orders", "/orders", "orders.view"),)


def _when(t):
    return t.strftime("%Y-%m-%d %H:%M") if t else ""


def _state(state):
    return Html('<span class="state-%s">%s</span>' % (esc(state), esc(state)))


def _scope(conn, viewer):
    """The sites whose orders the viewer sees: None (every site of the tenant) for the supplier's people."""
    return viewer.sites(conn) if viewer.customer else None


def _erp_status(messages):
    """Where the order's messages to the ERP are, in words."""
    waiting = [m for m in messages if m["delivered_at"] is None]
    if not messages:
        return ""
    if not waiting:
        return "received %s" % _when(messages[-1]["delivered_at"])
    m = waiting[0]
    what = "the order" if m["kind"] == "new" else "the cancellation"
    if m["attempts"] == 0:
        return "%s is waiting to be sent" % what
    return "%s has not reached it: %d attempt%s, last: %s; next try %s" % (
        what, m["attempts"], "" if m["attempts"] == 1 else "s", m["last_error"], _when(m["next_attempt_at"]))


def _facts(pairs):
    """A two-column table of label and value, the labels as row headers."""
    return Html('<table class="facts"><tbody>%s</tbody></table>' % "".join(
        "<tr><th>%s</th><td>%s</td></tr>" % (cell(k), cell(v)) for k, v in pairs))


def _rules(request, conn, viewer):
    """The supplier's view of each site's reorder rule; with orders.edit, a form to change it."""
    rows = []
    for site in conn.execute("SELECT id, name, customer FROM sites WHERE tenant = %s ORDER BY customer, name",
                             [viewer.tenant]).fetchall():
        rule = rules.rule_of(conn, viewer.tenant, site["id"])
        change = ""
        if viewer.may("orders.edit"):
            options = "".join('<option value="%s"%s>%s</option>' % (r, " selected" if r == rule["rule"] else "", r)
                              for r in rules.RULES)
            change = form(request, "/orders/rules", Html(
                '<input type="hidden" name="site" value="%s"><label>Rule <select name="rule">%s</select></label>'
                % (esc(site["id"]), options) + field("At", "at", rule["at"].strftime("%H:%M"))
                + field("Time zone", "timezone", rule["timezone"])), submit="Set")
        rows.append([site["name"], site["customer"], rules.describe(rule), change])
    return Html('<section class="rules"><h2>Reorder rules</h2>%s</section>'
                % table(["Site", "Customer", "Rule", ""], rows, empty="No sites yet."))


def set_rule(request):
    viewer = require(request, "orders.edit")
    f = form_fields(request)
    with request.app.state.pool.connection() as conn:
        if not viewer.sees_site(conn, f.get("site", "")):
            raise HTTPException(404, "No site %s." % f.get("site", ""))
        try:
            rules.set_rule(conn, viewer.tenant, f["site"], f.get("rule", ""), now(request), "web:%s" % viewer.user,
                           f.get("at") or None, f.get("timezone") or None)
        except rules.RuleError as e:
            conn.rollback()
            return orders_page(request, str(e), status=400)
    return RedirectResponse("/orders", 303)


def orders_page(request, message=None, status=200):
    viewer = require(request, "orders.view")
    state = request.query_params.get("state") or None
    if state not in (None,) + lifecycle.STATES:
        state = None
    with request.app.state.pool.connection() as conn:
        found = lifecycle.orders(conn, viewer.tenant, _scope(conn, viewer), state)
        erp_of = {o["id"]: _erp_status(outbox.pending(conn, o["id"])) for o in found}
        rule_table = "" if viewer.customer else _rules(request, conn, viewer)
    filters = Html(" · ".join([link("/orders", "all")] + [link("/orders?state=%s" % s, s) for s in lifecycle.STATES]))
    # The supplier's ERP (its errors, its retries) is the supplier's business: not shown to a customer's people.
    rows = [[link("/orders/%d" % o["id"], cxml.order_id(o)), o["site_name"], o["customer"], o["supplier"],
             _state(o["state"]), _when(o["proposed_at"]), _when(o["delivered_at"]), o["line_count"],
             money.display(o["total_cents"] or 0, o["currency"])] + ([] if viewer.customer else [erp_of[o["id"]]])
            for o in found]
    columns = ["Order", "Site", "Customer", "Supplier", "State", "Proposed (UTC)", "Delivered (UTC)", "Lines", "Total"]
    body = Html(('<p class="refusal">%s</p>' % esc(message) if message else "")
                + '<p class="actions">Show: %s</p>' % filters + '<section class="orders">%s</section>' % table(
                    columns + ([] if viewer.customer else ["ERP"]), rows,
                    empty="No orders%s." % (" " + state if state else ""), numeric=(7, 8)) + rule_table)
    return page(request, viewer, "Orders", body, status=status)


def _order(conn, viewer, order_id):
    """The order if the viewer may see it (its tenant, and a customer's own site), else 404."""
    try:
        order = lifecycle.get(conn, order_id, viewer.tenant)
    except lifecycle.OrderError:
        raise HTTPException(404, "No order %s." % order_id) from None
    sites = _scope(conn, viewer)
    if sites is not None and order["site"] not in sites:
        raise HTTPException(404, "No order %s." % order_id)
    return order


def order_page(request, message=None, status=200):
    viewer = require(request, "orders.view")
    order_id = request.path_params["id"]
    with request.app.state.pool.connection() as conn:
        o = _order(conn, viewer, order_id)
        site = conn.execute("SELECT * FROM sites WHERE tenant = %s AND id = %s", [o["tenant"], o["site"]]).fetchone()
        lines, needs = lifecycle.lines(conn, order_id), lifecycle.needs(conn, order_id)
        moves, messages = lifecycle.transitions(conn, order_id), outbox.pending(conn, order_id)
    cur = o["currency"]
    facts = _facts([
        ["State", _state(o["state"])], ["Site", "%s (%s)" % (site["name"], site["customer"] or "no customer")],
        ["Supplier", o["supplier"]], ["Rule", o["rule"]], ["ERP's number", o["erp_ref"] or ""],
        ["Proposed", _when(o["proposed_at"])], ["Sent", _when(o["sent_at"])], ["Confirmed", _when(o["confirmed_at"])],
        ["Delivered", _when(o["delivered_at"])], ["Cancelled", _when(o["cancelled_at"])]])
    line_rows = [[ln["line"], ln["sku"], ln["description"] or "", ln["packs"], ln["package_size"], ln["units"],
                  "" if ln["unit_cost"] is None else money.display(ln["unit_cost"], cur),
                  "" if ln["unit_cost"] is None else money.display(ln["unit_cost"] * ln["units"], cur)] for ln in lines]
    need_rows = [[n["cabinet"], n["location"], n["sku"], n["task_id"] or "", n["units"], n["loaded"]] for n in needs]
    move_rows = [[_when(t["at"]), t["state_from"] or "", t["state_to"], t["by"], t["note"] or ""] for t in moves]
    message_rows = [[{"new": "the order", "cancel": "its cancellation"}[m["kind"]], m["idempotency_key"], m["attempts"],
                     _when(m["last_attempt_at"]), m["last_error"] or "",
                     _when(m["delivered_at"]) or "no: next try %s" % _when(m["next_attempt_at"])] for m in messages]
    actions = ""
    if viewer.may("orders.edit") and o["state"] in lifecycle.OPEN:
        actions = Html('<h2>Change it</h2><div class="actions">%s%s</div>' % (
            form(request, "/orders/%d/deliver" % order_id, field("Note", "note"), submit="Mark delivered"),
            form(request, "/orders/%d/cancel" % order_id, field("Why", "note"), submit="Cancel the order")))
    body = Html(('<p class="refusal">%s</p>' % esc(message) if message else "") + facts
                + "<h2>Lines</h2>" + table(["Line", "SKU", "Description", "Packs", "Pack size", "Units", "Unit cost",
                                            "Amount"], line_rows, numeric=(0, 3, 4, 5, 6, 7))
                + "<h2>What it covers</h2>" + table(["Cabinet", "Location", "SKU", "Refill task", "Units", "Loaded"],
                                                    need_rows, numeric=(4, 5))
                + "<h2>History</h2>" + table(["When (UTC)", "From", "To", "By", "Note"], move_rows)
                + ("" if viewer.customer else "<h2>To the ERP</h2>" + table(
                    ["Message", "Idempotency key", "Attempts", "Last attempt", "Last error", "Received (UTC)"],
                    message_rows, numeric=(2,)))
                + '<p>%s</p>' % link("/orders/%d.xml" % order_id, "Download as cXML OrderRequest") + actions)
    return page(request, viewer, "Order %s" % cxml.order_id(o), body, status=status)


def order_xml(request):
    viewer = require(request, "orders.view")
    order_id = request.path_params["id"]
    with request.app.state.pool.connection() as conn:
        o = _order(conn, viewer, order_id)
        site = conn.execute("SELECT * FROM sites WHERE tenant = %s AND id = %s", [o["tenant"], o["site"]]).fetchone()
        data = cxml.build(o, lifecycle.lines(conn, order_id), site, "%s-order-%d-export" % (o["tenant"], o["id"]),
                          now(request), "delete" if o["state"] == "cancelled" else "new")
    return Response(data, media_type=cxml.CONTENT_TYPE, headers={
        "Content-Disposition": 'attachment; filename="%s.xml"' % cxml.order_id(o), "Cache-Control": "no-store"})


def _move(to):
    def handler(request):
        viewer = require(request, "orders.edit")
        order_id = request.path_params["id"]
        note = (form_fields(request).get("note") or "").strip()[:500] or None
        with request.app.state.pool.connection() as conn:
            _order(conn, viewer, order_id)
            try:
                lifecycle.move(conn, order_id, to, now(request), "web:%s" % viewer.user, note, tenant=viewer.tenant)
            except lifecycle.OrderError as e:
                conn.rollback()
                message = str(e)
            else:
                message = None
        if message:
            return order_page(request, message, status=409)
        return RedirectResponse("/orders/%d" % order_id, 303)
    return handler


def erp_confirm(request):
    """POST /erp/{tenant}/orders/{id}/confirm: the ERP's signed confirmation (JSON: erp_ref, note)."""
    data = raw_body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    with request.app.state.pool.connection() as conn:
        try:
            moved, o = inbound.confirm(conn, request.path_params["tenant"], request.path_params["id"], headers, data,
                                       now(request))
        except inbound.Refused as e:
            conn.rollback()
            return JSONResponse({"error": str(e)}, e.status)
    return JSONResponse({"order_id": cxml.order_id(o), "state": o["state"], "erp_ref": o["erp_ref"],
                         "changed": moved})


def routes():
    return [Route("/orders", orders_page), Route("/orders/rules", set_rule, methods=["POST"]),
            Route("/orders/{id:int}", order_page),
            Route("/orders/{id:int}.xml", order_xml),
            Route("/orders/{id:int}/cancel", _move("cancelled"), methods=["POST"]),
            Route("/orders/{id:int}/deliver", _move("delivered"), methods=["POST"]),
            Route("/erp/{tenant}/orders/{id:int}/confirm", erp_confirm, methods=["POST"])]
