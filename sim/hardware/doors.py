# Doors: a spring-bolt latch pulled by a solenoid, and a reed sensor.


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
        self.resting = False       # at rest with the sensor reading shut: step() and next_event() do nothing
        hal.drive(sensor, 0)

    @property
    def is_open(self):
        return self.state == DoorModel.OPEN

    def step(self, now):
        hal = self.hal
        if self._at_rest(now):
            if hal.levels.get(self.sensor) != 0:
                hal.drive(self.sensor, 0)      # shut, still, nothing pulling the bolt: the common case
            self.resting = True
            return
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

    def next_event(self, now):
        """When step() next changes something with the coils as they are (None: nothing timed)."""
        if self._at_rest(now):
            return None                    # asked every pass
        if now < self._bounce_until:
            return now + 1                 # the reed chatters: a new level every pass
        if self.state == DoorModel.RELEASED:
            return self._open_at
        if self.state == DoorModel.OPEN:
            return None if self.leave_open else self.opened_at + self.hold_open_ms
        due = None
        levels = self.hal.levels
        for coil in self.coils:
            if levels.get(coil):
                since = self.hal.since(coil)
                if since != self._released_pulse.get(coil):
                    t = since + self.release_ms
                    due = t if due is None else min(due, t)
        return due

    def wake(self):
        """A coil pin changed: step() must look again (Physics calls it; the coils may be another door's)."""
        self.resting = False

    def _at_rest(self, now):
        """Shut, still and nothing pulling the bolt: the common case, where step() and next_event() have
        nothing to do."""
        if self.state != DoorModel.CLOSED or now < self._bounce_until:
            return False
        levels = self.hal.levels
        for coil in self.coils:
            if levels.get(coil):
                return False
        return True

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
        self.resting = False
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
        self.resting = False
        self.state = DoorModel.CLOSED
        self._bounce_until = t + self.bounce_ms
        self.closes += 1

    def longest_on_ms(self, recorder):
        return recorder.longest_on_ms(name="door %d" % self.number)
