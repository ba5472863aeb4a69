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
        self._by_pin = {}     # pin -> the units it powers: a write can only switch those
        self._on = 0          # units energised now, overall and per kind
        self._on_kind = {}
        self.max_concurrent = 0
        self._max_kind = {}

    def add(self, name, kind, pins):
        unit = [name, kind, list(pins), None, 0, 0]
        self._units.append(unit)
        self._by_name[name] = unit
        for pin in pins:
            self._by_pin.setdefault(pin, []).append(unit)
            if pin not in self._watched:  # row/col pins are shared by several motors
                self._watched.append(pin)
                self.hal.watch(pin, self._changed)

    def _changed(self, pin, level):
        now = self.hal.clock.ms
        levels = self.hal.levels
        on_kind = self._on_kind
        for unit in self._by_pin[pin]:
            on = True
            for p in unit[2]:
                if not levels.get(p, 0):
                    on = False
                    break
            if on:
                if unit[3] is None:
                    unit[3] = now
                    unit[5] += 1
                    self._on += 1
                    on_kind[unit[1]] = on_kind.get(unit[1], 0) + 1
            elif unit[3] is not None:
                unit[4] = max(unit[4], now - unit[3])
                unit[3] = None
                self._on -= 1
                on_kind[unit[1]] -= 1
        self.max_concurrent = max(self.max_concurrent, self._on)
        for kind in on_kind:
            if on_kind[kind] > self._max_kind.get(kind, 0):
                self._max_kind[kind] = on_kind[kind]

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
