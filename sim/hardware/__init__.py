# Simulated cabinet hardware, one unit per module: rng.py (seeded numbers), hal.py (SimClock, SimHAL over virtual
# pins: the contract in firmware/hal.py), safety.py (what the actuators really did), settings.py (the [sim]
# table), doors.py, lanes.py, bins.py (load cells and HX711s), physics.py (the whole cabinet, stepped).
# `from sim.hardware import X` reaches every one of them.
#
# Portable on purpose: tests run the firmware and this package together on MicroPython 1.27 and compare with
# CPython, so the same seed must give the same numbers in both. Hence plain classes and ints, our own PRNG
# (no random, no math), no dataclasses or typing, and never iterating a dict where order matters
# (MicroPython dicts are not insertion-ordered; units live in lists, dicts are only for lookup). The emulated
# Pico loads this package into MicroPython's WebAssembly build (sim/pico/physics.mjs copies every .py here).
#
# Time: physics models keep absolute virtual ms (clock.ms, never wraps); only the firmware sees wrapping
# ticks (hal.ticks_ms()). A model's step(now) covers the interval since its last step with the output pins as
# they were during it, so the runner steps physics first and the firmware (which writes pins) second.
from sim.hardware.bins import BinModel, HX711Bank, HX711Model  # noqa: F401
from sim.hardware.doors import DoorModel  # noqa: F401
from sim.hardware.hal import (TICKS_PERIOD, EdgeCounter, SimClock, SimHAL, SimInput, SimOutput,  # noqa: F401
                              SimUART, SimWatchdog, config_pins)
from sim.hardware.lanes import LaneMatrix, LaneModel  # noqa: F401
from sim.hardware.physics import Physics  # noqa: F401
from sim.hardware.rng import Rng, milli, ppm  # noqa: F401
from sim.hardware.safety import SafetyRecorder  # noqa: F401
from sim.hardware.settings import BIN_KEYS, DOOR_KEYS, LANE_KEYS, sim_settings  # noqa: F401
