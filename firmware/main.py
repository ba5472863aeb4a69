# Board entry point: /main.py on the board runs `from firmware.main import run; run()`.
# Order matters for safety: the cabinet drives every actuator pin off before anything else runs; the
# watchdog is fed only after a full loop pass; any exception turns every output off and resets the board.
import gc
import json

from firmware import messages as M
from firmware.config import normalize
from firmware.hal import WDT_MAX_MS

CONFIG_PATH = "/cabinet.json"
WDT_TIMEOUT_MS = 5000
HEALTHY_AFTER_MS = 3000   # loop passes with the watchdog fed this long: the firmware reports itself healthy
GC_EVERY_PASSES = 50


class Housekeeping:
    """What the loop does between passes: idle a moment, or, every GC_EVERY_PASSES passes while no coil or
    motor is being timed, collect garbage. MicroPython's allocator gets slower as garbage piles up between
    collections; on the rp2 port under load a pass reached p99 28 ms and 30 ms at most (bench/pico.py), long
    enough to miss a lane's home-switch window (turn/24) and report a false jam."""

    def __init__(self, hal, every=GC_EVERY_PASSES):
        self._hal = hal
        self._every = every
        self._passes = 0

    def after_pass(self, cabinet):
        """True when this call collected garbage (else it idled)."""
        self._passes += 1
        if self._passes >= self._every and cabinet.outputs.active is None:
            self._passes = 0
            gc.collect()
            return True
        self._hal.idle()
        return False


def run(config_path=CONFIG_PATH, on_healthy=None):
    # on_healthy: called once, from the loop, after HEALTHY_AFTER_MS of healthy passes (boot_select uses it
    # to keep a newly flashed firmware; see docs/flashing.md).
    from firmware.board import Board
    from firmware.cabinet import Cabinet
    from firmware.ticks import ticks_diff

    with open(config_path) as f:
        config = normalize(json.load(f))
    hal = Board(config["uart"])
    cabinet = Cabinet(hal, config)
    wdt = hal.watchdog(min(WDT_TIMEOUT_MS, WDT_MAX_MS))
    keep = Housekeeping(hal)
    ticks_ms = hal.ticks_ms
    started = ticks_ms()
    while True:
        try:
            alive = cabinet.step(ticks_ms())
        except Exception as e:
            cabinet.safe_off()
            try:
                cabinet.event(M.EV_FAULT, M.F_EXCEPTION, 0)
                cabinet.link.send_all()
                hal.flush()          # let the fault event leave before the reset clears the UART
            finally:
                hal.reset()
        if alive:
            wdt.feed()
            if on_healthy is not None and ticks_diff(ticks_ms(), started) >= HEALTHY_AFTER_MS:
                healthy, on_healthy = on_healthy, None
                healthy()
        keep.after_pass(cabinet)
