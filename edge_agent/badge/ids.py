"""Badge ids: one canonical text form for every reader kind (docs/decisions/0007-badge-ids.md).

A badge id is the card number's bytes as upper-case hex, no separators, in the order the reader delivers
them: a PC/SC UID of 4, 7 or 10 bytes gives 8, 14 or 20 characters; a 125 kHz EM card read by a serial
module gives its 5 bytes as 10 characters. Ids are compared as plain strings, so one form everywhere.

A badge number is a credential (a 125 kHz card is cloned from it), so logs never carry one: `log_tag` is what
a log line says instead.
"""
import hashlib
import hmac
import os
import string

MIN_BYTES = 4      # shorter is not a card number any reader we support sends (a stray key, a fragment)
MAX_BYTES = 16     # ISO 14443 UIDs stop at 10 bytes; room for readers that send a little more
_HEX = frozenset(string.hexdigits)
_SEPARATORS = " :-"
# The key of the log tags: new in every process, so a tag in a log cannot be turned back into a number by
# hashing every possible card (4-byte UIDs are only 2^32), and tags match only within one run of the agent.
_LOG_KEY = os.urandom(16)


class BadBadgeId(ValueError):
    """Text or bytes that are not a card number."""


def badge_id_from_bytes(raw):
    """The canonical id of a card number given as bytes."""
    raw = bytes(raw)
    if not MIN_BYTES <= len(raw) <= MAX_BYTES:
        raise BadBadgeId(f"a card number has {MIN_BYTES} to {MAX_BYTES} bytes, not {len(raw)}")
    if raw.count(0) == len(raw) or raw.count(0xFF) == len(raw):
        raise BadBadgeId(f"all-{raw[0]:02X} is a misread, not a card number")
    return raw.hex().upper()


def normalize_badge_id(text):
    """The canonical id of a card number written in hex ("04:a1:b2:c3", "04A1B2C3"); BadBadgeId if not one.

    Space, colon and dash separators are dropped; an odd number of digits gets a leading zero (a number
    typed without it). Used for ids typed by people, read from CSV, or sent by a keyboard wedge."""
    digits = "".join(ch for ch in text.strip() if ch not in _SEPARATORS)
    if not digits or not set(digits) <= _HEX:
        raise BadBadgeId(f"not a hex card number: {text!r}")
    if len(digits) % 2:
        digits = "0" + digits
    return badge_id_from_bytes(bytes.fromhex(digits))


def log_tag(badge_id):
    """What a log line says of a badge: `badge#` and 6 hex digits of a keyed hash of it (the same for one badge
    while this process runs, so its taps can be followed through a log; the number itself never appears)."""
    return "badge#" + hmac.new(_LOG_KEY, str(badge_id).encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:6]
