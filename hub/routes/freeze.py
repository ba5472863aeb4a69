"""The scheduled job (hub/jobs.py): at each route's cut-off, freeze the van load of its next departure, so
the load stands as it was at the cut-off even when nobody pressed "load". Several hub processes may run it at
once: van_load.freeze makes one load per route departure (the route row's lock and a unique key)."""
import psycopg
from psycopg import pq

from hub.routes import schedule, van_load

CUTOFF_USER = "cut-off"


def due(conn, now):
    """[(tenant, route, departure)] whose cut-off has come and that have no load yet. A cut-off longer than
    the time between departures makes more than the next one due (a daily route cut 48 h before)."""
    found = []
    with conn.transaction():
        for route in conn.execute("SELECT r.* FROM routes r WHERE EXISTS (SELECT 1 FROM route_stops s WHERE "
                                  "s.tenant = r.tenant AND s.route = r.id) ORDER BY r.tenant, r.id").fetchall():
            ahead = route["cutoff_hours"] // 24 + 2          # departures whose cut-off may already have come
            for departure in schedule.departures(route, now, ahead):
                if schedule.cutoff_of(route, departure) > now:
                    break
                if not van_load.find_load(conn, route["tenant"], route["id"], departure):
                    found.append((route["tenant"], route["id"], departure))
    return found


def _end_open_read(conn):
    """Each load must be committed when made (other hub processes look for it; the route row's lock must not
    be held), so a transaction the caller left open by reading (not autocommit) is ended first; inside the
    caller's own transaction block it is left alone."""
    if not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        try:
            conn.commit()
        except psycopg.ProgrammingError:
            pass


def run_due(conn, now):
    """Freeze every load whose cut-off has come (routes with stops), each in its own transaction; returns how
    many were made (a load another process made first is not counted)."""
    _end_open_read(conn)
    return sum(van_load.freeze(conn, tenant, route, now, CUTOFF_USER, departure)[1]
               for tenant, route, departure in due(conn, now))
