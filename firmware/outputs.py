# Every actuator pin goes through here. Whatever a door, a lane or the host asks, this enforces the
# safety rules in one place: at most one coil or motor energised at a time, each on-time cut at its hard
# cap, and a coil's off-time of at least three times its last on-time (so a solenoid cannot overheat).
from firmware.messages import OK, E_BUSY, E_COOLDOWN
from firmware.ticks import ticks_add, ticks_diff, wait_until


class Actuator:
    """One coil or one matrix motor: the pins that must all be on to energise it."""

    def __init__(self, name, gpios, pins, cap_ms, off_factor):
        self.name = name
        self.gpios = gpios
        self.pins = pins
        self.cap_ms = cap_ms
        self.off_factor = off_factor
        self.ready_at = None   # ticks before which it must stay off (coil cooling)


class Outputs:
    def __init__(self, hal):
        self._hal = hal
        self._pins = {}        # gpio -> pin object, created driven off
        self.active = None     # the one energised Actuator, or None
        self._on_at = 0
        self._deadline = 0

    def _pin(self, gpio):
        pin = self._pins.get(gpio)
        if pin is None:
            pin = self._hal.output(gpio)
            pin.value(0)
            self._pins[gpio] = pin
        return pin

    def actuator(self, name, gpios, cap_ms, off_factor=0):
        return Actuator(name, gpios, [self._pin(g) for g in gpios], cap_ms, off_factor)

    def all_off(self):
        for pin in self._pins.values():
            pin.value(0)
        self.active = None

    def energise(self, act, now, ms):
        """Switch act on for at most min(ms, its cap). Nothing happens unless the answer is OK."""
        if self.active is not None:
            return E_BUSY
        if act.ready_at is not None and ticks_diff(act.ready_at, now) > 0:
            return E_COOLDOWN
        if ms > act.cap_ms:
            ms = act.cap_ms
        self.active = act
        self._on_at = now
        self._deadline = ticks_add(now, ms)
        for pin in act.pins:
            pin.value(1)
        return OK

    def release(self, act, now):
        if self.active is not act:
            return
        for pin in act.pins:
            pin.value(0)
        self.active = None
        if act.off_factor:
            act.ready_at = ticks_add(now, ticks_diff(now, self._on_at) * act.off_factor)

    def enforce(self, now):
        """Cut the active output at its deadline; returns the actuator that had to be cut, else None."""
        act = self.active
        if act is not None and ticks_diff(now, self._deadline) >= 0:
            self.release(act, now)
            return act
        return None

    def due_in(self, now):
        """Ms until enforce() has an output to cut (None: none is on)."""
        return None if self.active is None else wait_until(self._deadline, now)
