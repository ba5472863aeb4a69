"""Safety rules that hold whatever the host asks: caps on coil and motor time, a coil's off-time, one
actuator at a time, and every output off on link loss, on an exception and across a reset. The physics
records what the pins really did; the firmware's own bookkeeping is not trusted for these."""
import struct

import pytest

from edge_agent.link.errors import CabinetError, FirmwareRebooted, LinkError
from firmware import messages as M
from firmware.config import SOLENOID_CAP_MS
from sim.cabinet import Faults
from tests.cabinets import cabinet


def test_an_unlock_pulse_is_capped_at_one_second_even_when_the_host_asks_for_five():
    sim, host = cabinet(door=[{"number": 1, "stuck": True}])
    result = host.actuate(M.UNLOCK, 1, 1, 5000)
    assert result.result == M.R_NOT_OPENED
    assert SOLENOID_CAP_MS <= sim.physics.safety.longest_on_ms(name="door 1") <= SOLENOID_CAP_MS + 2
    faults = [e for e in host.events_of(M.EV_FAULT) if e["code"] == M.F_OUTPUT_CAPPED]
    assert [e["detail"] for e in faults] == [sim.config["doors"][0]["solenoid"]]


def test_a_coil_rests_three_times_its_on_time_before_it_may_pulse_again():
    # The door springs open ~170 ms after the pulse starts and the person shuts it 300 ms later.
    sim, host = cabinet(sim={"door_hold_open_ms": 300})
    assert host.actuate(M.UNLOCK, 1, 2, 0).result == M.R_OPENED
    on_ms = sim.physics.safety.longest_on_ms(name="door 2")
    released_at = sim.now
    assert host.wait_for(lambda: host.events_of(M.EV_DOOR_CLOSED), 1000)
    with pytest.raises(CabinetError) as err:
        host.actuate(M.UNLOCK, 2, 2, 0, timeout_ms=100)
    assert err.value.code == M.E_COOLDOWN
    assert sim.physics.safety.times_on("door 2") == 1
    # Asked again with patience, it pulses once the rest is over, not before.
    op = host.core.actuate(M.UNLOCK, 3, (2, 0), sim.now, 10000)
    assert host.wait_for(lambda: sim.physics.safety.times_on("door 2") == 2, 5000)
    assert sim.now - released_at >= 3 * on_ms
    assert host.run(op).result == M.R_OPENED


def test_only_one_coil_or_motor_is_ever_energised_at_once():
    sim, host = cabinet()
    now = sim.now
    ops = [host.core.actuate(M.VEND, 1, (3,), now, 30000),
           host.core.actuate(M.UNLOCK, 2, (1, 0), now, 30000),
           host.core.actuate(M.VEND, 3, (8,), now, 30000),
           host.core.actuate(M.UNLOCK, 4, (2, 0), now, 30000)]
    assert host.wait_for(lambda: all(op.done for op in ops), 40000)
    assert [op.result().result for op in ops] == [M.R_VENDED, M.R_OPENED, M.R_VENDED, M.R_OPENED]
    assert sim.physics.safety.max_concurrent == 1


def test_link_loss_turns_every_output_off_and_reports_it_when_the_host_is_back():
    sim, host = cabinet(lane=[{"number": 6, "jammed": True}])    # a jammed motor would run 4 s
    op = host.core.actuate(M.VEND, 1, (6,), sim.now, 30000)
    host.tick(300)
    assert "lane 6" in sim.physics.safety.energised()
    sim.advance(3000)                               # the host says nothing (cable pulled, agent hung)
    assert sim.physics.safety.energised() == []
    # On from about 300 ms before the silence; cut 2 s into it, long before the jam limit (4 s).
    assert sim.physics.safety.longest_on_ms(name="lane 6") <= 300 + M.LINK_TIMEOUT_MS + 10
    result = host.run(op)
    assert result.result == M.R_ABORTED
    host.tick(1000)
    assert [e["code"] for e in host.events_of(M.EV_FAULT)] == [M.F_LINK_LOST]


def test_an_exception_in_the_main_loop_turns_everything_off_and_resets_the_board():
    sim, host = cabinet(firmware_errors="reset")
    op = host.core.actuate(M.VEND, 1, (2,), sim.now, 30000)
    host.wait_for(lambda: "lane 2" in sim.physics.safety.energised(), 1000)
    lane = sim.cab._lane_by_no[2]

    def broken_step(now, cab):
        raise RuntimeError("a bug")
    lane.step = broken_step
    host.tick(2)
    assert sim.physics.safety.energised() == []       # off at once, before the board resets
    assert host.wait_for(lambda: len(sim.boots) == 2, 50)   # reset once the fault event has left the UART
    assert sim.firmware_exceptions == 1
    # Its last words reach the host: the vend was aborted mid-turn (nothing dropped), then the fault.
    result = host.run(op)
    assert (result.result, result.detail) == (M.R_ABORTED, 0)
    host.tick(1000)
    assert [e["code"] for e in host.events_of(M.EV_FAULT)] == [M.F_EXCEPTION]
    assert host.events_of(M.EV_BOOT)[-1]["reset_cause"] == M.RESET_SOFT
    assert sim.physics.lane(2).turns == 0


def test_a_main_loop_that_stops_coming_round_is_reset_by_the_watchdog():
    sim, host = cabinet()
    sim.cab.step = lambda now: False               # a pass that never reports itself alive
    sim.advance(6000)
    assert [cause for _, cause in sim.boots] == [M.RESET_POWER_ON, M.RESET_WATCHDOG]
    assert host.hello().reset_cause == M.RESET_WATCHDOG


def test_an_mcu_reset_mid_vend_is_never_answered_by_a_second_turn():
    sim, host = cabinet()
    op = host.core.actuate(M.VEND, 7, (11,), sim.now, 30000)
    host.wait_for(lambda: "lane 11" in sim.physics.safety.energised(), 1000)
    host.tick(500)
    old_boot = host.core.boot_id
    sim.reset_mcu(M.RESET_HARD)
    assert sim.physics.safety.energised() == []
    with pytest.raises(FirmwareRebooted):
        host.run(op)
    with pytest.raises(LinkError):
        host.core.actuate(M.VEND, 7, (11,), sim.now, 30000)   # the agent refuses to resend it
    # Even a copy of the old frame that was still on the wire cannot actuate on the new boot.
    frame = struct.pack(M.ACT_FMT, old_boot, 7) + struct.pack(M.ACTUATION_ARGS[M.VEND], 11)
    with pytest.raises(CabinetError) as err:
        host.call(M.VEND, frame)
    assert err.value.code == M.E_WRONG_BOOT
    host.tick(3000)
    assert sim.physics.lane(11).turns == 0 and sim.physics.safety.times_on("lane 11") == 1


def test_outputs_start_off_after_every_reset():
    sim, host = cabinet(faults=Faults(reset_at_ms=[700, 1900, 3100]))
    sim.advance(4000)
    assert len(sim.boots) == 4
    assert all(sim.hal.level(p) == 0 for p in sim.physics.safety._watched)
