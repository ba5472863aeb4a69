"""The hub's web app as its users and its attackers meet it: signing in and out, roles, each viewer seeing only
their tenant's and customer's sites, and the requests another site or another person's session may not make
(docs/hub/web.md, decision 0042)."""
import http.server
import threading

import pytest

from hub import db, registry
from tests.chromium import browser
from tests.hub_web import PASSWORD, shoot

KEY = bytes(32)


@pytest.fixture
def acme(hub_web):
    """Supplier acme with customers Bolt Works (two sites) and Crane Co (one); supplier other with its own."""
    with db.connect(hub_web.dsn) as conn:
        registry.add_tenant(conn, "acme", "Acme Industrial Supply")
        registry.add_tenant(conn, "other", "Other Supply")
        for site, customer in (("bolt-north", "Bolt Works"), ("bolt-south", "Bolt Works"), ("crane-1", "Crane Co")):
            registry.add_site(conn, "acme", site, site.replace("-", " ").title(), customer)
        registry.add_site(conn, "other", "zeta-1", "Zeta One", "Zeta Ltd")
        for cabinet, tenant, site in (("CAB-BN1", "acme", "bolt-north"), ("CAB-BS1", "acme", "bolt-south"),
                                      ("CAB-CR1", "acme", "crane-1"), ("CAB-Z1", "other", "zeta-1")):
            registry.add_cabinet(conn, tenant, site, cabinet, KEY)
    hub_web.add_user("acme", "ann@acme.example", "supplier_admin", name="Ann Admin")
    hub_web.add_user("acme", "dan@acme.example", "route_driver", name="Dan Driver")
    hub_web.add_user("acme", "bea@bolt.example", "customer_admin", customer="Bolt Works", name="Bea Buyer")
    hub_web.add_user("acme", "cid@crane.example", "customer_viewer", customer="Crane Co", name="Cid Viewer")
    hub_web.add_user("other", "oz@other.example", "supplier_admin", name="Oz Other")
    return hub_web


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(acme):
    c = acme.client()
    status, _ = c.get("/fleet?sort=site")
    assert status == 303 and c.last.getheader("location") == "/login?next=%2Ffleet%3Fsort%3Dsite"
    c.post("/login", {"user": "ann@acme.example", "password": PASSWORD, "next": "/fleet?sort=site"}, csrf=False)
    assert c.last.status == 303 and c.last.getheader("location") == "/fleet?sort=site"
    status, text = c.get("/fleet")
    assert status == 200 and "CAB-BN1" in text


def test_sign_in_never_sends_the_browser_to_another_host(acme):
    c = acme.client()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        c.post("/login", {"user": "ann@acme.example", "password": PASSWORD, "next": target}, csrf=False)
        assert c.last.status == 303 and c.last.getheader("location") == "/"


def test_wrong_passwords_are_refused_alike_and_five_lock_the_account(acme):
    c = acme.client()
    status, text = c.sign_in("nobody@acme.example", "whatever-it-is")
    assert status == 401 and "wrong user or password" in text
    for _ in range(4):
        status, text = c.sign_in("ann@acme.example", "not the password")
        assert status == 401 and "wrong user or password" in text
    assert c.sign_in("ann@acme.example")[0] == 303          # a right one resets the count
    for _ in range(5):
        c.sign_in("ann@acme.example", "not the password")
    status, text = c.sign_in("ann@acme.example")
    assert status == 401 and "locked until" in text
    acme.set_clock(acme.clock.t + 16 * 60)
    assert c.sign_in("ann@acme.example")[0] == 303


def test_a_session_ends_at_sign_out_and_after_twelve_hours(acme):
    ann = acme.session("ann@acme.example")
    stolen = dict(ann.cookies)
    assert ann.post("/logout")[0] == 303
    thief = acme.client()
    thief.cookies = stolen
    assert thief.get("/fleet")[0] == 303                     # the old cookie signs nobody in
    ann = acme.session("ann@acme.example")
    acme.set_clock(acme.clock.t + 11.9 * 3600)
    assert ann.get("/fleet")[0] == 200
    acme.set_clock(acme.clock.t + 0.2 * 3600)
    assert ann.get("/fleet")[0] == 303


def test_each_role_reaches_only_its_pages(acme):
    expect = {"ann@acme.example": {"/fleet": 200, "/users": 200},
              "dan@acme.example": {"/fleet": 403, "/users": 403},
              "bea@bolt.example": {"/fleet": 403, "/users": 403},
              "cid@crane.example": {"/fleet": 403, "/users": 403}}
    for user, pages in expect.items():
        c = acme.session(user)
        for path, status in pages.items():
            assert c.get(path)[0] == status, (user, path)
    status, text = acme.session("cid@crane.example").get("/users")
    assert "Customer viewer" in text and "may not use this page" in text


def test_a_customer_sees_only_its_own_sites_and_a_supplier_only_its_own_cabinets(acme):
    _, bea = acme.session("bea@bolt.example").get("/")
    assert "bolt-north" in bea and "bolt-south" in bea and "crane-1" not in bea
    _, cid = acme.session("cid@crane.example").get("/")
    assert "crane-1" in cid and "bolt-north" not in cid
    _, ann = acme.session("ann@acme.example").get("/fleet")
    assert all(c in ann for c in ("CAB-BN1", "CAB-BS1", "CAB-CR1")) and "CAB-Z1" not in ann
    _, oz = acme.session("oz@other.example").get("/fleet")
    assert "CAB-Z1" in oz and "CAB-BN1" not in oz


def _people(web):
    with db.connect(web.dsn) as conn:
        return {r["id"] for r in conn.execute("SELECT id FROM web_users").fetchall()}


def test_a_form_without_the_sessions_token_changes_nothing(acme):
    ann = acme.session("ann@acme.example")
    new = {"user": "eve@acme.example", "role": "supplier_admin", "password": "a long password"}
    assert ann.post("/users", new, csrf=False)[0] == 403
    bea = acme.session("bea@bolt.example")
    assert ann.post("/users", dict(new, csrf=bea.csrf()))[0] == 403       # another session's token
    assert ann.post("/users", dict(new, csrf="0" * 64))[0] == 403
    assert "eve@acme.example" not in _people(acme)
    assert ann.post("/users", new)[0] == 303
    assert "eve@acme.example" in _people(acme)


def test_a_request_from_another_origin_or_for_another_host_is_refused(acme):
    ann = acme.session("ann@acme.example")
    new = {"user": "eve@acme.example", "role": "supplier_admin", "password": "a long password"}
    assert ann.post("/users", new, headers={"Origin": "http://127.0.0.1:9"})[0] == 403
    assert ann.post("/users", new, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert ann.get("/fleet", headers={"Host": "rebind.evil.example"})[0] == 403
    assert ann.post("/users", new, headers={"Content-Type": "text/plain"})[0] == 415
    assert "eve@acme.example" not in _people(acme)


def test_a_customer_admin_cannot_add_people_and_a_supplier_cannot_take_another_tenants_user(acme):
    bea = acme.session("bea@bolt.example")
    assert bea.post("/users", {"user": "x@bolt.example", "role": "supplier_admin", "password": "a long password"})[0] == 403
    ann = acme.session("ann@acme.example")
    status, text = ann.post("/users", {"user": "oz@other.example", "role": "supplier_admin", "password": "a long password"})
    assert status == 400 and "taken" in text
    status, text = ann.post("/users", {"user": "y@acme.example", "role": "customer_admin", "password": "a long password"})
    assert status == 400 and "must name their customer" in text


def test_every_page_forbids_scripts_framing_and_other_hosts(acme):
    c = acme.client()
    for path in ("/login", "/static/hub.css"):
        c.get(path)
        csp = c.last.getheader("content-security-policy")
        assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert c.last.getheader("x-frame-options") == "DENY"


class _ForeignPage(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


def test_in_chromium_a_page_from_another_origin_cannot_act_for_the_signed_in_admin(acme):
    """The admin is signed in; a page on another loopback port (the same site for cookies) posts the add-user
    form to the hub, with a token it guessed. Nothing is added; the hub's own form, beside it, works."""
    attack = ('<form id="f" method="post" action="%s/users"><input name="user" value="eve@acme.example">'
              '<input name="role" value="supplier_admin"><input name="password" value="a long password">'
              '<input name="csrf" value="%s"></form><script>document.getElementById("f").submit()</script>'
              % (acme.url, "0" * 64)).encode()
    handler = type("Foreign", (_ForeignPage,), {"html": attack})
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        with browser() as b:
            page = b.new_page(viewport={"width": 1100, "height": 700})
            page.goto(acme.url + "/")
            shoot(page, "sign-in")
            acme.sign_in(page, "ann@acme.example")
            shoot(page, "home")
            page.goto(acme.url + "/fleet")
            shoot(page, "fleet")
            with page.expect_response(lambda r: r.url == acme.url + "/users") as posted:
                page.goto("http://127.0.0.1:%d/" % foreign.server_address[1])
            assert posted.value.status == 403
            assert "eve@acme.example" not in _people(acme)
            page.goto(acme.url + "/users")
            page.fill("input[name=user]", "fay@acme.example")
            page.select_option("select[name=role]", "route_driver")
            page.fill("input[name=password]", "a long password")
            with page.expect_navigation():
                page.click("button:has-text('Add')")
            assert "fay@acme.example" in page.content()
            shoot(page, "people")
            page.click("text=Sign out")
            page.wait_for_url(acme.url + "/login")
    finally:
        foreign.shutdown()
    assert "fay@acme.example" in _people(acme)
