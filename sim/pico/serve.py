"""`locker-sim pico`: the cabinet on an emulated Pico. Starts the chip (official MicroPython rp2 UF2) with
the cabinet's physics on its pins, puts the firmware on it with locker-flash over the USB REPL (only
what changed crosses the wire), waits until it reports healthy, prints both ports and serves until Ctrl-C."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from firmware.config import normalize
from sim.cabinet import load_raw_config
from sim.pico.board import REPO, EmulatedPico
from sim.ptybridge import make_link

FLASH_TOOL = [sys.executable, "-m", "locker_flash"]     # the `locker-flash` command (tools/flash.py)


def default_flash_image(name):
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "cabinet"
    return cache / "smart-locker" / ("pico-%s.img" % safe)


def with_faults(raw, jam_lanes, stuck_doors):
    """The raw config with [[sim.lane]] jammed and [[sim.door]] stuck tables added for the named units."""
    sim = raw.setdefault("sim", {})
    for key, numbers, flag in (("lane", jam_lanes, "jammed"), ("door", stuck_doors, "stuck")):
        tables = sim.setdefault(key, [])
        for n in numbers:
            for t in tables:
                if t.get("number") == n:
                    t[flag] = True
                    break
            else:
                tables.append({"number": n, flag: True})
    return raw


def flash_firmware(config_path, port, out):
    """locker-flash flash onto the emulated board; its report goes to `out`. Returns its exit status."""
    proc = subprocess.Popen(FLASH_TOOL + ["flash", "--config", str(config_path),
                             "--port", port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        out("flash: " + line.rstrip())
    return proc.wait()


def run_pico(args, log, fail):
    from firmware.config import ConfigError
    from sim.pico.board import PicoFilesMissing

    try:
        raw = with_faults(load_raw_config(args.config), args.jam_lane, args.stuck_door)
        name = normalize(raw)["name"]
        image = Path(args.flash) if args.flash else default_flash_image(name)
        image.parent.mkdir(parents=True, exist_ok=True)
        pico = EmulatedPico(image, config=raw, seed=args.seed, quiet=args.quiet, log_file=None)
    except (ConfigError, PicoFilesMissing, OSError) as e:
        return fail(str(e))
    say = lambda text: log(0, text)    # noqa: E731
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    links = []
    try:
        pico.start()
        say("emulated Pico: MicroPython %s on %s (flash image %s)" % (pico.uf2.name, pico.usb_port, image))
        if flash_firmware(args.config, pico.usb_port, say) != 0:
            return fail("locker-flash could not put the firmware on the emulated Pico (see above)")
        for path, target in ((args.link, pico.uart_port), (args.usb_link, pico.usb_port)):
            if path:
                make_link(path, target)
                links.append((path, target))
        sys.stdout.write("usb: %s\nport: %s\n" % (pico.usb_port, pico.uart_port))
        sys.stdout.flush()
        say("cabinet %r runs on the emulated Pico; the agent opens %s" % (name, pico.uart_port))
        while not stop.wait(0.5):
            if not pico.running:
                return fail("the emulated Pico stopped")
        return 0
    except OSError as e:
        return fail("cannot make the link: %s" % (e.strerror or e))
    finally:
        try:
            if pico.running:
                s = pico.py("physics.safety.summary()")
                st = pico.stats()
                say("stopped after %.1f emulated s: %d boots (%s), UART0 overruns %d; most actuators on at once %d, "
                    "longest coil %d ms, longest motor %d ms"
                    % (st["emulated_ms"] / 1000, st["boots"], ", ".join(st["boot_reasons"]), st["uart0_overruns"],
                       s["max_concurrent"], s["longest_solenoid_ms"], s["longest_motor_ms"]))
        except (RuntimeError, TimeoutError, OSError):
            pass
        for path, target in links:
            if os.path.islink(path) and os.readlink(path) == target:
                os.unlink(path)
        pico.close()
