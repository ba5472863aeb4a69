"""The web app: every page module's routes (pages/__init__.py PAGES) behind security.Guard, with the database
pool, the hub's clock and its secret in app.state."""
import secrets
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
import importlib
import urllib.parse

from hub.web import security
from hub.web.viewer import COOKIE, SignInNeeded, current

SECRET_SETTING = "web_secret"


def hub_secret(pool):
    """The hub's web secret (CSRF tokens), made once and shared by every web process through hub_settings."""
    with pool.connection() as conn:
        conn.execute("INSERT INTO hub_settings (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     [SECRET_SETTING, secrets.token_hex(32)])
        return bytes.fromhex(conn.execute("SELECT value FROM hub_settings WHERE name = %s",
                                          [SECRET_SETTING]).fetchone()["value"])


def _sign_in_needed(request, exc):
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/login?" + urllib.parse.urlencode({"next": target}), 303)


def _refused(request, exc):
    from hub.web.html import esc, page
    if exc.status_code in (403, 404):
        return page(request, current(request), "Not allowed" if exc.status_code == 403 else "Not found",
                    '<p class="refusal">%s</p>' % esc(exc.detail), status=exc.status_code)
    from starlette.responses import PlainTextResponse
    return PlainTextResponse(str(exc.detail), exc.status_code)


def build_app(pool, host, port, clock=time.time, public_origins=()):
    from hub.web.pages import PAGES
    routes = []
    for name in PAGES:
        routes.extend(importlib.import_module(name).routes())
    secret = hub_secret(pool)
    origins, hosts = security.origins_and_hosts(host, port, public_origins)
    app = Starlette(routes=routes,
                    middleware=[Middleware(security.Guard, origins=origins, hosts=hosts, secret=secret, cookie=COOKIE)],
                    exception_handlers={SignInNeeded: _sign_in_needed, HTTPException: _refused})
    app.state.pool, app.state.clock, app.state.secret = pool, clock, secret
    app.state.secure_cookie = any(o.startswith("https://") for o in public_origins)
    return app
