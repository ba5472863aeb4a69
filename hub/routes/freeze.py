"""The scheduled job (hub/jobs.py): at each route's cut-off, freeze the van load of its next departure, so
the load stands as it was at the cut-off even when nobody pressed "load". Several hub processes may run it at
once: van_load.freeze makes one load per route departure (the route row's lock and a unique key)."""
from hub.routes import schedule, van_load

CUTOFF_USER = "cut-off"


def run_due(conn, now):
    """Freeze every load whose cut-off has come (routes with stops); returns how many were made."""
    made = 0
    for route in conn.execute("SELECT r.* FROM routes r WHERE EXISTS (SELECT 1 FROM route_stops s WHERE "
                              "s.tenant = r.tenant AND s.route = r.id) ORDER BY r.tenant, r.id").fetchall():
        departure = schedule.next_departure(route, now)
        if schedule.cutoff_of(route, departure) > now:
            continue
        if van_load.find_load(conn, route["tenant"], route["id"], departure):
            continue
        made += van_load.freeze(conn, route["tenant"], route["id"], now, CUTOFF_USER)[1]
    return made
