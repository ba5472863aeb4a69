# The cabinet's physics on the emulated Pico: sim/hardware/'s Physics (the one model every simulation
# uses) wired to the RP2040's pads. Runs on MicroPython (WebAssembly) inside the emulator's Node process
# (sim/pico/physics.mjs), so a pin edge reaches the models while the firmware's instruction that made it is
# still the last one executed, and an HX711's DOUT is answered before the firmware reads it.
#
# The harness calls setup() once, then output() on every change of an output pad, step() every emulated
# millisecond and call() for a look or a fault from the host; `pico_chip` is the harness's side:
# drive(pin, level) puts a level on an input pad, log(text) writes the log.
import json

import pico_chip
from sim.hardware import Physics, config_pins, sim_settings


class PicoClock:
    """The emulated clock as the models read it: ms (whole) and now_us(), both from the chip's nanoseconds."""

    def __init__(self):
        self.ms = 0
        self.us = 0

    def set(self, us):
        self.us = int(us)
        self.ms = self.us // 1000

    def now_us(self):
        return self.us


class PicoPins:
    """The physics side of the pin contract SimHAL offers (clock, level, levels, since, drive, watch), over pads:
    outputs are what the chip drives (0 while a pin is not an output, as the board's pull-downs hold it),
    inputs what the models drive."""

    def __init__(self, clock):
        self.clock = clock
        self._levels = {}
        self.levels = self._levels   # read directly by the models' every-pass checks, as SimHAL.levels
        self._since = {}
        self._watchers = {}

    def level(self, pin):
        return self._levels.get(pin, 0)

    def since(self, pin):
        return self._since.get(pin, 0)

    def watch(self, pin, fn):
        self._watchers.setdefault(pin, []).append(fn)

    def drive(self, pin, value):
        if self._change(pin, 1 if value else 0):
            pico_chip.drive(pin, self._levels[pin])

    def output(self, pin, level):
        self._change(pin, level)

    def _change(self, pin, v):
        if self._levels.get(pin) == v:
            return False
        self._levels[pin] = v
        self._since[pin] = self.clock.ms
        for fn in self._watchers.get(pin, ()):
            fn(pin, v)
        return True


clock = PicoClock()
pins = PicoPins(clock)
physics = None


def _log(ms, text):
    pico_chip.log("[%10.3f] %s\n" % (ms / 1000.0, text))


def setup(text):
    """text: JSON {"config": normalised cabinet config, "sim": the [sim] table, "seed": n}. Returns the pins
    the harness must report (outputs) as JSON."""
    global physics
    spec = json.loads(text)
    config = spec["config"]
    sim_settings(config, spec.get("sim"))          # a bad [sim] table fails here, with its message
    physics = Physics(config, spec.get("sim"), pins, spec.get("seed", 0), _log)
    outs, ins = config_pins(config)
    return json.dumps({"outputs": outs, "inputs": ins})


def output(pin, level, us):
    clock.set(us)
    pins.output(pin, level)


def step(us):
    clock.set(us)
    physics.step(clock.ms)


def call(code, us):
    """Evaluate one expression or run statements against the live models; the value comes back as JSON.
    Names: physics, pins, clock."""
    clock.set(us)
    scope = {"physics": physics, "pins": pins, "clock": clock}
    try:
        value = eval(code, scope)
    except SyntaxError:
        exec(code, scope)
        value = scope.get("result")
    return json.dumps(value)
