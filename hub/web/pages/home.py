"""Signing in and out, the home page, and the stylesheet."""
import urllib.parse
from pathlib import Path

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.web import accounts
from hub.web.html import Html, esc, field, form, page, table
from hub.web.posted import form_fields
from hub.web.roles import ROLE_NAMES
from hub.web.viewer import COOKIE, current, now, require

STATIC = Path(__file__).resolve().parent.parent / "static"
NAV = ()


def _safe_next(target):
    """Only a path of this hub (never //other.host or a scheme): an open redirect would lend our name."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(request, message=None, status=200):
    target = _safe_next(request.query_params.get("next", "/"))
    inner = Html(field("User", "user", required=True) + field("Password", "password", kind="password", required=True)
                 + '<input type="hidden" name="next" value="%s">' % esc(target))
    body = Html(('<p class="refusal">%s</p>' % esc(message) if message else "")
                + '<form method="post" action="/login" class="signin">%s<button type="submit">Sign in</button></form>'
                % inner)
    return page(request, None, "Sign in", body, status=status)


def login(request):
    if request.method == "GET":
        return login_page(request)
    fields = form_fields(request)
    try:
        with request.app.state.pool.connection() as conn:
            token = accounts.sign_in(conn, fields.get("user", ""), fields.get("password", ""), now(request))
    except accounts.SignInRefused as e:
        return login_page(request, str(e), status=401)
    response = RedirectResponse(_safe_next(fields.get("next")), 303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.app.state.secure_cookie, max_age=accounts.SESSION_HOURS * 3600)
    return response


def logout(request):
    with request.app.state.pool.connection() as conn:
        accounts.sign_out(conn, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


def home(request):
    viewer = require(request)
    with request.app.state.pool.connection() as conn:
        tenant = conn.execute("SELECT name FROM tenants WHERE id = %s", [viewer.tenant]).fetchone()
        rows = conn.execute(
            "SELECT s.customer, s.id AS site, s.name, count(c.id) AS cabinets, "
            "count(c.id) FILTER (WHERE st.state = 'online') AS online "
            "FROM sites s LEFT JOIN cabinets c ON c.tenant = s.tenant AND c.site = s.id "
            "LEFT JOIN status st ON st.cabinet = c.id WHERE s.tenant = %s AND s.id = ANY(%s) "
            "GROUP BY s.customer, s.id, s.name ORDER BY s.customer, s.id",
            [viewer.tenant, viewer.sites(conn)]).fetchall()
    body = Html('<p>%s, signed in as %s for %s.</p>' % (esc(viewer.name), esc(ROLE_NAMES[viewer.role]),
                                                          esc(tenant["name"] if tenant else viewer.tenant))
                + "<h2>Sites</h2>" + table(["Customer", "Site", "Name", "Cabinets", "Online"],
                                           [[r["customer"], r["site"], r["name"], r["cabinets"], r["online"]]
                                            for r in rows], empty="No sites yet.", numeric=(3, 4)))
    return page(request, viewer, "Home", body)


def stylesheet(request):
    return Response((STATIC / "hub.css").read_bytes(), media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "max-age=300"})


def routes():
    return [Route("/", home), Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
            Route("/static/hub.css", stylesheet)]
