"""Badge readers against the real components: pcscd with vpcd's virtual readers and a virtual card
(sim/virtual_card.py), a 125 kHz serial module over a real pty, and keyboard-wedge entries."""
import logging
import os
import time
import tty

import pytest
from hypothesis import given, strategies as st

from edge_agent.badge import SOURCE_PCSC, SOURCE_SERIAL, SOURCE_WEDGE, BadBadgeId, BadgeTap, taps
from edge_agent.badge.ids import normalize_badge_id
from edge_agent.badge.pcsc import PcscBadgeReader
from edge_agent.badge.serial_reader import Rdm6300Parser, SerialBadgeReader
from edge_agent.badge.wedge import normalize_wedge_entry, wedge_tap

UID_A = bytes.fromhex("04A1B2C3D4E5F6")     # a 7-byte UID (MIFARE DESFire / Ultralight style)
UID_B = bytes.fromhex("DEADBEEF")           # a 4-byte UID (MIFARE Classic style)
TAP_WAIT_S = 5.0          # generous: pcscd polls vpcd for card presence itself
QUIET_S = 1.5             # long enough for pcscd to have reported anything that was going to come


# -- PC/SC through the real pcscd --

@pytest.fixture
def pcsc_reader():
    readers = []

    def make(name="Virtual PCD 00 00", **kw):
        reader = PcscBadgeReader(name, poll_s=0.1, retry_s=0.2, **kw)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


def test_a_tapped_card_is_reported_once_with_its_uid(virtual_cards, pcsc_reader):
    reader = pcsc_reader()
    assert reader.read(0.5) is None                       # nothing on the reader yet
    card = virtual_cards()
    card.tap(UID_A)
    tap = reader.read(TAP_WAIT_S)
    assert tap == BadgeTap("04A1B2C3D4E5F6", "Virtual PCD 00 00", SOURCE_PCSC)
    assert card.apdus == [bytes.fromhex("FFCA000000")]    # exactly one GET UID, nothing else sent
    assert reader.read(QUIET_S) is None                   # held on the reader: still one tap


def test_removed_and_tapped_again_is_a_second_tap(virtual_cards, pcsc_reader):
    reader = pcsc_reader()
    card = virtual_cards()
    card.tap(UID_A)
    assert reader.read(TAP_WAIT_S).badge_id == "04A1B2C3D4E5F6"
    card.remove()
    assert reader.read(QUIET_S) is None                   # removal is not a tap
    card.tap(UID_A)
    assert reader.read(TAP_WAIT_S).badge_id == "04A1B2C3D4E5F6"
    assert reader.read(QUIET_S) is None


def test_two_different_cards_one_after_the_other(virtual_cards, pcsc_reader):
    reader = pcsc_reader()
    card = virtual_cards()
    card.tap(UID_A)
    assert reader.read(TAP_WAIT_S).badge_id == "04A1B2C3D4E5F6"
    card.remove()
    card.tap(UID_B)
    assert reader.read(TAP_WAIT_S).badge_id == "DEADBEEF"


def test_the_reader_is_chosen_by_name(virtual_cards, pcsc_reader):
    first, second = pcsc_reader("00 00"), pcsc_reader("00 01")
    virtual_cards(reader=1).tap(UID_B)
    tap = second.read(TAP_WAIT_S)
    assert (tap.badge_id, tap.reader) == ("DEADBEEF", "Virtual PCD 00 01")
    assert first.read(0.5) is None                        # the card is on the other reader
    virtual_cards(reader=0).tap(UID_A)
    assert first.read(TAP_WAIT_S).badge_id == "04A1B2C3D4E5F6"
    assert pcsc_reader(None).read(TAP_WAIT_S).reader == "Virtual PCD 00 00"   # None: the first reader


def test_a_card_that_refuses_get_uid_is_no_tap_and_is_logged(virtual_cards, pcsc_reader, caplog):
    reader = pcsc_reader()
    card = virtual_cards()
    with caplog.at_level(logging.WARNING, logger="edge_agent.badge.pcsc"):
        card.tap(None)                                    # answers 6A 81 to GET UID
        assert reader.read(2.5) is None
    assert card.apdus == [bytes.fromhex("FFCA000000")]
    assert reader.unreadable_cards == 1
    assert "6A 81" in caplog.text
    card.remove()
    card.tap(UID_B)                                       # the reader carries on with the next card
    assert reader.read(TAP_WAIT_S).badge_id == "DEADBEEF"


def test_a_missing_reader_is_waited_for_not_fatal(pcsc_rig, pcsc_reader, caplog):
    reader = pcsc_reader("No Such Reader")
    with caplog.at_level(logging.WARNING, logger="edge_agent.badge.pcsc"):
        assert reader.read(0.7) is None
    assert caplog.text.count("No Such Reader") == 1       # a lasting problem is logged once


def test_the_reader_survives_pcscd_restarting(pcsc_rig, virtual_cards, pcsc_reader, caplog):
    reader = pcsc_reader()
    card = virtual_cards()
    card.tap(UID_A)
    assert reader.read(TAP_WAIT_S).badge_id == "04A1B2C3D4E5F6"
    card.remove()
    pcsc_rig.stop()
    with caplog.at_level(logging.WARNING, logger="edge_agent.badge.pcsc"):
        assert reader.read(1.0) is None                   # pcscd gone: logged, no exception
    assert "pcscd" in caplog.text
    pcsc_rig.start()
    card.tap(UID_B)
    assert reader.read(TAP_WAIT_S).badge_id == "DEADBEEF"


def test_taps_iterator_stops_on_its_event(virtual_cards, pcsc_reader):
    import threading

    stop = threading.Event()
    reader = pcsc_reader()
    virtual_cards().tap(UID_B)
    it = taps(reader, stop, wake_s=0.1)
    assert next(it).badge_id == "DEADBEEF"
    stop.set()
    assert list(it) == []


# -- 125 kHz serial modules: the sans-IO parser --

def frame(card_hex, crlf=False, checksum=None):
    data = bytes.fromhex(card_hex)
    if checksum is None:
        checksum = 0
        for b in data:
            checksum ^= b
    return b"\x02" + card_hex.encode() + b"%02X" % checksum + (b"\r\n" if crlf else b"") + b"\x03"


CARD_1 = "0F00A1B2C3"
CARD_2 = "1A2B3C4D5E"


def test_parser_reads_a_frame_split_anywhere():
    parser = Rdm6300Parser()
    stream = frame(CARD_1)
    out = []
    for i in range(len(stream)):
        out += parser.feed(stream[i:i + 1], now=0.0)
    assert out == [CARD_1]
    assert (parser.bad_frames, parser.discarded_bytes) == (0, 0)


def test_parser_takes_lower_case_and_crlf_frames():
    parser = Rdm6300Parser(hold_off_s=0)
    assert parser.feed(frame(CARD_1.lower()), now=0) == [CARD_1]
    assert parser.feed(frame(CARD_2, crlf=True), now=0) == [CARD_2]


def test_parser_drops_a_bad_checksum_and_counts_it():
    parser = Rdm6300Parser()
    good = frame(CARD_1)
    bad = good[:11] + (b"0" if good[11:12] != b"0" else b"1") + good[12:]
    assert parser.feed(bad + frame(CARD_2), now=0) == [CARD_2]
    assert parser.bad_frames == 1


def test_parser_resyncs_after_garbage_with_stray_stx():
    parser = Rdm6300Parser()
    garbage = b"\x00\xff\x03noise\x02AB\x02\x02123\x03"
    assert parser.feed(garbage + frame(CARD_1), now=0) == [CARD_1]
    assert parser.bad_frames == 3                         # the three stray 0x02 that led nowhere


def test_parser_suppresses_repeats_until_the_card_has_been_away_for_the_hold_off():
    parser = Rdm6300Parser(hold_off_s=0.5)
    seen = []
    for i in range(30):                                   # held for 3 s, repeated every 100 ms
        seen += parser.feed(frame(CARD_1), now=i * 0.1)
    assert seen == [CARD_1]
    assert parser.repeats == 29
    assert parser.feed(frame(CARD_1), now=2.9 + 0.4) == []          # back within the hold-off
    assert parser.feed(frame(CARD_1), now=3.3 + 0.6) == [CARD_1]    # away longer: a new tap
    assert parser.feed(frame(CARD_2), now=4.0) == [CARD_2]          # another card at once


def test_parser_refuses_an_all_zero_card():
    assert Rdm6300Parser().feed(frame("0000000000"), now=0) == []


@given(garbage=st.binary(max_size=60), cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6),
       crlf=st.booleans(), card=st.binary(min_size=5, max_size=5).filter(lambda b: len(set(b)) > 1))
def test_parser_finds_a_frame_after_any_garbage(garbage, cuts, crlf, card):
    card_hex = card.hex().upper()
    stream = garbage + frame(card_hex, crlf=crlf)
    parser = Rdm6300Parser(hold_off_s=1.0)
    out, last = [], 0
    for cut in sorted(c for c in cuts if c < len(stream)) + [len(stream)]:
        out += parser.feed(stream[last:cut], now=0)
        last = cut
    assert out and out[-1] == card_hex
    assert parser._buf == b""                            # nothing held back after a complete frame


# -- 125 kHz serial modules: the driver over a real pty --

@pytest.fixture
def serial_module():
    """(write, path): write(bytes) is the module sending; path is what the agent opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield (lambda data: os.write(master, data)), path
    os.close(master)
    os.close(slave)


def test_serial_reader_reports_a_card_from_the_port(serial_module):
    send, path = serial_module
    reader = SerialBadgeReader(path, hold_off_s=0.3)
    try:
        assert reader.read(0.2) is None
        send(frame(CARD_1))
        assert reader.read(2.0) == BadgeTap(CARD_1, path, SOURCE_SERIAL)
    finally:
        reader.close()


def test_serial_reader_drops_bad_frames_and_resyncs(serial_module, caplog):
    send, path = serial_module
    reader = SerialBadgeReader(path, hold_off_s=0.3)
    try:
        with caplog.at_level(logging.WARNING, logger="edge_agent.badge.serial_reader"):
            send(frame(CARD_1, checksum=0x00) + b"\xffgarbage\x02zz" + frame(CARD_2))
            assert reader.read(2.0).badge_id == CARD_2
            assert reader.read(0.3) is None
        assert reader.parser.bad_frames == 2
        assert "bad frame" in caplog.text
    finally:
        reader.close()


def test_serial_reader_suppresses_repeats_within_the_hold_off(serial_module):
    send, path = serial_module
    reader = SerialBadgeReader(path, hold_off_s=0.3)
    try:
        for _ in range(8):                                  # the module repeating while the card is held
            send(frame(CARD_1))
            time.sleep(0.05)
        assert reader.read(1.0).badge_id == CARD_1
        assert reader.read(0.2) is None
        assert reader.parser.repeats == 7
        time.sleep(0.4)                                     # card away for longer than the hold-off
        send(frame(CARD_1))
        assert reader.read(1.0).badge_id == CARD_1
    finally:
        reader.close()


def test_serial_reader_waits_for_a_missing_port(tmp_path, caplog):
    reader = SerialBadgeReader(str(tmp_path / "ttyNONE"), reopen_s=0.1)
    with caplog.at_level(logging.WARNING, logger="edge_agent.badge.serial_reader"):
        assert reader.read(0.35) is None
    assert caplog.text.count("cannot be opened") == 1


def test_serial_reader_survives_the_port_going_away(caplog):
    master, slave = os.openpty()
    tty.setraw(slave)
    reader = SerialBadgeReader(os.ttyname(slave), reopen_s=0.1)
    try:
        os.close(master)                                    # the module unplugged: reads fail with EIO
        with caplog.at_level(logging.WARNING, logger="edge_agent.badge.serial_reader"):
            assert reader.read(0.5) is None
        assert "lost" in caplog.text or "cannot be opened" in caplog.text
    finally:
        reader.close()
        os.close(slave)


# -- keyboard wedges and the id format --

@pytest.mark.parametrize("typed, options, badge_id", [
    ("04A1B2C3\n", {}, "04A1B2C3"),
    ("  04:a1:b2:c3:d4:e5:f6\r\n", {}, "04A1B2C3D4E5F6"),
    ("4a1b2c3", {}, "04A1B2C3"),                           # a leading zero left out
    ("0078230211\n", {"fmt": "decimal"}, "04A9B2C3"),
    ("3283853572", {"fmt": "decimal", "reverse": True}, "04A1BBC3"),
    ("1099511627774", {"fmt": "decimal"}, "FFFFFFFFFE"),
])
def test_wedge_entries_normalise_to_the_badge_id(typed, options, badge_id):
    assert normalize_wedge_entry(typed, **options) == badge_id


@pytest.mark.parametrize("typed, options", [
    ("", {}), ("\n", {}), ("hello", {}), ("04A1-B2C3-ZZ", {}), ("12", {}), ("00000000", {}),
    ("FFFFFFFF", {}), ("04A1B2C3" * 5, {}),
    ("12AB", {"fmt": "decimal"}), ("１２３４５６７８", {"fmt": "decimal"}), ("-12345678", {"fmt": "decimal"}),
])
def test_wedge_junk_is_refused(typed, options):
    with pytest.raises(BadBadgeId):
        normalize_wedge_entry(typed, **options)


def test_wedge_tap_and_one_id_form_for_every_source():
    tap = wedge_tap("04a1b2c3d4e5f6\n", reader="kiosk")
    assert tap == BadgeTap("04A1B2C3D4E5F6", "kiosk", SOURCE_WEDGE)
    # the same card typed by a wedge, written in a CSV, or read by PC/SC compares equal as text
    assert tap.badge_id == normalize_badge_id("04 A1 B2 C3 D4 E5 F6") == UID_A.hex().upper()
