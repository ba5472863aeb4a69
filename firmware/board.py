# The HAL over MicroPython's `machine` module: what firmware/hal.py describes, on a real RP2040 or ESP32.
# Only this file and firmware/main.py import `machine`; everything else runs anywhere.
import json
import os
import time

import machine

from firmware import messages as M

_RESET_CAUSES = {
    machine.PWRON_RESET: M.RESET_POWER_ON,
    machine.WDT_RESET: M.RESET_WATCHDOG,
    machine.HARD_RESET: M.RESET_HARD,
}
if hasattr(machine, "SOFT_RESET"):
    _RESET_CAUSES[machine.SOFT_RESET] = M.RESET_SOFT

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

    def output(self, gpio):
        return machine.Pin(gpio, machine.Pin.OUT, value=0)

    def input(self, gpio, pull_up):
        return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP if pull_up else None)

    def edge_counter(self, gpio):
        return EdgeCounter(gpio)

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def reset_cause(self):
        return _RESET_CAUSES.get(machine.reset_cause(), M.RESET_OTHER)

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
        machine.reset()

    def idle(self):
        time.sleep_ms(1)
