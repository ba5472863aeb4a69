# The HAL over MicroPython's `machine` module: what firmware/hal.py describes, on a real RP2040 or ESP32.
# Only this file and firmware/main.py import `machine`; everything else runs anywhere.
import json
import os
import sys
import time

import machine

from firmware import messages as M

# machine's reset-cause constants differ per port: rp2 has only PWRON_RESET and WDT_RESET; esp32 also has
# HARD_RESET, SOFT_RESET (its machine.reset()) and more. Only those the port defines are mapped.
_RESET_CAUSES = {machine.PWRON_RESET: M.RESET_POWER_ON, machine.WDT_RESET: M.RESET_WATCHDOG}
for _name, _cause in (("HARD_RESET", M.RESET_HARD), ("SOFT_RESET", M.RESET_SOFT)):
    if hasattr(machine, _name):
        _RESET_CAUSES[getattr(machine, _name)] = _cause

# On an RP2040 machine.reset() is a watchdog reboot and reads back as WDT_RESET. Before its own deliberate
# reset the firmware leaves this mark in watchdog scratch register 0, which survives a watchdog reboot and
# is cleared by power-on and the RUN pin (the SDK's watchdog_reboot uses scratch 4-7 only); so a boot tells
# "the firmware reset itself" (RESET_SOFT, as esp32's machine.reset() reports natively) from "the watchdog
# fired" (a hang).
_RP2 = sys.platform == "rp2"
_WD_SCRATCH0 = 0x4005800C
_DELIBERATE = 0x4C4B5253      # "LKRS"


def _boot_reset_cause():
    cause = _RESET_CAUSES.get(machine.reset_cause(), M.RESET_OTHER)
    if _RP2:
        marked = machine.mem32[_WD_SCRATCH0] == _DELIBERATE
        machine.mem32[_WD_SCRATCH0] = 0
        if marked and cause == M.RESET_WATCHDOG:
            cause = M.RESET_SOFT
    return cause


DATA_DIR = "/data"


class EdgeCounter:
    """Counts rising edges in a hard IRQ: the drop beam breaks for only ~30 ms as an item falls."""

    def __init__(self, gpio):
        self._pin = machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP)
        self.count = 0
        self._pin.irq(trigger=machine.Pin.IRQ_RISING, handler=self._edge, hard=True)

    def _edge(self, pin):
        self.count += 1      # small-int increment: no heap allocation, allowed in a hard IRQ

    def value(self):
        return self._pin.value()


class Board:
    def __init__(self, uart_config):
        u = uart_config
        self.uart = machine.UART(u["id"], baudrate=u["baud"], tx=machine.Pin(u["tx"]), rx=machine.Pin(u["rx"]),
                                 rxbuf=1024, timeout=0)
        self.ticks_ms = time.ticks_ms
        self.irq_off = machine.disable_irq
        self.irq_on = machine.enable_irq
        self._reset_cause = _boot_reset_cause()     # read (and the rp2 mark cleared) once per boot

    def output(self, gpio):
        return machine.Pin(gpio, machine.Pin.OUT, value=0)

    def input(self, gpio, pull_up):
        return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP if pull_up else None)

    def edge_counter(self, gpio):
        return EdgeCounter(gpio)

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def reset_cause(self):
        return self._reset_cause

    def random30(self):
        b = os.urandom(4)
        return ((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]

    def load(self, name):
        try:
            with open("%s/%s.json" % (DATA_DIR, name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def save(self, name, record):
        # Write beside, then rename: a power cut mid-write leaves the old record, never half a file.
        try:
            os.mkdir(DATA_DIR)
        except OSError:
            pass
        path = "%s/%s.json" % (DATA_DIR, name)
        with open(path + ".new", "w") as f:
            json.dump(record, f)
        os.rename(path + ".new", path)

    def flush(self):
        if hasattr(self.uart, "flush"):
            self.uart.flush()        # rp2 and esp32: returns when the TX FIFO is empty
        time.sleep_ms(5)

    def reset(self):
        if _RP2:
            machine.mem32[_WD_SCRATCH0] = _DELIBERATE
        machine.reset()

    def idle(self):
        time.sleep_ms(1)
