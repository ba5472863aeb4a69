"""The cabinet config: the example is valid, defaults come from the board map, and mistakes are named."""
import tomllib
from pathlib import Path

import pytest

from firmware.config import ConfigError, normalize

EXAMPLE = Path(__file__).resolve().parent.parent / "examples/cabinet.toml"


def load_example():
    return tomllib.loads(EXAMPLE.read_text())


def test_example_cabinet_uses_the_pico_default_pins():
    cfg = normalize(load_example())
    assert [d["solenoid"] for d in cfg["doors"]] == [2, 3, 4, 5]
    assert len(cfg["lanes"]["units"]) == 12
    assert cfg["lanes"]["units"][4] == {"number": 5, "row": 1, "col": 0}
    assert cfg["lanes"]["max_run_ms"] == 2 * cfg["lanes"]["turn_ms"]
    assert [b["dout"] for b in cfg["bins"]["units"]] == [20, 21, 22, 26]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["door"][1].update(sensor=6), "door 2 sensor: GPIO 6 is already used by door 1 sensor"),
    (lambda c: c["door"][0].update(pulse_ms=5000), "door 1: pulse_ms must be between 50 and 1000, got 5000"),
    (lambda c: c["door"][0].update(pulse_ms="500"), "door 1: pulse_ms must be a whole number, got '500'"),
    (lambda c: c["cabinet"].update(board="arduino"), "board must be one of esp32, pico, got 'arduino'"),
    (lambda c: c["door"].append({}), "door 5: no default pin for solenoid on this board; set solenoid = <gpio>"),
    (lambda c: c["lane"][3].update(number=1), "lane 1 is listed twice"),
    (lambda c: c["lane"][0].update(row=9), "lane 1: row must be between 1 and 3, got 9"),
    (lambda c: c["bin"][0].update(dout=23), "bin 1 dout: GPIO 23 is not usable on the pico"),
    (lambda c: c["lane_matrix"].update(turn_ms=9000), "[lane_matrix]: turn_ms must be between 200 and 5000"),
    (lambda c: c["lane_matrix"].update(turn_ms=500), "debounce_ms 20 is too long for turn_ms 500: the home switch "
                                                     "is closed for about 20 ms a turn; use at most 10"),
])
def test_mistakes_are_refused_with_the_unit_and_field_named(change, message):
    raw = load_example()
    change(raw)
    with pytest.raises(ConfigError) as err:
        normalize(raw)
    assert message in str(err.value)


def test_input_only_pins_cannot_drive_a_solenoid_on_esp32():
    raw = {"cabinet": {"board": "esp32"}, "door": [{"solenoid": 34, "sensor": 32}]}
    with pytest.raises(ConfigError, match="door 1 solenoid: GPIO 34 is input-only on the esp32"):
        normalize(raw)
