"""Badge readers: every kind of reader turns a card into a BadgeTap with a canonical badge id.

Readers (one module each):
- `pcsc.PcscBadgeReader`: contactless readers through PC/SC (pcscd + pyscard); the card's UID.
- `serial_reader.SerialBadgeReader`: 125 kHz modules (RDM6300 style) on a serial port; the parsing is
  sans-IO in `serial_reader.Rdm6300Parser`.
- `wedge.normalize_wedge_entry`: what a keyboard-wedge reader typed into the touchscreen (no device to own).

The interface every device reader has (`BadgeReader`):
    reader.read(timeout) -> BadgeTap | None   # the next tap, or None when timeout seconds pass without one
    reader.close()
A tap is reported once: a card held on the reader, or repeated by the module, is one tap; taken away and
presented again, it is a new tap. read() never raises for a lost device or a stopped pcscd: it logs, keeps
retrying, and returns None at the timeout, so the agent's loop keeps running. `taps(reader, stop)` turns a
reader into an iterator that ends when the stop event is set.

Badge ids are upper-case hex of the card number's bytes (`ids`, docs/decisions/0007-badge-ids.md).
"""
import dataclasses
import time
from typing import Protocol

from edge_agent.badge.ids import BadBadgeId, badge_id_from_bytes, normalize_badge_id

__all__ = ["BadgeTap", "BadgeReader", "taps", "BadBadgeId", "badge_id_from_bytes", "normalize_badge_id"]

SOURCE_PCSC = "pcsc"
SOURCE_SERIAL = "serial-125khz"
SOURCE_WEDGE = "wedge"


@dataclasses.dataclass(frozen=True)
class BadgeTap:
    badge_id: str      # canonical: upper-case hex, e.g. "04A1B2C3"
    reader: str        # which reader: the PC/SC reader name, the serial port path, the wedge's name
    source: str        # SOURCE_PCSC, SOURCE_SERIAL or SOURCE_WEDGE
    at: float = dataclasses.field(default_factory=time.monotonic, compare=False)  # when seen (monotonic s)


class BadgeReader(Protocol):
    def read(self, timeout: float | None) -> BadgeTap | None: ...

    def close(self) -> None: ...


def taps(reader, stop, wake_s=0.25):
    """Yield taps from reader until the threading.Event stop is set (checked at least every wake_s)."""
    while not stop.is_set():
        tap = reader.read(wake_s)
        if tap is not None:
            yield tap
