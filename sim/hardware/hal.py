# The firmware's HAL (the contract in firmware/hal.py) over virtual pins: the virtual clock, pins, edge counters,
# the UART and the watchdog. Physics drives the inputs and watches the outputs through SimHAL's physics side.
import functools
import json

from firmware.hal import WDT_MAX_MS
from firmware.messages import RESET_POWER_ON
from sim.hardware.rng import Rng

TICKS_PERIOD = 1 << 30


class SimClock:
    """Virtual milliseconds. ms never wraps; the firmware sees ms % 2**30 through hal.ticks_ms()."""

    def __init__(self, ms=0):
        self.ms = ms

    def now_us(self):
        """Microseconds, for models that time short pulses (the HX711's 60 us clock-high limit). Here every
        pin change within one firmware pass happens at the same microsecond; the emulated Pico's clock
        (sim/pico/pins.py) gives the real spacing."""
        return self.ms * 1000

    def advance(self, ms):
        self.ms += ms
        return self.ms

    def ticks_ms(self):
        return self.ms % TICKS_PERIOD


# The pin objects read the HAL's level table themselves, and write only a change: the firmware reads and
# writes pins some 300,000 times in a 14-day pilot, most of them to the level the pin already has.
class SimOutput:
    def __init__(self, hal, pin):
        self._hal = hal
        self._pin = pin
        self._levels = hal._levels

    def value(self, v=None):
        if v is None:
            return self._levels.get(self._pin, 0)
        v = 1 if v else 0
        if self._levels.get(self._pin) != v:
            self._hal._set(self._pin, v)


class SimInput:
    def __init__(self, hal, pin, pull_up):
        # value() is the level table's own get, bound to this pin (the pull wins while nothing drives it):
        # the firmware's most frequent call (some 300,000 in a 14-day pilot) then runs no Python frame.
        self.value = functools.partial(hal.levels.get, pin, 1 if pull_up else 0)


class EdgeCounter:
    """Rising edges of an input since the firmware created the counter (an IRQ counter on a board);
    value() reads the input's level, as board.EdgeCounter does."""

    def __init__(self, hal, pin):
        self.count = 0
        self.value = functools.partial(hal.levels.get, pin, 1)   # pulled up; as SimInput.value


class SimUART:
    """MCU side of the serial line: a bounded receive FIFO (overruns counted) and a transmit queue."""

    def __init__(self, rxbuf=512):
        self.rxbuf = rxbuf
        self.rx = bytearray()
        self.tx = bytearray()
        self.overruns = 0

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        n = len(self.rx)
        room = len(buf) if nbytes is None else min(nbytes, len(buf))
        if n > room:
            n = room
        if n == 0:
            return None
        rx = self.rx
        buf[:n] = rx[:n]
        self.rx = rx[n:]
        return n

    def write(self, data):
        self.tx += data
        return len(data)

    # Line side.
    def receive(self, data):
        """Bytes arriving from the wire; those that do not fit the FIFO are lost, as on a real UART."""
        room = self.rxbuf - len(self.rx)
        if len(data) > room:
            self.overruns += len(data) - max(room, 0)
            data = data[:max(room, 0)]
        self.rx += data

    def transmit(self, n):
        """Take up to n bytes the MCU has written, for the wire."""
        out = bytes(self.tx[:n])
        self.tx = self.tx[n:]
        return out

    def clear(self):
        self.rx = bytearray()
        self.tx = bytearray()


class SimWatchdog:
    def __init__(self, hal, timeout_ms):
        self._hal = hal
        self.timeout_ms = timeout_ms
        self.fed_at = hal.clock.ms
        self.feeds = 0

    def feed(self):
        self.fed_at = self._hal.clock.ms
        self.feeds += 1


def config_pins(config):
    """(output pins, input pins) the normalised config wires, in config order."""
    outs = []
    ins = []
    for d in config["doors"]:
        outs.append(d["solenoid"])
        ins.append(d["sensor"])
    lanes = config["lanes"]
    if lanes["units"]:
        outs += lanes["rows"] + lanes["cols"]
        ins += [lanes["home_sense"], lanes["drop_sensor"]]
    bins = config["bins"]
    if bins["units"]:
        outs.append(bins["sck"])
        ins += [b["dout"] for b in bins["units"]]
    if config.get("status_led") is not None:
        outs.append(config["status_led"])
    return outs, ins


class SimHAL:
    """firmware/hal.py over virtual pins. One instance lives as long as the simulated board: mcu_reset()
    plays a microcontroller reset (outputs drop to 0, volatile state gone) while the store (flash) and the
    physics wired to the pins stay."""

    def __init__(self, config, clock, store=None, seed=0, uart_rxbuf=512):
        self.clock = clock
        self.store = {} if store is None else store
        self.output_pins, self.input_pins = config_pins(config)
        self._levels = {}
        self.levels = self._levels   # pin -> level, read directly by the models in their every-pass checks
        self._since = {}
        self._watchers = {}
        self._counters = {}
        self._rng = Rng(seed ^ 0x4B00)
        self.uart = SimUART(uart_rxbuf)
        self.wdt = None
        self.reset_requested = False
        self.flushing = False
        self.boots = 1
        self.idles = 0
        self.irq_disabled = False
        self._cause = RESET_POWER_ON
        # Event-driven time (docs/decisions/0049): an input that changed since the firmware's last pass asks
        # for the next pass; inputs that only change at times the physics announces need not (quiet_inputs).
        self._wake_inputs = set(self.input_pins)
        self.input_changed = False
        self.output_changed = False  # set at every output change; SimCabinet.conversion_pass clears it
        self._output_set = set(self.output_pins)
        self.hx711_words = None      # physics' word_reader (every HX711 at once), when the bit timing is not tested

    # Firmware side (the contract).
    def output(self, pin):
        if pin not in self.output_pins:
            raise ValueError("GPIO %d is not an output in this cabinet's config" % pin)
        self._set(pin, 0)
        return SimOutput(self, pin)

    def input(self, pin, pull_up=True):
        if pin not in self.input_pins:
            raise ValueError("GPIO %d is not an input in this cabinet's config" % pin)
        return SimInput(self, pin, pull_up)

    def edge_counter(self, pin):
        if pin not in self.input_pins:
            raise ValueError("GPIO %d is not an input in this cabinet's config" % pin)
        counter = EdgeCounter(self, pin)
        self._counters.setdefault(pin, []).append(counter)
        return counter

    def ticks_ms(self):
        return self.clock.ms % TICKS_PERIOD

    def irq_off(self):
        state = self.irq_disabled
        self.irq_disabled = True
        return state

    def irq_on(self, state):
        self.irq_disabled = state

    def watchdog(self, timeout_ms):
        if timeout_ms < 1 or timeout_ms > WDT_MAX_MS:
            raise ValueError("watchdog timeout must be 1..%d ms" % WDT_MAX_MS)
        if self.wdt is None:
            self.wdt = SimWatchdog(self, timeout_ms)
        else:
            self.wdt.timeout_ms = timeout_ms  # as on a board: reconfigures; cannot be stopped
            self.wdt.feed()
        return self.wdt

    def reset_cause(self):
        return self._cause

    def hx711_reader(self, sck, douts):
        """The 25 clock pulses as one event (firmware/hx711.py), or None: the firmware bit-bangs them."""
        words = self.hx711_words
        if words is None:
            return None
        return words(douts)

    def random30(self):
        return self._rng.next32() >> 2

    def load(self, name):
        text = self.store.get(name)
        return None if text is None else json.loads(text)

    def save(self, name, record):
        # Kept as JSON text, as board.py writes it: what comes back has string keys and lists, like flash.
        self.store[name] = json.dumps(record)

    def flush(self):
        self.flushing = True  # the runner holds the MCU (no more passes) until the UART's TX has drained

    def reset(self):
        self.reset_requested = True  # the runner reboots after this step (machine.reset() never returns)

    def idle(self):
        self.idles += 1

    # Physics side.
    def level(self, pin):
        """The pin's electrical level now (outputs as the firmware drove them, inputs as physics drives)."""
        return self._levels.get(pin, 0)

    def since(self, pin):
        """Virtual ms of the pin's last change."""
        return self._since.get(pin, 0)

    def drive(self, pin, value):
        """Physics sets an input's level; rising edges reach the firmware's edge counters."""
        value = 1 if value else 0
        if self._levels.get(pin) != value:       # most drives repeat the level (a shut door, every pass)
            self._set(pin, value)

    def quiet_input(self, pin):
        """Changes of this input need no pass of their own: they come at times physics announces
        (Physics.next_event), or from the firmware's own reading."""
        self._wake_inputs.discard(pin)

    def watch(self, pin, fn):
        """Call fn(pin, level) whenever the pin changes (physics that must react at once, e.g. HX711 SCK)."""
        self._watchers.setdefault(pin, []).append(fn)

    def _set(self, pin, v):
        old = self._levels.get(pin)
        if old == v:
            return
        self._levels[pin] = v
        self._since[pin] = self.clock.ms
        if pin in self._wake_inputs:
            self.input_changed = True
        elif pin in self._output_set:
            self.output_changed = True
        if v and old == 0:  # a first drive from unknown is a level, not an edge
            for c in self._counters.get(pin, ()):
                c.count += 1
        for fn in self._watchers.get(pin, ()):
            fn(pin, v)

    # Runner side.
    def mcu_reset(self, cause):
        """Reset the microcontroller: outputs off, counters, UART FIFOs and watchdog gone; flash kept."""
        for pin in self.output_pins:
            self._set(pin, 0)
        self._counters = {}
        self.uart.clear()
        self.wdt = None
        self.reset_requested = False
        self.flushing = False
        self.irq_disabled = False
        self._cause = cause
        self.boots += 1

    def watchdog_expired(self):
        wdt = self.wdt
        return wdt is not None and self.clock.ms - wdt.fed_at > wdt.timeout_ms
