# Spiral lanes: motors on a row/column matrix, a shared home-sense input and a drop beam at the chute.


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

    def to_next_edge(self):
        """Powered ms until the cam leaves or reaches the home window (reaching it ends a turn)."""
        pos, half = self.pos, self.half_window
        if pos < half:
            return half - pos
        mark = self.period - half
        if pos < mark:
            return mark - pos
        return self.period - pos + half

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
        self._powered = self._find_powered()
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
        """The lanes whose row and column are both driven, as of the last row or column pin write."""
        return self._powered

    def _find_powered(self):
        """Usually none, so the rows are looked at first."""
        level = self.hal.level
        rows = {i for i, pin in enumerate(self.rows) if level(pin)}
        if not rows:
            return ()
        cols = {i for i, pin in enumerate(self.cols) if level(pin)}
        return [lane for lane in self.lanes if lane.row in rows and lane.col in cols] if cols else ()

    def step(self, now):
        if not (self._powered or self._stall_logged or self.falling):     # most passes: nothing moves
            self._last = self._beam_t = now
            if self.hal.levels.get(self.home_sense) != 1:
                self._update_home()
            return
        dt = now - self._last
        self._last = now
        if dt > 0 and (self._powered or self._stall_logged):   # mostly no motor runs: nothing to do
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

    def next_event(self, now):
        """When step() next changes an input: a powered cam at a home-window edge, an item entering or
        leaving the beam (None: nothing moves)."""
        due = None
        last = self._last          # pos is as of the last step (now, unless a conversion pass skipped it)
        for lane in self._powered:
            if not lane.jammed:
                t = last + lane.to_next_edge()
                due = t if due is None or t < due else due
        beam_t = self._beam_t
        for f in self.falling:
            t = f[0] if f[0] > beam_t else f[1]
            if t > beam_t and (due is None or t < due):
                due = t
        return due

    def _step_beam(self, now):
        # Replay beam changes in time order, so even a coarse step produces every rising edge.
        if not self.falling:
            self._beam_t = now
            return
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
        self.step(self.hal.clock.ms)   # the motors as they were up to now (a conversion pass skips the step)
        self._powered = self._find_powered()
        self._update_home()

    def _update_home(self):
        pressed = False
        for lane in self._powered:       # usually none: a loop, not any() over a generator, every pass
            if lane.at_home():
                pressed = True
                break
        self.hal.drive(self.home_sense, 0 if pressed else 1)
