"""The scheduled job (hub/jobs.py): at each route's cut-off, freeze the van load of its next departure, so
the load stands as it was at the cut-off even when nobody pressed "load". Several hub processes may run it at
once: van_load.freeze makes one load per route departure (the route row's lock and a unique key)."""
from hub.routes import schedule, van_load

CUTOFF_USER = "cut-off"


def due(conn, now):
    """[(tenant, route)] whose next departure's cut-off has come and that have no load for it yet."""
    found = []
    with conn.transaction():
        for route in conn.execute("SELECT r.* FROM routes r WHERE EXISTS (SELECT 1 FROM route_stops s WHERE "
                                  "s.tenant = r.tenant AND s.route = r.id) ORDER BY r.tenant, r.id").fetchall():
            departure = schedule.next_departure(route, now)
            if schedule.cutoff_of(route, departure) <= now and \
                    not van_load.find_load(conn, route["tenant"], route["id"], departure):
                found.append((route["tenant"], route["id"]))
    return found


def run_due(conn, now):
    """Freeze every load whose cut-off has come (routes with stops), each in its own transaction; returns how
    many were made (a load another process made first is not counted)."""
    return sum(van_load.freeze(conn, tenant, route, now, CUTOFF_USER)[1] for tenant, route in due(conn, now))
