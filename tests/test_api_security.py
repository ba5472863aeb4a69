"""The local API against an outsider (docs/api.md, decision 0020): a web page from another origin, a
DNS-rebinding Host, a second client beside the kiosk, oversized and deeply nested bodies; and docs/api.md
against the route table. The agent in-process over the simulated cabinet in virtual time (as test_screen.py);
the cross-origin page in Debian's Chromium."""
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_agent import api
from tests.api_client import ApiClient
from tests.test_screen import BADGE, badge_in, screen_rig

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


@pytest.fixture
def rig(tmp_path):
    with screen_rig(tmp_path) as r:
        yield r


def raw(rig, method, path, body=b"", headers=None):
    """A request exactly as given: no token, no content type unless named."""
    conn = http.client.HTTPConnection(rig.host, rig.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data
    finally:
        conn.close()


def nothing_happened(rig):
    state = rig.agent.call(rig.agent.state)
    assert state["session"] is None, state
    assert rig.sim.physics.lane(3).dropped == 0


def test_a_text_plain_post_from_a_foreign_origin_cannot_log_in_or_vend(rig):
    evil = {"Content-Type": "text/plain", "Origin": "http://evil.example", "Host": "evil.example:%d" % rig.port}
    for path, body in (("/api/badge", {"badge": BADGE}), ("/api/issue", {"location": "L3"})):
        status, answer = raw(rig, "POST", path, json.dumps(body).encode(), evil)
        assert status == 403 and answer["ok"] is False and answer["reason"] == "bad_host", answer
    own_host = dict(evil, Host="127.0.0.1:%d" % rig.port)         # the right Host, a foreign Origin
    status, answer = raw(rig, "POST", "/api/badge", json.dumps({"badge": BADGE}).encode(), own_host)
    assert status == 403 and answer["reason"] == "bad_origin" and "evil.example" in answer["message"]
    nothing_happened(rig)


def test_a_foreign_host_is_refused_even_for_reading(rig):
    status, answer = raw(rig, "GET", "/api/state", headers={"Host": "rebound.example:%d" % rig.port})
    assert status == 403 and "rebound.example" in answer["message"]
    assert raw(rig, "GET", "/", headers={"Host": "rebound.example:%d" % rig.port})[0] == 403
    assert raw(rig, "GET", "/api/state", headers={"Host": "localhost:%d" % rig.port})[0] == 200


def test_posts_must_be_json_small_and_shallow(rig):
    kiosk = ApiClient(rig.host, rig.port)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, answer = kiosk.request("POST", "/api/badge", raw=b'{"badge": "%s"}' % BADGE.encode(),
                                       headers={"Content-Type": ctype})
        assert status == 415 and answer["reason"] == "not_json", ctype
    status, answer = kiosk.request("POST", "/api/badge", {"badge": BADGE, "pad": "x" * 20000})
    assert status == 413 and answer["reason"] == "too_large" and "16384 bytes" in answer["message"]
    deep = b'{"badge": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, answer = kiosk.request("POST", "/api/badge", raw=deep)
    assert status == 400 and answer["reason"] == "too_deep"
    status, answer = kiosk.request("POST", "/api/badge", raw=b'{"a": {"b": {"c": [[[[[[[1]]]]]]]}}}')
    assert status == 400 and answer["reason"] == "too_deep"
    status, answer = kiosk.request("POST", "/api/badge", raw=b'{"badge": ' + b"[" * 16000)   # never closed
    assert status == 400 and answer["reason"] == "bad_request"                # not parsed: no recursion, no 500
    nothing_happened(rig)
    assert kiosk.request("POST", "/api/badge", {"badge": BADGE})[0] == 200     # the same body, right: in


def test_a_second_client_cannot_act_as_the_person_at_the_kiosk(rig):
    kiosk = ApiClient(rig.host, rig.port)
    assert kiosk.request("POST", "/api/badge", {"badge": BADGE})[1]["person"]["user_id"] == "T1"
    other = ApiClient(rig.host, rig.port)                       # its own token, from loading the page too
    anonymous = ApiClient(rig.host, rig.port, token=None)
    for second in (other, anonymous):
        status, state = second.request("GET", "/api/state")
        assert status == 200 and state["session"] is None
        status, answer = second.request("POST", "/api/issue", {"location": "L3"})
        assert status == 401 and answer["ok"] is False, answer
        assert second.request("GET", "/api/items")[0] == 401
        second.request("POST", "/api/logout")                   # not theirs to end
    assert anonymous.request("POST", "/api/badge", {"badge": BADGE})[1]["reason"] == "no_client"
    assert rig.sim.physics.lane(3).dropped == 0
    assert kiosk.request("GET", "/api/state")[1]["session"]["user_id"] == "T1"
    status, result = kiosk.request("POST", "/api/issue", {"location": "L3"})
    assert status == 200 and result["given"] == 1 and rig.sim.physics.lane(3).dropped == 1


def test_a_badge_on_the_reader_logs_in_for_the_kiosk_client_only(rig):
    kiosk = ApiClient(rig.host, rig.port)                       # the kiosk loads the screen
    other = ApiClient(rig.host, rig.port, token="x" * 43)       # a client that made up a token
    rig.agent.call(rig.agent.tap, BADGE)                        # what a PC/SC or serial reader does
    assert kiosk.request("GET", "/api/state")[1]["session"]["user_id"] == "T1"
    assert other.request("GET", "/api/state")[1]["session"] is None
    assert other.request("POST", "/api/issue", {"location": "L3"})[0] == 401
    assert rig.sim.physics.lane(3).dropped == 0


def test_the_api_listens_on_loopback_only(rig, tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        api.serve(rig.agent, "0.0.0.0", 0)
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ncabinet_id = "C"\nledger = "l.db"\ncabinet_port = "/dev/null"\n'
                      '[api]\nhost = "0.0.0.0"\n')
    run = subprocess.run([str(Path(sys.executable).parent / "locker-agent"), "run", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "[api] host '0.0.0.0' is not a loopback address" in run.stderr


def documented_routes():
    rows = re.findall(r"^\| (GET|POST|PUT|DELETE|PATCH) \| `([^`]+)` \|", DOC.read_text(), re.M)
    assert rows, "no route rows in docs/api.md"
    return sorted(rows)


def test_docs_api_md_and_the_route_table_agree_both_ways():
    documented, served = set(documented_routes()), set(api.route_table())
    assert not served - documented, "routes missing from docs/api.md: %s" % sorted(served - documented)
    assert not documented - served, "documented routes that do not exist: %s" % sorted(documented - served)
    assert len(documented_routes()) == len(documented), "a route documented twice"


# -- in real Chromium: a page from another origin ------------------------------------------------------------
EVIL_PAGE = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="login" method="POST" action="{agent}api/badge" enctype="text/plain" target="sink">
  <input name='{{"badge": "{badge}", "x": "' value='"}}'></form>
<form id="vend" method="POST" action="{agent}api/issue" enctype="text/plain" target="sink">
  <input name='{{"location": "L3", "quantity": 1, "x": "' value='"}}'></form>
</body></html>"""

ATTACK = """async (agent) => {
  const tries = [];
  const send = async (path, body, options) => {
    try {
      const r = await fetch(agent + path, Object.assign({method: "POST", credentials: "include",
                                                         body: JSON.stringify(body)}, options));
      tries.push([path, r.type, r.status]);
    } catch (e) { tries.push([path, "error", String(e)]); }
  };
  // A "simple" request needs no preflight: text/plain, no-cors (the answer is opaque, the POST still goes).
  await send("api/badge", {badge: "%s"}, {mode: "no-cors", headers: {"Content-Type": "text/plain"}});
  await send("api/issue", {location: "L3", quantity: 1}, {mode: "no-cors", headers: {"Content-Type": "text/plain"}});
  // JSON asks first (CORS preflight): refused.
  await send("api/badge", {badge: "%s"}, {headers: {"Content-Type": "application/json"}});
  await send("api/issue", {location: "L3", quantity: 1}, {headers: {"Content-Type": "application/json"}});
  return tries;
}""" % (BADGE, BADGE)


@pytest.fixture
def evil_site(rig):
    """A page on another loopback port (same site as the agent for cookies: only Origin tells them apart)."""
    page = EVIL_PAGE.format(agent=rig.url, badge=BADGE).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    server.server_close()


def attack(page, rig):
    """fetch() and form POSTs from the page to the agent, to log in and vend; the statuses the agent gave."""
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.startswith(rig.url) else None)
    tries = page.evaluate(ATTACK, rig.url)
    for form, path in (("login", "/api/badge"), ("vend", "/api/issue")):
        with page.expect_response(lambda r, p=path: r.url.endswith(p)) as answer:
            page.evaluate("(f) => document.getElementById(f).submit()", form)
        assert answer.value.status == 403, (form, answer.value.status)
    return tries, statuses


def test_in_chromium_a_page_from_another_origin_cannot_log_in_or_vend_but_the_kiosk_can(rig, evil_site):
    from playwright.sync_api import expect
    from tests.chromium import browser
    with browser() as chromium:
        context = chromium.new_context(viewport={"width": 800, "height": 480}, has_touch=True)
        evil = context.new_page()
        evil.goto(evil_site)
        tries, statuses = attack(evil, rig)                     # nobody logged in: it tries to log in
        assert [t[1] for t in tries] == ["opaque", "opaque", "error", "error"], tries
        assert statuses and set(statuses) == {403}, statuses
        nothing_happened(rig)

        kiosk = context.new_page()                              # the kiosk in the same browser: Ana logs in
        kiosk.goto(rig.url)
        kiosk.locator("#status", has_text="Ready").wait_for()
        badge_in(kiosk)
        expect(kiosk.locator("#who")).to_have_text("Ana")
        tries, statuses = attack(evil, rig)                     # her cookie goes along (same site): no use
        assert set(statuses) == {403}, statuses
        assert rig.sim.physics.lane(3).dropped == 0
        assert rig.agent.call(rig.agent.state)["session"]["user_id"] == "T1"

        kiosk.locator("#item-list button", has_text="Nitrile gloves").click()   # the kiosk itself still works
        kiosk.locator("#take").click()
        expect(kiosk.locator("#result-title")).to_have_text("Take your item")
        assert rig.sim.physics.lane(3).dropped == 1
        context.close()
