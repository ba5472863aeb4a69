"""Routes and van loads in the web app (docs/hub/routes.md): the routes, the van load of a route's next
departure with its pick sheet (printable, and as CSV), the button that loads the van, and the reconciliation
after the visit. Supplier admins see every route of their tenant; a route driver only the routes naming them
(another's is "not found", so it cannot be told from none). Customers have no routes.view: 403."""
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.routing import Route

from edge_agent.ledger import csv_cells
from hub.routes import book, reconcile, schedule, sheets, van_load
from hub.web.html import Html, csv_response, esc, form, link, page, table
from hub.web.viewer import now, require

NAV = (("Routes", "/routes", "routes.view"),)


def _sees_all(viewer):
    """Who may edit routes sees them all; anyone else (a route driver) only their own."""
    return viewer.may("routes.edit")


def visible_route(conn, viewer, route_id):
    """The viewer's tenant's route, if the viewer may see it; 404 otherwise."""
    try:
        route = book.route(conn, viewer.tenant, route_id)
    except book.RouteError:
        raise HTTPException(404, "No such route.") from None
    if not _sees_all(viewer) and route["driver"] != viewer.user:
        raise HTTPException(404, "No such route.")
    return route


def _local(route, at):
    return sheets.local(route, at)


def routes_page(request):
    viewer = require(request, "routes.view")
    at = now(request)
    with request.app.state.pool.connection() as conn:
        rows = book.routes(conn, viewer.tenant, None if _sees_all(viewer) else viewer.user)
        stops = {r["id"]: book.stops(conn, viewer.tenant, r["id"]) for r in rows}
        last = {r["id"]: van_load.loads(conn, viewer.tenant, r["id"], limit=1) for r in rows}
    cells = []
    for r in rows:
        departure = schedule.next_departure(r, at)
        loaded = last[r["id"]][0] if last[r["id"]] else None
        cells.append([
            link("/routes/%s/van-load" % r["id"], r["name"]), r["driver"] or "",
            "%s at %s" % (schedule.weekday_text(r["weekdays"]), r["depart"].strftime("%H:%M")),
            _local(r, departure), _local(r, schedule.cutoff_of(r, departure)),
            ", ".join("%s (%s)" % (s["cabinet"], s["site_name"]) for s in stops[r["id"]]) or "none",
            link("/routes/%s/reconcile?load=%d" % (r["id"], loaded["id"]), "load %d" % loaded["id"]) if loaded else ""])
    body = table(["Route", "Driver", "Leaves", "Next departure", "Cut-off", "Stops", "Last load"], cells,
                 empty="No routes for you yet." if not _sees_all(viewer) else
                 "No routes yet: add one with locker-hub route add, and its cabinets with locker-hub route stops.")
    return page(request, viewer, "Routes", body)


def _load_param(request):
    load_id = request.query_params.get("load")
    if load_id is not None and not load_id.isdigit():
        raise HTTPException(400, "load must be a load number")
    return int(load_id) if load_id else None


def _van(request, conn, viewer, route_id):
    """?load=ID: that frozen load; else the next departure's van load."""
    load_id = _load_param(request)
    if load_id is None:
        return van_load.van_load(conn, viewer.tenant, route_id, now(request))
    try:
        return van_load.load_by_id(conn, viewer.tenant, route_id, load_id)
    except book.RouteError as e:
        raise HTTPException(404, str(e)) from None


def van_load_page(request):
    viewer = require(request, "routes.view")
    route_id = request.path_params["route"]
    with request.app.state.pool.connection() as conn:
        route = visible_route(conn, viewer, route_id)
        van = _van(request, conn, viewer, route_id)
        past = van_load.loads(conn, viewer.tenant, route_id, limit=10)
    query = "?load=%d" % van.load["id"] if van.frozen else ""
    actions = [link("/routes/%s/van-load.csv%s" % (route_id, query), "Pick sheet as CSV")]
    if van.frozen:
        loaded = '<p class="notice">Loaded: load %d. These lines are what went on the van.</p>' % van.load["id"]
    else:
        loaded = form(request, "/routes/%s/load" % route_id, submit="Load the van (freeze this load)")
    history = table(["Load", "Departure", "Frozen", "By", ""],
                    [[link("/routes/%s/van-load?load=%d" % (route_id, ld["id"]), ld["id"]),
                      _local(route, ld["departure"]), _local(route, ld["loaded_at"]), ld["loaded_by"],
                      link("/routes/%s/reconcile?load=%d" % (route_id, ld["id"]), "Reconcile")] for ld in past],
                    empty="No load yet.", numeric=(0,))
    body = Html('<div class="actions">%s</div>%s%s<h2>Loads</h2>%s' % (
        " ".join(actions), loaded, sheets.van_load_html(van), history))
    return page(request, viewer, "Van load: %s" % route["name"], body)


def van_load_csv(request):
    viewer = require(request, "routes.view")
    route_id = request.path_params["route"]
    with request.app.state.pool.connection() as conn:
        visible_route(conn, viewer, route_id)
        van = _van(request, conn, viewer, route_id)
    return csv_response("van-load-%s-%s.csv" % (route_id, van.departure.strftime("%Y%m%d-%H%M")),
                        sheets.PICK_COLUMNS, _safe(sheets.pick_rows(van)))


def load(request):
    viewer = require(request, "routes.view")
    route_id = request.path_params["route"]
    with request.app.state.pool.connection() as conn:
        visible_route(conn, viewer, route_id)
        try:
            van_load.freeze(conn, viewer.tenant, route_id, now(request), viewer.user)
        except book.RouteError as e:
            return page(request, viewer, "Van load", Html('<p class="refusal">%s</p>' % esc(e)), status=400)
    return RedirectResponse("/routes/%s/van-load" % route_id, 303)


def _reconciliation(request, viewer):
    route_id = request.path_params["route"]
    load_id = _load_param(request)
    with request.app.state.pool.connection() as conn:
        route = visible_route(conn, viewer, route_id)
        try:
            return route, reconcile.reconcile(conn, viewer.tenant, route_id, now(request), load_id)
        except book.RouteError as e:
            return route, str(e)


def reconcile_page(request):
    viewer = require(request, "routes.view")
    route, rec = _reconciliation(request, viewer)
    if isinstance(rec, str):
        return page(request, viewer, "Reconciliation: %s" % route["name"], Html('<p class="empty">%s</p>' % esc(rec)))
    body = Html('<div class="actions">%s %s</div>%s' % (
        link("/routes/%s/reconcile.csv?load=%d" % (route["id"], rec.load["id"]), "As CSV"),
        link("/routes/%s/van-load" % route["id"], "Van load"), sheets.reconcile_html(rec)))
    return page(request, viewer, "Reconciliation: %s" % route["name"], body)


def reconcile_csv(request):
    viewer = require(request, "routes.view")
    route, rec = _reconciliation(request, viewer)
    if isinstance(rec, str):
        raise HTTPException(404, rec)
    return csv_response("reconcile-%s-load-%d.csv" % (route["id"], rec.load["id"]), sheets.RECONCILE_COLUMNS,
                        _safe(sheets.reconcile_rows(rec)))


def _safe(rows):
    """Cells a spreadsheet would run as formulas, neutralised (as every CSV file of the project)."""
    return [[csv_cells.safe(cell) for cell in row] for row in rows]


def routes():
    return [Route("/routes", routes_page),
            Route("/routes/{route}/van-load", van_load_page),
            Route("/routes/{route}/van-load.csv", van_load_csv),
            Route("/routes/{route}/load", load, methods=["POST"]),
            Route("/routes/{route}/reconcile", reconcile_page),
            Route("/routes/{route}/reconcile.csv", reconcile_csv)]
