"""The real agent process (`locker-agent run`) against the simulated cabinet on a pty: restarting the agent
raises no alert (the firmware's link-lost fault that every restart causes is not a fault of the cabinet),
later real faults are seen, and a firmware event the agent received but did not store before it died comes
again after the restart and is stored (events are acknowledged only once stored)."""
import threading
import time

import pytest

from edge_agent.ledger.alerts import open_alerts
from firmware import messages as M
from tests.agent_process import AgentProcess, ledger_of, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv

WAIT_S = 20.0


@pytest.fixture
def site(tmp_path):
    sim, port = simulated_cabinet()
    ledger = ledger_from_csv(tmp_path, skus="part_number,description,category\nTRQ,Torque wrench,tools\n",
                             locations="id,kind,unit,sku,on_hand,min,max\nD2,door,2,TRQ,1,0,1\n")
    ledger.close()
    agent = AgentProcess(write_agent_config(tmp_path, port))
    yield sim, tmp_path, agent
    agent.kill()
    sim.bridge.stop()


def alerts_of(folder):
    with ledger_of(folder) as ledger:
        return [(a[0], a[1]) for a in open_alerts(ledger.db)]


def until(predicate, what, agent):
    end = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("%s never happened; log:\n%s" % (what, agent.log()[-3000:]))
        threading.Event().wait(0.05)


def firmware_saw_link_lost(sim):
    # The firmware's own flag (firmware/cabinet.py): it turned its outputs off and queued EV_FAULT link lost.
    return sim.bridge.call(lambda s: s.cab._link_was_lost)


def test_an_agent_restart_raises_no_alert_and_a_later_real_fault_is_seen(site):
    sim, folder, agent = site
    agent.start().wait_ready()
    agent.kill()
    until(lambda: firmware_saw_link_lost(sim), "the firmware's link-lost fault", agent)
    agent.start().wait_ready()
    sim.bridge.call(lambda s: s.cab.event(M.EV_FAULT, M.F_OUTPUT_CAPPED, 14))    # after the link-lost fault
    until(lambda: alerts_of(folder), "an alert", agent)
    assert alerts_of(folder) == [(None, "cabinet_output_capped")]
    assert agent.stop() == 0


def test_an_event_received_but_not_stored_before_the_agent_died_is_stored_after_the_restart(site):
    sim, folder, agent = site
    agent.start().wait_ready()
    with ledger_of(folder) as ledger:      # the agent's store of alerts fails from now on, as on a full disk
        ledger.db.execute("CREATE TRIGGER no_room BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'no room'); END")
    sim.bridge.call(lambda s: s.physics.door(2).force_open())
    until(lambda: "no room" in agent.log(), "a failed store", agent)
    agent.kill()                            # dies with the forced door delivered and never stored
    with ledger_of(folder) as ledger:
        ledger.db.execute("DROP TRIGGER no_room")
    assert alerts_of(folder) == []
    agent.start().wait_ready()
    until(lambda: alerts_of(folder), "the door_forced alert", agent)
    assert alerts_of(folder) == [("D2", "door_forced")]
    assert agent.stop() == 0
