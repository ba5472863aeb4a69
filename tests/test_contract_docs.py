"""The contract documents say what the code does: tables and examples are checked against the real thing."""
import re
from pathlib import Path

from firmware import messages as M
from firmware import pinmap
from firmware.codec import FrameDecoder

ROOT = Path(__file__).resolve().parent.parent


def _table_rows(text, heading):
    """Rows (as lists of cells) of the first markdown table after the given heading."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def test_every_protocol_example_is_a_real_frame():
    text = (ROOT / "docs/protocol.md").read_text()
    examples = re.findall(r"`((?:[0-9A-F]{2} )+00)`", text)
    assert len(examples) >= 12
    for hex_frame in examples:
        frames = []
        decoder = FrameDecoder(lambda *f: frames.append(f))
        decoder.feed(bytes.fromhex(hex_frame))
        assert len(frames) == 1 and decoder.bad == 0, hex_frame


def test_protocol_tables_match_the_message_catalogue():
    text = (ROOT / "docs/protocol.md").read_text()
    kinds = {row[1]: int(row[0], 16) for row in _table_rows(text, "## Messages (host to firmware)")}
    assert kinds == {name: getattr(M, name) for name in kinds}
    assert set(kinds) == {"HELLO", "PING", "STATUS", "READ_BIN", "QUERY", "ACK_EVENT", "UNLOCK", "VEND", "TARE",
                          "CALIBRATE", "CLEAR_LANE", "HOME_CHECK"}
    statuses = {row[1]: int(row[0]) for row in _table_rows(text, "### Status codes")}
    assert statuses == {n: getattr(M, n) for n in dir(M) if n == "OK" or n.startswith("E_")}
    results = {row[1]: int(row[0]) for row in _table_rows(text, "### Results")}
    assert results == {n: getattr(M, n) for n in dir(M) if n.startswith("R_")}
    events = {row[1]: int(row[0]) for row in _table_rows(text, "## Events (firmware to host)")}
    assert events == {n: getattr(M, n) for n in dir(M) if n.startswith("EV_")}


def _wiring(board_heading):
    text = (ROOT / "hw/wiring.md").read_text()
    return {row[0]: int(row[1]) for row in _table_rows(text, board_heading)}


def _expected(board):
    m = board
    pins = {}
    for i, g in enumerate(m["door_solenoid"]):
        pins["door %d solenoid" % (i + 1)] = g
    for i, g in enumerate(m["door_sensor"]):
        pins["door %d sensor" % (i + 1)] = g
    for i, g in enumerate(m["lane_rows"]):
        pins["lane row %d" % (i + 1)] = g
    for i, g in enumerate(m["lane_cols"]):
        pins["lane column %d" % (i + 1)] = g
    pins["home sense"] = m["home_sense"]
    pins["drop sensor"] = m["drop_sensor"]
    pins["HX711 SCK (all bins)"] = m["hx711_sck"]
    for i, g in enumerate(m["hx711_dout"]):
        pins["bin %d HX711 DOUT" % (i + 1)] = g
    return pins


def test_wiring_tables_agree_with_the_firmware_pin_maps():
    pico = _wiring("## Raspberry Pi Pico default pins")
    assert {k: v for k, v in pico.items() if not k.startswith(("UART", "status"))} == _expected(pinmap.PICO)
    assert pico["UART0 TX (to Pi RXD, GPIO15)"] == pinmap.PICO["uart"]["tx"]
    assert pico["UART0 RX (from Pi TXD, GPIO14)"] == pinmap.PICO["uart"]["rx"]
    assert pico["status LED (on board)"] == pinmap.PICO["status_led"]
    esp = _wiring("## ESP32-DevKitC default pins")
    assert {k: v for k, v in esp.items() if not k.startswith("UART")} == _expected(pinmap.ESP32)
    assert (esp["UART2 TX"], esp["UART2 RX"]) == (pinmap.ESP32["uart"]["tx"], pinmap.ESP32["uart"]["rx"])


# -- hw/wiring.md: every table is checked against the pin maps, the pinouts, the agent config and arithmetic --
# The Pico's physical pins (Raspberry Pi Pico datasheet, pinout) and the Pi's 40-pin header (BCM -> pin).
PICO_PIN = {0: 1, 1: 2, 2: 4, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11, 9: 12, 10: 14, 11: 15, 12: 16, 13: 17,
            14: 19, 15: 20, 16: 21, 17: 22, 18: 24, 19: 25, 20: 26, 21: 27, 22: 29, 26: 31, 27: 32, 28: 34}
PICO_NAMED_PIN = {"RUN": 30, "3V3(OUT)": 36, "VSYS": 39, "GND": {3, 8, 13, 18, 23, 28, 33, 38}}
PI_HEADER = {2: 3, 3: 5, 4: 7, 17: 11, 27: 13, 22: 15, 10: 19, 9: 21, 11: 23, 5: 29, 6: 31, 13: 33, 19: 35,
             26: 37, 14: 8, 15: 10, 18: 12, 23: 16, 24: 18, 25: 22, 8: 24, 7: 26, 12: 32, 16: 36, 20: 38, 21: 40}


def _wiring_tables():
    """{heading: rows} for every table in hw/wiring.md (one table per heading; header row dropped)."""
    tables, heading = {}, None
    for line in (ROOT / "hw/wiring.md").read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not set(line) <= set("|- "):
            tables.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return {h: rows[1:] for h, rows in tables.items()}


def _mA(cell):
    return 0.0 if cell == "-" else float(cell)


def test_every_wiring_table_is_one_the_tests_check():
    headings = set(_wiring_tables())
    connectors = {h for h in headings if re.match(r"J\d+ ", h)}
    assert headings - connectors == {
        "Signal conventions (what the firmware expects at the pin)", "Parts", "Fuses",
        "3.3 V rail (the Pico's 3V3(OUT), 300 mA available)", "5 V rail (the 5.1 V buck, 5 A)",
        "24 V rail (the LRS-75-24, 3200 mA)", "Raspberry Pi header (the agent's side)",
        "Raspberry Pi Pico default pins", "ESP32-DevKitC default pins", "Line rate, cable and length of J6"}
    assert sorted(int(h.split()[0][1:]) for h in connectors) == list(range(1, 13))   # J1-J12, each once


def test_every_firmware_signal_is_on_a_connector_pin_with_the_default_gpio_and_the_right_pico_pin():
    pico = _wiring("## Raspberry Pi Pico default pins")
    tables = _wiring_tables()
    wired = {}
    for heading, rows in tables.items():
        if not re.match(r"J\d+ ", heading):
            continue
        assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1)), heading
        for pin, signal, at_pico, _ in rows:
            gp = re.match(r"GP(\d+) \(pin (\d+)\)", at_pico)
            if gp:
                assert pico[signal] == int(gp[1]), (heading, signal)         # the firmware's default GPIO
                assert PICO_PIN[int(gp[1])] == int(gp[2]), (heading, signal)  # and where GPn is on the Pico
                wired.setdefault(signal, set()).add(heading.split()[0])
            elif at_pico != "-":
                name, number = re.match(r"(\S+) \(pin (\d+)\)", at_pico).groups()
                expected = PICO_NAMED_PIN[name]
                assert int(number) in (expected if isinstance(expected, set) else {expected}), (heading, pin)
    assert set(wired) == set(pico) - {"status LED (on board)"}
    assert wired["HX711 SCK (all bins)"] == {"J7", "J8", "J9", "J10"}    # one shared clock, on every bin


def test_the_pi_header_table_agrees_with_the_agent_config_and_the_connector():
    from edge_agent.app.config import RESET_GPIOS, load_agent_config

    rows = _wiring_tables()["Raspberry Pi header (the agent's side)"]
    j6 = {int(r[0]): r for r in _wiring_tables()["J6 Pi link"]}
    pi = {}
    for function, bcm, header_pin, goes_to in rows:
        assert PI_HEADER[int(bcm)] == int(header_pin), function
        j6_pin = int(re.fullmatch(r"J6 pin (\d)", goes_to)[1])
        assert "header pin %s (GPIO%s" % (header_pin, bcm) in j6[j6_pin][3]      # both ends say the same
        pi[function.split(" (")[0]] = int(bcm)
    assert (pi["UART TXD"], pi["UART RXD"]) == (14, 15)                         # /dev/serial0's pins
    config = ROOT / "examples/site/agent.toml"
    assert pi["Pico RUN reset"] == load_agent_config(config).reset_gpio == 17   # the agent's default
    assert pi["Pico RUN reset"] in RESET_GPIOS
    assert j6[4][2].startswith("RUN (pin 30)")


def test_the_j6_line_rates_are_the_defaults_of_both_ends():
    from edge_agent.app.config import load_agent_config
    from firmware.config import normalize

    rows = {int(r[0]): r for r in _wiring_tables()["Line rate, cable and length of J6"]}
    assert sorted(rows) == [M.LONG_RUN_BAUD, M.LINE_BAUD]
    assert rows[M.LINE_BAUD][1].startswith("default")
    assert normalize({})["uart"]["baud"] == M.LINE_BAUD                        # the firmware's default
    for config in ("examples/site/agent.toml", "deploy/agent.toml"):
        assert re.search(r"^baud = %d\b" % M.LINE_BAUD, (ROOT / config).read_text(), re.M), config
    assert re.search(r"^baud = %d\b" % M.LINE_BAUD, (ROOT / "examples/cabinet.toml").read_text(), re.M)
    assert load_agent_config(ROOT / "examples/site/agent.toml").baud == M.LINE_BAUD


def _budget(heading):
    rows = _wiring_tables()[heading]
    for load, each, at_once, duty, average, peak in rows[:-1]:
        if duty != "-":
            assert abs(_mA(each) * int(at_once) * float(duty) - _mA(average)) < 0.06, load
        if peak != "-":
            assert abs(_mA(each) * int(at_once) - _mA(peak)) < 0.06, load
    total = rows[-1]
    assert total[0] == "total"
    assert abs(sum(_mA(r[4]) for r in rows[:-1]) - _mA(total[4])) < 0.06, heading
    assert abs(sum(_mA(r[5]) for r in rows[:-1]) - _mA(total[5])) < 0.06, heading
    return {re.split(r" \(|:|,", r[0])[0]: r for r in rows}


def _budgets():
    return (_budget("3.3 V rail (the Pico's 3V3(OUT), 300 mA available)"), _budget("5 V rail (the 5.1 V buck, 5 A)"),
            _budget("24 V rail (the LRS-75-24, 3200 mA)"))


def test_the_power_budget_adds_up_rail_by_rail_and_each_rail_has_headroom():
    v33, v5, v24 = _budgets()
    # Each rail feeds the next one down: the Pico's buck-boost from VSYS (4.8 V after D1), the 5.1 V buck.
    assert abs(_mA(v33["total"][5]) * 3.3 / 0.9 / 4.8 - _mA(v5["Pico on VSYS"][5])) < 0.06
    assert abs(_mA(v5["total"][5]) * 5.1 / 0.9 / 24 - _mA(v24["5 V rail through the buck"][5])) < 0.06
    assert _mA(v33["total"][5]) < 300 * 0.5 and _mA(v5["total"][5]) < 5000 * 0.8
    assert _mA(v24["total"][5]) < 3200 * 0.8
    # Only one coil or motor at a time (firmware/outputs.py): the worst one is the stalled motor.
    worst = v24["worst single actuator"]
    assert _mA(worst[1]) >= max(_mA(v24["door solenoid"][1]), _mA(v24["lane motor running"][1]))


def test_every_fuse_carries_its_normal_peak_with_margin_and_the_peaks_are_the_budgets():
    _, v5, v24 = _budgets()
    fuses = {r[0]: r for r in _wiring_tables()["Fuses"]}
    assert set(fuses) == {"F1", "F2", "F3", "F4", "F5"}
    expected = {"F2": v24["door solenoid"][1], "F3": v24["worst single actuator"][1],
                "F4": v24["5 V rail through the buck"][5], "F5": v5["total"][5]}
    for fuse, peak in expected.items():
        assert fuses[fuse][2] == peak, fuse
        assert float(fuses[fuse][3]) >= 1.25 * float(peak), fuse


def test_the_parts_list_counts_match_the_default_cabinet():
    parts = {r[0]: r for r in _wiring_tables()["Parts"]}
    m = pinmap.PICO
    doors, rows, cols, bins = len(m["door_solenoid"]), len(m["lane_rows"]), len(m["lane_cols"]), len(m["hx711_dout"])
    expected = {"Q1-Q4": doors, "Q5-Q7": rows, "Q8-Q10": rows, "Q11-Q14": cols, "Q15": 1, "D2-D5": doors,
                "D6-D17": rows * cols, "D18-D29": rows * cols, "U1-U4": bins, "D1": 1}
    for ref, qty in expected.items():
        assert int(parts[ref][2]) == qty, ref
    for ref, row in parts.items():
        span = re.fullmatch(r"[A-Z]+(\d+)-[A-Z]+(\d+)", ref)
        if span:
            assert int(row[2]) == int(span[2]) - int(span[1]) + 1, ref   # the range names as many as qty


def test_the_signal_conventions_cover_every_kind_of_pin_the_firmware_drives_or_reads():
    kinds = {r[0] for r in _wiring_tables()["Signal conventions (what the firmware expects at the pin)"]}
    names = {"door_solenoid": "door solenoid", "door_sensor": "door sensor", "lane_rows": "lane row",
             "lane_cols": "lane column", "home_sense": "home sense", "drop_sensor": "drop sensor",
             "hx711_sck": "HX711 SCK", "hx711_dout": "HX711 DOUT"}
    signal_keys = set(pinmap.PICO) - {"uart", "status_led", "usable", "input_only"}
    assert signal_keys == set(names) and kinds == set(names.values())
