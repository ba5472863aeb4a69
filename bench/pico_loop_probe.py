# Runs ON the board (MicroPython rp2), never on the host: bench/pico.py sends this file over the USB raw REPL
# and calls probe(slot_dir). It runs the loop of firmware/main.py's run() (Board, Cabinet, step, watchdog,
# idle) from the firmware slot's own .mpy files, and times each cabinet.step() with time.ticks_us() on the
# board's clock. Pass times go into a fixed histogram (4 us buckets to 4 ms, 64 us buckets to 69.6 ms), so
# the measuring allocates nothing per pass. The loop stops at a pass boundary when the host writes a byte to
# the USB console (or on Ctrl-C); then every output goes off, the watchdog is switched off (so the board
# waits at its REPL) and one JSON line reports the figures.
# The host opens the cabinet link after "probe: ready" and drives it as the agent would. The board must be at
# its REPL with no watchdog running when this starts (bench/pico.py stop_firmware); the firmware's own
# watchdog (5 s) is started here as run() starts it.
import gc
import json
import os
import sys
import time

import machine
from array import array

FINE_US, FINE_N = 4, 1024          # 0..4095 us
COARSE_US, COARSE_N = 64, 1024     # 4096..69631 us
FINE_END = FINE_US * FINE_N
COARSE_END = FINE_END + COARSE_US * COARSE_N
STOP_EVERY = 64                    # passes between looks at the USB console for the stop byte


def _mpy_sizes(slot_dir):
    d = slot_dir + "/firmware"
    return {name: os.stat(d + "/" + name)[6] for name in os.listdir(d) if name.endswith(".mpy")}


def probe(slot_dir, gc_every=0):
    """Between timed steps the loop's own Housekeeping runs (idle, or a garbage collection every
    GC_EVERY_PASSES passes; gc_every overrides that count), each collection timed on its own."""
    import select
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    gc.collect()
    hist = array("I", bytearray(4 * (FINE_N + COARSE_N)))
    hist_bytes = 4 * len(hist)
    gc.collect()
    free_start = gc.mem_free()          # before the firmware is imported (the probe's histogram already held)

    # As firmware/main.py's run(), from the slot boot_select would run.
    sys.path.insert(0, slot_dir)
    from firmware import messages as M  # noqa: F401  (imported by run() too)
    from firmware.config import normalize
    from firmware.hal import WDT_MAX_MS
    from firmware.main import WDT_TIMEOUT_MS, Housekeeping
    from firmware.board import Board
    from firmware.cabinet import Cabinet
    with open(slot_dir + "/cabinet.json") as f:
        config = normalize(json.load(f))
    hal = Board(config["uart"])
    cabinet = Cabinet(hal, config)
    wdt = hal.watchdog(min(WDT_TIMEOUT_MS, WDT_MAX_MS))
    keep = Housekeeping(hal, gc_every) if gc_every else Housekeeping(hal)
    ticks_ms = hal.ticks_ms
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    hx = cabinet.hx711
    gc.collect()
    free_boot = gc.mem_free()

    t = ticks_us()
    overhead = ticks_diff(ticks_us(), t)   # one ticks_us() pair, measured the same way as a pass
    passes = 0
    total_us = 0
    worst = 0
    over = 0
    hx_passes = 0
    hx_total = 0
    hx_worst = 0
    other_worst = 0
    collects = 0
    collect_worst = 0
    error = None
    stopped_by = "host"
    print("probe: ready", free_boot)
    loop_start = ticks_ms()
    try:
        while True:
            last_read = hx._last_read if hx is not None else 0
            t = ticks_us()
            alive = cabinet.step(ticks_ms())
            dt = ticks_diff(ticks_us(), t)
            passes += 1
            total_us += dt
            if dt > worst:
                worst = dt
            if dt < FINE_END:
                hist[dt // FINE_US] += 1
            elif dt < COARSE_END:
                hist[FINE_N + (dt - FINE_END) // COARSE_US] += 1
            else:
                over += 1
            if hx is not None and hx._last_read != last_read:    # this pass read the HX711s
                hx_passes += 1
                hx_total += dt
                if dt > hx_worst:
                    hx_worst = dt
            elif dt > other_worst:
                other_worst = dt
            if alive:
                wdt.feed()
            if passes % STOP_EVERY == 0:
                stop = False
                for _ in poller.ipoll(0):
                    stop = True
                if stop:
                    sys.stdin.read(1)
                    break
            t = ticks_us()
            if keep.after_pass(cabinet):
                dt = ticks_diff(ticks_us(), t)
                collects += 1
                if dt > collect_worst:
                    collect_worst = dt
    except KeyboardInterrupt:
        machine.enable_irq(0)             # in case it landed between an HX711 pulse's irq_off and irq_on
        stopped_by = "ctrl-c"
    except Exception as e:                # run() would turn everything off and reset; here it is reported
        error = "%s: %s" % (type(e).__name__, e)
    elapsed_ms = ticks_diff(ticks_ms(), loop_start)
    cabinet.safe_off()
    # Done: the watchdog off (CTRL.ENABLE cleared), so the board is not reset while it waits at the REPL. On
    # the emulator an idle chip's clock catches up with the wall clock at once, and 5 s pass in a moment.
    machine.mem32[0x40058000] &= ~(1 << 30)
    free_uncollected = gc.mem_free()
    gc.collect()
    free_after = gc.mem_free()
    buckets = [[i, hist[i]] for i in range(len(hist)) if hist[i]]
    print(json.dumps({
        "passes": passes, "total_us": total_us, "max_us": worst, "over_range": over, "loop_ms": elapsed_ms,
        "hx711_passes": hx_passes, "hx711_total_us": hx_total, "hx711_max_us": hx_worst,
        "other_max_us": other_worst, "ticks_us_overhead": overhead,
        "fine_us": FINE_US, "fine_n": FINE_N, "coarse_us": COARSE_US, "buckets": buckets,
        "mem_free_start": free_start, "mem_free_after_boot": free_boot, "mem_free_after_uncollected":
        free_uncollected, "mem_free_after_workload": free_after, "probe_hist_bytes": hist_bytes,
        "mpy_sizes": _mpy_sizes(slot_dir), "freq_hz": machine.freq(), "platform": sys.platform,
        "version": sys.version, "stopped_by": stopped_by, "error": error, "gc_every": gc_every, "collects": collects, "collect_worst_us": collect_worst,
    }))
