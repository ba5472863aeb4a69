# Talking to a MicroPython board over its USB serial REPL, through mpremote's own transport (the raw REPL and
# raw-paste mode, exactly as `mpremote` does). Everything that needs the board's answer runs as one small
# script on the board; hashes are computed there with hashlib.sha256, so they check what the flash holds.
import ast
import struct
import time

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport


class BoardError(Exception):
    pass


READ_TIMEOUT_S = 10     # a board silent this long mid-command is gone (power cut, cable, hung)
# What a transfer can fail with when the board goes away mid-command: pyserial and OS errors, mpremote's own,
# and a short read that mpremote's raw-paste code unpacks anyway.
LINK_ERRORS = (TransportError, serial.SerialException, OSError, struct.error)


BOARD_INFO = """\
import sys, os
try:
    _m = os.uname().machine
except AttributeError:
    _m = getattr(sys.implementation, '_machine', sys.platform)
print(repr((sys.implementation.name, tuple(sys.implementation.version[:3]), getattr(sys.implementation, '_mpy', 0),
            sys.platform, _m)))
"""

# Prints {path: sha256 hex} for every file under the given roots (files or directories; missing ones left out).
HASH_FILES = """\
import os, hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == 512 else b[:n])
    return binascii.hexlify(h.digest()).decode()
def _walk(p, out):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for e in os.ilistdir(p):
            _walk(p.rstrip('/') + '/' + e[0], out)
    else:
        out[p] = _h(p)
_out = {}
for _p in %r:
    _walk(_p, _out)
print(repr(_out))
"""

# A firmware that armed the hardware watchdog leaves it running when Ctrl-C stops it, and a soft reset does not
# stop it either: it would reboot the board a few seconds into this session, mid-copy. On the RP2040 machine.WDT
# cannot stop it (micropython/micropython#8600); WATCHDOG_CTRL.ENABLE (bit 30; RP2040 datasheet, 4.7) can. The
# firmware arms it again when it runs: after resume()'s soft reset or reset()'s reboot.
HOLD_WATCHDOG = """\
import sys
if sys.platform == 'rp2':
    import machine
    machine.mem32[0x40058000] &= ~(1 << 30)
"""

READ_TEXT = """\
try:
    with open(%r) as f:
        print(repr(f.read()))
except OSError:
    print(repr(None))
"""


class Board:
    """One connection to a board in its raw REPL. Use as a context manager."""

    def __init__(self, port, baudrate=115200):
        self.port = port
        self.closed = False
        try:
            self.t = SerialTransport(port, baudrate=baudrate, timeout=READ_TIMEOUT_S)
        except LINK_ERRORS as e:
            raise BoardError("cannot open %s: %s" % (port, e)) from None
        try:
            # Ctrl-C stops whatever runs (the firmware); the soft reset gives a clean interpreter without main.py.
            self.t.enter_raw_repl(soft_reset=True)
            self.t.exec(HOLD_WATCHDOG)
        except LINK_ERRORS as e:
            self.t.close()
            raise BoardError("%s does not answer as a MicroPython REPL (%s)" % (port, str(e).strip() or "no reply"))\
                from None

    def close(self):
        """Done: the board goes back to running its firmware (unless reset() already rebooted it)."""
        if not self.closed:
            self.resume()
            self.t.close()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, code):
        """Run code on the board; returns what it printed. BoardError with the board's traceback if it raised."""
        try:
            return self.t.exec(code).decode("utf-8", "replace")
        except TransportExecError as e:
            raise BoardError("the board raised:\n%s" % e.error_output.strip()) from None
        except LINK_ERRORS as e:
            raise BoardError("lost the board on %s: %s" % (self.port, str(e).strip() or "no answer")) from None

    def eval(self, code):
        """Run code whose last output line is a repr(); returns its value."""
        out = self.run(code).strip().splitlines()
        if not out:
            raise BoardError("the board printed nothing for a query")
        return ast.literal_eval(out[-1].strip())

    def info(self):
        name, version, mpy, platform, machine = self.eval(BOARD_INFO)
        return {"implementation": name, "version": ".".join(str(v) for v in version), "mpy": mpy,
                "platform": platform, "machine": machine}

    def hashes(self, roots):
        return self.eval(HASH_FILES % (list(roots),))

    def read_text(self, path):
        return self.eval(READ_TEXT % path)

    def write_file(self, path, data):
        try:
            self.t.fs_writefile(path, data, chunk_size=256)
        except LINK_ERRORS as e:
            raise BoardError("writing %s failed: %s" % (path, str(e).strip() or "the board stopped answering"))\
                from None

    def resume(self):
        """Leave the raw REPL and soft-reset: the board runs /main.py (the firmware) again, as before we came."""
        try:
            self.t.exit_raw_repl()
            self.t.serial.write(b"\x04")
        except LINK_ERRORS:
            pass

    def reset(self):
        """machine.reset(): the board reboots and runs /main.py; this connection is finished."""
        try:
            self.t.exec_raw_no_follow("import machine\nmachine.reset()")
        except LINK_ERRORS:
            pass      # the board may go before it answers
        self.t.close()
        self.closed = True


def watch_console(port, patterns, timeout, baudrate=115200):
    """Read the board's console (without interrupting it) until a line contains one of patterns; returns that
    line or None at the timeout. Reopens the port while it is away (a Pico's USB port goes with a reset)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        try:
            s = serial.Serial(port, baudrate=baudrate, timeout=0.2)
        except (serial.SerialException, OSError):
            time.sleep(0.2)
            continue
        try:
            while time.monotonic() < deadline:
                chunk = s.read(256)
                if not chunk:
                    continue
                buf += chunk
                lines = buf.split(b"\n")
                buf = lines.pop()
                for raw in lines:
                    line = raw.decode("utf-8", "replace").strip()
                    if any(p in line for p in patterns):
                        return line
        except (serial.SerialException, OSError):
            time.sleep(0.2)
        finally:
            s.close()
    return None
