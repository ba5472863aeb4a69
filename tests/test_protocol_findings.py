"""What a client written from docs/protocol.md alone found wrong in the firmware (issue 12, point 4), each as
it was reported: raw frames on the firmware's UART in virtual time (tests/link_checks.py), and the whole set
once more on real MicroPython, which must answer exactly as CPython does."""
import json
import struct
import tomllib
from pathlib import Path

import pytest

from edge_agent.link.errors import FirmwareRebooted
from firmware import messages as M
from firmware.config import normalize
from tests import link_checks as checks
from tests.cabinets import EXAMPLE, cabinet
from tests.micropython import run_micropython

RAW = tomllib.loads(EXAMPLE.read_text())
CONFIG, SIM = normalize(RAW), RAW["sim"]


def test_a_ping_of_200_bytes_is_refused_instead_of_resetting_the_firmware():
    # The echo and its status byte would be 201 bytes: encode_frame raised ValueError inside the main loop.
    assert checks.ping_at_the_payload_cap(CONFIG, SIM) == [
        (0, M.OK, 0, True), (199, M.OK, 199, True), (200, M.E_BAD_ARGS, 0, True), ("same firmware", True, M.OK)]


def test_frames_longer_than_the_payload_cap_are_dropped_as_damaged():
    assert checks.oversized_frames(CONFIG, SIM) == [
        (M.STATUS, 201, None, 1), (M.PING, 201, None, 1), (M.PING, 255, None, 1), ("still answers", M.OK)]


def test_every_fixed_layout_request_refuses_a_byte_too_many_or_too_few():
    results = dict(checks.extra_and_missing_bytes(CONFIG, SIM))
    assert set(results) == {M.HELLO, M.STATUS, M.READ_BIN, M.QUERY} | set(M.ACTUATION_ARGS)
    assert results[M.HELLO] == results[M.STATUS] == [M.E_BAD_ARGS]       # no byte too few for an empty payload
    for kind, statuses in results.items():
        assert set(statuses) == {M.E_BAD_ARGS}, kind


def test_a_command_id_above_the_bound_is_refused_and_cannot_lock_the_cabinet():
    # 0xFFFFFFF0 was accepted, and once the table pushed it out every normal id was E_STALE_ID until a reboot.
    assert checks.command_id_bound(CONFIG, SIM) == [
        ("huge", M.E_BAD_ARGS), ("2**30", M.E_BAD_ARGS), ("query 2**30", M.E_BAD_ARGS), ("normal ids refused", []),
        ("2**30 - 1", M.OK)]
    assert M.CMD_ID_MAX == 2 ** 30 - 1


def test_an_event_queue_overflow_raises_the_events_lost_fault_and_the_fault_is_never_lost():
    got = dict(checks.events_lost_fault(CONFIG, SIM))
    assert got["types"] == [M.EV_DOOR_FORCED, M.EV_FAULT, M.EV_FAULT, M.EV_DOOR_FORCED]
    assert got["faults"] == [(M.F_EVENTS_LOST, 14), (M.F_EVENTS_LOST, 18)]   # totals since boot
    assert got["gapless"] and got["delivered"] == 1 + 2 + 16
    assert got["status events_lost"] == got["link events_lost"] == 18


def test_last_words_carry_the_events_lost_fault():
    got = dict(checks.events_lost_in_last_words(CONFIG, SIM))
    assert got["faults"] == [(M.F_EVENTS_LOST, 5), (M.F_EXCEPTION, 0)]
    assert got["gapless"] and got["frames"] == 1 + 1 + 15


def _part_turn(sim, host, lane, cmd_id, ms):
    """A vend cut by an MCU reset ms after its motor started: the spiral stops where it was."""
    op = host.core.actuate(M.VEND, cmd_id, (lane,), sim.now, 30000)
    assert host.wait_for(lambda: "lane %d" % lane in sim.physics.safety.energised(), 1000)
    host.tick(ms)
    sim.reset_mcu(M.RESET_HARD)
    with pytest.raises(FirmwareRebooted):
        host.run(op)
    host.hello()


def test_a_drop_is_reported_at_once_even_when_a_reset_cuts_the_vend_before_its_end():
    # As found: a spiral left part-turned by two interrupted vends dropped its item early in a later vend that
    # a reset also interrupted; the item came out and no message said so.
    sim, host = cabinet()
    lane = sim.physics.lane(4)
    _part_turn(sim, host, 4, 1, 950)
    _part_turn(sim, host, 4, 2, 950)
    assert lane.turns == 0 and lane.dropped == 0
    started = sim.now
    op = host.core.actuate(M.VEND, 3, (4,), sim.now, 30000)
    counter = sim.cab.lanes[0].bank.drop
    assert host.wait_for(lambda: counter.count == 1, 2000)            # the firmware has seen the item fall
    seen_after = sim.now - started
    host.tick(5)
    assert not op.done                                                # the vend has not ended yet
    sim.reset_mcu(M.RESET_HARD)
    with pytest.raises(FirmwareRebooted):
        host.run(op)
    assert lane.dropped == 1 and seen_after < 500
    assert [(e["lane"], e["cmd_id"]) for e in host.events_of(M.EV_DROP)] == [(4, 3)]
    assert host.core.drop_seen(3) and not host.core.drop_seen(1) and not host.core.drop_seen(2)


def test_a_normal_vend_reports_its_drop_before_its_result():
    sim, host = cabinet()
    assert host.actuate(M.VEND, 7, 2).result == M.R_VENDED
    kinds = [(e.type, e.fields.get("cmd_id")) for e in host.events if e.type in (M.EV_DROP, M.EV_CMD_DONE)]
    assert kinds == [(M.EV_DROP, 7), (M.EV_CMD_DONE, 7)]
    sim, host = cabinet(lane=[{"number": 2, "items": 0}])
    assert host.actuate(M.VEND, 8, 2).result == M.R_NO_DROP
    assert host.events_of(M.EV_DROP) == []


MP_SCRIPT = """
import json
config = json.loads(%r)
sim_table = json.loads(%r)
%s
run_all(config, sim_table)
"""


def test_every_check_answers_the_same_on_real_micropython():
    lines = []
    checks.run_all(CONFIG, SIM, lines.append)
    source = Path(checks.__file__).read_text()
    on_micropython = run_micropython(MP_SCRIPT % (json.dumps(CONFIG), json.dumps(SIM), source), timeout=600)
    assert on_micropython.splitlines() == lines
    assert len(lines) == len(checks.CHECKS)
