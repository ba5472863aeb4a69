"""The supplier's fleet at a glance: every cabinet of the tenant, where it stands, whether it is online, what
it runs and how far the hub has its records."""
from starlette.routing import Route

from hub.web.html import page, table
from hub.web.viewer import require

NAV = (("Fleet", "/fleet", "fleet.view"),)


def fleet(request):
    viewer = require(request, "fleet.view")
    with request.app.state.pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, s.customer, s.name AS site, st.state, st.received_at, b.body->>'agent_version' AS agent, "
            "b.body->>'firmware_version' AS firmware, tx.watermark, tx.head "
            "FROM cabinets c JOIN sites s ON s.tenant = c.tenant AND s.id = c.site "
            "LEFT JOIN status st ON st.cabinet = c.id "
            "LEFT JOIN LATERAL (SELECT body FROM births WHERE cabinet = c.id ORDER BY received_at DESC LIMIT 1) b ON true "
            "LEFT JOIN streams tx ON tx.cabinet = c.id AND tx.stream = 'tx' "
            "WHERE c.tenant = %s ORDER BY s.customer, s.name, c.id", [viewer.tenant]).fetchall()
    cells = [[r["id"], r["customer"], r["site"], r["state"] or "never seen",
              r["received_at"].strftime("%Y-%m-%d %H:%M") if r["received_at"] else "", r["agent"] or "",
              r["firmware"] or "", "" if r["watermark"] is None else "%d of %d" % (r["watermark"], r["head"])]
             for r in rows]
    return page(request, viewer, "Fleet", table(
        ["Cabinet", "Customer", "Site", "State", "Since (UTC)", "Agent", "Firmware", "Rows stored"], cells,
        empty="No cabinets registered yet."))


def routes():
    return [Route("/fleet", fleet)]
