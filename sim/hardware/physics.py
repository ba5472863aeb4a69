# The whole cabinet: every physical model, built from the config and the [sim] table, wired to the pins.
from sim.hardware.bins import HX711Bank
from sim.hardware.doors import DoorModel
from sim.hardware.lanes import LaneMatrix
from sim.hardware.rng import Rng
from sim.hardware.safety import SafetyRecorder
from sim.hardware.settings import sim_settings


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
            hal.watch(d["solenoid"], self._coil_changed)
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

    def _coil_changed(self, pin, level):
        for door in self.doors:     # a miswire may have made this pin another door's coil too
            door.wake()

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
            self.door(to).wake()
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

    def next_event(self, now, hx711_together=False):
        """When a model next changes an input by itself (None: nothing moves until a pin or a hand does).
        hx711_together: HX711Bank.next_event's, for a firmware that waits for every chip."""
        due = self.next_edge(now)
        if self.scale is not None:
            t = self.scale.next_event(now, hx711_together)
            if t is not None and (due is None or t < due):
                due = t
        return due

    def next_edge(self, now):
        """next_event without the HX711s: when a door or a lane next changes an input by itself."""
        due = None if self.matrix is None else self.matrix.next_event(now)
        for door in self.doors:
            if door.resting:             # the usual case: nothing timed, asked every pass
                continue
            t = door.next_event(now)
            if t is not None and (due is None or t < due):
                due = t
        return due

    def step(self, now=None):
        """Advance every model to now. Between the times next_edge() announces, doors and lanes change
        nothing that a later step would not catch up on (a lane's motor runs the whole interval then), so
        a pass that only reads a conversion may step the HX711s alone (SimCabinet.conversion_pass)."""
        if now is None:
            now = self.clock.ms
        for d in self.doors:
            if not d.resting:
                d.step(now)
        if self.matrix is not None:
            self.matrix.step(now)
        if self.scale is not None:
            self.scale.step(now)
