# A locker door: a fail-secure solenoid latch pulsed to unlock, and a reed switch saying open or closed.
# An unlock succeeds when the door opens within its window; an opening with no unlock window running is
# reported as forced; a door open past its limit raises a left-open alarm once per opening.
from firmware import messages as M
from firmware.config import SOLENOID_CAP_MS
from firmware.ticks import sooner, ticks_add, ticks_diff, wait_until


class Door:
    def __init__(self, cfg, hal, outputs, now):
        self.number = cfg["number"]
        self.coil = outputs.actuator("door %d" % self.number, [cfg["solenoid"]], SOLENOID_CAP_MS, 3)
        self._sensor = hal.input(cfg["sensor"], True)
        self.pulse_ms = cfg["pulse_ms"]
        self._window_ms = cfg["open_window_ms"]
        self._left_open_ms = cfg["left_open_ms"]
        self._debounce_ms = cfg["debounce_ms"]
        # At boot the door's state is taken as it is: an open door is not reported as forced.
        self.is_open = self._sensor.value()
        self._raw = self.is_open
        self._raw_since = now
        self._opened_at = now
        self._alarmed = False
        self.cmd = None            # the unlock waiting for the door to open
        self._unlocked_at = 0
        self._pulse_end = 0
        self._window_end = 0

    def state(self):
        if self.cmd is not None:
            return M.DOOR_UNLOCKING
        return M.DOOR_OPEN if self.is_open else M.DOOR_CLOSED

    def unlock(self, cmd, now, pulse_ms, cab):
        if self.cmd is not None:
            return M.E_BUSY
        if self.is_open:
            cmd.finish(M.R_OPENED, 0)   # nothing to unlock: the door is already open
            return M.OK
        ms = pulse_ms or self.pulse_ms
        status = cab.outputs.energise(self.coil, now, ms)
        if status != M.OK:
            return status
        self.cmd = cmd
        self._unlocked_at = now
        self._pulse_end = ticks_add(now, ms)
        self._window_end = ticks_add(now, self._window_ms)
        return M.OK

    def abort(self, cab, now):
        if self.cmd is not None:
            cab.outputs.release(self.coil, now)
            cab.finish(self.cmd, M.R_ABORTED, 0)
            self.cmd = None

    def step(self, now, cab):
        outputs = cab.outputs
        if outputs.active is self.coil and (self.is_open or ticks_diff(now, self._pulse_end) >= 0):
            outputs.release(self.coil, now)

        raw = self._sensor.value()
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
        elif raw != self.is_open and ticks_diff(now, self._raw_since) >= self._debounce_ms:
            self.is_open = raw
            if raw:
                self._on_opened(now, cab)
            else:
                cab.event(M.EV_DOOR_CLOSED, self.number, ticks_diff(now, self._opened_at))

        if self.cmd is not None and ticks_diff(now, self._window_end) >= 0:
            if outputs.active is self.coil:
                outputs.release(self.coil, now)
            cab.finish(self.cmd, M.R_NOT_OPENED, 0)
            self.cmd = None

        if self.is_open and not self._alarmed and ticks_diff(now, self._opened_at) >= self._left_open_ms:
            self._alarmed = True
            cab.event(M.EV_DOOR_LEFT_OPEN, self.number, ticks_diff(now, self._opened_at) // 1000)

    def due_in(self, now, outputs):
        """Ms until step() has something to do with the sensor as it is: the pulse's end, the debounce, the
        unlock window, the left-open alarm (None: nothing timed)."""
        due = None
        if outputs.active is self.coil:
            due = 0 if self.is_open else wait_until(self._pulse_end, now)
        if self._raw != self.is_open:
            due = sooner(due, wait_until(ticks_add(self._raw_since, self._debounce_ms), now))
        if self.cmd is not None:
            due = sooner(due, wait_until(self._window_end, now))
        if self.is_open and not self._alarmed:
            due = sooner(due, wait_until(ticks_add(self._opened_at, self._left_open_ms), now))
        return due

    def _on_opened(self, now, cab):
        self._opened_at = now
        self._alarmed = False
        authorised = self.cmd is not None
        cab.event(M.EV_DOOR_OPENED, self.number, 1 if authorised else 0)
        if authorised:
            cab.finish(self.cmd, M.R_OPENED, ticks_diff(now, self._unlocked_at))
            self.cmd = None
        else:
            cab.event(M.EV_DOOR_FORCED, self.number)
