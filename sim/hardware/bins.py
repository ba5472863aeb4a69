# Weigh bins: what sits on each load cell, and the HX711s (shared SCK, one DOUT each) that read them.
from sim.hardware.rng import milli


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

    def word_ready(self):
        """A conversion waits and no read of it has begun: shift_word() may take it whole."""
        return self.powered and self.ready and self.bits == 0

    def shift_word(self):
        """The 25 clock pulses of one read at once (word_ready() first): the 24 bits, as pulse() gives them."""
        self._last_pulse = self.hal.clock.ms
        self.bits = 25
        self.ready = False
        self.reads += 1
        d = self.data
        self.last_read = d - 0x1000000 if d & 0x800000 else d
        self.hal.drive(self.dout, 1)
        return d

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
        self._by_dout = {c.dout: c for c in self.cells}

    def word_reader(self, douts):
        """A read of every chip as a single event (SimHAL.hx711_reader): fills values in `douts` order;
        pulse by pulse on the pin when a chip is not simply ready (powered down, not ready, mid-read)."""
        cells = [self._by_dout.get(d) for d in douts]
        known = None not in cells

        def read(values):
            if self.powered_down or not known:
                self._read_on_the_pin(douts, values)
                return
            for c in cells:
                if not c.word_ready():
                    self._read_on_the_pin(douts, values)
                    return
            for i in range(len(cells)):
                values[i] = cells[i].shift_word()
        return read

    def _read_on_the_pin(self, douts, values):
        from sim.hardware.hal import SimOutput      # only SimHAL offers the one-event read
        level = self.hal.level
        sck = SimOutput(self.hal, self.sck)
        for i in range(len(douts)):
            values[i] = 0
        for _ in range(24):
            sck.value(1)
            sck.value(0)
            for i in range(len(douts)):
                values[i] = (values[i] << 1) | level(douts[i])
        sck.value(1)
        sck.value(0)

    def next_event(self, now, together=False):
        """The next conversion coming ready (None: every chip is powered down). together: when the last of
        them is ready, the firmware reading them only then (it waits for every working chip): a conversion
        is taken late but at its own time (step() samples it as of then), before that chip's next one."""
        if self.hal.levels.get(self.sck):
            return now + 1                   # held high: it powers them down once 60 us have passed
        first = last = None
        for c in self.cells:
            if c.powered:
                t = c.next_ready
                if first is None or t < first:
                    first = t
                if not c.ready and (last is None or t > last):
                    last = t
        if not together or first is None:
            return first
        return min(first + HX711Model.PERIOD_MS - 1, now if last is None else last)

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
        if self.hal.levels.get(self.sck) and self.hal.clock.now_us() - self._rise_us > self.POWER_DOWN_US:
            self._power_down()
        for c in self.cells:
            if c.next_ready <= now:          # HX711Model.step's own first test, without the call
                c.step(now)
