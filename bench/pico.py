"""Timing and memory truth on the emulated Pico: the official MicroPython v1.28.0 rp2 port in rp2040js
(sim/pico/), the cabinet's physics on its pins, the firmware put on it by locker-flash (tools/flash.py). Every time is
on the EMULATED clock (the chip's own cycles at 125 MHz), never the wall clock; the emulator runs busy code
at about 0.3-0.6x real time, so a run takes 2-3x longer than its emulated seconds.

  1. flash: examples/cabinet.toml (4 doors, 12 lanes, 4 weigh bins, as the example has them) with faster
     lanes ([lane_matrix] turn_ms 1000, settle_ms 80, debounce_ms 5; [sim] the item drops 10-30 ms after a
     turn, lanes never run empty) so a vend takes ~1.1 s; tools/flash.py flash onto a fresh flash image.
  2. boot to first frame: the RUN pin pulled (the Pi's reset line), then a power cycle; from the chip's boot
     to the first byte on UART0 (sim/pico/pico.mjs stats uart0_first_byte_ms); that frame must be EV_BOOT.
  3. the main loop: bench/pico_loop_probe.py is sent over the USB raw REPL (mpremote's transport) and runs
     firmware/main.py's loop (Board, Cabinet, step, watchdog, idle) from the flashed slot's .mpy files,
     timing each cabinet.step() with time.ticks_us() on the board, while this process drives UART0 with the
     agent's CabinetLink: HELLO, N vends round the 12 lanes, a STATUS and a READ_BIN every 10 vends, the
     link's heartbeats between. Reported: pass time p50/p99/max (the passes that read the HX711s apart),
     UART0 receive overruns during the vends (must be 0), the longest HX711 clock-high pulse of the whole
     session (sim/hardware/bins.py HX711Bank.longest_high_us: must stay under 60 us), gc.mem_free() after boot and
     after the workload, the firmware's .mpy files as the board holds them.

Exit status 1 when the HX711 pulse or the overrun count fails its limit. Between passes the loop's own
firmware.main.Housekeeping runs (a garbage collection every GC_EVERY_PASSES passes while nothing is being timed,
else idle); each collection is timed apart from the passes. --gc-every N changes that count, to compare:
MicroPython's allocator slows as garbage piles up between collections on the Pico's ~180 KB of free heap.

The last line is JSON. Usage: .venv/bin/python bench/pico.py [--vends N] [--quick] [--keep DIR] [--gc-every N]"""
import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import serial  # noqa: E402

from edge_agent.link.errors import CabinetError  # noqa: E402
from edge_agent.link.serial import CabinetLink  # noqa: E402
from firmware import messages as M  # noqa: E402
from firmware.codec import FrameDecoder  # noqa: E402
from sim.pico.board import EmulatedPico  # noqa: E402
from sim.pico.serve import flash_firmware  # noqa: E402
from locker_flash.board import Board  # noqa: E402

PROBE = ROOT / "bench" / "pico_loop_probe.py"
FAST = {"lane_matrix": {"turn_ms": 1000, "settle_ms": 80, "debounce_ms": 5},
        "sim": {"lane_items": 100000, "drop_delay_min_ms": 10, "drop_delay_max_ms": 30}}
HX711_LIMIT_US = 60
STOP_BYTE = b"q"


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def bench_config():
    raw = tomllib.loads((ROOT / "examples" / "cabinet.toml").read_text())
    for table, values in FAST.items():
        raw.setdefault(table, {}).update(values)
    return raw


def drain(port, quiet_s=0):
    """Read and drop what waits on a pty, until it has been quiet for quiet_s."""
    with serial.Serial(port, timeout=quiet_s) as s:
        while s.read(4096):
            pass


def first_frame(port, timeout):
    """The first intact frame on the cabinet link: (kind, payload)."""
    frames = []
    dec = FrameDecoder(lambda seq, kind, payload: frames.append((kind, bytes(payload))))
    deadline = time.monotonic() + timeout
    with serial.Serial(port, timeout=0.05) as s:
        while not frames:
            if time.monotonic() > deadline:
                raise TimeoutError("no frame on UART0 within %ss of the boot" % timeout)
            dec.feed(s.read(256))
    return frames[0]


def boot_to_first_frame(pico, how):
    seen = len(pico.events)
    pico.reset(how)
    boot = pico.wait_for_event(lambda e: e.get("event") == "boot", after=seen, timeout=30)
    drain(pico.uart_port)              # what the previous boot sent; the new one takes ~0.5 emulated s
    kind, payload = first_frame(pico.uart_port, 60)
    ms = pico.stats()["uart0_first_byte_ms"][boot["boots"] - 1]
    if kind != M.EVENT or not payload or payload[0] != M.EV_BOOT:
        raise RuntimeError("the first frame after a %s boot is kind 0x%02x %r, not EV_BOOT" % (how, kind, payload))
    return ms


def percentiles(result):
    """p50/p99 (upper edge of the histogram bucket) from the probe's buckets."""
    fine_us, fine_n, coarse_us = result["fine_us"], result["fine_n"], result["coarse_us"]

    def upper(i):
        return (i + 1) * fine_us - 1 if i < fine_n else fine_n * fine_us + (i - fine_n + 1) * coarse_us - 1

    total = sum(c for _, c in result["buckets"]) + result["over_range"]
    out = {}
    for p in (50, 90, 99, 99.9):
        want = max(1, int(p / 100 * total + 0.999999))
        acc = 0
        value = result["max_us"]
        for i, c in result["buckets"]:
            acc += c
            if acc >= want:
                value = min(upper(i), result["max_us"])
                break
        out[p] = value
    return out


WATCHDOG_CTRL = 0x40058000          # RP2040 WATCHDOG CTRL; bit 30 ENABLE
STOP_FIRMWARE = b"\r\x03\x03import machine;machine.mem32[%d]&=~(1<<30)\r" % WATCHDOG_CTRL


def stop_firmware(pico, say, attempts=5):
    """Bring the board to its REPL with no watchdog running, and the firmware stopped.

    Why not just Ctrl-C: the emulated clock lags the wall clock while the firmware runs (~0.3-0.6x), and
    catches up at once whenever the chip waits for input; so a board stopped at its REPL with the firmware's
    5 s watchdog still running is reset by it within moments of wall time, before mpremote has finished
    entering the raw REPL. So: reset it (RUN pin), interrupt boot_select while it imports the firmware, and
    in the same breath clear the watchdog's ENABLE bit (a no-op if the firmware had not started it yet).
    (boot_select and locker_flash's Board now clear it as well; this does not depend on the flashed version.)"""
    for attempt in range(attempts):
        seen = len(pico.events)
        pico.reset("run")
        pico.wait_for_event(lambda e: e.get("event") == "boot", after=seen, timeout=30)
        pico.wait_for_event(lambda e: e.get("event") == "usb", after=seen, timeout=30)
        got = b""
        deadline = time.monotonic() + 30
        with serial.Serial(pico.usb_port, timeout=0.01) as s:
            while b"KeyboardInterrupt" not in got and time.monotonic() < deadline:
                s.write(STOP_FIRMWARE)
                got += s.read(4096)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                got += s.read(4096)
        bitten = [e for e in pico.events[seen:] if e.get("event") == "boot" and e.get("how") == "watchdog"]
        if b"KeyboardInterrupt" in got and not bitten:
            return
        say("stopping the firmware: attempt %d failed (%s); again"
            % (attempt + 1, "the watchdog bit" if bitten else "no KeyboardInterrupt"))
    raise RuntimeError("could not stop the firmware at the REPL")


class Probe:
    """bench/pico_loop_probe.py running on the board, over mpremote's transport (the raw REPL)."""

    def __init__(self, pico, gc_every, say):
        stop_firmware(pico, say)
        self.board = Board(pico.usb_port)        # raw REPL after a soft reset (main.py is not run)
        self.t = self.board.t
        slot = (self.board.read_text("/fw/active") or "").strip()
        if slot not in ("a", "b"):
            raise RuntimeError("no active firmware slot on the board (/fw/active: %r)" % slot)
        self.slot = slot
        self.repl_free = self.board.eval("import gc\ngc.collect()\nprint(repr(gc.mem_free()))")
        drain(pico.uart_port)                    # the probe's EV_BOOT is the first frame the host reads
        code = PROBE.read_text() + "\nprobe(%r, %d)\n" % ("/fw/" + slot, gc_every)
        self.t.exec_raw_no_follow(code)
        line = self.t.read_until(1, b"probe: ready", timeout=120)
        if not line.endswith(b"probe: ready"):
            raise RuntimeError("the probe did not start on the board:\n%s" % line.decode("utf-8", "replace"))
        self.t.read_until(1, b"\n", timeout=10)

    def stop(self):
        self.t.serial.write(STOP_BYTE)
        out, err = self.t.follow(timeout=120)
        if err:
            raise RuntimeError("the probe raised on the board:\n%s" % err.decode("utf-8", "replace"))
        result = json.loads(out.decode().strip().splitlines()[-1])
        return result

    def close(self):
        self.board.close()


def drive(link, vends, say):
    """HELLO, then the vends round the lanes with a STATUS and a READ_BIN every 10; returns what came back."""
    results = collections.Counter()
    jams = collections.Counter()
    refused = cleared = 0
    hello = link.hello()
    next_id = 1000                # one rising counter for every command id (a lane clear's too)
    rtt = []
    t0 = time.monotonic()
    for i in range(vends):
        lane = 1 + i % 12
        t = time.monotonic()
        next_id += 1
        for attempt in range(50):
            try:
                r = link.vend(lane, next_id)
                break
            except CabinetError as e:
                # Nothing done, so the same id may come again: the drop beam still broken (E_SENSOR: an item
                # still falling), or the lane disabled by an earlier jam (cleared, counted, vended afresh).
                if e.code == M.E_SENSOR and attempt < 49:
                    refused += 1
                    time.sleep(0.02)
                elif e.code == M.E_LANE_DISABLED and attempt < 49:
                    link.clear_lane(lane, next_id + 1)
                    next_id += 2
                    cleared += 1
                else:
                    raise
        rtt.append(time.monotonic() - t)
        results[r.result_name] += 1
        if r.result == M.R_JAMMED:
            why = "never left home" if r.detail == M.JAM_NEVER_LEFT_HOME else "never returned"
            jams["lane %d %s" % (lane, why)] += 1
        if i % 10 == 9:
            link.status()
            link.read_bin(1 + (i // 10) % 4)
        if (i + 1) % 100 == 0 or i + 1 == vends:
            say("  %d/%d vends, %.0f s wall; %s" % (i + 1, vends, time.monotonic() - t0, dict(results)))
    return {"results": dict(results), "jams": dict(jams), "firmware": hello.firmware,
            "units": [hello.doors, hello.lanes, hello.bins],
            "vend_wall_p50_s": round(pct(rtt, 50), 3) if rtt else None, "beam_busy_refusals": refused,
            "lanes_cleared": cleared}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vends", type=int, default=1000, help="vends while the loop is timed (default 1000)")
    ap.add_argument("--quick", action="store_true", help="a small run: 24 vends")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the flash image, the bench's cabinet config and the emulator's log in DIR")
    ap.add_argument("--gc-every", type=int, default=0, metavar="N",
                    help="also gc.collect() every N passes, outside the timed step (default 0: the loop as is)")
    args = ap.parse_args()
    vends = 24 if args.quick else args.vends
    say = lambda text: print(text, file=sys.stderr, flush=True)    # noqa: E731
    wall0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-pico-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    image = work / "pico-flash.img"
    if image.exists():
        image.unlink()                   # a fresh board every run
    raw = bench_config()
    config_path = work / "bench-cabinet.json"
    config_path.write_text(json.dumps(raw, indent=1))
    try:
        with EmulatedPico(image, config=raw, quiet=True, log_file=work / "pico.log") as pico:
            say("emulated Pico up; flashing %s" % config_path)
            if flash_firmware(config_path, pico.usb_port, lambda line: None) != 0:
                sys.exit("locker-flash could not flash the emulated Pico (run it by hand to see why)")
            flash_wall = time.monotonic() - wall0
            boot_ms = {how: boot_to_first_frame(pico, how) for how in ("run", "power")}
            say("boot to first frame: %s emulated ms" % boot_ms)
            probe = Probe(pico, args.gc_every, say)
            try:
                with CabinetLink(pico.uart_port) as link:
                    st0 = pico.stats()
                    say("probe running; %d vends" % vends)
                    driven = drive(link, vends, say)
                    st1 = pico.stats()
                    link_stats = link.stats
                result = probe.stop()
            finally:
                probe.close()
            st_end = pico.stats()
            longest_high = pico.py("physics.scale.longest_high_us")
            drops = pico.py("sum(l.dropped for l in physics.matrix.lanes)")
            safety = pico.py("physics.safety.summary()")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    if result["error"]:
        sys.exit("the firmware raised on the board during the run: %s" % result["error"])
    p = percentiles(result)
    emulated_s = (st1["emulated_ms"] - st0["emulated_ms"]) / 1000
    wall_s = (st1["wall_ms"] - st0["wall_ms"]) / 1000
    mpy = result["mpy_sizes"]
    mem = {"repl": probe.repl_free, "after_boot": result["mem_free_after_boot"],
           "after_workload": result["mem_free_after_workload"],
           "after_workload_uncollected": result["mem_free_after_uncollected"],
           "probe_bytes": probe.repl_free - result["mem_free_start"],
           "firmware_after_boot": result["mem_free_start"] - result["mem_free_after_boot"],
           "firmware_after_workload": result["mem_free_start"] - result["mem_free_after_workload"]}
    hx = result["hx711_passes"]
    out = {
        "bench": "pico", "micropython": result["version"], "platform": result["platform"],
        "cpu_hz": result["freq_hz"], "clock": "emulated", "gc_every": args.gc_every,
        "firmware": driven["firmware"], "units": dict(zip(("doors", "lanes", "bins"), driven["units"])),
        "lane_timing": FAST["lane_matrix"],
        "vends": vends, "vend_results": driven["results"], "jams": driven["jams"], "items_dropped": drops,
        "pass_us": {"n": result["passes"], "p50": p[50], "p90": p[90], "p99": p[99], "p99_9": p[99.9],
                    "max": result["max_us"], "mean": round(result["total_us"] / max(1, result["passes"]), 1)},
        "hx711_pass_us": {"n": hx, "max": result["hx711_max_us"],
                          "mean": round(result["hx711_total_us"] / hx, 1) if hx else None},
        "other_pass_max_us": result["other_max_us"], "ticks_us_overhead_us": result["ticks_us_overhead"],
        "collects": result["collects"], "collect_max_us": result["collect_worst_us"],
        "hx711_longest_high_us": longest_high, "hx711_limit_us": HX711_LIMIT_US,
        "uart0_overruns": st1["uart0_overruns"] - st0["uart0_overruns"],
        "uart0_overruns_session": st_end["uart0_overruns"],
        "uart0_bytes_in": st1["uart0_bytes_in"] - st0["uart0_bytes_in"],
        "uart0_bytes_out": st1["uart0_bytes_out"] - st0["uart0_bytes_out"],
        "mem_free": mem,
        "mpy_slot": probe.slot, "mpy_bytes": dict(sorted(mpy.items())), "mpy_total_bytes": sum(mpy.values()),
        "mpy_files": len(mpy),
        "boot_to_first_frame_ms": {k: round(v, 3) for k, v in boot_ms.items()},
        "emulated_s": round(emulated_s, 1), "wall_s": round(wall_s, 1),
        "speed_x_real_time": round(emulated_s / wall_s, 2) if wall_s else None,
        "link_retransmissions": link_stats.retransmissions, "link_bad_frames": link_stats.bad_frames,
        "vend_wall_p50_s": driven["vend_wall_p50_s"], "vend_beam_busy_refusals": driven["beam_busy_refusals"],
        "lanes_cleared_after_jam": driven["lanes_cleared"],
        "max_actuators_at_once": safety.get("max_concurrent"),
        "flash_wall_s": round(flash_wall, 1), "run_wall_s": round(time.monotonic() - wall0, 1),
    }
    ok_pulse = longest_high < HX711_LIMIT_US
    ok_overrun = out["uart0_overruns"] == 0
    out["ok"] = ok_pulse and ok_overrun
    name = result["version"].split(";")[-1].split(" on ")[0].strip()
    print("%s (%s, %d MHz), emulated clock; 4 doors, 12 lanes, 4 weigh bins%s"
          % (name, result["platform"], result["freq_hz"] // 1000000,
             "; gc.collect() every %d passes" % args.gc_every if args.gc_every else ""))
    print("main-loop pass      p50 %(p50)6d us  p99 %(p99)6d us  max %(max)6d us  mean %(mean)7.0f us  (%(n)d passes)"
          % out["pass_us"])
    print("  passes reading the HX711s: %d, mean %s us, max %d us; other passes max %d us"
          % (hx, out["hx711_pass_us"]["mean"], out["hx711_pass_us"]["max"], out["other_pass_max_us"]))
    print("  garbage collections between passes: %d, longest %d us" % (out["collects"], out["collect_max_us"]))
    print("HX711 clock high    longest %d us (limit %d us): %s"
          % (longest_high, HX711_LIMIT_US, "ok" if ok_pulse else "OVER THE LIMIT"))
    print("UART0 rx overruns   %d during %d vends (%d bytes in, %d out): %s"
          % (out["uart0_overruns"], vends, out["uart0_bytes_in"], out["uart0_bytes_out"],
             "ok" if ok_overrun else "BYTES LOST"))
    print("vend results        %s; %d items dropped; %d lanes cleared after a jam%s"
          % (driven["results"], drops, driven["lanes_cleared"], " (%s)" % driven["jams"] if driven["jams"] else ""))
    print("gc.mem_free()       %(after_boot)d after boot, %(after_workload)d after the workload (collected; "
          "%(after_workload_uncollected)d before); the firmware holds %(firmware_after_boot)d bytes after boot, "
          "%(firmware_after_workload)d after; the probe itself %(probe_bytes)d of the %(repl)d free at the REPL" % mem)
    print(".mpy on the board   %d files, %d bytes in /fw/%s/firmware"
          % (out["mpy_files"], out["mpy_total_bytes"], probe.slot))
    print("boot to first frame %.1f ms after the RUN pin, %.1f ms after power-on (EV_BOOT)"
          % (boot_ms["run"], boot_ms["power"]))
    print("emulator            %.1f emulated s in %.1f wall s (%.2fx real time); run %.0f s wall in all"
          % (emulated_s, wall_s, out["speed_x_real_time"] or 0, out["run_wall_s"]))
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
