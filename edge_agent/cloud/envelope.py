"""Signed down-messages (docs/mqtt.md, "Down"): every message the cloud sends a cabinet is an envelope with
an id, an expiry and an HMAC-SHA256 over its canonical JSON, keyed with that cabinet's own command key.
`sign` is what the cloud does (hub/ingest.py); `check` is what the agent does before anything else.
"""
import datetime
import hashlib
import hmac
import json
import secrets
import uuid

from edge_agent.rules.bounds import json_fault

VERSION = 1
MAX_LIFETIME = datetime.timedelta(hours=24)
KEY_BYTES = 32
NEEDS_CLOCK = ("unlock", "config")   # the commands whose freshness matters (expiry checked), not only their id
# Limits on a down message, checked on the raw bytes before any JSON parsing (docs/mqtt.md, "Limits"): a
# desired users set for a large site fits in 1 MiB; the deepest lawful message (a user's badge list inside
# users inside the body inside the envelope) nests 5 levels.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 8
ID_MAX = 64                          # the longest id or type echoed back in a command_result


class Refused(Exception):
    """A down-message the agent will not apply; `reason` is the code in its command_result."""

    def __init__(self, reason, detail=""):
        super().__init__("%s: %s" % (reason, detail) if detail else reason)
        self.reason = reason
        self.detail = detail


def new_key():
    """A cabinet's command key, as the hex text kept in its key file."""
    return secrets.token_hex(KEY_BYTES)


def load_key(path):
    text = open(path, encoding="ascii").read().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("%s: the command key must be %d bytes of hex" % (path, KEY_BYTES)) from None
    if len(key) != KEY_BYTES:
        raise ValueError("%s: the command key must be %d bytes of hex, got %d" % (path, KEY_BYTES, len(key)))
    return key


def canonical(envelope):
    """The signed bytes: the envelope without sig, keys sorted, no spaces, ASCII."""
    body = {k: v for k, v in envelope.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def iso(instant):
    return instant.astimezone(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def instant(text):
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def sign(key, cabinet, type_, body, now, lifetime_s=300, id_=None):
    """A signed envelope (a dict) for `cabinet`, valid from now for lifetime_s seconds."""
    envelope = {"v": VERSION, "id": id_ or str(uuid.uuid4()), "cabinet": cabinet, "type": type_,
                "issued": iso(now), "expires": iso(now + datetime.timedelta(seconds=lifetime_s)), "body": body}
    envelope["sig"] = hmac.new(key, canonical(envelope), hashlib.sha256).hexdigest()
    return envelope


def within_limits(raw):
    """Refused (malformed) if `raw` is over MAX_BYTES or nests deeper than MAX_DEPTH (or leaves a bracket
    unmatched), judged without parsing (rules/bounds.json_fault)."""
    if len(raw) > MAX_BYTES:
        raise Refused("malformed", "%d bytes, over the limit of %d" % (len(raw), MAX_BYTES))
    fault = json_fault(raw, MAX_DEPTH)
    if fault == "too deep":
        raise Refused("malformed", "nested deeper than %d levels" % MAX_DEPTH)
    if fault:
        raise Refused("malformed", "not JSON")


def read(raw):
    """The JSON object in `raw` (bytes), within the limits; Refused (malformed) otherwise. Not yet trusted."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    within_limits(raw)
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused("malformed", "not JSON") from None
    if not isinstance(envelope, dict):
        raise Refused("malformed", "not a JSON object")
    return envelope


def claimed(envelope, name):
    """What an envelope (checked or not) says its id or type is, if it is short text; else None."""
    value = envelope.get(name) if isinstance(envelope, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= ID_MAX else None


def check(raw, key, cabinet, now, clock_synced=True):
    """The envelope (a dict) if `raw` (bytes, or an envelope already `read`) is a well-formed, correctly
    signed, current message for this cabinet; otherwise Refused with the contract's reason. Replays are the
    caller's to check (by id)."""
    envelope = raw if isinstance(raw, dict) else read(raw)
    sig = envelope.get("sig")
    if not sig or not isinstance(sig, str):
        raise Refused("unsigned")
    expected = hmac.new(key, canonical(envelope), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, expected):
        raise Refused("bad_signature")
    for name, kind in (("v", int), ("id", str), ("cabinet", str), ("type", str), ("issued", str),
                       ("expires", str), ("body", dict)):
        if not isinstance(envelope.get(name), kind) or isinstance(envelope.get(name), bool):
            raise Refused("malformed", "%s missing or of the wrong type" % name)
    if envelope["v"] != VERSION:
        raise Refused("malformed", "contract version %r, this agent speaks %d" % (envelope["v"], VERSION))
    if envelope["cabinet"] != cabinet:
        raise Refused("wrong_cabinet", "for %s, this is %s" % (envelope["cabinet"], cabinet))
    try:
        issued, expires = instant(envelope["issued"]), instant(envelope["expires"])
    except ValueError:
        raise Refused("malformed", "issued or expires is not an ISO 8601 time") from None
    if expires < issued or expires - issued > MAX_LIFETIME:
        raise Refused("expired", "a lifetime over %s" % MAX_LIFETIME)
    if envelope["type"] in NEEDS_CLOCK:
        # Only commands whose effect depends on when they run are judged by the clock; acks, resends and
        # versioned desired state are idempotent at any age (retained desired state may be days old when an
        # offline cabinet comes back). A Pi whose clock is not synchronised (it may be weeks behind) cannot
        # tell a fresh unlock from an old one replayed: those wait for the clock.
        if not clock_synced:
            raise Refused("expired", "this cabinet's clock is not synchronised; %s needs it" % envelope["type"])
        if now >= expires:
            raise Refused("expired", "expired %s" % envelope["expires"])
    return envelope
