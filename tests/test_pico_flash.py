"""tools/flash.py and the firmware on a real MicroPython port: the official v1.28.0 rp2 UF2 for the Raspberry Pi
Pico, running in the emulated RP2040 (sim/pico/), driven through unmodified mpremote exactly as on a board on USB.

One blank Pico is flashed once (module fixture); its flash image, copied while the board is off, gives every other
test a board running that firmware from slot a. What happened is read where a host would see it: flash.py's
report, the bytes on the USB wire, the boot selector's lines on the USB console, the chip's boot events (power, or
a watchdog reboot with its reason: FORCE for machine.reset(), TIMER for an expiry) and the firmware's own frames on
UART0 (EV_BOOT, and HELLO's answer with the reset cause firmware/board.py worked out).

The chip runs busy code at about a third of real time and is never ahead of the wall clock; every wait here is
for an event, a line or a frame, with a generous timeout. A missing UF2 or boot ROM fails every test with
sim.pico.board's message (never a skip).
"""
import shutil
import struct
import subprocess
import sys
import threading
import time
import tomllib
from contextlib import contextmanager

import pytest
import serial

from firmware import messages as M
from firmware.codec import FrameDecoder, encode_frame
from firmware.main import WDT_TIMEOUT_MS
from sim.pico.board import EmulatedPico
from tests.micropython import REPO
from tests.test_flash import CONFIG, FLASH, MPREMOTE, firmware_tree, flash, uploads
from locker_flash.board import HOLD_WATCHDOG, Board

RAW_CONFIG = tomllib.loads(CONFIG.read_text())
MODULES = sorted(p.stem for p in (REPO / "firmware").glob("*.py"))     # boot_select goes to the root, as .py
SLOT_FILES = len(MODULES)             # in a slot: every module but boot_select as .mpy, and cabinet.json
TIMEOUT = 120     # seconds for anything the chip has to do; a busy host slows the emulator down


class CabinetLink:
    """The host's end of UART0: collects the firmware's frames; hello() asks the boot that runs now."""

    HELLO_FIELDS = ("protocol", "boot_id", "reset_cause", "uptime_ms", "doors", "lanes", "bins")

    def __init__(self, port):
        self.serial = serial.Serial(port, 115200, timeout=0.05)
        self.frames = []                  # (seq, kind, payload), in arrival order
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._decoder = FrameDecoder(self._on_frame)
        self._seq = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.serial.read(256)
            except (serial.SerialException, OSError):
                return
            if data:
                self._decoder.feed(data)

    def _on_frame(self, seq, kind, payload):
        with self._cond:
            self.frames.append((seq, kind, bytes(payload)))
            self._cond.notify_all()

    def wait_for_frame(self, predicate, timeout=TIMEOUT, after=0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for frame in self.frames[after:]:
                    if predicate(*frame):
                        return frame
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no matching frame on UART0 in %ss; got %r" % (timeout, self.frames[after:]))
                self._cond.wait(left)

    def boot_event(self, boot_id, timeout=TIMEOUT):
        """The reset cause in the EV_BOOT event of the boot with this id."""
        def match(seq, kind, payload):
            return (kind == M.EVENT and payload[:1] == bytes((M.EV_BOOT,))
                    and struct.unpack_from(M.EVENT_FMT[M.EV_BOOT], payload, 1)[0] == boot_id)
        _, _, payload = self.wait_for_frame(match, timeout)
        return struct.unpack_from(M.EVENT_FMT[M.EV_BOOT], payload, 1)[1]

    def hello(self, timeout=TIMEOUT):
        """HELLO, sent again every 0.5 s (a UART still closed hears nothing) until the firmware answers this very
        request (its seq): the answer comes from the boot that runs now, never an earlier one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._seq = (self._seq + 1) & 0xFF
            seq, mark = self._seq, len(self.frames)
            self.serial.write(encode_frame(seq, M.HELLO))
            try:
                _, _, p = self.wait_for_frame(lambda s, k, _p: s == seq and k == M.HELLO | M.RESPONSE,
                                              min(0.5, max(deadline - time.monotonic(), 0.01)), after=mark)
            except AssertionError:
                continue
            assert p[0] == M.OK, p
            n = struct.calcsize(M.HELLO_R)
            info = dict(zip(self.HELLO_FIELDS, struct.unpack_from(M.HELLO_R, p, 1)))
            info["version"] = p[1 + n:].decode()
            return info
        raise AssertionError("the firmware did not answer HELLO on UART0 within %ss" % timeout)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.serial.close()


@contextmanager
def emulated_pico(image, log_dir):
    with EmulatedPico(image, config=RAW_CONFIG, quiet=True, log_file=log_dir / "pico.log") as pico:
        link = CabinetLink(pico.uart_port)
        try:
            yield pico, link
        finally:
            link.close()


def boots(pico, after=0):
    return [e for e in pico.events[after:] if e.get("event") == "boot"]


def mpremote(port, *args, timeout=TIMEOUT):
    proc = subprocess.run([str(MPREMOTE), "connect", port, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def flash_changed(pico, tmp_path, module, line):
    """flash.py with a firmware tree whose `module` has `line` appended; (exit status, output)."""
    src = firmware_tree(tmp_path)
    with open(src / module, "a") as f:
        f.write("\n%s\n" % line)
    return flash("flash", "--port", pico.usb_port, "--config", CONFIG, "--firmware", src)


@pytest.fixture(scope="module")
def first_flash(tmp_path_factory):
    """A blank Pico (MicroPython only, no filesystem yet) flashed by flash.py; then powered off. Returns its flash
    image and what was seen: flash.py's report, the chip's events, the USB console, the firmware's first HELLO."""
    work = tmp_path_factory.mktemp("pico_first_flash")
    image = work / "pico.img"
    with emulated_pico(image, work) as (pico, link):
        with serial.Serial(pico.usb_port) as usb:                 # the board is up: its REPL prompts
            usb.write(b"\r\x03")
            pico.wait_for_output(b">>>", TIMEOUT)
        mark = len(pico.events)
        rc, out = flash("flash", "--port", pico.usb_port, "--config", CONFIG)
        hello = link.hello() if rc == 0 else None
        seen = {"rc": rc, "out": out, "boots": boots(pico, mark), "console": bytes(pico.usb_received),
                "hello": hello, "ev_boot_cause": link.boot_event(hello["boot_id"]) if hello else None}
    return image, seen


@pytest.fixture
def running(first_flash, tmp_path):
    """A Pico booted (power on) from a copy of that image: it runs slot a, and its firmware answers on UART0.
    Yields the board, its UART0 link and the firmware's first HELLO answer."""
    if first_flash[1]["rc"] != 0:
        pytest.fail("the first flash failed, so there is no flashed board:\n" + first_flash[1]["out"])
    image = tmp_path / "pico.img"
    shutil.copy(first_flash[0], image)
    with emulated_pico(image, tmp_path) as (pico, link):
        yield pico, link, link.hello()          # answered from the main loop: it has armed its watchdog


def test_first_flash_of_a_blank_pico_boots_the_firmware_from_its_flash(first_flash):
    _, seen = first_flash
    out = seen["out"]
    assert seen["rc"] == 0, out
    assert "MicroPython 1.28.0 on Raspberry Pi Pico with RP2040 (rp2)" in out
    assert "compiled for armv6m" in out                         # the RP2040's native arch, from sys.implementation
    assert "running slot: none; writing slot a" in out
    assert "summary: %d to copy over USB, 0 copied on the board" % SLOT_FILES in out
    assert "verified slot a: %d files match" % SLOT_FILES in out
    version = out.split("healthy: slot a runs firmware ")[1].split()[0]
    # flash.py's machine.reset() is a watchdog reboot (FORCE); the trial boot ran slot a and it reported healthy.
    assert [b["reason"] for b in seen["boots"]] == ["force"], seen["boots"]
    console = seen["console"]
    assert b"boot_select: running slot a (trial)" in console and b"boot_select: slot a healthy" in console
    # The firmware it wrote runs: its EV_BOOT frame came out of UART0 and it answers HELLO there.
    hello = seen["hello"]
    assert version.startswith(hello["version"] + "+")
    assert (hello["doors"], hello["lanes"], hello["bins"]) == (4, 12, 4)
    assert seen["ev_boot_cause"] == hello["reset_cause"]


def test_reflash_with_one_module_changed_sends_only_that_module_over_usb(running, tmp_path):
    pico, _, _ = running
    sent, mark = len(pico.usb_sent), len(pico.events)
    rc, out = flash_changed(pico, tmp_path, "door.py", "FLASH_TEST_MARK = 1")
    assert rc == 0, out
    copies = [line.split()[1] for line in out.splitlines() if line.strip().startswith("copy ")]
    assert copies == ["/fw/b/firmware/door.mpy"], out
    assert "summary: 1 to copy over USB, %d copied on the board, 0 unchanged" % (SLOT_FILES - 1) in out
    # On the wire: of the slot's files only door.mpy was written over USB (then the manifest and /fw/next).
    assert uploads(pico.usb_sent[sent:], "/") == ["/fw/b/firmware/door.mpy", "/fw/b/manifest.json", "/fw/next.tmp"]
    assert "healthy: slot b runs firmware" in out
    # One reboot, flash.py's own: the firmware's watchdog did not cut the session short.
    assert [b["reason"] for b in boots(pico, mark)] == ["force"]


def test_flash_py_holds_the_firmware_watchdog_for_its_whole_session(running):
    """The running firmware armed the RP2040's watchdog; Ctrl-C and the soft reset leave it running. A session
    longer than its timeout (emulated time: sleep_ms on the chip) is not rebooted away under flash.py."""
    pico, link, first_hello = running
    mark = len(pico.events)
    with Board(pico.usb_port) as b:
        said = b.run("import time\ntime.sleep_ms(%d)\nprint('still here')" % (WDT_TIMEOUT_MS + 1000))
    assert said.strip() == "still here"
    assert boots(pico, mark) == []
    # Leaving, flash.py soft-resets into the firmware, which runs (a new boot id) and arms its watchdog again.
    assert link.hello()["boot_id"] != first_hello["boot_id"]


def test_plain_mpremote_on_a_running_cabinet_is_not_rebooted_by_the_firmware_watchdog(running):
    """An installer's own mpremote session (no flash.py): Ctrl-C stops the firmware, and boot_select holds the
    watchdog the firmware armed, so a session longer than its timeout is not cut short by a reboot."""
    pico, _, _ = running
    mark = len(pico.events)
    out = mpremote(pico.usb_port, "exec", "import time\ntime.sleep_ms(%d)\nprint('still here')"
                   % (WDT_TIMEOUT_MS + 1000))
    assert out.strip().endswith("still here"), out
    assert boots(pico, mark) == []


def test_verify_names_a_file_corrupted_on_the_board(running):
    pico, _, _ = running
    rc, out = flash("verify", "--port", pico.usb_port)
    assert rc == 0, out
    assert "slot a (running)" in out and "verify: OK" in out
    # One byte of a module flipped in the board's flash, through mpremote (holding the firmware's watchdog, as
    # flash.py does, so the board is not rebooted under the next step).
    out = mpremote(pico.usb_port, "exec", HOLD_WATCHDOG + (
        "p = '/fw/a/firmware/lane.mpy'\n"
        "with open(p, 'rb') as f:\n"
        "    d = bytearray(f.read())\n"
        "d[len(d) // 2] ^= 0xFF\n"
        "with open(p, 'wb') as f:\n"
        "    f.write(d)\n"
        "print('flipped', len(d) // 2)\n"))
    assert out.startswith("flipped")
    rc, out = flash("verify", "--port", pico.usb_port)
    assert rc == 1, out
    bad = [line for line in out.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and "/fw/a/firmware/lane.mpy: SHA-256" in bad[0], out
    assert "verify: 1 problem(s)" in out


def test_a_new_firmware_that_raises_falls_back_to_the_previous_slot(running, tmp_path):
    pico, link, first_hello = running
    mark, console = len(pico.events), len(pico.usb_received)
    rc, out = flash_changed(pico, tmp_path, "cabinet.py", "raise ImportError('this build is broken')")
    assert rc == 1, out
    assert "NOT healthy: boot_select: slot b failed; falling back" in out
    pico.wait_for_output(b"boot_select: running slot a\r\n", TIMEOUT, after=console)
    assert b"ImportError: this build is broken" in pico.usb_received[console:]
    # The previous firmware runs again and answers on UART0.
    hello = link.hello()
    assert hello["boot_id"] != first_hello["boot_id"]
    # flash.py's reset, then the selector's own machine.reset() after the exception: both watchdog FORCE reboots.
    assert [b["reason"] for b in boots(pico, mark)] == ["force", "force"]


def test_a_new_firmware_that_hangs_is_reset_by_the_real_watchdog_and_falls_back(running, tmp_path):
    pico, link, first_hello = running
    src = firmware_tree(tmp_path)
    main = (src / "main.py").read_text()
    hung = main.replace("        if alive:\n            wdt.feed()", "        if False:\n            wdt.feed()")
    assert hung != main
    (src / "main.py").write_text(hung)
    mark, console = len(pico.events), len(pico.usb_received)
    rc, out = flash("flash", "--port", pico.usb_port, "--config", CONFIG, "--firmware", src, "--wait", str(TIMEOUT),
                    timeout=3 * TIMEOUT)
    assert rc == 1, out
    assert "NOT healthy: boot_select: slot b never reported healthy; falling back to slot a" in out
    pico.wait_for_output(b"boot_select: running slot a\r\n", TIMEOUT, after=console)
    hello = link.hello()
    # flash.py's reset (FORCE), then the RP2040's watchdog expiring (TIMER) under the hung trial.
    assert [b["reason"] for b in boots(pico, mark)] == ["force", "timer"]
    assert hello["reset_cause"] == M.RESET_WATCHDOG           # the old firmware knows why it is back
    assert link.boot_event(hello["boot_id"]) == M.RESET_WATCHDOG


def test_a_power_cut_mid_copy_still_boots_the_old_firmware_and_a_new_flash_completes(running, tmp_path):
    pico, link, first_hello = running
    src = firmware_tree(tmp_path)
    for name in ("door.py", "lane.py", "scale.py"):
        with open(src / name, "a") as f:
            f.write("\nFLASH_TEST_MARK = 3\n")
    sent = len(pico.usb_sent)
    proc = subprocess.Popen([sys.executable, str(FLASH), "flash", "--port", pico.usb_port, "--config", str(CONFIG),
                             "--firmware", str(src)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    try:
        deadline = time.monotonic() + TIMEOUT
        # door.mpy is written and closed before lane.mpy is opened: cut while lane.mpy is under way.
        while "/fw/b/firmware/lane.mpy" not in uploads(pico.usb_sent[sent:], "/fw/b/"):
            assert proc.poll() is None and time.monotonic() < deadline, "flash.py never started copying lane.mpy"
            time.sleep(0.01)
        pico.power_cut()
        out, _ = proc.communicate(timeout=TIMEOUT)      # flash.py gives up on the silent board, closing its end
        cut = len(pico.usb_sent)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out
    assert "The board still boots slot a; slot b is incomplete and will not run" in out
    mark, console = len(pico.events), len(pico.usb_received)
    pico.power_on()
    pico.wait_for_output(b"boot_select: running slot a\r\n", TIMEOUT, after=console)   # not a trial of slot b
    assert link.hello()["reset_cause"] == M.RESET_POWER_ON
    assert [b["how"] for b in boots(pico, mark)] == ["power"]
    assert pico.usb_sent[cut:] == b""          # what flash.py wrote to the dead board never reached the new boot
    # Flashing again finishes the job; door.mpy, written whole before the cut, is not sent again.
    rc, out = flash("flash", "--port", pico.usb_port, "--config", CONFIG, "--firmware", src)
    assert rc == 0, out
    assert "running slot: a; writing slot b" in out and "healthy: slot b runs firmware" in out
    copies = [line.split()[1] for line in out.splitlines() if line.strip().startswith("copy ")]
    assert "/fw/b/firmware/door.mpy" not in copies and "/fw/b/firmware/scale.mpy" in copies, out
    assert set(copies) <= {"/fw/b/firmware/lane.mpy", "/fw/b/firmware/scale.mpy"}, out


def test_every_firmware_module_imports_on_rp2_and_the_reset_causes_are_told_apart(running):
    """firmware/*.py as flash.py put them on the board (.mpy for armv6m; boot_select.py at the root), imported on
    MicroPython rp2; and firmware.board's reset cause as the firmware reports it on UART0 after each kind of boot."""
    pico, link, first_hello = running
    # Power-on (the fixture's boot).
    assert [b["how"] for b in boots(pico)] == ["power"]
    assert first_hello["reset_cause"] == M.RESET_POWER_ON
    assert link.boot_event(first_hello["boot_id"]) == M.RESET_POWER_ON

    # The firmware's own deliberate reset: Board.reset() marks watchdog scratch 0, then machine.reset().
    mark = len(pico.events)
    mpremote(pico.usb_port, "exec", "--no-follow",
             "import sys, json\nsys.path.insert(0, '/fw/a')\n"
             "from firmware.board import Board\nfrom firmware.config import normalize\n"
             "with open('/fw/a/cabinet.json') as f:\n    config = normalize(json.load(f))\n"
             "Board(config['uart']).reset()\n")
    pico.wait_for_event(lambda e: e.get("event") == "boot", TIMEOUT, after=mark)
    assert [b["reason"] for b in boots(pico, mark)] == ["force"]
    hello = link.hello()
    assert hello["reset_cause"] == M.RESET_SOFT
    assert link.boot_event(hello["boot_id"]) == M.RESET_SOFT

    # Every module imports; then a watchdog is armed and never fed: the chip's watchdog expires (TIMER).
    mark = len(pico.events)
    imports = HOLD_WATCHDOG + (
        "import os, sys\nsys.path.insert(0, '/fw/a')\n"
        "import boot_select\n"
        "for name in %r:\n"
        "    __import__('firmware.' + name)\n"
        "print(sorted(m for m in sys.modules if m == 'boot_select' or m.startswith('firmware.')))\n"
        "print(sorted(os.listdir('/fw/a/firmware')))\n"
        "machine.WDT(timeout=2000)\n" % ([m for m in MODULES if m not in ("__init__", "boot_select")],))
    out = mpremote(pico.usb_port, "exec", imports).splitlines()
    expected = sorted(["boot_select"] + ["firmware." + m for m in MODULES if m not in ("__init__", "boot_select")])
    assert out[0] == repr(expected), out
    assert out[1] == repr(sorted(m + ".mpy" for m in MODULES if m != "boot_select")), out
    pico.wait_for_event(lambda e: e.get("event") == "boot", TIMEOUT, after=mark)
    assert [b["reason"] for b in boots(pico, mark)] == ["timer"]
    hello = link.hello()
    assert hello["reset_cause"] == M.RESET_WATCHDOG        # the soft mark of the boot before did not linger
    assert link.boot_event(hello["boot_id"]) == M.RESET_WATCHDOG
