"""Every flow at the cabinet through the agent's local API, as the touchscreen will drive it: weigh-bin takes,
scan-only bins, tools lent and returned, a supervisor's approval on the same screen, counts, adjustments,
quarantine and a jammed lane cleared, a driver's door refill. The real ledger file, the agent's worker and
HTTP server, and the simulated cabinet in virtual time."""
import json

import pytest

from edge_agent import api
from edge_agent.app.agent import Agent
from edge_agent.app.config import AgentConfig
from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger import ManualClock, open_ledger
from sim.virtual_host import VirtualCabinet
from tests.api_client import ApiClient
from tests.cabinets import cabinet, calibrate_bin
from tests.ledgers import ledger_from_csv, rows_of

SKUS = """part_number,description,category,supplier,needs_approval
WSH,Washer M8,hardware,Acme,no
TAPE,Tape,consumables,Acme,no
INS,Carbide insert,cutting,Acme,yes
TRQ,Torque wrench,tools,Acme,no
GLV,Gloves,ppe,Acme,no
"""
LOCATIONS = """id,kind,unit,sku,on_hand,min,max,piece_weight_mg,returnable,loan_hours
B1,bin,1,WSH,40,10,60,12500,,
S1,scan,,TAPE,10,2,20,,,
L1,lane,1,INS,8,2,8,,,
L9,lane,9,GLV,8,2,8,,,
D1,door,1,TRQ,1,0,1,,yes,8
D2,door,2,GLV,0,2,6,,,
"""
USERS = """id,name,role,supplier,pin,badges
T1,Ana,technician,,,04A1B2C3
S1,Dee,supervisor,,1357,0A0B0C0D
R1,Ray,route_driver,Acme,,CAFEF00D
"""


@pytest.fixture
def rig(tmp_path):
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS)
    ledger.db["role_allows"].insert_all([{"role": "technician", "category": c}
                                         for c in ("hardware", "consumables", "cutting", "tools", "ppe")])
    ledger.close()
    sim, host = cabinet(sim={"piece_weight_g": 12.5, "bin_pieces": 40}, lane=[{"number": 9, "jammed": True}])
    calibrate_bin(sim, host, 1, 900)
    cab = VirtualCabinet(host)
    cab.wait(3000)
    path = tmp_path / "ledger.db"
    config = AgentConfig(cabinet_id="CAB-T", ledger=path, cabinet_port="virtual")
    agent = Agent(lambda: open_ledger(path, ManualClock()), cab, config)
    agent.start()
    server = api.serve(agent, "127.0.0.1", 0)

    client = ApiClient(*server.server_address[:2], timeout=60)    # the kiosk's page, with its token

    def call(method, route, body=None):
        return client.request(method, route, body)

    call.sim, call.cab, call.agent, call.path = sim, cab, agent, path
    call("GET", "/api/state")
    yield call
    server.shutdown()
    agent.stop()


def ledger_of(rig):
    return open_ledger(rig.path, ManualClock(), count_boot=False)


def test_a_weigh_bin_take_charges_the_pieces_the_scale_saw(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, opened = rig("POST", "/api/take/begin", {"location": "B1", "quantity": 3})
    assert status == 200 and opened["weight_before_mg"] == pytest.approx(40 * 12500, abs=500)
    rig.sim.physics.bin(1).take(4)                         # took one more than announced: allowed, recorded
    rig.cab.wait(3000)
    status, counted = rig("POST", "/api/take/finish")
    assert status == 200 and (counted["action"], counted["quantity"]) == ("issue", 4)
    with ledger_of(rig) as ledger:
        assert ledger.on_hand("B1") == 36
        assert rows_of(ledger, "issue")[-1]["user_id"] == "T1"


def test_a_scan_only_bin_records_what_the_person_says(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, counted = rig("POST", "/api/issue", {"location": "S1", "quantity": 2})
    assert status == 200 and counted["quantity"] == 2
    with ledger_of(rig) as ledger:
        assert ledger.on_hand("S1") == 8


def test_an_item_that_needs_approval_goes_out_once_a_supervisor_badges(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, refused = rig("POST", "/api/issue", {"location": "L1"})
    assert status == 403 and refused["reason"] == "needs_approval"
    status, approver = rig("POST", "/api/approve", {"badge": "0A0B0C0D"})
    assert status == 200 and approver["person"]["user_id"] == "S1"
    status, result = rig("POST", "/api/issue", {"location": "L1"})
    assert status == 200 and result["outcomes"] == ["vended"]
    assert rig("POST", "/api/issue", {"location": "L1"})[0] == 403        # an approval is for one issue
    with ledger_of(rig) as ledger:
        assert [o["approver_id"] for o in rows_of(ledger, "outcome")] == ["S1"]


def test_a_technician_cannot_approve(rig):
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    rig("POST", "/api/logout")
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, answer = rig("POST", "/api/approve", {"user_id": "T1", "pin": "0000"})
    assert status == 403


def test_a_tool_is_lent_from_its_door_and_comes_back_damaged_into_quarantine(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, lent = rig("POST", "/api/issue", {"location": "D1"})
    assert status == 200 and lent["outcomes"] == ["opened"] and lent["loan"]["user_id"] == "T1"
    [loan] = rig("GET", "/api/loans")[1]["loans"]
    assert loan["location"] == "D1"
    status, back = rig("POST", "/api/return", {"location": "D1", "condition": "damaged"})
    assert status == 200 and back["outcomes"] == ["opened"]
    assert rig("GET", "/api/loans")[1]["loans"] == []
    assert rig("POST", "/api/return", {"location": "D1", "condition": "broken"})[0] == 400
    with ledger_of(rig) as ledger:
        assert ledger.on_hand("D1") == 0
        assert ledger.db["locations"].get("D1")["quarantine"] == 1
        assert ("D1", "tool_damaged") in [a[:2] for a in open_alerts(ledger.db)]
    # A supervisor puts it back in service.
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    assert rig("POST", "/api/quarantine", {"location": "D1", "quantity": 1, "disposition": "restock"}) == (
        200, {"ok": True, "quarantine": 0})
    with ledger_of(rig) as ledger:
        assert ledger.on_hand("D1") == 1 and ("D1", "tool_damaged") not in [a[:2] for a in open_alerts(ledger.db)]


def test_supervisor_counts_adjusts_and_clears_a_jammed_lane(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    assert rig("POST", "/api/issue", {"location": "L9"})[1]["outcomes"] == ["jammed"]
    assert rig("POST", "/api/count", {"location": "L9", "counted": 7})[0] == 403     # technicians do not count
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    assert rig("POST", "/api/count", {"location": "L9", "counted": 7}) == (200, {"ok": True, "difference": -1})
    status, answer = rig("POST", "/api/adjust", {"location": "L9", "delta": -1})
    assert status == 403 and answer["reason"] == "needs_reason"
    assert rig("POST", "/api/adjust", {"location": "L9", "delta": -1, "reason": "found broken"}) == (
        200, {"ok": True, "on_hand": 6})
    rig.sim.physics.lane(9).jammed = False                 # the supervisor frees the spiral by hand
    status, cleared = rig("POST", "/api/lane/clear", {"location": "L9"})
    assert status == 200 and cleared["outcome"] == "cleared"
    assert rig("POST", "/api/issue", {"location": "L9"})[1]["outcomes"] == ["vended"]
    with ledger_of(rig) as ledger:
        assert ledger.on_hand("L9") == 5
        assert "lane_jammed" not in [a[1] for a in open_alerts(ledger.db)]
        assert [r["reason"] for r in rows_of(ledger, "adjustment") if r["location"] == "L9"] == ["found broken"]


def test_a_driver_opens_a_door_to_refill_it_and_only_their_suppliers(rig):
    rig("POST", "/api/badge", {"badge": "CAFEF00D"})
    [line] = [p for p in rig("GET", "/api/refill")[1]["pick_list"] if p["location"] == "D2"]
    assert line["quantity"] == 6
    status, opened = rig("POST", "/api/refill/open", {"location": "D2"})
    assert status == 200 and opened["outcomes"] == ["opened"] and opened["given"] == 0
    assert rig.sim.physics.door(2).opens == 1
    status, refused = rig("POST", "/api/refill", {"location": "D2", "added": 6})       # no count: not recorded
    assert status == 400 and refused["message"].startswith("Count what is in D2 now"), refused
    status, done = rig("POST", "/api/refill", {"location": "D2", "added": 6, "counted": 6})
    assert status == 200 and done["on_hand"] == 6
    assert rig("POST", "/api/issue", {"location": "D2"})[0] == 403           # drivers refill, they do not take


def test_a_lent_tool_is_not_on_the_pick_list_and_a_supervisor_marks_it_lost(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    assert rig("POST", "/api/issue", {"location": "D1"})[1]["outcomes"] == ["opened"]   # the only wrench
    assert rig("GET", "/api/tools/out")[0] == 403                                   # a supervisor's view
    rig("POST", "/api/badge", {"badge": "CAFEF00D"})
    assert "D1" not in [p["location"] for p in rig("GET", "/api/refill")[1]["pick_list"]]
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    [loan] = rig("GET", "/api/tools/out")[1]["loans"]
    assert (loan["location"], loan["user_id"]) == ("D1", "T1")
    status, answer = rig("POST", "/api/tools/lost", {"loan_id": loan["id"], "reason": "left on site B"})
    assert status == 200 and answer["loan"]["id"] == loan["id"]
    status, again = rig("POST", "/api/tools/lost", {"loan_id": loan["id"]})
    assert status == 403 and again["reason"] == "no_loan"
    assert rig("GET", "/api/tools/out")[1]["loans"] == []
    with ledger_of(rig) as ledger:
        assert [a[1] for a in open_alerts(ledger.db, "D1")] == ["tool_lost"]


def test_a_lane_suspected_empty_is_a_count_task_a_supervisor_sees_and_settles(rig):
    rig.sim.physics.lane(1).items = 0                       # the ledger says 8
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    for _ in range(2):
        assert rig("POST", "/api/issue", {"location": "L1"})[1]["outcomes"] == ["no_drop"]
    [task] = rig("GET", "/api/count-tasks")[1]["count_tasks"]
    assert (task["location"], task["on_hand"]) == ("L1", 8) and "nothing dropped" in task["reason"]
    status, refused = rig("POST", "/api/issue", {"location": "L1"})
    assert status == 403 and refused["reason"] == "suspected_empty"
    assert rig("POST", "/api/count", {"location": "L1", "counted": 0}) == (200, {"ok": True, "difference": -8})
    assert rig("GET", "/api/count-tasks")[1]["count_tasks"] == []
    with ledger_of(rig) as ledger:
        assert sorted(a[1] for a in open_alerts(ledger.db, "L1")) == ["low_stock", "stockout"]


def test_a_drivers_visit_closes_at_logout_and_its_summary_goes_to_the_outbox(rig):
    rig("POST", "/api/badge", {"badge": "CAFEF00D"})
    lines = rig("GET", "/api/refill")[1]["pick_list"]             # the visit opens here
    assert [(p["location"], p["line"]) for p in lines] == [("D2", "refill"), ("B1", "top_off"), ("S1", "top_off")]
    status, done = rig("POST", "/api/refill", {"location": "D2", "added": 6, "counted": 5})   # one short
    assert status == 200 and done["on_hand"] == 5 and done["corrected_from"] == 6
    status, done = rig("POST", "/api/refill", {"location": "S1", "added": 10, "counted": 20})
    assert status == 200 and done["corrected_from"] is None
    rig("POST", "/api/logout")
    rig.agent.call(lambda: None)                                  # a worker pass after the logout
    with ledger_of(rig) as ledger:
        [body] = [json.loads(e["body"]) for e in ledger.db.query("SELECT body FROM outbox_events "
                                                                 "WHERE type = 'refill_visit'")]
    assert body["user_id"] == "R1"
    assert body["summary"] == dict(loaded=16, counted=2, differences=1, lines=[
        dict(location="D2", sku="GLV", loaded=6, counted=5, expected=6, difference=-1),
        dict(location="S1", sku="TAPE", loaded=10, counted=20, expected=20, difference=0)])


def test_the_state_says_the_cabinet_link_is_up_and_no_cloud_is_configured(rig):
    state = rig("GET", "/api/state")[1]
    assert (state["cabinet_link"], state["cloud"]) == ("up", None)


def test_a_weigh_bin_take_cut_short_by_the_agent_stopping_is_charged_to_the_person_at_the_next_start(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, _ = rig("POST", "/api/take/begin", {"location": "B1", "quantity": 3, "work_order": "WO-7"})
    assert status == 200
    rig.sim.physics.bin(1).take(3)
    rig.cab.wait(3000)
    rig.agent.stop()                                        # the agent goes before anyone pressed Done
    again = Agent(lambda: open_ledger(rig.path, ManualClock()), rig.cab,
                  AgentConfig(cabinet_id="CAB-T", ledger=rig.path, cabinet_port="virtual"))
    again.start()
    try:
        assert again.call(again.state)["ready"] is True
    finally:
        again.stop()
    with ledger_of(rig) as ledger:
        issue = rows_of(ledger, "issue")[-1]
        assert (issue["user_id"], issue["quantity"], issue["work_order"], issue["outcome"]) == \
            ("T1", 3, "WO-7", "interrupted")
        assert ledger.on_hand("B1") == 37
        [(_, kind, words)] = open_alerts(ledger.db, "B1")
        assert kind == "bin_take_interrupted" and "Ana (T1)" in words and "3 pieces taken" in words


def test_a_take_left_open_at_logout_is_finished_for_its_person_and_the_bin_is_free_for_the_next(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    rig("POST", "/api/take/begin", {"location": "B1", "quantity": 2})
    rig.sim.physics.bin(1).take(2)
    rig.cab.wait(3000)
    rig("POST", "/api/logout")
    rig("POST", "/api/badge", {"badge": "0A0B0C0D"})
    rig("POST", "/api/pin", {"user_id": "S1", "pin": "1357"})
    status, opened = rig("POST", "/api/take/begin", {"location": "B1", "quantity": 1})
    assert status == 200, opened
    with ledger_of(rig) as ledger:
        assert [(r["user_id"], r["quantity"]) for r in rows_of(ledger, "issue")] == [("T1", 2)]
        assert ledger.on_hand("B1") == 38


def test_opening_the_same_bin_again_finishes_the_persons_open_take_first(rig):
    rig("POST", "/api/badge", {"badge": "04A1B2C3"})
    rig("POST", "/api/take/begin", {"location": "B1", "quantity": 1})
    rig.sim.physics.bin(1).take(1)
    rig.cab.wait(3000)
    status, again = rig("POST", "/api/take/begin", {"location": "B1", "quantity": 1})   # the page reloaded
    assert status == 200, again
    with ledger_of(rig) as ledger:
        assert [(r["user_id"], r["quantity"], r["outcome"]) for r in rows_of(ledger, "issue")] == [("T1", 1, None)]
