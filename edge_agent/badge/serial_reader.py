"""125 kHz badge modules on a serial port (RDM6300 and the like: EM4100 cards, 9600 baud, 8N1).

Such a module sends, while a card is in its field and every ~100 ms or so:
    0x02, 10 ASCII hex data chars, 2 ASCII hex checksum chars, 0x03
where the 10 data chars are the card's 5 bytes (version/customer byte, then the 32-bit number) and the
checksum is the XOR of those 5 bytes. ID-12/ID-20 style modules send CR LF before the 0x03; both are taken.
The badge id is the 10 data chars, upper case (docs/decisions/0007-badge-ids.md).

`Rdm6300Parser` is sans-IO: feed(bytes, now) returns the new badge ids. `SerialBadgeReader` is the pyserial
driver for a port path (/dev/ttyAMA0, /dev/ttyUSB0, a pty in tests).
"""
import logging
import select
import time

import serial

from edge_agent.badge import SOURCE_SERIAL, BadBadgeId, BadgeTap, badge_id_from_bytes

log = logging.getLogger(__name__)

STX, ETX = 0x02, 0x03
_HEX_BYTES = frozenset(b"0123456789ABCDEFabcdef")
_BODY = 12                 # 10 data + 2 checksum chars
_TAILS = (b"\x03", b"\r\n\x03")  # RDM6300; ID-12/ID-20 put CR LF before the ETX
HOLD_OFF_S = 1.0           # the same card again within this long of last being seen is the same tap
MAX_WAIT_S = 0.5           # longest single blocking read, so a timeout=None read still notices a lost port
REOPEN_S = 1.0             # a lost or missing port is retried this often


class Rdm6300Parser:
    """Frames in, badge ids out; resyncs on the next 0x02 after garbage, drops frames with a bad checksum.

    Repeats of one card are suppressed until it has been out of the field for hold_off_s: a card held on
    the reader for a minute is one tap; taken away and back after hold_off_s, it is a new tap.
    """

    def __init__(self, hold_off_s=HOLD_OFF_S):
        self.hold_off_s = hold_off_s
        self.bad_frames = 0          # started with 0x02 but were not a valid frame (noise, bad checksum)
        self.discarded_bytes = 0     # bytes outside any frame
        self.repeats = 0             # valid frames suppressed as repeats of the current tap
        self._buf = bytearray()
        self._last_id = None
        self._last_seen = None

    def feed(self, data, now):
        """Take received bytes (at time now, seconds); return the badge ids of new taps, in order."""
        self._buf += data
        taps = []
        for badge_id in self._frames():
            if (badge_id == self._last_id and self._last_seen is not None
                    and now - self._last_seen < self.hold_off_s):
                self.repeats += 1
            else:
                taps.append(badge_id)
                self._last_id = badge_id
            self._last_seen = now
        return taps

    def _frames(self):
        buf = self._buf
        while True:
            start = buf.find(STX)
            if start < 0:
                self.discarded_bytes += len(buf)
                buf.clear()
                return
            if start:
                self.discarded_bytes += start
                del buf[:start]
            result = _frame_at_start(buf)
            if result is None:
                return               # a frame may still be coming: wait for more bytes
            length, badge_id = result
            if badge_id is None:
                self.bad_frames += 1
                del buf[:1]          # resync: a real frame may start inside what looked like one
                continue
            del buf[:length]
            yield badge_id


def _frame_at_start(buf):
    """For buf starting with STX: None (need more bytes), (1, None) (not a frame: skip the STX), or
    (length, badge id)."""
    body = buf[1:1 + _BODY]
    if not all(b in _HEX_BYTES for b in body):
        return 1, None               # decided early: noise does not hold up the next real frame
    if len(body) < _BODY:
        return None
    after = bytes(buf[1 + _BODY:1 + _BODY + 3])
    for tail in _TAILS:
        if after[:len(tail)] == tail:
            length = 1 + _BODY + len(tail)
            break
    else:
        if any(tail.startswith(after) for tail in _TAILS):
            return None              # the end of the frame has not arrived yet
        return 1, None
    text = bytes(body).decode("ascii").upper()
    data = bytes.fromhex(text[:10])
    checksum = 0
    for b in data:
        checksum ^= b
    if checksum != int(text[10:], 16):
        log.debug("dropped a frame with a bad checksum")       # not its text: nearly a badge number
        return 1, None
    try:
        return length, badge_id_from_bytes(data)
    except BadBadgeId:
        return 1, None


class SerialBadgeReader:
    """A 125 kHz module on a serial port: read(timeout) -> BadgeTap | None (the BadgeReader interface).

    A port that is missing or goes away (USB unplugged) is logged and reopened every reopen_s; read()
    keeps returning None meanwhile instead of raising.
    """

    def __init__(self, port, hold_off_s=HOLD_OFF_S, baudrate=9600, reopen_s=REOPEN_S, clock=time.monotonic):
        self.port = port
        self.baudrate = baudrate
        self.reopen_s = reopen_s
        self.parser = Rdm6300Parser(hold_off_s)
        self._clock = clock
        self._serial = None
        self._pending = []
        self._bad_logged = 0
        self._port_trouble = None
        self._next_open = 0.0     # a missing port is not tried again before this (clock time)
        self._open()    # now, not at the first read: pyserial discards what arrived before the port opened

    def read(self, timeout=None):
        deadline = None if timeout is None else self._clock() + timeout
        while not self._pending:
            remaining = MAX_WAIT_S if deadline is None else min(MAX_WAIT_S, deadline - self._clock())
            if remaining <= 0:
                return None
            if self._serial is None and not self._open():
                time.sleep(max(0.0, min(self._next_open - self._clock(), remaining)))
                continue
            self._read_some(remaining)
        return self._pending.pop(0)

    def close(self):
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def _open(self):
        if self._clock() < self._next_open:
            return False
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0)   # select() does the waiting
        except (serial.SerialException, OSError) as e:
            self._next_open = self._clock() + self.reopen_s
            if self._port_trouble != str(e):
                log.warning("badge reader port %s cannot be opened (retrying): %s", self.port, e)
                self._port_trouble = str(e)
            return False
        if self._port_trouble is not None:
            log.info("badge reader port %s open again", self.port)
            self._port_trouble = None
        return True

    def _read_some(self, wait_s):
        try:
            # wait in select, not in a read timeout: changing pyserial's timeout reconfigures the port
            if not select.select([self._serial.fileno()], [], [], wait_s)[0]:
                return
            data = self._serial.read(self._serial.in_waiting or 1)
        except (serial.SerialException, OSError) as e:
            log.warning("badge reader port %s lost (reopening): %s", self.port, e)
            self._port_trouble = str(e)
            self._next_open = self._clock() + self.reopen_s
            self.close()
            return
        if not data:
            return
        now = self._clock()
        for badge_id in self.parser.feed(data, now):
            self._pending.append(BadgeTap(badge_id, self.port, SOURCE_SERIAL, at=now))
        if self.parser.bad_frames != self._bad_logged:
            log.warning("badge reader %s: dropped %d bad frame(s) so far", self.port, self.parser.bad_frames)
            self._bad_logged = self.parser.bad_frames
