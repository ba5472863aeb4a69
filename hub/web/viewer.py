"""Who is asking: the signed-in person behind a request, and what they may see.

Every page starts with `viewer = require(request, "capability")`: not signed in, the browser is sent to the
sign-in page; signed in without the capability, 403. Every query a page makes is scoped by the viewer's
tenant, and for a customer's people by their customer's sites (cabinets(), sites())."""
import datetime
from dataclasses import dataclass
from typing import Optional

from starlette.exceptions import HTTPException

from hub.web import accounts, roles

COOKIE = "hub_session"


class SignInNeeded(Exception):
    """Raised by require() for a request without a live session; the app answers with the sign-in page."""


@dataclass(frozen=True)
class Viewer:
    user: str
    tenant: str
    role: str
    customer: Optional[str]
    name: str
    email: Optional[str]

    def may(self, capability):
        return roles.may(self.role, capability)

    @property
    def is_customer(self):
        return self.role in roles.CUSTOMER_ROLES

    def cabinets(self, conn):
        """The ids of the cabinets this viewer may see."""
        return [r["id"] for r in conn.execute(
            "SELECT c.id FROM cabinets c JOIN sites s ON s.tenant = c.tenant AND s.id = c.site "
            "WHERE c.tenant = %s AND (%s::text IS NULL OR s.customer = %s) ORDER BY c.id",
            [self.tenant, self.customer, self.customer])]

    def sites(self, conn):
        """The ids of the sites (of self.tenant) this viewer may see."""
        return [r["id"] for r in conn.execute(
            "SELECT id FROM sites WHERE tenant = %s AND (%s::text IS NULL OR customer = %s) ORDER BY id",
            [self.tenant, self.customer, self.customer])]

    def customers(self, conn):
        """The customers this viewer may see: their own, or every customer of the supplier's sites."""
        if self.customer:
            return [self.customer]
        return [r["customer"] for r in conn.execute(
            "SELECT DISTINCT customer FROM sites WHERE tenant = %s AND customer <> '' ORDER BY customer",
            [self.tenant])]

    def sees_cabinet(self, conn, cabinet):
        return cabinet in self.cabinets(conn)

    def sees_site(self, conn, site):
        return site in self.sites(conn)


def now(request):
    """The hub's clock as an aware UTC datetime (injected: app.state.clock returns epoch seconds)."""
    return datetime.datetime.fromtimestamp(request.app.state.clock(), datetime.timezone.utc)


def current(request):
    """The signed-in Viewer, or None."""
    if "viewer" not in request.scope.setdefault("state", {}):
        token = request.cookies.get(COOKIE, "")
        row = None
        if token:
            with request.app.state.pool.connection() as conn:
                row = accounts.session_user(conn, token, now(request))
        request.state.viewer = row and Viewer(row["id"], row["tenant"], row["role"], row["customer"], row["name"],
                                              row["email"])
    return request.state.viewer


def require(request, capability=None):
    """The signed-in Viewer who may `capability`; SignInNeeded or a 403 otherwise."""
    viewer = current(request)
    if viewer is None:
        raise SignInNeeded()
    if capability is not None and not viewer.may(capability):
        raise HTTPException(403, "Your role (%s) may not use this page." % roles.ROLE_NAMES[viewer.role])
    return viewer
