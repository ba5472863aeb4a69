# The simulated cabinet process: the real firmware (firmware.cabinet.Cabinet) on simulated hardware, in
# virtual time, behind a serial line with optional faults. CPython only (the pty bridge and CLI build on it).
#
# One tick, in this order: the line carries bytes (paced at the baud rate), physics advances over the
# elapsed interval with the pins as the firmware left them, scheduled faults fire, the watchdog is checked,
# then the firmware runs one main-loop pass exactly as firmware/main.py does (feed the watchdog only when
# step() returns True; on an exception: safe_off, an F_EXCEPTION event, hal.reset()).
import json
import os
import tomllib
import traceback

from firmware import messages as M
from firmware.cabinet import Cabinet
from firmware.config import ConfigError, normalize
from firmware.hal import WDT_MAX_MS
from firmware.main import WDT_TIMEOUT_MS
from sim.hardware import TICKS_PERIOD, Physics, Rng, SimClock, SimHAL, ppm, sim_settings
from sim.uart_rate import resample

ASK = object()        # next_events(): work the physical edges out afresh

RESET_NAMES = {
    M.RESET_POWER_ON: "power-on", M.RESET_WATCHDOG: "watchdog", M.RESET_HARD: "hard",
    M.RESET_SOFT: "soft", M.RESET_OTHER: "other",
}


def load_raw_config(path):
    """Read a cabinet config file (TOML, or JSON by extension) into a dict; ConfigError names the problem."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError("cannot read %s: %s" % (path, e.strerror or e)) from None
    try:
        if str(path).endswith(".json"):
            return json.loads(data)
        return tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError("%s is not valid %s: %s" % (path, "JSON" if str(path).endswith(".json") else "TOML",
                                                      e)) from None


class Faults:
    """What goes wrong in a run. Rates are per byte (both directions); resets are virtual ms since start.
    miswired_doors: (door, to) pairs: door's latch output drives door `to`'s solenoid instead of its own
    (to=0: the next door's, wrapping to the first; to=None: wired to nothing)."""

    def __init__(self, drop_rate=0.0, flip_rate=0.0, reset_every_ms=None, reset_at_ms=(), stuck_doors=(),
                 jammed_lanes=(), seed=0, reset_cause=M.RESET_POWER_ON, miswired_doors=()):
        for name, rate in (("drop_rate", drop_rate), ("flip_rate", flip_rate)):
            if not 0 <= rate <= 1:
                raise ValueError("%s must be between 0 and 1, got %r" % (name, rate))
        if reset_every_ms is not None and reset_every_ms <= 0:
            raise ValueError("reset_every_ms must be positive")
        self.drop_rate = drop_rate
        self.flip_rate = flip_rate
        self.reset_every_ms = reset_every_ms
        self.reset_at_ms = sorted(reset_at_ms)
        self.stuck_doors = list(stuck_doors)
        self.jammed_lanes = list(jammed_lanes)
        self.miswired_doors = list(miswired_doors)
        self.seed = seed
        self.reset_cause = reset_cause


class Line:
    """The serial wire: bytes move at the baud rate (10 bits a byte); each byte may be lost or get one bit
    flipped, with the fault seed, in both directions. host_baud: the rate the host's end is set to (the pty
    bridge reads it from the client's termios); when it is not the firmware's, each end hears the other's
    bits re-sampled at its own rate, as two UARTs set differently do (sim/uart_rate.py)."""

    def __init__(self, baud, faults, pace=True):
        self.baud = baud
        self.host_baud = None       # None: the host's end runs at `baud`
        self.bytes_per_s = baud // 10
        self.pace = pace
        self._drop = ppm(faults.drop_rate)
        self._flip = ppm(faults.flip_rate)
        self._rng = Rng(faults.seed ^ 0x11E)
        self._to_mcu = bytearray()
        self._to_host = bytearray()
        self._credit_in = 0
        self._credit_out = 0
        self.dropped = 0
        self.flipped = 0
        self.to_mcu_bytes = 0       # bytes put on the wire each way (before faults)
        self.to_host_bytes = 0

    def _mismatched(self):
        return self.host_baud is not None and self.host_baud != self.baud

    def host_write(self, data):
        self._to_mcu += resample(data, self.host_baud, self.baud) if self._mismatched() else data

    def busy(self):
        """Bytes wait to be carried, either way, or to be read by the host."""
        return bool(self._to_mcu or self._to_host)

    def host_read(self):
        if not self._to_host:       # most passes: no new buffer
            return b""
        out = bytes(self._to_host)
        self._to_host = bytearray()
        return resample(out, self.baud, self.host_baud) if out and self._mismatched() else out

    def _budget(self, credit, dt, waiting):
        if not self.pace:
            return waiting, 0
        credit += self.bytes_per_s * dt
        n = min(waiting, credit // 1000)
        credit -= n * 1000
        if n == waiting:
            credit = min(credit, 999)  # an idle line saves no bandwidth for later
        return n, credit

    def _corrupt(self, data):
        if not (self._drop or self._flip):
            return bytes(data)
        out = bytearray()
        rng = self._rng
        for b in data:
            if rng.chance(self._drop):
                self.dropped += 1
                continue
            if rng.chance(self._flip):
                b ^= 1 << rng.below(8)
                self.flipped += 1
            out.append(b)
        return bytes(out)

    def carry(self, dt, uart):
        if not (self._to_mcu or uart.tx):      # an idle line saves no bandwidth for later (_budget)
            if self.pace:
                gained = self.bytes_per_s * dt
                credit = self._credit_in + gained
                self._credit_in = credit if credit < 999 else 999
                credit = self._credit_out + gained
                self._credit_out = credit if credit < 999 else 999
            return
        n, self._credit_in = self._budget(self._credit_in, dt, len(self._to_mcu))
        if n:
            chunk = self._to_mcu[:n]
            self._to_mcu = self._to_mcu[n:]
            uart.receive(self._corrupt(chunk))
            self.to_mcu_bytes += n
        n, self._credit_out = self._budget(self._credit_out, dt, len(uart.tx))
        if n:
            self._to_host += self._corrupt(uart.transmit(n))
            self.to_host_bytes += n


class SimCabinet:
    """The real firmware on simulated hardware. config: a raw config dict (as read from TOML, with its
    optional [sim] table) or a path. log(ms, text) hears physical happenings and MCU resets.
    firmware_errors: "raise" (tests: a firmware exception propagates) or "reset" (as on a board).
    store: the flash contents (name -> JSON text); pass one sim's hal.store to the next to power-cycle.
    start_ms: where virtual time starts (near 2**30 to run the firmware across the ticks wrap).
    pace: False moves line bytes instantly instead of at the baud rate.
    hx711_words: the firmware reads the HX711s as one event each (SimHAL.hx711_reader), not pulse by pulse
    on the pin: for runs that do not test the bit timing (the pilot)."""

    def __init__(self, config, seed=0, faults=None, log=None, start_ms=0, firmware_errors="raise", pace=True,
                 store=None, hx711_words=False):
        raw = config if isinstance(config, dict) else load_raw_config(config)
        try:
            self.config = normalize(raw)
            sim_settings(self.config, raw.get("sim"))  # check [sim] here too, so errors name the file
        except ConfigError as e:
            if isinstance(config, dict):
                raise
            raise ConfigError("%s: %s" % (config, e)) from None
        if firmware_errors not in ("raise", "reset"):
            raise ValueError("firmware_errors must be 'raise' or 'reset'")
        self.raw = raw
        self.seed = seed
        self.faults = faults or Faults()
        self.firmware_errors = firmware_errors
        self._log = log
        self.clock = SimClock(start_ms)
        self.start_ms = start_ms
        self.hal = SimHAL(self.config, self.clock, store=store, seed=seed)
        self.physics = Physics(self.config, raw.get("sim"), self.hal, seed=seed, log=log)
        self._apply_unit_faults()
        if self.physics.scale is not None:
            for cell in self.physics.scale.cells:
                self.hal.quiet_input(cell.dout)   # DOUT changes at conversions (next_event) and in reads
            if hx711_words:
                self.hal.hx711_words = self.physics.scale.word_reader
        self.line = Line(self.config["uart"]["baud"], self.faults, pace)
        self._resets_at = list(self.faults.reset_at_ms)
        every = self.faults.reset_every_ms
        self._next_periodic = None if every is None else start_ms + every
        self.boots = []           # (virtual ms, reset cause) of every boot, the first included
        self.firmware_exceptions = 0
        self.cab = None
        self._wdt = None
        self._boot(M.RESET_POWER_ON)

    def _apply_unit_faults(self):
        doors = [d.number for d in self.physics.doors]
        for n in self.faults.stuck_doors:
            if n not in doors:
                raise ConfigError("stuck door %r: the cabinet has doors %s" % (n, _listing(doors)))
            self.physics.door(n).stuck = True
        for n, to in self.faults.miswired_doors:
            if to == 0 and n in doors:
                to = doors[(doors.index(n) + 1) % len(doors)]
            for d in (n,) if to is None else (n, to):
                if d not in doors:
                    raise ConfigError("miswired door %r: the cabinet has doors %s" % (d, _listing(doors)))
            if n == to:
                raise ConfigError("miswired door %d: a door wired to itself is wired right" % n)
            self.physics.miswire_door(n, to)
        lanes = [] if self.physics.matrix is None else [l.number for l in self.physics.matrix.lanes]
        for n in self.faults.jammed_lanes:
            if n not in lanes:
                raise ConfigError("jammed lane %r: the cabinet has lanes %s" % (n, _listing(lanes)))
            self.physics.lane(n).jammed = True

    def log(self, text):
        if self._log is not None:
            self._log(self.clock.ms, text)

    @property
    def now(self):
        return self.clock.ms

    # --- MCU lifecycle ---------------------------------------------------------------------------------
    def _boot(self, cause):
        if self.boots:
            self.hal.mcu_reset(cause)  # every output pin drops to 0 before the new firmware runs
        self.boots.append((self.clock.ms, cause))
        self.cab = Cabinet(self.hal, self.config)
        self._wdt = self.hal.watchdog(min(WDT_TIMEOUT_MS, WDT_MAX_MS))

    def reset_mcu(self, cause=M.RESET_HARD):
        """Reset the microcontroller now (fault injection, or the agent pulling RUN): a new Cabinet boots
        from the same config and flash."""
        self.log("MCU reset (%s)" % RESET_NAMES.get(cause, cause))
        self._boot(cause)

    # --- virtual time ----------------------------------------------------------------------------------
    def advance(self, ms, step_ms=1):
        """Run physics and firmware for ms of virtual time, one firmware pass every step_ms."""
        end = self.clock.ms + ms
        while self.clock.ms < end:
            dt = min(step_ms, end - self.clock.ms)
            self.clock.advance(dt)
            self._tick(dt)

    def run_until(self, predicate, timeout_ms, step_ms=1):
        """Advance until predicate() is true (checked after every pass); False if timeout_ms ran out."""
        end = self.clock.ms + timeout_ms
        while self.clock.ms < end:
            self.advance(min(step_ms, end - self.clock.ms), step_ms)
            if predicate():
                return True
        return False

    def next_event(self):
        """The virtual ms of the next thing that can happen with no byte written by the host: a byte on the
        line, an input the firmware has not seen, a firmware timer (Cabinet.due_in), a physical edge
        (Physics.next_event), a scheduled fault; None when nothing can. Event-driven time
        (sim/virtual_host.py) runs the firmware's next pass there instead of every step."""
        if self.sending():
            return self.clock.ms
        conversion, other = self.next_events()
        if conversion is None or (other is not None and other < conversion):
            return other
        return conversion

    def sending(self):
        """The firmware's bytes are on their way to the host (or not read there yet): the line must run, though
        the firmware need not (host_step)."""
        return bool(self.hal.uart.tx or self.line._to_host)       # Line is this module's own

    def next_events(self, edge=ASK):
        """next_event() in two parts, both the firmware's: (the next HX711 conversion it reads, everything
        else), each None when nothing is due. While the conversion comes first, conversion_pass() may run its
        pass. Bytes on their way to the host are not in it (sending(): the firmware does not see them go).
        edge: Physics.next_edge as the caller knows it unchanged (no pin, step or hand since it asked)."""
        now = self.clock.ms
        hal = self.hal
        if self.line._to_mcu or hal.uart.rx or hal.input_changed or hal.reset_requested:
            return None, now
        physics = self.physics
        due = physics.next_edge(now) if edge is ASK else edge
        wait = self.cab.due_in(hal.ticks_ms())
        if wait is not None and (due is None or now + wait < due):
            due = now + wait
        wdt = hal.wdt                 # a firmware that stopped feeding it: the reset comes on time
        if wdt is not None:
            t = wdt.fed_at + wdt.timeout_ms + 1
            if due is None or t < due:
                due = t
        if self._resets_at or self._next_periodic is not None:
            for t in (self._resets_at[0] + self.start_ms if self._resets_at else None, self._next_periodic):
                if t is not None and (due is None or t < due):
                    due = t
        return self.next_conversion(), due

    def next_conversion(self):
        """The virtual ms of the next HX711 conversion the firmware reads (None: none will come ready)."""
        scale = self.physics.scale
        if scale is None:
            return None
        # The firmware reads the HX711s when every chip it has not given up on is ready (firmware/hx711.py).
        hx711 = self.cab.hx711
        return scale.next_event(self.clock.ms, hx711 is not None and not any(hx711.faulted))

    def conversion_pass(self, ms):
        """advance(ms, ms) for a pass that next_events() says has only an HX711 conversion to read: the
        doors and lanes are not stepped (Physics.step says why). False when the pass left anything to
        carry, an input or an output changed, or a reset is pending: next_events() must look again."""
        self.clock.advance(ms)
        hal = self.hal
        hal.output_changed = False
        self._tick(ms, conversion=True)
        return not (hal.output_changed or hal.input_changed or hal.uart.tx or hal.uart.rx or hal.reset_requested
                    or self.line.busy())

    def host_step(self, ms):
        """advance(ms, ms) without the firmware's pass, for a time when next_events() has nothing for it (no
        byte for it, no input, no timer, no edge, no conversion to read) and only the host has work: its own
        timer is due, or the line brings it the firmware's bytes. That pass would do nothing the firmware can
        tell (the due_in contract, docs/decisions/0049), so none runs, as between any two event-driven passes.
        The line and the physics run as in a pass's tick: a model stepped later would sample a conversion with
        a hand's later take in it."""
        self.clock.advance(ms)
        self.line.carry(ms, self.hal.uart)
        self.physics.step(self.clock.ms)

    def _reset_due(self):
        now = self.clock.ms
        due = False
        while self._resets_at and self._resets_at[0] <= now - self.start_ms:
            self._resets_at.pop(0)
            due = True
        if self._next_periodic is not None and now >= self._next_periodic:
            self._next_periodic += self.faults.reset_every_ms
            due = True
        return due

    def _tick(self, dt, conversion=False):
        hal = self.hal
        self.line.carry(dt, hal.uart)
        if conversion:
            self.physics.scale.step(self.clock.ms)
        else:
            self.physics.step(self.clock.ms)
        if (self._resets_at or self._next_periodic is not None) and self._reset_due():
            self.reset_mcu(self.faults.reset_cause)
            return
        if hal.reset_requested:
            if not (hal.flushing and hal.uart.tx):
                self.reset_mcu(M.RESET_SOFT)   # held in hal.flush() until the UART drained, now reset
            return
        if hal.watchdog_expired():
            self.reset_mcu(M.RESET_WATCHDOG)
            return
        cab = self.cab
        now = self.clock.ms % TICKS_PERIOD   # hal.ticks_ms(), without the call
        hal.input_changed = False     # this pass sees every input as it is now
        alive = False
        try:
            alive = cab.step(now)
        except Exception:
            if self.firmware_errors == "raise":
                raise
            self.firmware_exceptions += 1
            self.log("firmware raised:\n" + traceback.format_exc().rstrip())
            cab.safe_off()  # what firmware/main.py does
            try:
                cab.event(M.EV_FAULT, M.F_EXCEPTION, 0)
                cab.link.send_all()
                hal.flush()
            finally:
                hal.reset()
        if alive:
            self._wdt.feed()
        hal.idle()
        if hal.reset_requested and not (hal.flushing and hal.uart.tx):
            self.reset_mcu(M.RESET_SOFT)

    # --- the host's end of the serial line ------------------------------------------------------------
    def uart_host_write(self, data):
        self.line.host_write(data)

    def uart_host_read(self):
        return self.line.host_read()


def _listing(numbers):
    return ", ".join(str(n) for n in numbers) if numbers else "none"


def serve_pty(sim, speed=1.0):
    """Put sim behind a new pseudo-terminal, running in a background thread in step with real time (times
    speed). Returns the slave's path for any serial client; sim.bridge.stop() ends it."""
    from sim.ptybridge import PtyBridge
    bridge = PtyBridge(sim, speed)
    sim.bridge = bridge
    bridge.start()
    return bridge.path
