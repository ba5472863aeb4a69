"""The ledger's clocks: wall time (may be wrong on a Pi with no RTC) and a monotonic reading.

Every record carries both plus the boot counter, so nothing has to be ordered by wall time alone
(design rule 5); the clock is injected so tests and the simulator control time (rule 6).
"""
import ctypes
import datetime
import os
import time
from typing import Protocol, Tuple

# systemd-timesyncd creates this file once the clock has been synchronised since boot.
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
TIME_ERROR = 5          # adjtimex(2): the kernel holds the clock unsynchronised (set by hand, or never synced)


class Clock(Protocol):
    def wall(self) -> Tuple[str, bool]:
        """(ISO 8601 text as the clock reads it, True if the clock is known to be synchronised)."""

    def monotonic_ms(self) -> int:
        """Milliseconds from an arbitrary start that never goes backwards within one boot."""

    def monotonic_epoch(self) -> str:
        """Which run of the monotonic clock this is (the OS boot): two readings of one epoch subtract to the
        time between them, whatever the wall clock did, even across restarts of the agent."""


class SystemClock:
    """The Pi's own clocks."""

    def __init__(self, synced_flag_path=TIMESYNC_FLAG):
        self.synced_flag_path = synced_flag_path
        self._epoch = None

    def wall(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        synced = os.path.exists(self.synced_flag_path)
        if synced and str(self.synced_flag_path) == TIMESYNC_FLAG:     # another flag (a test's) is trusted alone
            synced = kernel_synced()
        return now.isoformat(timespec="milliseconds"), synced

    def monotonic_ms(self):
        return time.monotonic_ns() // 1_000_000

    def monotonic_epoch(self):
        if self._epoch is None:
            try:
                with open(BOOT_ID, encoding="ascii") as f:
                    self._epoch = f.read().strip()
            except OSError:
                self._epoch = "pid-%d" % os.getpid()     # no boot id: good for this process only
        return self._epoch


def _adjtimex():
    """libc's adjtimex, loaded once (finding libc runs `ldconfig -p`: milliseconds, far too slow per read);
    None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None


_ADJTIMEX = _adjtimex()


def kernel_synced():
    """False when the kernel says the clock is unsynchronised: setting it by hand (`date -s`) marks it so
    even while timesyncd's flag file from an earlier sync is still there. True where it cannot be asked."""
    if _ADJTIMEX is None:
        return True
    return _ADJTIMEX(ctypes.create_string_buffer(512)) != TIME_ERROR      # modes 0: read only


class ManualClock:
    """A clock moved by hand, for tests and the simulator: `advance(ms)` moves both readings."""

    def __init__(self, start="2026-01-01T00:00:00+00:00", synced=True, monotonic_ms=0):
        self._wall = datetime.datetime.fromisoformat(start)
        self._text = None       # the wall time as text, kept until the clock moves (a take reads it often)
        self._mono = monotonic_ms
        self.synced = synced
        self.epoch = 1

    def advance(self, ms):
        self._mono += ms
        self._wall += datetime.timedelta(milliseconds=ms)
        self._text = None

    def set_wall(self, iso_text, synced=True):
        """Step the wall clock (an NTP correction); the monotonic reading does not move."""
        self._wall = datetime.datetime.fromisoformat(iso_text)
        self._text = None
        self.synced = synced

    def reboot(self, off_ms=0):
        """The machine restarts after `off_ms` switched off: a new monotonic epoch starting at 0; the wall
        clock moves on by the time off (set it with set_wall when the Pi came back with a wrong one)."""
        self._wall += datetime.timedelta(milliseconds=off_ms)
        self._text = None
        self._mono = 0
        self.epoch += 1

    def wall(self):
        if self._text is None:
            self._text = self._wall.isoformat(timespec="milliseconds")
        return self._text, self.synced

    def monotonic_ms(self):
        return self._mono

    def monotonic_epoch(self):
        return "manual-%d" % self.epoch


def instant(text):
    """An ISO 8601 time as the ledger writes it, as an aware datetime (UTC when it names no zone)."""
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
