"""What a client written from docs/protocol.md alone had to guess, now stated there: each statement is
quoted from the document and checked against the firmware (tests/link_checks.py sends raw frames in virtual
time; tests/test_protocol_findings.py runs the same checks on real MicroPython)."""
import collections
import importlib.util
import json
import re
import struct
import sys
import tomllib
import types
from pathlib import Path

import pytest

from firmware import messages as M
from firmware.codec import FrameDecoder
from firmware.config import normalize
from sim.hardware import SimClock, SimHAL
from sim.virtual_host import VirtualHost
from tests import link_checks as checks
from tests.cabinets import EXAMPLE, cabinet

ROOT = Path(__file__).resolve().parent.parent
RAW = tomllib.loads(EXAMPLE.read_text())
CONFIG, SIM = normalize(RAW), RAW["sim"]
# The document as running text: no line breaks, no bold or code marks (2**30 keeps its stars).
DOC = " ".join(re.sub(r"(?<!\d)\*\*|\*\*(?!\d)", "", (ROOT / "docs/protocol.md").read_text()).replace("`", "").split())


def says(*phrases):
    for phrase in phrases:
        assert " ".join(phrase.split()) in DOC, "docs/protocol.md no longer says: %s" % phrase


def test_command_ids_are_below_2_30_and_a_host_can_know_the_forgotten_id_floor():
    says("Ids only ever increase and stay below 2**30 (0 to 1073741823): a larger one is refused with E_BAD_ARGS "
         "and leaves no trace",
         "The firmware keeps the last 32 accepted commands",
         "it is the id of the command accepted 32 acceptances before its newest one (refused commands do not count)",
         "QUERY, which answers E_STALE_ID for an id at or below the floor that the table no longer holds",
         "E_UNKNOWN_ID for an id above the floor that this boot never accepted")
    got = checks.command_id_bound(CONFIG, SIM)
    assert got[:3] == [("huge", M.E_BAD_ARGS), ("2**30", M.E_BAD_ARGS), ("query 2**30", M.E_BAD_ARGS)]
    assert M.CMD_ID_MAX == 1073741823
    replay_3 = (M.OK, (3, M.CLEAR_LANE, M.DONE, M.R_OK, 0))
    assert checks.forgotten_id_floor(CONFIG, SIM) == [
        ("query 1", M.E_STALE_ID), ("query 2", M.OK), ("query 34", M.E_UNKNOWN_ID),     # 33 accepted: floor 1
        ("vend 40", M.OK), ("vend 41 while 40 turns", M.E_BUSY),                        # 34th: floor 2
        ("query 41", M.E_UNKNOWN_ID), ("query 2", M.E_STALE_ID), ("stale 1", M.E_STALE_ID),
        ("replay 3", replay_3), ("vend 41", M.OK)]


def test_an_over_cap_unlock_pulse_is_cut_not_refused():
    says("A pulse_ms above 1000 is not refused: it is cut at 1000 ms by the output guard, which raises EV_FAULT "
         "output capped (detail = the solenoid's GPIO)")
    got = dict((row[0], row[1:]) for row in checks.over_cap_pulse_is_cut(CONFIG, dict(SIM, door=[
        {"number": 1, "stuck": True}])))
    assert got["answer"] == (M.OK, M.RUNNING)
    assert got["on_ms"] == (1000,)
    assert got["times on"] == (1,)
    assert got["faults"] == ([(M.F_OUTPUT_CAPPED, got["solenoid"][0])],)
    assert got["result"] == ([M.R_NOT_OPENED],)


def test_a_pulse_ends_when_the_door_opens_and_the_off_time_is_three_times_the_real_pulse():
    says("ends as soon as the door is seen open (its sensor debounced)",
         "The off-time is three times the time the coil was actually on: UNLOCK of that door is refused with "
         "E_COOLDOWN until then, and accepted from that millisecond on")
    got = dict(checks.unlock_pulse_and_off_time(CONFIG, SIM))
    assert got["result"] == M.R_OPENED and got["shorter than the configured 500 ms"]
    assert 0 <= got["on - ms to open"] <= 2              # dropped in the pass after the door was seen open
    assert got["closed before"] == 1
    tries = got["tries"]
    assert tries[-1] == (0, M.OK) and all(s == M.E_COOLDOWN for _, s in tries[:-1]) and len(tries) >= 3


def test_clear_lane_and_unlocking_an_open_door_finish_at_once_without_ev_cmd_done():
    says("Two finish at once and send no EV_CMD_DONE: the answer itself has phase DONE and the result. They are "
         "CLEAR_LANE (always: R_OK) and UNLOCK of a door that is already open (R_OPENED, detail 0; nothing is "
         "pulsed)")
    assert checks.commands_that_finish_at_once(CONFIG, SIM) == [
        (M.UNLOCK, M.OK, M.DONE, 0), (M.CLEAR_LANE, M.OK, M.DONE, 0),
        (M.VEND, M.OK, M.RUNNING, 1), (M.UNLOCK, M.OK, M.RUNNING, 1), (M.HOME_CHECK, M.OK, M.RUNNING, 1),
        (M.TARE, M.OK, M.RUNNING, 1)]


def test_the_request_seq_starts_where_the_host_likes_and_is_only_echoed():
    says("Where seq starts is the host's choice",
         "it keeps no request-seq state, never drops or deduplicates a request by its seq (a repeated seq is "
         "answered again)")
    assert checks.request_seq_is_echoed_not_tracked(CONFIG, SIM) == [
        (0xC8, M.OK, True), (0xC8, M.OK, True), (0, M.OK, True), (0, M.OK, True), (1, M.OK, True)]


def test_a_host_joining_mid_boot_takes_its_event_count_from_the_first_event_it_gets():
    says("A host joining mid-boot (an agent restarted while the firmware runs) learns the next event seq from "
         "the first event it receives",
         "that event's seq (not 0, and no EV_BOOT) is where the host's count starts, and it delivers it")
    assert checks.joining_mid_boot(CONFIG, SIM) == [("seqs", [4, 5, 6]), ("types", [M.EV_DOOR_FORCED] * 3)]
    # The agent's own link core does so: a fresh one, started while events wait, delivers them all in order.
    sim, first = cabinet()
    sim.physics.door(2).force_open()
    first.tick(300)
    delivered = [e.seq for e in first.events]
    sim.physics.door(3).force_open()
    sim.advance(600)                                  # the first agent is gone; the firmware keeps resending
    second = VirtualHost(sim)
    second.tick(300)
    assert [e.type for e in second.events] == [M.EV_DOOR_OPENED, M.EV_DOOR_FORCED]
    assert [e.seq for e in second.events] == [delivered[-1] + 1, delivered[-1] + 2]
    assert second.core.stats.events_skipped == 0


def test_after_an_exception_the_next_boot_reports_a_soft_reset_and_the_fault_comes_first():
    says("After an exception the next boot reports reset cause soft (3)",
         "machine.reset() reads back on the next boot as a watchdog reset, so before it board.py marks the reset "
         "as its own in watchdog scratch register 0, and the next boot reports soft (3) instead",
         "The simulator (sim/) reports soft (3) too",
         "the EV_FAULT exception that arrives before the new EV_BOOT")
    sim, host = cabinet(firmware_errors="reset")
    sim.cab.step = None                               # the next pass raises TypeError
    host.tick(50)
    assert sim.firmware_exceptions == 1
    host.tick(1000)
    order = [(e.type, e.fields.get("code", e.fields.get("reset_cause"))) for e in host.events[1:]]
    assert order == [(M.EV_FAULT, M.F_EXCEPTION), (M.EV_BOOT, M.RESET_SOFT)]


class Reset(BaseException):
    """machine.reset(): it never returns."""


def test_main_py_resets_through_the_hal_after_its_last_words(tmp_path, monkeypatch):
    says("flushes the UART and resets with machine.reset()")
    # firmware/main.py's own loop (which the simulator copies), on a HAL that records what a board would do.
    from firmware import cabinet as cabinet_module
    from firmware import main
    config_path = tmp_path / "cabinet.json"
    config_path.write_text(json.dumps(RAW))

    class Board(SimHAL):
        made = []

        def __init__(self, uart_config):
            super().__init__(CONFIG, SimClock(0))
            Board.made.append(self)

        def idle(self):
            self.clock.advance(1)

        def reset(self):
            raise Reset()

    fake_board = types.ModuleType("firmware.board")
    fake_board.Board = Board
    monkeypatch.setitem(sys.modules, "firmware.board", fake_board)
    real_step = cabinet_module.Cabinet.step

    def step(self, now):
        if now >= 20:
            raise RuntimeError("a bug")
        return real_step(self, now)
    monkeypatch.setattr(cabinet_module.Cabinet, "step", step)
    with pytest.raises(Reset):
        main.run(str(config_path))
    [hal] = Board.made
    assert hal.flushing                               # the UART was flushed before the reset
    frames = []
    FrameDecoder(lambda seq, kind, payload: frames.append(bytes(payload))).feed(bytes(hal.uart.tx))
    assert frames[-1] == bytes((M.EV_FAULT,)) + struct.pack(">Bi", M.F_EXCEPTION, 0)


class Rp2Machine(types.ModuleType):
    """The rp2 port's machine module as far as resets go: PWRON_RESET 1 and WDT_RESET 3 only; machine.reset()
    reboots through the watchdog (reset_cause() then reads WDT_RESET) and keeps the watchdog scratch
    registers, which power-on clears."""
    PWRON_RESET = 1
    WDT_RESET = 3

    def __init__(self):
        super().__init__("machine")
        self.mem32 = collections.defaultdict(int)
        self.cause = self.PWRON_RESET

    def reset(self):
        self.cause = self.WDT_RESET

    def watchdog_bites(self):
        self.cause = self.WDT_RESET

    def reset_cause(self):
        return self.cause

    def UART(self, *args, **kwargs):
        return object()

    def Pin(self, *args, **kwargs):
        return object()

    def disable_irq(self):
        return 0

    def enable_irq(self, state):
        pass


def test_board_py_on_an_rp2040_reports_its_own_reset_as_soft_and_a_hang_as_watchdog(monkeypatch):
    machine = Rp2Machine()
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setattr(sys, "platform", "rp2")
    spec = importlib.util.spec_from_file_location("board_on_rp2", ROOT / "firmware/board.py")
    board = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(board)
    board.time = types.SimpleNamespace(ticks_ms=lambda: 0, sleep_ms=lambda ms: None)

    def boot():
        return board.Board({"id": 0, "baud": 115200, "tx": 0, "rx": 1})
    hal = boot()
    assert hal.reset_cause() == M.RESET_POWER_ON
    hal.reset()                                       # what firmware/main.py does after its last words
    hal = boot()
    assert hal.reset_cause() == M.RESET_SOFT
    machine.watchdog_bites()                          # a main loop that stopped coming round
    assert boot().reset_cause() == M.RESET_WATCHDOG
