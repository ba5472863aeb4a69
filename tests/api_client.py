"""A client of the agent's local API as the kiosk's own page is one: it loads the screen first (GET /), which
gives it its token (a cookie), and sends JSON with that token (docs/api.md). token=None: a client with none."""
import http.client
import json

from edge_agent import api

COOKIE = getattr(api, "COOKIE", "locker_client")     # (getattr: these tests also run against the old API)


def screen_token(host, port, timeout=30):
    """The token the agent gives a client that loads the screen (and the agent then takes it as the kiosk)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie") or ""
    finally:
        conn.close()
    name, _, rest = cookie.partition("=")
    return rest.split(";")[0] if name == COOKIE else None


class ApiClient:
    def __init__(self, host, port, token="load", timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.token = screen_token(host, port, timeout) if token == "load" else token

    def request(self, method, path, body=None, raw=None, headers=None, timeout=None):
        """(status, JSON answer)."""
        status, _, data = self.exchange(method, path, body, raw, headers, timeout)
        return status, json.loads(data)

    def exchange(self, method, path, body=None, raw=None, headers=None, timeout=None):
        """(status, headers, body bytes), for answers that need not be JSON."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json"} if data is not None else {}
        if self.token:
            sent["Cookie"] = "%s=%s" % (COOKIE, self.token)
        sent.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()
