"""tools/flash.py end to end against a MicroPython board on a pty (tests/mp_board.py: the official WebAssembly
build speaking the REPL as a Pico does), through mpremote's transport as on a real board. What reached the
board is read back from its flash and from the bytes on the wire; the firmware it wrote then boots there."""
import json
import shutil
import subprocess
import sys
import time

import pytest

from sim.cabinet import load_raw_config
from tests.micropython import REPO
from tests.mp_board import MicroPythonBoard
from locker_flash import bundle as B

CONFIG = REPO / "examples" / "cabinet.toml"
FLASH = REPO / "tools" / "flash.py"
MPREMOTE = REPO / ".venv" / "bin" / "mpremote"


def flash(*args, timeout=180):
    proc = subprocess.run([sys.executable, str(FLASH), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


def firmware_tree(tmp_path, name="fw_src"):
    dst = tmp_path / name
    dst.mkdir()
    for src in (REPO / "firmware").glob("*.py"):
        shutil.copy(src, dst / src.name)
    return dst


def uploads(sent, prefix):
    """Board paths mpremote opened for writing (fs_writefile sends `f=open('PATH','wb')`)."""
    text = bytes(sent).decode("latin-1")
    found = []
    marker = "f=open('"
    i = text.find(marker)
    while i >= 0:
        end = text.find("'", i + len(marker))
        path = text[i + len(marker):end]
        if path.startswith(prefix):
            found.append(path)
        i = text.find(marker, end)
    return found


@pytest.fixture
def board(tmp_path):
    with MicroPythonBoard(tmp_path / "flash") as b:
        yield b


@pytest.fixture(scope="module")
def flashed_image(tmp_path_factory):
    """The flash of a board that had this checkout's firmware flashed and reported healthy from slot a."""
    image = tmp_path_factory.mktemp("image") / "flash"
    with MicroPythonBoard(image) as b:
        rc, out = flash("flash", "--port", b.port, "--config", CONFIG)
        assert rc == 0 and "healthy: slot a" in out, out
    return image


@pytest.fixture
def flashed(flashed_image, tmp_path):
    """A board booted from a copy of that flash: it runs slot a."""
    shutil.copytree(flashed_image, tmp_path / "flash")
    with MicroPythonBoard(tmp_path / "flash") as b:
        b.wait_for_event(lambda e: e["event"] == "uart_open")
        yield b


def test_first_flash_copies_verifies_switches_and_the_firmware_starts_on_the_board(board):
    rc, out = flash("flash", "--port", board.port, "--config", CONFIG)
    assert rc == 0, out
    assert "compiled as plain bytecode" in out          # the wasm build has no native arch
    assert "verified slot a" in out and "healthy: slot a runs firmware" in out
    assert "at 921600 baud, 8N1; the agent's [agent] baud must be 921600" in out     # both ends must agree
    files = board.files()
    compiled = {p: d for p, d in files.items() if p.startswith("/fw/a/firmware/")}
    sources = {f.stem for f in (REPO / "firmware").glob("*.py")} - {"boot_select"}
    assert {p.rsplit("/", 1)[1][:-4] for p in compiled} == sources
    assert all(d[:1] == b"M" for d in compiled.values())           # .mpy files, not sources
    assert json.loads(files["/fw/a/cabinet.json"]) == load_raw_config(CONFIG)
    manifest = json.loads(files["/fw/a/manifest.json"])
    assert manifest["files"] == {p[len("/fw/a/"):]: B.sha256(d) for p, d in files.items()
                                 if p.startswith("/fw/a/") and p != "/fw/a/manifest.json"}
    assert files["/fw/active"] == b"a" and "/fw/next" not in files and "/fw/trial" not in files
    assert files["/main.py"] == B.BOARD_MAIN
    # The firmware from the board's flash ran: it opened its UART at the config's baud and armed the watchdog.
    boots = [i for i, e in enumerate(board.events()) if e["event"] == "boot" and e["mode"] == "friendly"]
    after = board.events()[boots[-1]:]
    assert {"event": "uart_open", "id": 0, "baudrate": 921600} in after     # the example config's rate
    assert any(e["event"] == "wdt_start" for e in after)
    assert b"boot_select: running slot a (trial)" in board.received
    assert b"boot_select: slot a healthy" in board.received


def test_reflash_with_one_module_changed_copies_only_that_module(flashed, tmp_path):
    src = firmware_tree(tmp_path)
    with open(src / "door.py", "a") as f:
        f.write("\nFLASH_TEST_MARK = 1\n")
    sent_before = len(flashed.sent)
    rc, out = flash("flash", "--port", flashed.port, "--config", CONFIG, "--firmware", src)
    assert rc == 0, out
    copies = [line.split()[1] for line in out.splitlines() if line.strip().startswith("copy ")]
    assert copies == ["/fw/b/firmware/door.mpy"]
    slot_files = len(list((REPO / "firmware").glob("*.py"))) - 1 + 1    # modules but boot_select, + cabinet.json
    assert "summary: 1 to copy over USB, %d copied on the board, 0 unchanged" % (slot_files - 1) in out
    # On the wire: the only slot file sent over USB is door.mpy (and then the new slot's manifest).
    assert uploads(flashed.sent[sent_before:], "/fw/") == ["/fw/b/firmware/door.mpy", "/fw/b/manifest.json",
                                                          "/fw/next.tmp"]
    files = flashed.files()
    assert files["/fw/b/firmware/door.mpy"] != files["/fw/a/firmware/door.mpy"]
    assert files["/fw/b/firmware/lane.mpy"] == files["/fw/a/firmware/lane.mpy"]
    assert files["/fw/active"] == b"b" and "healthy: slot b" in out


def test_verify_passes_on_a_good_board_and_names_a_corrupted_file(flashed):
    mark = len(flashed.events())
    rc, out = flash("verify", "--port", flashed.port)
    assert rc == 0, out
    assert "slot a (running)" in out and "verify: OK" in out
    flashed.wait_for_event(lambda e: e["event"] == "uart_open", after=mark)   # left running its firmware again
    with flashed.powered_off():                    # a flash fault while the board is off
        target = flashed.path("fw/a/firmware/lane.mpy")
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    rc, out = flash("verify", "--port", flashed.port)
    assert rc == 1, out
    bad = [line for line in out.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and "/fw/a/firmware/lane.mpy" in bad[0]


def test_dry_run_reports_the_change_and_writes_nothing(flashed, tmp_path):
    src = firmware_tree(tmp_path)
    with open(src / "scale.py", "a") as f:
        f.write("\nFLASH_TEST_MARK = 2\n")
    before = {p: d for p, d in flashed.files().items() if not p.startswith("/data")}
    sent_before = len(flashed.sent)
    rc, out = flash("flash", "--port", flashed.port, "--config", CONFIG, "--firmware", src, "--dry-run")
    assert rc == 0, out
    assert "copy  /fw/b/firmware/scale.mpy" in out and "dry run: nothing written" in out
    assert uploads(flashed.sent[sent_before:], "/") == []
    after = {p: d for p, d in flashed.files().items() if not p.startswith("/data")}
    assert after == before


def test_a_broken_new_firmware_falls_back_to_the_previous_one(flashed, tmp_path):
    src = firmware_tree(tmp_path)
    with open(src / "cabinet.py", "a") as f:
        f.write("\nraise ImportError('this build is broken')\n")
    mark = len(flashed.events())
    rc, out = flash("flash", "--port", flashed.port, "--config", CONFIG, "--firmware", src)
    assert rc == 1, out
    assert "NOT healthy" in out and "falling back" in out
    files = flashed.files()
    assert files["/fw/active"] == b"a" and "/fw/next" not in files and "/fw/trial" not in files
    # After the fallback reset the old firmware runs again: a boot, then its UART opens.
    flashed.wait_for_event(lambda e: e["event"] == "boot" and e["cause"] == "hard", after=mark)
    last_boot = max(i for i, e in enumerate(flashed.events()) if e["event"] == "boot")
    flashed.wait_for_event(lambda e: e["event"] == "uart_open", after=last_boot)
    assert b"this build is broken" in flashed.received


def test_a_firmware_that_hangs_is_reset_by_the_watchdog_and_replaced(flashed, tmp_path):
    src = firmware_tree(tmp_path)
    main = (src / "main.py").read_text()
    main = main.replace("        if alive:\n            wdt.feed()", "        if False:\n            wdt.feed()")
    (src / "main.py").write_text(main)
    rc, out = flash("flash", "--port", flashed.port, "--config", CONFIG, "--firmware", src, "--wait", "60")
    assert rc == 1, out
    assert "slot b never reported healthy; falling back to slot a" in out
    assert any(e["event"] == "wdt_reset" for e in flashed.events())
    assert flashed.file("fw/active") == b"a"


def test_a_power_cut_mid_copy_still_boots_the_old_firmware(flashed, tmp_path):
    src = firmware_tree(tmp_path)
    for name in ("door.py", "lane.py", "scale.py"):
        with open(src / name, "a") as f:
            f.write("\nFLASH_TEST_MARK = 3\n")
    sent_before = len(flashed.sent)
    proc = subprocess.Popen([sys.executable, str(FLASH), "flash", "--port", flashed.port, "--config", CONFIG,
                             "--firmware", str(src)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    deadline = time.monotonic() + 60
    while "/fw/b/firmware/lane.mpy" not in uploads(flashed.sent[sent_before:], "/fw/b/"):
        assert time.monotonic() < deadline and proc.poll() is None, "flash.py never started copying"
        time.sleep(0.01)
    flashed.power_cut()                            # mid-copy: door.mpy is written, lane.mpy is under way
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "still boots slot a" in out
    mark = len(flashed.events())
    flashed.start()                                # power back on
    flashed.wait_for_event(lambda e: e["event"] == "uart_open", after=mark)
    flashed.wait_for_output(b"boot_select: running slot a\n", after=0)
    files = flashed.files()
    assert files["/fw/active"] == b"a" and "/fw/next" not in files
    assert "/fw/b/manifest.json" not in files      # the half-written slot is recognisably incomplete
    # And flashing again finishes the job.
    rc, out = flash("flash", "--port", flashed.port, "--config", CONFIG, "--firmware", src)
    assert rc == 0 and "healthy: slot b" in out, out


def test_mpremote_uses_raw_paste_mode_with_the_stand_in(board):
    proc = subprocess.run([str(MPREMOTE), "connect", board.port, "exec", "print(6 * 7)"], capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [b"42"]
    assert b"\x05A\x01" in board.sent                     # mpremote asked for raw-paste
    assert b"R\x01\x80\x00\x01" in board.received         # and the board granted it, window 128
    assert b"print(6 * 7)\x04" in board.sent


def test_mpremote_filesystem_commands_work_on_the_stand_in(board, tmp_path):
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello board\n" * 100)
    proc = subprocess.run([str(MPREMOTE), "connect", board.port, "fs", "mkdir", ":d", "+", "fs", "cp", str(local),
                           ":d/hello.txt", "+", "fs", "ls", ":d", "+", "fs", "sha256sum", ":d/hello.txt"],
                          capture_output=True, timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr
    assert B.sha256(local.read_bytes()) in proc.stdout
    assert board.file("d/hello.txt") == local.read_bytes()


# ---- errors an installer sees, and the pieces behind them ----

def test_an_incompatible_mpy_version_is_refused_with_what_to_do():
    with pytest.raises(B.BundleError, match=r"loads \.mpy v5 but this mpy-cross writes v6\.3"):
        B.check_compatible(5 | (0 << 8), cross=(6, 3))
    assert B.check_compatible(6 | (3 << 8) | (4 << 10), cross=(6, 3)) == "armv6m"       # RP2040
    assert B.check_compatible(6 | (3 << 8) | (10 << 10), cross=(6, 3)) == "xtensawin"   # ESP32
    assert B.check_compatible(774, cross=(6, 3)) is None                                # the wasm build


def test_usb_ids_of_boards_and_bridges_are_recognised():
    from locker_flash.ports import describe_usb
    assert "Pico" in describe_usb(0x2E8A, 0x0005)
    assert "CP210x" in describe_usb(0x10C4, 0xEA60) and "CH340" in describe_usb(0x1A86, 0x7523)
    assert "Espressif" in describe_usb(0x303A, 0x1001)
    assert describe_usb(0x046D, 0xC52B) is None and describe_usb(None, None) is None


def test_a_bad_cabinet_config_is_refused_before_the_board_is_touched(tmp_path):
    bad = tmp_path / "cabinet.toml"
    bad.write_text('[[door]]\nsolenoid = 2\n[[door]]\nsolenoid = 2\n')
    rc, out = flash("flash", "--port", "/dev/nonexistent", "--config", bad)
    assert rc == 1 and "GPIO 2 is already used" in out, out


def test_a_port_that_is_not_a_micropython_repl_is_reported(tmp_path):
    import os
    import tty
    master, slave = os.openpty()          # a serial port where nothing answers
    tty.setraw(slave)
    try:
        rc, out = flash("verify", "--port", os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 1 and "does not answer as a MicroPython REPL" in out, out


def test_help_lists_the_commands():
    rc, out = flash("--help")
    assert rc == 0
    for word in ("list", "flash", "verify"):
        assert word in out
    rc, out = flash("flash", "--help")
    assert "--dry-run" in out and "--config" in out and "--port" in out


def test_list_shows_a_board_given_by_port(flashed):
    rc, out = flash("list", "--port", flashed.port)
    assert rc == 0, out
    assert "micropython 1.27.0" in out and "firmware slot: a" in out
