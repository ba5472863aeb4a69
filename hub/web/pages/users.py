"""The supplier admin's list of who may sign in, and adding or disabling someone (the same rules as
`locker-hub user`)."""
from starlette.responses import RedirectResponse
from starlette.routing import Route

from hub.registry import RegistryError
from hub.web import accounts
from hub.web.html import Html, esc, field, form, page, table
from hub.web.posted import form_fields
from hub.web.roles import ROLE_NAMES, ROLES
from hub.web.viewer import require

NAV = (("People", "/users", "users.edit"),)


def _role_select():
    options = "".join('<option value="%s">%s</option>' % (esc(r), esc(ROLE_NAMES[r])) for r in ROLES)
    return Html('<label>Role <select name="role">%s</select></label>' % options)


def users_page(request, message=None, status=200):
    viewer = require(request, "users.edit")
    with request.app.state.pool.connection() as conn:
        rows = accounts.users(conn, viewer.tenant)
    cells = [[r["id"], r["name"], ROLE_NAMES[r["role"]], r["customer"] or "", "disabled" if r["disabled"] else "active",
              "" if r["disabled"] or r["id"] == viewer.user else
              form(request, "/users/disable", '<input type="hidden" name="user" value="%s">' % esc(r["id"]),
                   submit="Disable")] for r in rows]
    add = form(request, "/users", Html(field("User (e-mail)", "user", required=True) + field("Name", "name")
                                       + _role_select() + field("Customer (customer roles)", "customer")
                                       + field("Password", "password", kind="password", required=True)), submit="Add")
    body = Html(('<p class="refusal">%s</p>' % esc(message) if message else "")
                + table(["User", "Name", "Role", "Customer", "State", ""], cells) + "<h2>Add someone</h2>" + add)
    return page(request, viewer, "People", body, status=status)


def add_user(request):
    viewer = require(request, "users.edit")
    f = form_fields(request)
    try:
        with request.app.state.pool.connection() as conn:
            taken = conn.execute("SELECT tenant FROM web_users WHERE id = %s", [f.get("user", "")]).fetchone()
            if taken and taken["tenant"] != viewer.tenant:
                raise RegistryError("user %r is taken" % f.get("user"))
            accounts.add_user(conn, viewer.tenant, f.get("user", "").strip(), f.get("role", ""), f.get("password", ""),
                              customer=f.get("customer", "").strip() or None, name=f.get("name", "").strip() or None)
    except RegistryError as e:
        return users_page(request, str(e), status=400)
    return RedirectResponse("/users", 303)


def disable(request):
    viewer = require(request, "users.edit")
    user = form_fields(request).get("user", "")
    with request.app.state.pool.connection() as conn:
        row = conn.execute("SELECT tenant FROM web_users WHERE id = %s", [user]).fetchone()
        if row is None or row["tenant"] != viewer.tenant or user == viewer.user:
            return users_page(request, "You cannot disable %r." % user, status=400)
        accounts.disable_user(conn, user)
    return RedirectResponse("/users", 303)


def routes():
    return [Route("/users", lambda r: users_page(r) if r.method == "GET" else add_user(r), methods=["GET", "POST"]),
            Route("/users/disable", disable, methods=["POST"])]
