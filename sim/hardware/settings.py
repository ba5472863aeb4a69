# The [sim] table: what is physically in the cabinet and how it behaves. Every key has a default; a key in
# [[sim.door]] / [[sim.lane]] / [[sim.bin]] (with `number`) overrides the [sim] value for that unit.
# (key in the unit table, key in [sim] or None if per-unit only, default, type, lo, hi)
#   types: int; bool; rate (0..1, kept as ppm); milli (a number kept x1000 as int: grams -> mg).
from firmware.config import ConfigError
from sim.hardware.rng import milli, ppm

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
