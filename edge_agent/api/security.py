"""Who may talk to the API and in what form (docs/decisions/0020-local-api-stack.md).

- Host allow-list: the API's own addresses with its port (127.0.0.1, localhost, [::1], the bind address), so
  a DNS-rebinding page (evil.example resolving to 127.0.0.1) is refused.
- Origin allow-list: a request that carries an Origin must come from the API's own origin; a browser's
  Sec-Fetch-Site of same-site or cross-site (another port on the same loopback host) is refused too.
- JSON only: a POST body must be application/json (text/plain and forms, which any page may send without
  asking, are refused 415), at most MAX_BODY bytes (413) and nested at most MAX_DEPTH deep (400).
- Client tokens: loading the screen (GET /) sets a random token in a SameSite=Strict HttpOnly cookie; the
  agent binds a login to the token that made it (Agent.call's as_client), so another client cannot act as
  the person at the kiosk.
"""
import ipaddress
import json
import re
import secrets

from edge_agent.rules.bounds import json_fault

MAX_BODY = 16 * 1024
MAX_DEPTH = 8
COOKIE = "locker_client"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
LOOPBACK_NAMES = ("localhost",)


class Rejected(Exception):
    """A request rejected before any route runs: (status, reason, message)."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def body(self):
        return {"ok": False, "reason": self.reason, "message": self.message}


def is_loopback(host):
    if host.strip("[]") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host, port):
    """Every Host header value the API answers to (with the port; without it only on port 80)."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    names.add("[%s]" % bind_host if ":" in bind_host and not bind_host.startswith("[") else bind_host)
    hosts = {"%s:%d" % (name, port) for name in names}
    if port == 80:
        hosts |= names
    return frozenset(h.lower() for h in hosts)


def check_request(headers, hosts, port):
    """Raise Rejected unless Host is ours and any Origin (and Sec-Fetch-Site) says the request is our own page's.
    headers: a case-insensitive mapping (Starlette's Headers)."""
    host = (headers.get("host") or "").lower()
    if host not in hosts:
        raise Rejected(403, "bad_host", "This locker's API answers only at its own address (for example "
                      "127.0.0.1:%d); a request for %r was refused." % (port, host or "no host"))
    origin = headers.get("origin")
    if origin is not None and not (origin.lower().startswith("http://") and origin.lower()[7:] in hosts):
        raise Rejected(403, "bad_origin", "Only the locker's own screen may use this API; a request from %s was "
                      "refused." % origin)
    if headers.get("sec-fetch-site") in ("same-site", "cross-site"):
        raise Rejected(403, "bad_origin", "Only the locker's own screen may use this API; a request from "
                      "another page was refused.")


def client_of(cookies):
    """The client's token from its cookie, or "" (no token: it owns no session and may not log in)."""
    token = cookies.get(COOKIE, "")
    return token if TOKEN.match(token) else ""


def new_token():
    return secrets.token_urlsafe(32)


def cookie_header(token):
    return "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (COOKIE, token)


async def json_body(request):
    """A POST's body as a JSON object ({} when empty), or Rejected: 415 not JSON, 413 too large, 400 malformed
    or too deep."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Rejected(400, "bad_request", "Content-Length must be a number")
        if int(length) > MAX_BODY:
            raise Rejected(413, "too_large", "The request body is larger than %d bytes." % MAX_BODY)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise Rejected(413, "too_large", "The request body is larger than %d bytes." % MAX_BODY)
    if media not in ("", "application/json") or (not media and raw):
        raise Rejected(415, "not_json", "The request body must be JSON (Content-Type: application/json), "
                      "not %s." % (media or "untyped"))
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "bad_request", "the body is not UTF-8") from None
    fault = json_fault(raw, MAX_DEPTH)
    if fault == "too deep":
        raise Rejected(400, "too_deep", "The JSON body nests deeper than %d levels." % MAX_DEPTH)
    if fault:
        raise Rejected(400, "bad_request", "the body is not JSON")
    try:
        body = json.loads(text)
    except ValueError:
        raise Rejected(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Rejected(400, "bad_request", "the body must be a JSON object")
    return body
