# Simulated cabinet hardware: virtual pins, a HAL over them (SimHAL, the contract in firmware/hal.py) and the
# physics behind the pins (doors, spiral lanes, load cells), all stepped with a virtual clock.
#
# Portable on purpose: tests run the firmware and this file together on MicroPython 1.27 and compare with
# CPython, so the same seed must give the same numbers in both. Hence plain classes and ints, our own PRNG
# (no random, no math), no dataclasses or typing, and never iterating a dict where order matters
# (MicroPython dicts are not insertion-ordered; units live in lists, dicts are only for lookup).
#
# Time: physics models keep absolute virtual ms (clock.ms, never wraps); only the firmware sees wrapping
# ticks (hal.ticks_ms()). A model's step(now) covers the interval since its last step with the output pins as
# they were during it, so the runner steps physics first and the firmware (which writes pins) second.
import json

from firmware.config import ConfigError
from firmware.hal import WDT_MAX_MS
from firmware.messages import RESET_POWER_ON

TICKS_PERIOD = 1 << 30
_M32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------------------
# Numbers


class Rng:
    """xorshift32: tiny, seedable, and the same sequence in every interpreter."""

    def __init__(self, seed=0):
        s = ((seed % (1 << 32)) * 0x9E3779B1 + 0x7F4A7C15) & _M32  # spread small seeds apart
        self.state = s or 0x6D2B79F5  # xorshift must never hold 0
        for _ in range(4):
            self.next32()

    def next32(self):
        x = self.state
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        self.state = x
        return x

    def below(self, n):
        return self.next32() % n

    def between(self, lo, hi):
        """Uniform int in lo..hi, both included."""
        return lo + self.next32() % (hi - lo + 1)

    def chance(self, ppm):
        """True with probability ppm / 1e6."""
        return ppm > 0 and self.next32() % 1000000 < ppm

    def gauss(self, sigma):
        """Integer noise, about normal with this standard deviation: a sum of 12 uniforms (Irwin-Hall)."""
        if sigma == 0:
            return 0
        s = 0
        for _ in range(12):
            s += self.next32() >> 16
        return ((s - 393210) * sigma + 32768) // 65536

    def child(self):
        """An independent generator, so one model's draws never shift another's."""
        return Rng(self.next32())


def ppm(rate):
    """A probability 0..1 as parts per million (ints keep both interpreters bit-identical)."""
    return int(rate * 1000000 + 0.5)


def milli(value):
    """Grams (int or float) to milligrams, rounded to the nearest."""
    return int(value * 1000 + (0.5 if value >= 0 else -0.5))


# ---------------------------------------------------------------------------------------------------------
# Clock and HAL


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


class SimOutput:
    def __init__(self, hal, pin):
        self._hal = hal
        self._pin = pin

    def value(self, v=None):
        if v is None:
            return self._hal.level(self._pin)
        self._hal._set(self._pin, 1 if v else 0)


class SimInput:
    def __init__(self, hal, pin, pull_up):
        self._hal = hal
        self._pin = pin
        self._pull_up = pull_up

    def value(self):
        return self._hal._read_input(self._pin, self._pull_up)


class EdgeCounter:
    """Rising edges of an input since the firmware created the counter (an IRQ counter on a board);
    value() reads the input's level, as board.EdgeCounter does."""

    def __init__(self, hal, pin):
        self._hal = hal
        self._pin = pin
        self.count = 0

    def value(self):
        return self._hal._read_input(self._pin, True)


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
        for i in range(n):
            buf[i] = rx[i]
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
        self._set(pin, 1 if value else 0)

    def watch(self, pin, fn):
        """Call fn(pin, level) whenever the pin changes (physics that must react at once, e.g. HX711 SCK)."""
        self._watchers.setdefault(pin, []).append(fn)

    def _set(self, pin, v):
        old = self._levels.get(pin)
        if old == v:
            return
        self._levels[pin] = v
        self._since[pin] = self.clock.ms
        if v and old == 0:  # a first drive from unknown is a level, not an edge
            for c in self._counters.get(pin, ()):
                c.count += 1
        for fn in self._watchers.get(pin, ()):
            fn(pin, v)

    def _read_input(self, pin, pull_up):
        v = self._levels.get(pin)
        if v is None:
            return 1 if pull_up else 0  # nothing drives it: the pull wins
        return v

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


# ---------------------------------------------------------------------------------------------------------
# Safety recording: what the actuators really did, measured at the pins, whatever the firmware believes.


class SafetyRecorder:
    """Tracks every actuator (energised when all its pins are 1): the most ever energised at once, per kind
    and overall, and each one's longest continuous on-time. Counted at every pin write, so even a
    zero-length overlap (switching motors on before off) shows."""

    def __init__(self, hal):
        self.hal = hal
        self._units = []  # [name, kind, pins, on_since or None, longest_ms, times_on]
        self._by_name = {}
        self._watched = []
        self.max_concurrent = 0
        self._max_kind = {}

    def add(self, name, kind, pins):
        unit = [name, kind, list(pins), None, 0, 0]
        self._units.append(unit)
        self._by_name[name] = unit
        for pin in pins:
            if pin not in self._watched:  # row/col pins are shared by several motors
                self._watched.append(pin)
                self.hal.watch(pin, self._changed)

    def _changed(self, pin, level):
        now = self.hal.clock.ms
        total = 0
        per_kind = {}
        for unit in self._units:
            on = True
            for p in unit[2]:
                if not self.hal.level(p):
                    on = False
                    break
            if on:
                if unit[3] is None:
                    unit[3] = now
                    unit[5] += 1
                total += 1
                per_kind[unit[1]] = per_kind.get(unit[1], 0) + 1
            elif unit[3] is not None:
                unit[4] = max(unit[4], now - unit[3])
                unit[3] = None
        self.max_concurrent = max(self.max_concurrent, total)
        for kind in per_kind:
            self._max_kind[kind] = max(self._max_kind.get(kind, 0), per_kind[kind])

    def energised(self):
        return [u[0] for u in self._units if u[3] is not None]

    def max_concurrent_of(self, kind):
        return self._max_kind.get(kind, 0)

    def times_on(self, name):
        return self._by_name[name][5]

    def longest_on_ms(self, kind=None, name=None):
        """Longest continuous on-time, counting a run still going on now."""
        now = self.hal.clock.ms
        best = 0
        for unit in self._units:
            if (kind is None or unit[1] == kind) and (name is None or unit[0] == name):
                t = unit[4]
                if unit[3] is not None:
                    t = max(t, now - unit[3])
                best = max(best, t)
        return best

    def summary(self):
        return {
            "max_concurrent": self.max_concurrent,
            "max_solenoids": self.max_concurrent_of("solenoid"),
            "max_motors": self.max_concurrent_of("motor"),
            "longest_solenoid_ms": self.longest_on_ms("solenoid"),
            "longest_motor_ms": self.longest_on_ms("motor"),
        }


# ---------------------------------------------------------------------------------------------------------
# The [sim] table: what is physically in the cabinet and how it behaves. Every key has a default; a key in
# [[sim.door]] / [[sim.lane]] / [[sim.bin]] (with `number`) overrides the [sim] value for that unit.
# (key in the unit table, key in [sim] or None if per-unit only, default, type, lo, hi)
#   types: int; bool; rate (0..1, kept as ppm); milli (a number kept x1000 as int: grams -> mg).

DOOR_KEYS = (
    ("hold_open_ms", "door_hold_open_ms", 5000, "int", 0, 86400000),   # the person closes it after this
    ("leave_open", "door_leave_open", False, "bool", 0, 0),             # ... or never
    ("stuck", None, False, "bool", 0, 0),                               # unlatches but will not move
    ("release_ms", "door_release_ms", 20, "int", 1, 1000),              # coil time to pull the latch
    ("spring_ms", "door_spring_ms", 150, "int", 0, 10000),              # latch released -> sensor open
    ("bounce_ms", "door_bounce_ms", 3, "int", 0, 100),                  # reed contact chatter
)
LANE_KEYS = (
    ("items", "lane_items", 8, "int", 0, 100000),
    ("hang_rate", "hang_rate", 0, "rate", 0, 1),          # an item hangs on a turn, drops on the next
    ("jammed", None, False, "bool", 0, 0),                # motor stalls: no movement while powered
    ("speed_spread", "speed_spread", 0.05, "rate", 0, 0.5),  # each motor's speed within +- this
    ("drop_delay_min_ms", "drop_delay_min_ms", 150, "int", 0, 5000),  # turn end -> item in the beam
    ("drop_delay_max_ms", "drop_delay_max_ms", 300, "int", 0, 5000),
    ("drop_beam_ms", "drop_beam_ms", 30, "int", 1, 1000),  # how long a falling item breaks the beam
)
BIN_KEYS = (
    ("pieces", "bin_pieces", 20, "int", 0, 10000000),
    ("piece_weight_g", "piece_weight_g", 10, "milli", 0, 100000),
    ("tare_g", "bin_tare_g", 250, "milli", 0, 100000),    # the empty container on the load cell
    ("counts_per_g", "counts_per_g", 210, "milli", -100000, 100000),  # ~20 kg cell, 2 mV/V, gain 128
    ("counts_spread", "counts_spread", 0.02, "rate", 0, 0.5),  # each cell's sensitivity within +- this
    ("zero_offset", None, None, "int", -4000000, 4000000),  # raw counts at no load; default: seeded random
    ("noise_counts", "noise_counts", 40, "int", 0, 1000000),  # standard deviation of a reading
    ("drift_counts_per_hour", "drift_counts_per_hour", 0, "int", -1000000, 1000000),
    ("hand_ms", "hand_ms", 800, "int", 0, 600000),         # a hand in the bin on take/put/place
    ("hand_noise_g", "hand_noise_g", 100, "milli", 0, 100000),  # noise while the hand is in
)
_UNIT_KEYS = (("door", "doors", DOOR_KEYS), ("lane", "lanes", LANE_KEYS), ("bin", "bins", BIN_KEYS))


def _is_number(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def _convert(where, key, value, kind, lo, hi):
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError("%s: %s must be true or false, got %r" % (where, key, value))
        return value
    if value is None:
        return None
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        what = "a whole number"
    else:
        ok = _is_number(value)
        what = "a number"
    if not ok or value < lo or value > hi:
        raise ConfigError("%s: %s must be %s between %s and %s, got %r" % (where, key, what, lo, hi, value))
    if kind == "rate":
        return ppm(value)
    if kind == "milli":
        return milli(value)
    return value


def sim_settings(config, sim):
    """Check the [sim] table against the normalised config; return {"door"|"lane"|"bin": {number: opts}}."""
    if sim is None:
        sim = {}
    if not isinstance(sim, dict):
        raise ConfigError("[sim] must be a table")
    known = ["door", "lane", "bin"]
    for _, _, keys in _UNIT_KEYS:
        for k in keys:
            if k[1] is not None:
                known.append(k[1])
    for key in sim:
        if key not in known:
            raise ConfigError("[sim]: unknown key %r" % (key,))
    out = {}
    for unit, section, keys in _UNIT_KEYS:
        base = {}
        for name, glob, default, kind, lo, hi in keys:
            value = sim.get(glob, default) if glob is not None else default
            base[name] = _convert("[sim]", glob or name, value, kind, lo, hi)
        if section == "lanes":
            numbers = [u["number"] for u in config["lanes"]["units"]]
        elif section == "bins":
            numbers = [u["number"] for u in config["bins"]["units"]]
        else:
            numbers = [u["number"] for u in config["doors"]]
        per = {}
        for n in numbers:
            per[n] = dict(base)
        tables = sim.get(unit, [])
        if not isinstance(tables, list) or [t for t in tables if not isinstance(t, dict)]:
            raise ConfigError("[sim] %s must be a list of tables ([[sim.%s]] in TOML)" % (unit, unit))
        for t in tables:
            n = t.get("number")
            where = "[[sim.%s]] number %r" % (unit, n)
            if n not in per:
                raise ConfigError("%s: there is no %s %r in the cabinet" % (where, unit, n))
            for key in t:
                if key == "number":
                    continue
                spec = None
                for k in keys:
                    if k[0] == key:
                        spec = k
                if spec is None:
                    raise ConfigError("%s: unknown key %r" % (where, key))
                per[n][key] = _convert(where, key, t[key], spec[3], spec[4], spec[5])
        for n in per:
            if unit == "lane" and per[n]["drop_delay_min_ms"] > per[n]["drop_delay_max_ms"]:
                raise ConfigError("[sim]: drop_delay_min_ms is more than drop_delay_max_ms")
        out[unit] = per
    return out


# ---------------------------------------------------------------------------------------------------------
# Doors


class DoorModel:
    """A locker door with a spring bolt pulled by a solenoid, a push spring and a reed sensor (0 = closed).

    Latched while closed. Once the coil has been on release_ms in one pulse the bolt is out and the spring
    pushes the door open spring_ms later (unless stuck). A person closes it hold_open_ms after it opened
    (unless leave_open); the bolt snaps back on closing. force_open() opens it with no unlock.

    coils: the output pins whose pulse pulls this door's bolt: its own solenoid pin, unless a miswire
    (Physics.miswire_door) took it away or added another door's."""

    CLOSED = 0
    RELEASED = 1  # bolt out, door about to spring open
    OPEN = 2

    def __init__(self, number, solenoid, sensor, hal, rng, opts, log):
        self.number = number
        self.solenoid = solenoid
        self.coils = [solenoid]
        self.sensor = sensor
        self.hal = hal
        self.rng = rng
        self.log = log
        self.hold_open_ms = opts["hold_open_ms"]
        self.leave_open = opts["leave_open"]
        self.stuck = opts["stuck"]
        self.release_ms = opts["release_ms"]
        self.spring_ms = opts["spring_ms"]
        self.bounce_ms = opts["bounce_ms"]
        self.state = DoorModel.CLOSED
        self.opened_at = None
        self.opens = 0
        self.forced_opens = 0
        self.closes = 0
        self._open_at = None
        self._released_pulse = {}  # pin -> since-time of that coil pulse that already pulled the bolt
        self._bounce_until = -1
        hal.drive(sensor, 0)

    @property
    def is_open(self):
        return self.state == DoorModel.OPEN

    def step(self, now):
        hal = self.hal
        for coil in self.coils:
            if self.state != DoorModel.CLOSED or not hal.level(coil):
                continue
            since = hal.since(coil)
            if since != self._released_pulse.get(coil) and now - since >= self.release_ms:
                self._released_pulse[coil] = since
                if self.stuck:
                    self.log("door %d unlatched but stuck shut" % self.number)
                else:
                    self.state = DoorModel.RELEASED
                    self._open_at = since + self.release_ms + self.spring_ms
        if self.state == DoorModel.RELEASED and now >= self._open_at:
            self._open(self._open_at, False)
        if self.state == DoorModel.OPEN and not self.leave_open and now >= self.opened_at + self.hold_open_ms:
            self._close(self.opened_at + self.hold_open_ms)
        level = 1 if self.state == DoorModel.OPEN else 0
        if now < self._bounce_until:
            level = self.rng.below(2)
        hal.drive(self.sensor, level)

    def force_open(self):
        """Someone pries the door open: no unlock, latch broken."""
        if self.state != DoorModel.OPEN:
            self._open(self.hal.clock.ms, True)
            self.hal.drive(self.sensor, 1)

    def close(self):
        """The person closes the door now."""
        if self.state == DoorModel.OPEN:
            self._close(self.hal.clock.ms)
            self.hal.drive(self.sensor, 0)

    def _open(self, t, forced):
        self.state = DoorModel.OPEN
        self.opened_at = t
        self._bounce_until = t + self.bounce_ms
        self.opens += 1
        if forced:
            self.forced_opens += 1
            self.log("door %d forced open" % self.number)
        else:
            self.log("door %d opened" % self.number)

    def _close(self, t):
        self.log("door %d closed after %d ms open" % (self.number, t - self.opened_at))
        self.state = DoorModel.CLOSED
        self._bounce_until = t + self.bounce_ms
        self.closes += 1

    def longest_on_ms(self, recorder):
        return recorder.longest_on_ms(name="door %d" % self.number)


# ---------------------------------------------------------------------------------------------------------
# Spiral lanes


class LaneModel:
    """One spiral lane: a motor with a cam on a home switch, and a row of items.

    The cam presses the home switch within +-7.5 deg of 0. pos is the motor angle in ms of powered running
    (period = turn_ms with this motor's own speed error). A turn completes when the cam reaches the home
    window again: that is when the spiral pushes its front item off (or leaves it hanging)."""

    def __init__(self, number, row, col, turn_ms, rng, opts):
        self.number = number
        self.row = row
        self.col = col
        self.rng = rng
        spread = opts["speed_spread"]
        self.period = turn_ms * (1000000 + rng.between(-spread, spread)) // 1000000
        self.half_window = self.period * 75 // 3600
        self.pos = 0
        self.items = opts["items"]
        self.hang_ppm = opts["hang_rate"]
        self.jammed = opts["jammed"]
        self.drop_delay = (opts["drop_delay_min_ms"], opts["drop_delay_max_ms"])
        self.drop_beam_ms = opts["drop_beam_ms"]
        self.hung = False
        self.turns = 0
        self.dropped = 0
        self.hangs = 0
        self.stalled_ms = 0
        self.stall_logged = False

    @property
    def angle_mdeg(self):
        return self.pos * 360000 // self.period

    def at_home(self):
        return self.pos < self.half_window or self.pos >= self.period - self.half_window

    def run(self, dt, now, matrix):
        """The motor was powered for the dt ms ending at now."""
        if self.jammed:
            self.stalled_ms += dt
            return
        period = self.period
        mark = period - self.half_window
        while dt > 0:
            if self.pos < mark:
                d = min(dt, mark - self.pos)
                self.pos += d
                dt -= d
                if self.pos == mark:
                    self._turn_done(now - dt, matrix)
            else:
                d = min(dt, period - self.pos)
                self.pos += d
                dt -= d
                if self.pos == period:
                    self.pos = 0

    def _turn_done(self, t, matrix):
        self.turns += 1
        if self.items <= 0:
            return
        if self.hung:
            self.hung = False
        elif self.rng.chance(self.hang_ppm):
            self.hung = True
            self.hangs += 1
            matrix.log("lane %d: item hung on the spiral" % self.number)
            return
        self.items -= 1
        self.dropped += 1
        start = t + self.rng.between(self.drop_delay[0], self.drop_delay[1])
        matrix.falling.append([start, start + self.drop_beam_ms, self.number])


class LaneMatrix:
    """The lane motors on a row/column matrix (motor (r, c) runs iff row r and col c are both 1), one shared
    home-sense input (0 when a powered motor's cam presses its switch) and one drop beam at the chute."""

    def __init__(self, lanes_cfg, hal, rng, settings, log):
        self.hal = hal
        self.log = log
        self.rows = lanes_cfg["rows"]
        self.cols = lanes_cfg["cols"]
        self.home_sense = lanes_cfg["home_sense"]
        self.drop_sensor = lanes_cfg["drop_sensor"]
        self.lanes = []
        for u in lanes_cfg["units"]:
            self.lanes.append(LaneModel(u["number"], u["row"], u["col"], lanes_cfg["turn_ms"], rng.child(),
                                        settings[u["number"]]))
        self.falling = []  # [beam start ms, beam end ms, lane number], items on their way down
        self._stall_logged = set()   # jammed lanes whose stall was logged while driven
        self.beam_blocked = False
        self._in_beam = 0
        self._last = hal.clock.ms
        self._beam_t = hal.clock.ms  # beam changes up to here are applied
        for pin in self.rows + self.cols:
            hal.watch(pin, self._pins_changed)
        hal.drive(self.drop_sensor, 0)
        self._update_home()

    def lane(self, number):
        for lane in self.lanes:
            if lane.number == number:
                return lane
        raise KeyError("no lane %r" % (number,))

    def powered(self, lane):
        return self.hal.level(self.rows[lane.row]) and self.hal.level(self.cols[lane.col])

    def block_beam(self, blocked=True):
        """Something sits in the drop beam (a fault the firmware must notice before a vend)."""
        self.beam_blocked = blocked
        self._drive_beam()

    def _powered_lanes(self):
        """The lanes whose row and column are both driven: usually none, so the rows are looked at first
        (a pilot steps the matrix every few virtual ms for weeks)."""
        level = self.hal.level
        rows = {i for i, pin in enumerate(self.rows) if level(pin)}
        if not rows:
            return ()
        cols = {i for i, pin in enumerate(self.cols) if level(pin)}
        return [lane for lane in self.lanes if lane.row in rows and lane.col in cols] if cols else ()

    def step(self, now):
        dt = now - self._last
        self._last = now
        if dt > 0:
            powered = self._powered_lanes()
            for lane in powered:
                if lane.jammed and not lane.stall_logged:
                    lane.stall_logged = True
                    self._stall_logged.add(lane)
                    self.log("lane %d motor stalled (jammed)" % lane.number)
                lane.run(dt, now, self)
            for lane in [lane for lane in self._stall_logged if lane not in powered]:
                lane.stall_logged = False          # logged again when it is next driven into the jam
                self._stall_logged.discard(lane)
        self._step_beam(now)
        self._update_home()

    def _step_beam(self, now):
        # Replay beam changes in time order, so even a coarse step produces every rising edge.
        changes = []
        for f in self.falling:
            if f[0] <= now and f[0] > self._beam_t:
                changes.append((f[0], 1, f[2]))
            if f[1] <= now and f[1] > self._beam_t:
                changes.append((f[1], -1, f[2]))
        changes.sort(key=lambda c: c[0] * 2 + (0 if c[1] > 0 else 1))
        for t, delta, number in changes:
            self._in_beam += delta
            if delta > 0:
                self.log("lane %d: item dropped through the beam" % number)
            self._drive_beam()
        self.falling = [f for f in self.falling if f[1] > now]
        self._beam_t = now

    def _drive_beam(self):
        self.hal.drive(self.drop_sensor, 1 if (self._in_beam > 0 or self.beam_blocked) else 0)

    def _pins_changed(self, pin, level):
        self._update_home()

    def _update_home(self):
        pressed = any(lane.at_home() for lane in self._powered_lanes())
        self.hal.drive(self.home_sense, 0 if pressed else 1)


# ---------------------------------------------------------------------------------------------------------
# Weigh bins


class BinModel:
    """What sits on one load cell: the container, its pieces and any calibration weight."""

    def __init__(self, number, clock, opts, log):
        self.number = number
        self.clock = clock
        self.log = log
        self.tare_mg = opts["tare_g"]
        self.piece_mg = opts["piece_weight_g"]
        self.pieces = opts["pieces"]
        self.placed_mg = 0
        self.hand_ms = opts["hand_ms"]
        self.disturbed_until = -1

    def load_mg(self):
        return self.tare_mg + self.pieces * self.piece_mg + self.placed_mg

    def take(self, n=1, hand_ms=None):
        """A hand takes up to n pieces; returns how many it got."""
        n = min(n, self.pieces)
        self.pieces -= n
        self.disturb(self.hand_ms if hand_ms is None else hand_ms)
        self.log("bin %d: %d taken, %d left" % (self.number, n, self.pieces))
        return n

    def put(self, n=1, hand_ms=None):
        self.pieces += n
        self.disturb(self.hand_ms if hand_ms is None else hand_ms)
        self.log("bin %d: %d put in, %d now" % (self.number, n, self.pieces))

    def place(self, grams, hand_ms=None):
        """Set the calibration weight lying in the bin (place(0) lifts it off)."""
        self.placed_mg = milli(grams)
        self.disturb(self.hand_ms if hand_ms is None else hand_ms)

    def disturb(self, ms):
        """A hand in the bin for ms: readings swing wildly until it is out."""
        self.disturbed_until = max(self.disturbed_until, self.clock.ms + ms)


def _clip24(v):
    if v > 0x7FFFFF:
        return 0x7FFFFF
    if v < -0x800000:
        return -0x800000
    return v


class HX711Model:
    """An HX711 on one load cell, converting at 10 samples/s. DOUT goes 0 when a conversion is ready; each
    SCK rising edge shifts out the next bit, MSB first, 24 bits two's complement; pulse 25 (26, 27) picks
    channel A gain 128 (B 32, A 64) for the next conversion and DOUT goes 1 until it is ready."""

    PERIOD_MS = 100
    WAKE_MS = 400  # settling after power-up before the first conversion

    def __init__(self, bin_model, dout, hal, rng, opts):
        self.bin = bin_model
        self.dout = dout
        self.hal = hal
        self.rng = rng
        spread = opts["counts_spread"]
        cpk = opts["counts_per_g"]  # counts per kg, from the milli conversion
        self.counts_per_kg = cpk * (1000000 + rng.between(-spread, spread)) // 1000000
        zero = opts["zero_offset"]
        self.zero_offset = rng.between(-150000, 150000) if zero is None else zero
        self.noise = opts["noise_counts"]
        self.drift_per_hour = opts["drift_counts_per_hour"]
        self.hand_noise = abs(self.counts_per_kg) * opts["hand_noise_g"] // 1000000
        self.t0 = hal.clock.ms
        self.next_ready = hal.clock.ms + 1 + rng.below(self.PERIOD_MS)
        self.powered = True
        self.ready = False
        self.bits = 0         # SCK pulses in the current read
        self.gain_pulses = 25
        self.data = 0         # 24-bit pattern being shifted out
        self.conversions = 0
        self.reads = 0
        self.last_read = None  # the signed value of the last complete read, as the firmware should see it
        self.stray_pulses = 0
        self.aborted_reads = 0
        self._last_pulse = -1
        hal.drive(dout, 1)

    def expected(self, t=None):
        """The noise-free reading at virtual time t (gain 128)."""
        if t is None:
            t = self.hal.clock.ms
        raw = self.zero_offset + self.counts_per_kg * self.bin.load_mg() // 1000000
        raw += self.drift_per_hour * (t - self.t0) // 3600000
        return _clip24(raw)

    def sample(self, t):
        rng = self.rng
        if self.gain_pulses == 26:
            return _clip24(rng.gauss(self.noise))  # channel B: nothing wired there
        raw = self.expected(t) + rng.gauss(self.noise)
        if t < self.bin.disturbed_until:
            raw += rng.gauss(self.hand_noise)
        if self.gain_pulses == 27:
            raw //= 2
        return _clip24(raw)

    def step(self, now):
        if not self.powered or self.next_ready > now:
            return
        period = self.PERIOD_MS
        behind = (now - self.next_ready) // period
        t = self.next_ready + behind * period  # a coarse step samples once, at the latest conversion
        self.next_ready = t + period
        if self.ready and self.bits > 0:
            if t - self._last_pulse < period:
                return  # mid-read: the shift register is busy
            self.aborted_reads += 1
        if 25 <= self.bits <= 27:
            self.gain_pulses = self.bits
        self.data = self.sample(t) & 0xFFFFFF
        self.conversions += 1
        self.ready = True
        self.bits = 0
        self.hal.drive(self.dout, 0)

    def pulse(self):
        """One SCK rising edge."""
        if not self.powered:
            return
        self._last_pulse = self.hal.clock.ms
        if not self.ready:
            if 25 <= self.bits < 27:
                self.bits += 1  # gain-select pulses after the read
            else:
                self.stray_pulses += 1
            return
        self.bits += 1
        if self.bits <= 24:
            self.hal.drive(self.dout, (self.data >> (24 - self.bits)) & 1)
            return
        self.ready = False
        self.reads += 1
        d = self.data
        self.last_read = d - 0x1000000 if d & 0x800000 else d
        self.hal.drive(self.dout, 1)

    def power_down(self):
        self.powered = False
        self.ready = False
        self.bits = 0
        self.hal.drive(self.dout, 1)

    def wake(self, now):
        self.powered = True
        self.gain_pulses = 25  # power-up resets to channel A gain 128
        self.next_ready = now + self.WAKE_MS


class HX711Bank:
    """All HX711s share one SCK; each has its own DOUT. SCK held high for more than 60 us powers every
    HX711 down; they restart when it goes low. longest_high_us is the longest clock-high pulse seen."""

    POWER_DOWN_US = 60

    def __init__(self, bins_cfg, hal, rng, settings, log):
        self.hal = hal
        self.log = log
        self.sck = bins_cfg["sck"]
        self.bins = []
        self.cells = []
        for u in bins_cfg["units"]:
            opts = settings[u["number"]]
            b = BinModel(u["number"], hal.clock, opts, log)
            self.bins.append(b)
            self.cells.append(HX711Model(b, u["dout"], hal, rng.child(), opts))
        self.powered_down = False
        self.longest_high_us = 0
        self._rise_us = 0
        hal.watch(self.sck, self._sck_changed)

    def _sck_changed(self, pin, level):
        now_us = self.hal.clock.now_us()
        if level:
            self._rise_us = now_us
            for c in self.cells:
                c.pulse()
            return
        high = now_us - self._rise_us
        if high > self.longest_high_us:
            self.longest_high_us = high
        if high > self.POWER_DOWN_US:
            self._power_down()       # it went down during the pulse; a step may not have looked meanwhile
        if self.powered_down:
            self.powered_down = False
            for c in self.cells:
                c.wake(self.hal.clock.ms)

    def _power_down(self):
        if not self.powered_down:
            self.powered_down = True
            self.log("HX711s powered down: SCK held high")
            for c in self.cells:
                c.power_down()

    def step(self, now):
        if self.hal.level(self.sck) and self.hal.clock.now_us() - self._rise_us > self.POWER_DOWN_US:
            self._power_down()
        for c in self.cells:
            c.step(now)


# ---------------------------------------------------------------------------------------------------------
# The whole cabinet


class Physics:
    """Every physical model of one cabinet, built from the normalised config and the raw [sim] table, wired
    to the SimHAL's pins. step(now) advances them all; safety records what the actuators really did.

    log(ms, text) is called for physical happenings (door opened, item dropped, motor stalled)."""

    def __init__(self, config, sim, hal, seed=0, log=None):
        self.hal = hal
        self.clock = hal.clock
        self._log_fn = log
        settings = sim_settings(config, sim)
        rng = Rng(seed ^ 0x5EED)
        self.safety = SafetyRecorder(hal)
        self.doors = []
        drng = rng.child()
        for d in config["doors"]:
            self.doors.append(DoorModel(d["number"], d["solenoid"], d["sensor"], hal, drng.child(),
                                        settings["door"][d["number"]], self.log))
            self.safety.add("door %d" % d["number"], "solenoid", [d["solenoid"]])
        lanes = config["lanes"]
        lrng = rng.child()
        self.matrix = None
        if lanes["units"]:
            self.matrix = LaneMatrix(lanes, hal, lrng, settings["lane"], self.log)
            for lane in self.matrix.lanes:
                self.safety.add("lane %d" % lane.number, "motor",
                                [lanes["rows"][lane.row], lanes["cols"][lane.col]])
        brng = rng.child()
        self.scale = None
        if config["bins"]["units"]:
            self.scale = HX711Bank(config["bins"], hal, brng, settings["bin"], self.log)

    def log(self, text):
        if self._log_fn is not None:
            self._log_fn(self.clock.ms, text)

    def miswire_door(self, number, to):
        """An installer's wiring mistake: door `number`'s latch output drives door `to`'s solenoid (wired to
        it alongside `to`'s own output) and nothing drives door `number`'s; to=None: door `number`'s
        output is wired to nothing at all (an open wire). Its reed switch still works."""
        door = self.door(number)
        door.coils = []
        if to is not None:
            self.door(to).coils.append(door.solenoid)
        self.log("door %d latch wired to %s" % (number, "nothing" if to is None else "door %d" % to))

    def door(self, number):
        for d in self.doors:
            if d.number == number:
                return d
        raise KeyError("no door %r" % (number,))

    def lane(self, number):
        if self.matrix is None:
            raise KeyError("no lane %r" % (number,))
        return self.matrix.lane(number)

    def bin(self, number):
        return self.hx711(number).bin

    def hx711(self, number):
        if self.scale is not None:
            for c in self.scale.cells:
                if c.bin.number == number:
                    return c
        raise KeyError("no bin %r" % (number,))

    def step(self, now=None):
        if now is None:
            now = self.clock.ms
        for d in self.doors:
            d.step(now)
        if self.matrix is not None:
            self.matrix.step(now)
        if self.scale is not None:
            self.scale.step(now)
