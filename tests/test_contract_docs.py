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
