"""The ledger's clocks: wall time (may be wrong on a Pi with no RTC) and a monotonic reading.

Every record carries both plus the boot counter, so nothing has to be ordered by wall time alone
(design rule 5); the clock is injected so tests and the simulator control time (rule 6).
"""
import datetime
import os
import time
from typing import Protocol, Tuple

# systemd-timesyncd creates this file once the clock has been synchronised since boot.
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"


class Clock(Protocol):
    def wall(self) -> Tuple[str, bool]:
        """(ISO 8601 text as the clock reads it, True if the clock is known to be synchronised)."""

    def monotonic_ms(self) -> int:
        """Milliseconds from an arbitrary start that never goes backwards within one boot."""


class SystemClock:
    """The Pi's own clocks."""

    def __init__(self, synced_flag_path=TIMESYNC_FLAG):
        self.synced_flag_path = synced_flag_path

    def wall(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        return now.isoformat(timespec="milliseconds"), os.path.exists(self.synced_flag_path)

    def monotonic_ms(self):
        return time.monotonic_ns() // 1_000_000


class ManualClock:
    """A clock moved by hand, for tests and the simulator: `advance(ms)` moves both readings."""

    def __init__(self, start="2026-01-01T00:00:00+00:00", synced=True, monotonic_ms=0):
        self._wall = datetime.datetime.fromisoformat(start)
        self._mono = monotonic_ms
        self.synced = synced

    def advance(self, ms):
        self._mono += ms
        self._wall += datetime.timedelta(milliseconds=ms)

    def set_wall(self, iso_text, synced=True):
        """Step the wall clock (an NTP correction); the monotonic reading does not move."""
        self._wall = datetime.datetime.fromisoformat(iso_text)
        self.synced = synced

    def wall(self):
        return self._wall.isoformat(timespec="milliseconds"), self.synced

    def monotonic_ms(self):
        return self._mono


def instant(text):
    """An ISO 8601 time as the ledger writes it, as an aware datetime (UTC when it names no zone)."""
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
