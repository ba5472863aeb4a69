"""What every request to the hub's web app must be before any page runs (docs/decisions/0042).

- Host allow-list: the address it listens on and the public origins it is given (--public-origin), so a
  DNS-rebinding name is refused.
- A state-changing request (POST and the like) must come from one of our own origins: a browser's Origin
  header, or its Sec-Fetch-Site, naming another site is refused 403.
- CSRF token: such a request must also carry the session's token (a form's `csrf` field, which html.form()
  writes, or an X-CSRF-Token header). The token is an HMAC of the session cookie with the hub's secret, so
  the hub stores nothing for it, and a page on another site, which cannot read our cookie, cannot make it.
  /login is the one form without a session; the Origin check and the SameSite=Strict cookie cover it.
  Paths under a prefix in EXEMPT_PREFIXES are machine APIs that authenticate each request by a signature
  of their own (e.g. the ERP's order confirmations); they get the Host check only.
- Bodies: urlencoded forms or JSON, at most MAX_BODY bytes, read here once and handed on.
- Every answer: a Content-Security-Policy of 'self' only (no script, no inline style, nothing from another
  host), no framing, no sniffing, no referrer to other sites (same-origin: with no-referrer at all, Chromium sends "Origin: null" on our own forms); a page that sets its own policy keeps it (a stand-alone report
  with its inline stylesheet).
"""
import hashlib
import hmac
import urllib.parse

from starlette.responses import PlainTextResponse

MAX_BODY = 64 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
EXEMPT_PREFIXES = ["/erp/"]
NO_TOKEN_PATHS = ("/login",)
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'none'; form-action 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def csrf_token(secret, session_token):
    return hmac.new(secret, b"csrf:" + session_token.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def origins_and_hosts(listen_host, port, public_origins):
    """(allowed Origin values, allowed Host values) for a server at listen_host:port known to its users also
    by public_origins (e.g. https://hub.example.com)."""
    host = "[%s]" % listen_host if ":" in listen_host else listen_host
    hosts = {"%s:%d" % (host, port)}
    if listen_host in ("127.0.0.1", "::1", "localhost"):
        hosts |= {"127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port}
    origins = {"http://%s" % h for h in hosts}
    for origin in public_origins:
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError("public origin %r: give scheme://host[:port], e.g. https://hub.example.com" % origin)
        origins.add("%s://%s" % (parts.scheme, parts.netloc.lower()))
        hosts.add(parts.netloc.lower())
    return frozenset(origins), frozenset(hosts)


class Guard:
    """The ASGI middleware that applies the rules above."""

    def __init__(self, app, origins, hosts, secret, cookie):
        self.app, self.origins, self.hosts, self.secret, self.cookie = app, origins, hosts, secret, cookie

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                named = {k.lower() for k, _ in own}     # a page may set a stricter or its own policy
                message["headers"] = own + [(k, v) for k, v in HEADERS if k not in named]
            await send(message)

        async def refuse(status, words):
            await PlainTextResponse(words, status)(scope, receive, send_with_headers)

        if headers.get("host", "").lower() not in self.hosts:
            return await refuse(403, "This hub answers only at its own address.")
        if scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send_with_headers)
        path = scope["path"]
        exempt = any(path.startswith(p) for p in EXEMPT_PREFIXES)
        origin = headers.get("origin")
        if not exempt and ((origin is not None and origin.lower() not in self.origins)
                           or headers.get("sec-fetch-site") in ("same-site", "cross-site")):
            return await refuse(403, "A request from another site was refused.")
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                return await refuse(413, "The request is larger than %d bytes." % MAX_BODY)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and media not in ("application/x-www-form-urlencoded", "application/json"):
            return await refuse(415, "Send a form or JSON.")
        if not exempt and path not in NO_TOKEN_PATHS and not self._token_ok(headers, body, media):
            return await refuse(403, "This form has expired or did not come from the hub: reload the page and "
                                     "try again.")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, replay, send_with_headers)

    def _token_ok(self, headers, body, media):
        session = _cookie(headers.get("cookie", ""), self.cookie)
        if not session:
            return False
        given = headers.get(CSRF_HEADER)
        if given is None and media == "application/x-www-form-urlencoded":
            given = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [None])[0]
        return given is not None and hmac.compare_digest(given, csrf_token(self.secret, session))


def _cookie(header, name):
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
