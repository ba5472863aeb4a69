"""The routes on the hub's books: a driver, a weekday schedule and the cabinets in the order the van calls.
Every refusal is a RouteError with words, raised before anything is written; every query names the tenant."""
import datetime

from hub import registry
from hub.routes import schedule


class RouteError(registry.RegistryError):
    pass


def parse_time(text):
    try:
        return datetime.time.fromisoformat(text)
    except ValueError:
        raise RouteError("%r is not a time of day: write it as 07:00 (24-hour, local to the route)" % text) from None


def save_route(conn, tenant, route_id, name=None, driver=None, weekdays=None, depart=None, cutoff_hours=None,
               timezone=None, update=False):
    """Add a route (update=False: refused when it exists), or change the fields given of an existing one."""
    registry.check_id("route", route_id)
    if weekdays is not None and not weekdays:
        raise RouteError("a route leaves on at least one weekday")
    if timezone is not None:
        schedule.zone(timezone)
    if cutoff_hours is not None and not 0 <= cutoff_hours <= 168:
        raise RouteError("the cut-off is 0 to 168 hours before departure, not %d" % cutoff_hours)
    with conn.transaction():
        registry.need_tenant(conn, tenant)
        held = conn.execute("SELECT * FROM routes WHERE tenant = %s AND id = %s FOR UPDATE",
                            [tenant, route_id]).fetchone()
        if held and not update:
            raise RouteError("route %s of tenant %s already exists (change it with: locker-hub route add --update)"
                             % (route_id, tenant))
        if not held and update:
            raise RouteError("tenant %s has no route %s to update" % (tenant, route_id))
        if not held:
            if not weekdays:
                raise RouteError("say which weekdays route %s leaves on: --weekdays mon,wed,fri" % route_id)
            conn.execute("INSERT INTO routes (tenant, id, name, driver, weekdays, depart, cutoff_hours, timezone) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         [tenant, route_id, name or route_id, driver, weekdays, depart or datetime.time(7),
                          16 if cutoff_hours is None else cutoff_hours, timezone or "UTC"])
            return False
        fields = {"name": name, "driver": driver, "weekdays": weekdays, "depart": depart,
                  "cutoff_hours": cutoff_hours, "timezone": timezone}
        given = {k: v for k, v in fields.items() if v is not None}
        if given:
            conn.execute("UPDATE routes SET %s WHERE tenant = %%s AND id = %%s"
                         % ", ".join("%s = %%s" % k for k in given), list(given.values()) + [tenant, route_id])
        return True


def route(conn, tenant, route_id):
    row = conn.execute("SELECT * FROM routes WHERE tenant = %s AND id = %s", [tenant, route_id]).fetchone()
    if row is None:
        raise RouteError("tenant %s has no route %s (see: locker-hub route list --tenant %s)" % (tenant, route_id,
                                                                                                  tenant))
    return row


def routes(conn, tenant, driver=None):
    """The tenant's routes (only `driver`'s when given), by id, with their number of stops."""
    return conn.execute(
        "SELECT r.*, (SELECT count(*) FROM route_stops s WHERE s.tenant = r.tenant AND s.route = r.id) AS stops "
        "FROM routes r WHERE r.tenant = %(t)s AND (%(d)s::text IS NULL OR r.driver = %(d)s) ORDER BY r.id",
        {"t": tenant, "d": driver}).fetchall()


def set_stops(conn, tenant, route_id, cabinets):
    """Replace the route's stops with `cabinets`, in that order. Refused: an unknown cabinet, one of another
    tenant, one named twice."""
    seen = set()
    for cabinet in cabinets:
        registry.check_id("cabinet", cabinet)
        if cabinet in seen:
            raise RouteError("cabinet %s is named twice: a route calls at a cabinet once" % cabinet)
        seen.add(cabinet)
    with conn.transaction():
        route(conn, tenant, route_id)
        conn.execute("SELECT 1 FROM routes WHERE tenant = %s AND id = %s FOR UPDATE", [tenant, route_id])
        held = {r["id"]: r["tenant"] for r in conn.execute("SELECT id, tenant FROM cabinets WHERE id = ANY(%s)",
                                                            [list(cabinets)])}
        for cabinet in cabinets:
            if cabinet not in held:
                raise RouteError("no cabinet %s is registered (see: locker-hub cabinet list --tenant %s)"
                                 % (cabinet, tenant))
            if held[cabinet] != tenant:
                raise RouteError("cabinet %s is not a cabinet of tenant %s: a route calls at its own tenant's "
                                 "cabinets only" % (cabinet, tenant))
        conn.execute("DELETE FROM route_stops WHERE tenant = %s AND route = %s", [tenant, route_id])
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO route_stops (tenant, route, position, cabinet) VALUES (%s, %s, %s, %s)",
                            [[tenant, route_id, n, cabinet] for n, cabinet in enumerate(cabinets, 1)])


def stops(conn, tenant, route_id):
    """The route's stops in order: position, cabinet, site, site_name, customer."""
    return conn.execute(
        "SELECT s.position, s.cabinet, c.site, t.name AS site_name, t.customer FROM route_stops s "
        "JOIN cabinets c ON c.id = s.cabinet AND c.tenant = s.tenant "
        "JOIN sites t ON t.tenant = c.tenant AND t.id = c.site "
        "WHERE s.tenant = %s AND s.route = %s ORDER BY s.position", [tenant, route_id]).fetchall()
