# `locker-sim`: run a simulated cabinet (the real firmware on simulated hardware) behind a pseudo-terminal,
# so the edge agent or any serial tool can talk to it like a cabinet on a real port.
import argparse
import os
import signal
import sys

from edge_agent.cli.arg_types import positive_number

EXIT_USAGE = 2

EPILOG_CABINET = """\
The first line on stdout is "port: <path>"; open that path with any serial client. Physical happenings
(door opened, item dropped, motor stalled, MCU reset) are logged to stderr with virtual time in seconds.
What is in the lanes and bins, and how the hardware behaves, comes from the config's [sim] table
(every key and its default: sim/hardware/settings.py, DOOR_KEYS, LANE_KEYS, BIN_KEYS). Stop with Ctrl-C or SIGTERM.

examples:
  locker-sim cabinet --config examples/cabinet.toml --link /tmp/cabinet0
  locker-sim cabinet --config examples/cabinet.toml --drop-rate 0.01 --flip-rate 0.001 --reset-every 60
  locker-sim cabinet --config examples/cabinet.toml --speed 10 --stuck-door 2 --jam-lane 5
  locker-sim cabinet --config examples/cabinet.toml --miswire-door 3:4 --jam-lane 5   # for commissioning
"""

EPILOG_PICO = """\
stdout: "usb: <path>" then "port: <path>" once the firmware reports healthy. Needs Node (scripts/setup
installs rp2040js) and two files: the official MicroPython v1.28.0 UF2 for the Raspberry Pi Pico and the
RP2040 boot ROM (B1), found in ../shared/pico/ beside this repository, or at the paths in the environment
variables MICROPYTHON_RP2_UF2 and RP2040_BOOTROM. A user with internet takes the UF2 of the same version
from MicroPython's downloads (micropython.org, board RPI_PICO) and the boot ROM from raspberrypi/pico-bootrom.
A missing file is an error that names it. Stop with Ctrl-C or SIGTERM.

examples:
  locker-sim pico --config examples/cabinet.toml --link /tmp/cabinet0
  locker-sim pico --config examples/cabinet.toml --flash /tmp/pico.img --jam-lane 5
  mpremote connect $(readlink /tmp/pico-usb) ls :/fw     # with --usb-link /tmp/pico-usb
"""

def _rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: %r" % text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1, got %s" % text)
    return value


def _miswire(text):
    """N, N:M or N:none -> (N, M or None); M is None for 'none' and 0 for 'the next door'."""
    door, sep, to = text.partition(":")
    if not door.isdigit() or (sep and to != "none" and not to.isdigit()):
        raise argparse.ArgumentTypeError("expected N, N:M or N:none (door numbers), got %r" % text)
    return int(door), (None if to == "none" else int(to) if sep else 0)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="locker-sim",
        description="Simulated smart-locker cabinet: the real cabinet firmware running on simulated doors, "
                    "spiral lanes and weigh bins, reachable over a serial port.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cab = sub.add_parser(
        "cabinet", help="run one simulated cabinet behind a pseudo-terminal",
        description="Run one simulated cabinet behind a pseudo-terminal (a serial port).",
        epilog=EPILOG_CABINET, formatter_class=argparse.RawDescriptionHelpFormatter)
    cab.add_argument("--config", required=True, metavar="FILE",
                     help="cabinet config file (TOML, or .json), with an optional [sim] table")
    cab.add_argument("--seed", type=int, default=0, metavar="N",
                     help="seed for every random thing in the simulation (default 0): same seed, same run")
    cab.add_argument("--speed", type=positive_number, default=1.0, metavar="X",
                     help="virtual time runs X times real time (default 1); keep it at 3 or below when a "
                          "real-time agent is connected, or its 500 ms heartbeat looks like link loss")
    cab.add_argument("--drop-rate", type=_rate, default=0.0, metavar="R",
                     help="probability that a byte on the line is lost, both directions (default 0)")
    cab.add_argument("--flip-rate", type=_rate, default=0.0, metavar="R",
                     help="probability that a byte on the line gets one bit flipped (default 0)")
    cab.add_argument("--reset-every", type=positive_number, default=None, metavar="SECONDS",
                     help="reset the microcontroller every SECONDS of virtual time (a power glitch)")
    cab.add_argument("--stuck-door", type=int, action="append", default=[], metavar="N",
                     help="door N unlatches but never opens (repeatable)")
    cab.add_argument("--jam-lane", type=int, action="append", default=[], metavar="N",
                     help="lane N's motor is jammed (repeatable)")
    cab.add_argument("--miswire-door", type=_miswire, action="append", default=[], metavar="N[:M]",
                     help="door N's latch output drives door M's solenoid (default: the next door's; "
                          "N:none: wired to nothing), as a wiring mistake would (repeatable)")
    cab.add_argument("--link", metavar="PATH",
                     help="also make a symlink at PATH pointing to the port (replaces an old symlink)")
    cab.add_argument("--quiet", action="store_true", help="do not log physical happenings to stderr")
    cab.set_defaults(run=run_cabinet)
    pico = sub.add_parser(
        "pico", help="run the cabinet on an emulated Raspberry Pi Pico: official MicroPython rp2 in rp2040js",
        description="Run the cabinet on an emulated Raspberry Pi Pico: the official MicroPython v1.28.0 UF2 for "
                    "the Pico runs in the rp2040js emulator with the cabinet's physics (the same models as "
                    "`cabinet`) on its pins. The firmware is put on it by locker-flash over the USB REPL, then "
                    "both ports are printed: `usb:` (MicroPython's REPL, for mpremote and locker-flash) and "
                    "`port:` (UART0, the cabinet link the agent opens). Busy code runs at about a third of real "
                    "time; the emulated clock never runs ahead of the wall clock.",
        epilog=EPILOG_PICO, formatter_class=argparse.RawDescriptionHelpFormatter)
    pico.add_argument("--config", required=True, metavar="FILE",
                      help="cabinet config file (TOML), with an optional [sim] table; flashed to the board too")
    pico.add_argument("--flash", metavar="IMAGE",
                      help="the board's 2 MB flash image, kept between runs (default: "
                           "~/.cache/smart-locker/pico-NAME.img); a new file is a blank board")
    pico.add_argument("--seed", type=int, default=0, metavar="N", help="seed for the physics (default 0)")
    pico.add_argument("--stuck-door", type=int, action="append", default=[], metavar="N",
                      help="door N unlatches but never opens (repeatable)")
    pico.add_argument("--jam-lane", type=int, action="append", default=[], metavar="N",
                      help="lane N's motor is jammed (repeatable)")
    pico.add_argument("--link", metavar="PATH", help="also make a symlink at PATH to UART0's port")
    pico.add_argument("--usb-link", metavar="PATH", help="also make a symlink at PATH to the USB REPL's port")
    pico.add_argument("--quiet", action="store_true", help="do not log physical happenings to stderr")
    pico.set_defaults(run=run_pico_command)
    demo = sub.add_parser(
        "demo", help="a scripted session on a simulated cabinet: calibrate a bin, vend, open a door, take pieces",
        description="Run a simulated cabinet behind a pty and drive a short scripted session over it with the "
                    "agent's real link client (pyserial), printing what happened.")
    demo.add_argument("--config", required=True, metavar="FILE", help="cabinet config file (TOML)")
    demo.add_argument("--seed", type=int, default=0, metavar="N", help="simulation seed (default 0)")
    demo.add_argument("--speed", type=positive_number, default=1.0, metavar="X",
                      help="virtual time runs X times real time, at most 3 (default 1: as a person would see it)")
    demo.set_defaults(run=run_demo_command)
    from sim.cloud import command as cloud_command    # `cloud`: the hub in one process (sim/cloud/command.py)
    cloud_command.add_parser(sub)
    from sim.pilot import command as pilot_command    # `pilot` and `fleet`: sim/pilot/
    pilot_command.add_parser(sub)
    return parser


def run_demo_command(args):
    from firmware.config import ConfigError
    from sim.demo import run_demo
    try:
        return run_demo(args.config, speed=args.speed, seed=args.seed)
    except (ConfigError, ValueError) as e:
        return _fail(str(e))


def _stderr_log(ms, text):
    for line in text.splitlines() or [""]:
        sys.stderr.write("[%10.3f] %s\n" % (ms / 1000.0, line))
    sys.stderr.flush()


def _fail(message):
    sys.stderr.write("locker-sim: error: %s\n" % message)
    return EXIT_USAGE


def run_pico_command(args):
    from sim.pico.serve import run_pico
    return run_pico(args, _stderr_log, _fail)


def run_cabinet(args):
    from firmware.config import ConfigError
    from sim.cabinet import Faults, SimCabinet
    from sim.ptybridge import PtyBridge, make_link

    log = None if args.quiet else _stderr_log
    faults = Faults(drop_rate=args.drop_rate, flip_rate=args.flip_rate,
                    reset_every_ms=None if args.reset_every is None else int(args.reset_every * 1000),
                    stuck_doors=args.stuck_door, jammed_lanes=args.jam_lane, seed=args.seed,
                    miswired_doors=args.miswire_door)
    try:
        sim = SimCabinet(args.config, seed=args.seed, faults=faults, log=log, firmware_errors="reset")
    except ConfigError as e:
        return _fail(str(e))

    bridge = PtyBridge(sim, args.speed, log=_stderr_log)
    if args.link:
        try:
            make_link(args.link, bridge.path)
        except OSError as e:
            bridge.stop()
            return _fail("cannot make the link: %s" % (e.strerror or e))

    def stop(signum, frame):
        bridge.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    sys.stdout.write("port: %s\n" % bridge.path)
    sys.stdout.flush()
    _stderr_log(sim.now, "cabinet %r running on %s at %d baud (seed %d, speed x%g)"
                % (sim.config["name"], bridge.path, sim.config["uart"]["baud"], args.seed, args.speed))
    try:
        bridge.run()
    finally:
        bridge.stop()
        if args.link and os.path.islink(args.link) and os.readlink(args.link) == bridge.path:
            os.unlink(args.link)
        s = sim.physics.safety.summary()
        _stderr_log(sim.now, "stopped: %d boots, line lost %d and flipped %d bytes; most actuators on at once %d, "
                    "longest coil %d ms, longest motor %d ms"
                    % (len(sim.boots), sim.line.dropped, sim.line.flipped, s["max_concurrent"],
                       s["longest_solenoid_ms"], s["longest_motor_ms"]))
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
