"""The whole locker with nothing faked but the hardware: the agent process (`locker-agent run`), a virtual
card tapped on a virtual reader in the real pcscd, the simulated cabinet (real firmware logic) behind a
real pty, and the ledger file read back afterwards."""
import pytest

from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger import record_admin_change
from tests.agent_process import AgentProcess, ledger_of, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv, rows_of

FAST_LANES = {"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5}   # a short turn needs a short debounce
FAST_DROPS = {"drop_delay_min_ms": 50, "drop_delay_max_ms": 120}
TECH_UID = bytes.fromhex("04A1B2C3D4E5F6")
DRIVER_UID = bytes.fromhex("CAFEF00D")


@pytest.fixture
def site(tmp_path):
    sim, port = simulated_cabinet(lane_matrix=FAST_LANES, sim=dict(FAST_DROPS, lane_items=6))
    ledger = ledger_from_csv(
        tmp_path,
        skus="part_number,description,category,supplier\nGLV,Nitrile gloves,ppe,Acme\n",
        locations="id,kind,unit,sku,on_hand,min,max,refill_pack\nL1,lane,1,GLV,6,5,8,2\n",
        users="id,name,role,supplier,badges\nT100,Ana,technician,,04A1B2C3D4E5F6\n"
              "R300,Ray,route_driver,Acme,CAFEF00D\n")
    ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
    record_admin_change(ledger, "access rules written by the test")   # as an import would
    ledger.close()
    yield sim, tmp_path, port
    sim.bridge.stop()


def test_tap_vend_ledger_min_max_and_a_refill_that_closes_the_task(site, virtual_cards):
    sim, folder, port = site
    config = write_agent_config(folder, port, readers={"pcsc": True, "pcsc_reader": "Virtual PCD 00 00"})
    agent = AgentProcess(config).start()
    try:
        agent.wait_ready()
        card = virtual_cards()
        card.tap(TECH_UID)                                     # the technician badges in
        agent.wait_for_state(lambda s: s["session"] and s["session"]["user_id"] == "T100")
        card.remove()
        status, result = agent.request("POST", "/api/issue", {"location": "L1", "quantity": 2})
        assert status == 200 and result["outcomes"] == ["vended", "vended"]
        assert sim.bridge.call(lambda _sim: sim.physics.lane(1).dropped) == 2

        card.tap(DRIVER_UID)                                   # the route driver comes by
        agent.wait_for_state(lambda s: s["session"] and s["session"]["user_id"] == "R300")
        [line] = agent.request("GET", "/api/refill")[1]["pick_list"]
        assert (line["location"], line["on_hand"], line["quantity"]) == ("L1", 4, 4)   # up to max, packs of 2
        sim.bridge.do(lambda _sim: setattr(sim.physics.lane(1), "items", sim.physics.lane(1).items + 4))
        status, done = agent.request("POST", "/api/refill", {"location": "L1", "added": 4, "counted": 8})
        assert status == 200 and done["on_hand"] == 8 and done["corrected_from"] is None
        assert agent.request("GET", "/api/refill")[1]["pick_list"] == []
        assert agent.stop() == 0
    finally:
        agent.kill()

    with ledger_of(folder) as ledger:
        assert ledger.on_hand("L1") == 8 and ledger.verify().ok
        [issue_a, issue_b] = rows_of(ledger, "outcome")
        assert {issue_a["user_id"], issue_b["user_id"]} == {"T100"} and issue_a["quantity"] == 1
        [task] = ledger.db["refill_tasks"].rows
        assert task["quantity"] == 4 and task["closed_seq"] == rows_of(ledger, "refill")[0]["seq"]
        assert task["opened_seq"] == issue_b["seq"]            # the vend that took it below min opened it
        assert open_alerts(ledger.db) == []                     # low stock raised, then cleared by the refill
        assert [a["kind"] for a in ledger.db["alerts"].rows] == ["low_stock"]


def test_a_cabinet_line_gone_silent_shows_not_answering_until_the_cabinet_answers_again(site):
    """The state's cabinet_link (the screen's cabinet pill) from the serial link itself: the firmware answers
    the agent's PING every 0.5 s; a pulled cable leaves it silent, and the state says so within seconds."""
    from sim.cabinet import Faults, Line
    sim, folder, port = site
    agent = AgentProcess(write_agent_config(folder, port)).start()
    try:
        agent.wait_ready()
        assert agent.request("GET", "/api/state")[1]["cabinet_link"] == "up"
        wire = sim.bridge.call(lambda s: s.line)
        cut = Line(sim.config["uart"]["baud"], Faults(drop_rate=1.0))
        sim.bridge.do(lambda s: setattr(s, "line", cut))                 # the cable is pulled
        agent.wait_for_state(lambda s: s["cabinet_link"] == "not_answering", timeout=15)
        sim.bridge.do(lambda s: setattr(s, "line", wire))                # and plugged back in
        assert agent.wait_for_state(lambda s: s["cabinet_link"] == "up", timeout=15)["ready"]
        assert agent.stop() == 0
    finally:
        agent.kill()
