"""An emulated Raspberry Pi Pico running the official MicroPython rp2 UF2, with the cabinet's physics on its
pins and its two serial ports on ptys, exactly as a board on USB and a UART cable would appear on a Pi.

    with EmulatedPico("pico.img", config="examples/cabinet.toml") as pico:
        pico.usb_port      # MicroPython's REPL (USB CDC): mpremote and tools/flash.py open it by path
        pico.uart_port     # UART0, the cabinet link: the edge agent opens it with pyserial
        pico.py("physics.lane(3).items")          # look at (or change) the simulated cabinet
        pico.reset("run")                         # the Pi pulls RUN low; pico.power_cut() kills it at once

The chip is sim/pico/pico.mjs (rp2040js in Node, with the emulator's gaps closed in sim/pico/rp2040_gaps.mjs);
this side owns the ptys and relays bytes. The flash image is a file: a power cut keeps what the chip wrote.
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

from firmware.config import normalize
from sim.hardware import sim_settings

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("pico.mjs")
SHARED_PICO = REPO.parent / "shared" / "pico"
UF2_NAME = "micropython-v1.28.0-RPI_PICO.uf2"
BOOTROM_NAME = "rp2040-bootrom-b1.bin"
UF2_ENV, BOOTROM_ENV = "MICROPYTHON_RP2_UF2", "RP2040_BOOTROM"
PTY_BACKLOG = 1 << 16          # bytes kept for a pty nobody reads; a real line would lose them all


class PicoFilesMissing(Exception):
    pass


def pico_files():
    """(uf2, bootrom) paths: from MICROPYTHON_RP2_UF2 / RP2040_BOOTROM, else ../shared/pico/ beside the repo."""
    found = []
    for env, name, what in ((UF2_ENV, UF2_NAME, "the MicroPython v1.28.0 UF2 for the Raspberry Pi Pico"),
                            (BOOTROM_ENV, BOOTROM_NAME, "the RP2040 boot ROM (B1)")):
        path = Path(os.environ[env]) if os.environ.get(env) else SHARED_PICO / name
        if not path.is_file():
            raise PicoFilesMissing(
                "%s is missing: %s not found. Set %s to its path, or put it at %s. (With internet, take the "
                "official v1.28.0 UF2 for the Pico from MicroPython's downloads; the boot ROM is "
                "raspberrypi/pico-bootrom's B1 build.)" % (what, path, env, SHARED_PICO / name))
        found.append(path)
    return tuple(found)


def physics_spec(raw, seed=0):
    """The JSON the harness gives the physics: the normalised config, the [sim] table and the seed."""
    config = normalize(raw)
    sim_settings(config, raw.get("sim"))        # a bad [sim] table is a ConfigError here, not in the chip
    return json.dumps({"config": config, "sim": raw.get("sim"), "seed": seed})


def _pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


def _discard_input(fd):
    """Drop what the host has written to a pty master and nobody has read."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:           # BlockingIOError: nothing (more) there; EIO: the host side is not open
            return


class _Pipe:
    """One direction of a relay (the relay reads its source): bytes taken are written to `dst`, kept (bounded)
    while dst is full."""

    def __init__(self, dst, log=None, keep=PTY_BACKLOG):
        self.dst, self.log, self.keep = dst, log, keep
        self.pending = bytearray()

    def pump_out(self):
        while self.pending:
            try:
                n = os.write(self.dst, self.pending)
            except BlockingIOError:
                return
            except OSError:
                self.pending.clear()
                return
            del self.pending[:n]

    def take(self, data):
        if self.log is not None:
            self.log += data
        self.pending += data
        if len(self.pending) > self.keep:
            del self.pending[:len(self.pending) - self.keep]
        self.pump_out()


class EmulatedPico:
    def __init__(self, flash_image, config=None, seed=0, quiet=True, log_file=None):
        """flash_image: the 2 MB flash file (made if missing). config: a raw cabinet config dict (with its
        optional [sim] table) for the physics on the pins, or None for a bare board."""
        self.uf2, self.bootrom = pico_files()
        self.flash_image = Path(flash_image)
        self.raw = config
        self.seed = seed
        self.quiet = quiet
        self.log_file = log_file
        self.usb_master, self._usb_slave, self.usb_port = _pty()
        self.uart_master, self._uart_slave, self.uart_port = _pty()
        self.usb_sent, self.usb_received = bytearray(), bytearray()
        self.events = []
        self._replies = {}
        self._next_id = 0
        self._cond = threading.Condition()
        self._proc = None
        self._thread = None
        self._tmp = tempfile.TemporaryDirectory(prefix="pico-")

    # -- power --
    def start(self, timeout=60):
        """Power on and return once the USB device has enumerated (as a host sees the port appear)."""
        if self._proc is not None:
            return self
        seen = len(self.events)
        self._spawn()
        self.wait_for_event(lambda e: e.get("event") == "usb", timeout=timeout, after=seen)
        return self

    def _spawn(self):
        # What the host wrote while the board was off went nowhere (a Pico without power has no USB device and its
        # UART line hears nothing): none of it reaches the chip that powers up now.
        for fd in (self.usb_master, self.uart_master):
            _discard_input(fd)
        node = shutil.which("node")
        if node is None:
            raise PicoFilesMissing("node is not on PATH: the emulated Pico runs in Node.js (scripts/setup)")
        args = [node, str(HARNESS), "--uf2", str(self.uf2), "--bootrom", str(self.bootrom),
                "--flash", str(self.flash_image)]
        if self.raw is not None:
            spec = Path(self._tmp.name) / "physics.json"
            spec.write_text(physics_spec(self.raw, self.seed))
            args += ["--physics", str(spec)]
        if self.quiet:
            args.append("--quiet")
        uart_in_r, uart_in_w = os.pipe()
        uart_out_r, uart_out_w = os.pipe()
        ctl_in_r, ctl_in_w = os.pipe()
        ctl_out_r, ctl_out_w = os.pipe()
        args += ["--uart", "%d:%d" % (uart_in_r, uart_out_w), "--control", "%d:%d" % (ctl_in_r, ctl_out_w)]
        stderr = open(self.log_file, "ab") if self.log_file else None
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                      pass_fds=(uart_in_r, uart_out_w, ctl_in_r, ctl_out_w),
                                      start_new_session=True)
        if stderr is not None:
            stderr.close()
        for fd in (uart_in_r, uart_out_w, ctl_in_r, ctl_out_w):
            os.close(fd)
        self._ctl_in = ctl_in_w
        proc = self._proc
        usb_in, usb_out = proc.stdin.fileno(), proc.stdout.fileno()
        self._pipes = {
            self.usb_master: _Pipe(usb_in, self.usb_sent, keep=1 << 24),
            usb_out: _Pipe(self.usb_master, self.usb_received),
            self.uart_master: _Pipe(uart_in_w, keep=1 << 24),
            uart_out_r: _Pipe(self.uart_master),
        }
        self._ctl_out = ctl_out_r
        self._closing = [uart_in_w, uart_out_r, ctl_out_r]
        self._stop_relay = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def power_cut(self):
        """Kill the chip at once: what it had not written to flash is gone, as on a board losing power."""
        proc = self._proc
        if proc is None:
            return
        self._stop_relay = True
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()
        self._thread.join(timeout=5)
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        for fd in self._closing + [self._ctl_in]:
            try:
                os.close(fd)
            except OSError:
                pass
        self._proc = None

    def power_on(self):
        return self.start()

    def reset(self, how="run"):
        """'run': the RUN pin pulled low and released (the Pi's reset line); 'power': a power cycle that keeps
        the process (physics state stays)."""
        self.control({"op": "reset", "how": how})

    def close(self):
        self.power_cut()
        for fd in (self.usb_master, self._usb_slave, self.uart_master, self._uart_slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    # -- the relay --
    def _relay(self):
        ctl_buf = b""
        while not self._stop_relay:
            want_out = [p.dst for p in self._pipes.values() if p.pending]
            try:
                readable, writable, _ = select.select(list(self._pipes) + [self._ctl_out], want_out, [], 0.1)
            except (OSError, ValueError):
                return
            for fd in writable:
                for p in self._pipes.values():
                    if p.dst == fd:
                        p.pump_out()
            for fd in readable:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if fd == self._ctl_out:
                    if not data:
                        return
                    ctl_buf += data
                    *lines, ctl_buf = ctl_buf.split(b"\n")
                    for line in lines:
                        self._on_control(line)
                elif data:
                    self._pipes[fd].take(data)
                elif fd in (self.usb_master, self.uart_master):
                    time.sleep(0.01)      # no one has the pty open: nothing to read yet
                else:
                    return                # the chip's process ended

    def _on_control(self, line):
        try:
            msg = json.loads(line)
        except ValueError:
            return
        with self._cond:
            if "id" in msg:
                self._replies[msg["id"]] = msg
            else:
                self.events.append(msg)
            self._cond.notify_all()

    # -- control --
    def control(self, msg, timeout=30):
        with self._cond:
            self._next_id += 1
            msg = dict(msg, id=self._next_id)
        os.write(self._ctl_in, (json.dumps(msg) + "\n").encode())
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg["id"] not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise TimeoutError("the emulated Pico did not answer %r" % (msg,))
                self._cond.wait(min(left, 0.5))
            reply = self._replies.pop(msg["id"])
        if not reply.get("ok"):
            raise RuntimeError("the emulated Pico refused %r: %s" % (msg, reply.get("error")))
        return reply.get("value")

    def py(self, code):
        """Evaluate Python against the live physics (names: physics, pins, clock); the value, through JSON."""
        return self.control({"op": "py", "code": code})

    def stats(self):
        return self.control({"op": "stats"})

    def wait_for_event(self, predicate, timeout=60, after=0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[after:]:
                    if predicate(e):
                        return e
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError("the emulated Pico's process ended (exit %s)%s" % (
                        self._proc.returncode, "; see %s" % self.log_file if self.log_file else ""))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching event from the emulated Pico in %ss: %s"
                                       % (timeout, self.events[after:]))
                self._cond.wait(min(left, 0.5))

    def wait_for_output(self, text, timeout=60, after=0):
        """Wait until the USB console has printed text (bytes) since offset `after` of usb_received."""
        deadline = time.monotonic() + timeout
        while text not in bytes(self.usb_received[after:]):
            if time.monotonic() > deadline or not self.running:
                raise TimeoutError("the Pico's console did not print %r in %ss; it printed %r"
                                   % (text, timeout, bytes(self.usb_received[after:])[-2000:]))
            time.sleep(0.05)
