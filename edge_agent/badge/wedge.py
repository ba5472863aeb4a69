"""Keyboard-wedge badge readers: they type the card number and Enter into whatever has focus (here the
touchscreen's badge field). This turns one such entry into the canonical badge id, or refuses it.

Wedges are configured at the factory to type either hex ("04A1B2C3") or decimal ("0078230211", common for
EM and MIFARE cards); say which with fmt. Decimal is converted to the hex of the number's bytes (at least
min_bytes, default 4: the 32-bit number such readers type); reverse=True for wedges that type a MIFARE
UID's bytes in reverse (little-endian) order, so the id matches what a PC/SC reader gives for that card.
"""
from edge_agent.badge import SOURCE_WEDGE, BadgeTap
from edge_agent.badge.ids import MAX_BYTES, BadBadgeId, badge_id_from_bytes, normalize_badge_id

FORMATS = ("hex", "decimal")


def normalize_wedge_entry(text, fmt="hex", min_bytes=4, reverse=False):
    """The badge id for one typed entry (surrounding whitespace and the final Enter ignored); BadBadgeId."""
    if fmt not in FORMATS:
        raise ValueError(f"wedge format must be one of {FORMATS}, not {fmt!r}")
    entry = text.strip()
    if fmt == "hex":
        raw = bytes.fromhex(normalize_badge_id(entry))
    else:
        if not entry.isascii() or not entry.isdigit():
            raise BadBadgeId(f"not a decimal card number: {text!r}")
        number = int(entry)
        width = max(min_bytes, (number.bit_length() + 7) // 8)
        if width > MAX_BYTES:
            raise BadBadgeId(f"card number too long: {text!r}")
        raw = number.to_bytes(width, "big")
    return badge_id_from_bytes(raw[::-1] if reverse else raw)


def wedge_tap(text, reader="wedge", **options):
    """A BadgeTap for one typed entry (options as for normalize_wedge_entry); BadBadgeId for junk."""
    return BadgeTap(normalize_wedge_entry(text, **options), reader, SOURCE_WEDGE)
