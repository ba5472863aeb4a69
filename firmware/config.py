# The cabinet configuration: what an installer writes (TOML on the PC, read with tomllib, or JSON on the
# board) normalised into one plain dict the firmware runs from. Portable Python, so the board, sim/, the
# agent and tools/flash.py all accept and reject exactly the same files. Errors name the unit and field.
from firmware.pinmap import BOARDS

SOLENOID_CAP_MS = 1000   # hard cap on one unlock pulse, whatever the config or the host asks
MOTOR_CAP_MS = 10000     # hard cap on one motor run, whatever the config says
HOME_WINDOW_PARTS = 24   # the home cam's switch is closed for 1/24 of a turn (15 deg)


class ConfigError(ValueError):
    pass


def _int(section, key, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("%s: %s must be a whole number, got %r" % (section, key, value))
    if value < lo or value > hi:
        raise ConfigError("%s: %s must be between %d and %d, got %d" % (section, key, lo, hi, value))
    return value


def _get(table, section, key, default, lo, hi):
    return _int(section, key, table.get(key, default), lo, hi)


def _table(raw, key, section):
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError("%s must be a table" % section)
    return value


def _list_of_tables(raw, key):
    value = raw.get(key, [])
    if not isinstance(value, list) or any(not isinstance(v, dict) for v in value):
        raise ConfigError("%s must be a list of tables ([[%s]] in TOML)" % (key, key))
    return value


def _default_pin(board_map, key, index, section, field):
    pins = board_map[key]
    if index < len(pins):
        return pins[index]
    raise ConfigError("%s: no default pin for %s on this board; set %s = <gpio>" % (section, field, field))


class _Pins:
    """Checks that every pin exists on the board and is used once."""

    def __init__(self, board_map, board):
        self.board_map = board_map
        self.board = board
        self.used = {}

    def take(self, pin, owner, output=False):
        pin = _int(owner, "pin", pin, 0, 63)
        if pin not in self.board_map["usable"]:
            raise ConfigError("%s: GPIO %d is not usable on the %s" % (owner, pin, self.board))
        if output and pin in self.board_map["input_only"]:
            raise ConfigError("%s: GPIO %d is input-only on the %s" % (owner, pin, self.board))
        if pin in self.used:
            raise ConfigError("%s: GPIO %d is already used by %s" % (owner, pin, self.used[pin]))
        self.used[pin] = owner
        return pin


def _numbers(units, kind):
    seen = []
    for i, unit in enumerate(units):
        number = _get(unit, "%s #%d" % (kind, i + 1), "number", i + 1, 1, 255)
        if number in seen:
            raise ConfigError("%s %d is listed twice" % (kind, number))
        seen.append(number)
    return seen


def normalize(raw):
    """Return the normalised config dict, or raise ConfigError saying what is wrong and where."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a table")
    cab = _table(raw, "cabinet", "[cabinet]")
    board = cab.get("board", "pico")
    if board not in BOARDS:
        raise ConfigError("[cabinet]: board must be one of %s, got %r" % (", ".join(sorted(BOARDS)), board))
    bmap = BOARDS[board]
    pins = _Pins(bmap, board)
    out = {"name": str(cab.get("name", "cabinet")), "board": board}

    link = _table(raw, "link", "[link]")
    uart = bmap["uart"]
    out["uart"] = {
        "id": _get(link, "[link]", "uart", uart["id"], 0, 2),
        "tx": pins.take(link.get("tx", uart["tx"]), "[link] tx", output=True),
        "rx": pins.take(link.get("rx", uart["rx"]), "[link] rx"),
        "baud": _get(link, "[link]", "baud", uart["baud"], 9600, 1000000),
    }
    led = cab.get("status_led", bmap["status_led"])
    out["status_led"] = None if led is None else pins.take(led, "[cabinet] status_led", output=True)

    doors = []
    door_units = _list_of_tables(raw, "door")
    for i, (d, number) in enumerate(zip(door_units, _numbers(door_units, "door"))):
        s = "door %d" % number
        doors.append({
            "number": number,
            "solenoid": pins.take(d.get("solenoid", _default_pin(bmap, "door_solenoid", i, s, "solenoid")),
                                  s + " solenoid", output=True),
            "sensor": pins.take(d.get("sensor", _default_pin(bmap, "door_sensor", i, s, "sensor")), s + " sensor"),
            "pulse_ms": _get(d, s, "pulse_ms", 500, 50, SOLENOID_CAP_MS),
            "open_window_ms": 1000 * _get(d, s, "open_window_s", 10, 1, 120),
            "left_open_ms": 1000 * _get(d, s, "left_open_s", 120, 5, 3600),
            "debounce_ms": _get(d, s, "debounce_ms", 50, 5, 1000),
        })
    out["doors"] = doors

    lane_units = _list_of_tables(raw, "lane")
    m = _table(raw, "lane_matrix", "[lane_matrix]")
    lanes = {"units": []}
    if lane_units:
        s = "[lane_matrix]"
        rows = m.get("rows", bmap["lane_rows"])
        cols = m.get("cols", bmap["lane_cols"])
        if not isinstance(rows, list) or not isinstance(cols, list) or not rows or not cols:
            raise ConfigError("[lane_matrix]: rows and cols must be non-empty lists of GPIO numbers")
        lanes["rows"] = [pins.take(p, "%s row %d" % (s, r + 1), output=True) for r, p in enumerate(rows)]
        lanes["cols"] = [pins.take(p, "%s col %d" % (s, c + 1), output=True) for c, p in enumerate(cols)]
        lanes["home_sense"] = pins.take(m.get("home_sense", bmap["home_sense"]), s + " home_sense")
        lanes["drop_sensor"] = pins.take(m.get("drop_sensor", bmap["drop_sensor"]), s + " drop_sensor")
        turn_ms = _get(m, s, "turn_ms", 2000, 200, MOTOR_CAP_MS // 2)
        lanes["turn_ms"] = turn_ms
        lanes["max_run_ms"] = min(2 * turn_ms, MOTOR_CAP_MS)
        lanes["retry_turns"] = _get(m, s, "retry_turns", 1, 0, 3)
        lanes["settle_ms"] = _get(m, s, "settle_ms", 600, 0, 5000)
        lanes["debounce_ms"] = _get(m, s, "debounce_ms", 20, 1, 500)
        # The home cam closes the switch for about 1/24 of a turn (+-7.5 deg): a debounce longer than half
        # of that never sees home, and every vend would end as a jam.
        if lanes["debounce_ms"] * HOME_WINDOW_PARTS * 2 > turn_ms:
            raise ConfigError("%s: debounce_ms %d is too long for turn_ms %d: the home switch is closed for "
                              "about %d ms a turn; use at most %d" % (s, lanes["debounce_ms"], turn_ms,
                                                                     turn_ms // HOME_WINDOW_PARTS,
                                                                     turn_ms // (2 * HOME_WINDOW_PARTS)))
        taken = {}
        for i, (u, number) in enumerate(zip(lane_units, _numbers(lane_units, "lane"))):
            ls = "lane %d" % number
            row = _get(u, ls, "row", i // len(cols) + 1, 1, len(rows))
            col = _get(u, ls, "col", i % len(cols) + 1, 1, len(cols))
            if (row, col) in taken:
                raise ConfigError("%s: row %d col %d is already lane %d" % (ls, row, col, taken[(row, col)]))
            taken[(row, col)] = number
            lanes["units"].append({"number": number, "row": row - 1, "col": col - 1})
    out["lanes"] = lanes

    bin_units = _list_of_tables(raw, "bin")
    sc = _table(raw, "scale", "[scale]")
    bins = {"units": []}
    if bin_units:
        s = "[scale]"
        bins["sck"] = pins.take(sc.get("sck", bmap["hx711_sck"]), s + " sck", output=True)
        bins["window"] = _get(sc, s, "window", 8, 2, 32)
        bins["stable_ms"] = _get(sc, s, "stable_ms", 400, 0, 10000)
        bins["settle_timeout_ms"] = _get(sc, s, "settle_timeout_ms", 5000, 500, 60000)
        for i, (u, number) in enumerate(zip(bin_units, _numbers(bin_units, "bin"))):
            bs = "bin %d" % number
            bins["units"].append({
                "number": number,
                "dout": pins.take(u.get("dout", _default_pin(bmap, "hx711_dout", i, bs, "dout")), bs + " dout"),
                # A reading is stable when the window spans at most this many raw counts.
                "stable_counts": _get(u, bs, "stable_counts", 400, 1, 1 << 20),
                # A stable change smaller than this is not reported (and zero tracking may absorb it).
                "report_mg": _get(u, bs, "report_mg", 1000, 1, 1 << 24),
                "zero_band_mg": _get(u, bs, "zero_band_mg", 500, 0, 1 << 20),
                "capacity_g": _get(u, bs, "capacity_g", 20000, 1, 200000),
            })
    out["bins"] = bins
    return out
