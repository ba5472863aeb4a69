"""The hub's web app for tests: a real `hub.web` app served by uvicorn on a loopback port against the test's
own migrated PostgreSQL database, with a clock the test sets, and an HTTP client that signs in and carries
its cookie and CSRF token as a browser would.

    def test_x(hub_web):
        hub_web.add_user("acme", "ann@acme.example", "supplier_admin")
        ann = hub_web.session("ann@acme.example")
        status, text = ann.get("/fleet")
        ann.post("/users", {"user": ...})           # the form's CSRF token added
        with browser() as b: page = b.new_page(); hub_web.sign_in(page, "ann@acme.example"); shoot(page, "fleet")
"""
import http.client
import re
import urllib.parse
from pathlib import Path

import pytest

from hub import db, registry
from hub.web import accounts
from hub.web.app import build_app
from hub.web.server import WebServer

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screens" / "hub"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
START = 1_796_000_000.0          # 2026-11-30 00:53:20 UTC, a fixed instant the test moves on


class Clock:
    def __init__(self, t=START):
        self.t = t

    def __call__(self):
        return self.t


class Client:
    """One browser's worth of HTTP: its cookies, the Host it asks for, its CSRF token."""

    def __init__(self, web):
        self.web, self.cookies = web, {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.web.server.port, timeout=30)
        hdrs = {"Host": "127.0.0.1:%d" % self.web.server.port}
        if self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                val = rest.split(";")[0]
                if val in ("", '""') or "Max-Age=0" in value or "expires=Thu, 01 Jan 1970" in value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        conn.close()
        self.last = response
        return response.status, text

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def csrf(self):
        status, text = self.get("/")
        found = CSRF.search(text)
        return found.group(1) if found else ""

    def post(self, path, fields=None, csrf=True, headers=None):
        fields = dict(fields or {})
        if csrf:
            fields.setdefault("csrf", self.csrf())
        return self.request("POST", path, urllib.parse.urlencode(fields, doseq=True),
                            dict({"Content-Type": "application/x-www-form-urlencoded"}, **(headers or {})))

    def sign_in(self, user, password=PASSWORD):
        return self.post("/login", {"user": user, "password": password}, csrf=False)


class HubWeb:
    def __init__(self, dsn):
        self.dsn, self.clock = dsn, Clock()
        self.pool = db.open_pool(dsn, max_size=4, name="hub-web-test")
        self.server = WebServer(lambda h, p: build_app(self.pool, h, p, clock=self.clock), "127.0.0.1", 0).start()
        self.url = self.server.url

    def set_clock(self, epoch):
        self.clock.t = epoch

    def add_site(self, tenant, site, customer, name=None):
        with db.connect(self.dsn) as conn:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant])
            registry.add_site(conn, tenant, site, name or site, customer)

    def add_user(self, tenant, user, role, customer=None, password=PASSWORD, name=None):
        with db.connect(self.dsn) as conn:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant])
            accounts.add_user(conn, tenant, user, role, password, customer=customer, name=name)

    def client(self):
        return Client(self)

    def session(self, user, password=PASSWORD):
        c = Client(self)
        status, _ = c.sign_in(user, password)
        assert status == 303, "sign-in of %s failed (%d)" % (user, status)
        return c

    def sign_in(self, page, user, password=PASSWORD):
        """Sign a Playwright page in through the sign-in form, as a person would."""
        page.goto(self.url + "/login")
        page.fill("input[name=user]", user)
        page.fill("input[name=password]", password)
        page.click("form.signin button[type=submit]")
        page.wait_for_url(self.url + "/")

    def close(self):
        self.server.stop()
        self.pool.close()


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / ("%s.png" % name)), full_page=True)


@pytest.fixture
def hub_web(hub_dsn):
    web = HubWeb(hub_dsn)
    yield web
    web.close()
