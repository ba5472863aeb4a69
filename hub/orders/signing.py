"""The signature on every webhook to the ERP and on every call the ERP makes to the hub (docs/hub/orders.md
"Verifying a webhook"):

    X-Locker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The secret is the tenant's (32 random bytes, shown to the supplier's office once as hex). The receiver
recomputes v1 from the header's t and the raw body bytes, compares in constant time, and refuses a t more
than TOLERANCE_S from its own clock (a replayed message). Several v1= values may appear during a secret's
rotation; one matching is enough."""
import hashlib
import hmac

HEADER = "X-Locker-Signature"
TOLERANCE_S = 300


class SignatureError(ValueError):
    """A missing, malformed, wrong or too old signature; the text says which (never the secret)."""


def digest(secret, t, body):
    return hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()


def header(secret, t, body):
    """The header's value for `body` (bytes) signed at `t` (epoch seconds)."""
    return "t=%d,v1=%s" % (int(t), digest(secret, int(t), body))


def parse(value):
    """(t, [v1 digests]) from a header's value; SignatureError when it is not one."""
    t, sigs = None, []
    for part in (value or "").split(","):
        name, _, text = part.strip().partition("=")
        if name == "t" and text.isdigit():
            t = int(text)
        elif name == "v1" and text:
            sigs.append(text)
    if t is None or not sigs:
        raise SignatureError("the %s header is not t=<seconds>,v1=<hex>" % HEADER)
    return t, sigs


def verify(secret, value, body, now_s, tolerance_s=TOLERANCE_S):
    """Check a header's value against `body` at `now_s` (epoch seconds); returns t, else SignatureError."""
    t, sigs = parse(value)
    if abs(now_s - t) > tolerance_s:
        raise SignatureError("the signature's time %d is %d s from ours (at most %d)" % (t, abs(now_s - t), tolerance_s))
    expected = digest(secret, t, body)
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        raise SignatureError("the signature does not match the body")
    return t
