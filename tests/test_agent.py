"""The agent process's core and its local API, in one process: the real ledger file, the real worker thread
and HTTP server, the simulated cabinet in virtual time (VirtualCabinet) behind it."""
import dataclasses
import json
import threading

import pytest

from edge_agent.cloud import outbox

from edge_agent import api
from edge_agent.rules.access import NeedPin, Person
from edge_agent.app.agent import Agent, NoSession, NotReady
from edge_agent.app.config import AgentConfig
from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger import ManualClock, lockouts, open_ledger
from firmware import messages as M
from sim.virtual_host import VirtualCabinet
from tests.refusals import refused
from tests.api_client import ApiClient
from tests.cabinets import cabinet
from tests.ledgers import ledger_from_csv, rows_of

SKUS = "part_number,description,category\nGLV,Gloves,ppe\nDRL,Drill bit,cutting\n"
LOCATIONS = "id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,8,2,8\nL2,lane,2,DRL,8,2,8\nD1,door,1,GLV,2,0,2\n"
USERS = ("id,name,role,pin,badges\nT1,Ana,technician,2580,04A1B2C3\nS1,Dee,supervisor,1357,0A0B0C0D\n")


class Ticks:
    """The agent's monotonic clock, moved by the test."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def site(tmp_path):
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS)
    ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
    ledger.close()
    return tmp_path / "ledger.db"


def make_agent(path, cab, ticks=None, **options):
    config = AgentConfig(cabinet_id="CAB-T", ledger=path, cabinet_port="virtual", **options)
    clock = ManualClock()
    agent = Agent(lambda: open_ledger(path, clock), cab, config, clock=ticks or Ticks())
    agent.start()
    return agent


@pytest.fixture
def running(site):
    agents = []

    def start(cab=None, **options):
        if cab is None:
            sim, host = cabinet()
            cab = VirtualCabinet(host)
        agent = make_agent(site, cab, **options)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def ledger_at(path):
    return open_ledger(path, ManualClock(), count_boot=False)


def test_a_badge_tap_logs_in_and_an_issue_vends_and_is_recorded(running, site):
    sim, host = cabinet()
    agent = running(VirtualCabinet(host))
    person = agent.call(agent.tap, "04a1b2c3")
    assert isinstance(person, Person) and person.user_id == "T1"
    result = agent.call(agent.issue, "L1", 2)
    assert result.ok and result.given == 2 and sim.physics.lane(1).dropped == 2
    agent.stop()
    with ledger_at(site) as ledger:
        assert ledger.on_hand("L1") == 6
        assert [o["outcome"] for o in rows_of(ledger, "outcome")] == ["vended", "vended"]
        assert {o["user_id"] for o in rows_of(ledger, "outcome")} == {"T1"}


def test_nobody_can_act_without_a_session_and_refusals_come_back_in_plain_words(running):
    agent = running()
    with pytest.raises(NoSession):
        agent.call(agent.issue, "L1", 1)
    assert "not registered" in refused(agent.call, agent.tap, "FFFFFFFF").words
    agent.call(agent.tap, "04A1B2C3")
    # a technician may not take cutting tools here
    assert refused(agent.call, agent.issue, "L2", 1).reason == "not_allowed"


def test_roles_that_need_a_pin_get_in_only_with_badge_and_pin(running):
    agent = running(pin_roles=("supervisor",))
    answer = agent.call(agent.tap, "0A0B0C0D")
    assert answer == NeedPin("S1") and agent.call(agent.state)["session"] is None
    assert agent.call(agent.state)["need_pin_for"] == "S1"
    assert refused(agent.call, agent.pin, "S1", "0000").reason == "wrong_pin"
    person = agent.call(agent.pin, "S1", "1357")
    assert person.role == "supervisor" and agent.session.via == "badge+pin"


def test_an_idle_session_ends_by_itself(running):
    ticks = Ticks()
    agent = running(ticks=ticks, session_idle_s=30)
    agent.call(agent.tap, "04A1B2C3")
    ticks.now += 29
    assert agent.call(agent.state)["session"]["user_id"] == "T1"
    ticks.now += 31
    agent.call(agent.state)                               # the worker checks the timer after each job
    assert agent.call(agent.state)["session"] is None
    with pytest.raises(NoSession):
        agent.call(agent.issue, "L1", 1)


def _visits(path):
    with ledger_at(path) as ledger:
        return [json.loads(e["body"])["summary"] for e in
                ledger.db.query("SELECT body FROM outbox_events WHERE type = 'refill_visit' ORDER BY seq")]


def test_a_refill_visit_ends_with_its_session_and_one_a_restart_cut_short_ends_at_the_next_start(running, site):
    ticks = Ticks()
    agent = running(ticks=ticks, session_idle_s=30)
    agent.call(agent.tap, "0A0B0C0D")                     # a supervisor refills too
    agent.call(agent.pick_list)                           # the visit opens
    agent.call(agent.refill, "L1", 0, 7)                  # nothing put in, one missing
    assert _visits(site) == []
    ticks.now += 31                                       # walks away: the idle timer ends the session
    agent.call(agent.state)
    agent.call(agent.state)
    [summary] = _visits(site)
    assert (summary["counted"], summary["differences"], summary["lines"][0]["difference"]) == (1, 1, -1)
    agent.call(agent.tap, "0A0B0C0D")
    agent.call(agent.refill, "L2", 0, 8)                  # a new visit, then the agent stops mid-visit
    agent.stop()
    assert len(_visits(site)) == 1
    again = running()
    again.call(again.state)
    assert [s["lines"][0]["location"] for s in _visits(site)] == ["L1", "L2"]


def test_nobody_is_let_in_before_pending_intents_are_settled(site):
    sim, host = cabinet()
    cab = VirtualCabinet(host)
    with ledger_at(site) as ledger:   # the last run wrote an intent, sent the vend and died
        seq, cmd_id = ledger.record_intent("issue", location="L1", quantity=1, user_id="T1")
    gate = threading.Event()
    real_query = cab.query

    def query_when_allowed(cmd_id):
        if not gate.is_set():
            from edge_agent.link.errors import LinkTimeout
            raise LinkTimeout("cabinet not answering")
        return real_query(cmd_id)

    cab.query = query_when_allowed
    host.actuate(M.VEND, cmd_id, 1)
    ticks = Ticks()
    agent = make_agent(site, cab, ticks)
    try:
        with pytest.raises(NotReady):
            agent.call(agent.tap, "04A1B2C3")
        gate.set()
        ticks.now += 5                                     # the next recovery attempt is due
        agent.call(agent.state)
        assert agent.call(agent.state)["ready"] is True
        assert isinstance(agent.call(agent.tap, "04A1B2C3"), Person)
    finally:
        agent.stop()
    with ledger_at(site) as ledger:
        assert [(o["intent_seq"], o["outcome"]) for o in rows_of(ledger, "outcome")] == [(seq, "vended")]
        assert ledger.on_hand("L1") == 7 and sim.physics.lane(1).turns == 1


def test_a_forced_door_raises_an_alert(running, site):
    sim, host = cabinet()
    cab = VirtualCabinet(host)
    events = []
    cab.next_event = lambda timeout: events.pop(0) if events else None
    agent = running(cab)
    sim.physics.door(1).force_open()
    cab.wait(500)
    events.extend(host.events_of(M.EV_DOOR_FORCED))
    agent.call(agent.state)
    agent.call(agent.state)
    agent.stop()
    with ledger_at(site) as ledger:
        assert [(a[0], a[1]) for a in open_alerts(ledger.db)] == [("D1", "door_forced")]


def test_an_events_lost_fault_makes_the_agent_read_the_cabinet_state_again(running):
    sim, host = cabinet()
    sim.physics.door(4).force_open()
    host.tick(500)
    cab = VirtualCabinet(host)
    events = []
    cab.next_event = lambda timeout: events.pop(0) if events else None
    agent = running(cab)
    assert agent.call(agent.state)["doors_open"] == [4]        # seeded from STATUS at start-up
    sim.physics.door(4).close()
    first = len(host.events)
    host.tick(500)                      # the door closes; say its EV_DOOR_CLOSED was one the firmware dropped
    for n in range(20):                 # an overflow: 16 queued at most
        sim.cab.event(M.EV_CMD_DONE, 900 + n, M.VEND, M.DONE, M.R_NO_DROP, 2)
    host.tick(8000)
    faults = [e for e in host.events[first:] if e.type == M.EV_FAULT]
    assert [(e["code"], e["detail"]) for e in faults] == [(M.F_EVENTS_LOST, 4)]
    events.extend(e for e in host.events[first:] if e.type != M.EV_DOOR_CLOSED)
    agent.call(agent.state)
    assert agent.call(agent.state)["doors_open"] == []          # STATUS read again after the fault
    agent.stop()


def test_an_event_type_the_agent_does_not_know_is_passed_over(running, site):
    # docs/protocol.md, Versioning: a newer firmware may add event types; the host acknowledges and skips them.
    from edge_agent.link.messages import decode_event
    sim, host = cabinet()
    cab = VirtualCabinet(host)
    events = [decode_event(7, bytes((200, 1, 2, 3))), decode_event(8, bytes((M.EV_DOOR_FORCED,)))]  # too short
    cab.next_event = lambda timeout: events.pop(0) if events else None
    agent = running(cab)
    agent.call(agent.state, timeout=5)
    assert agent.call(agent.state, timeout=5)["ready"] is True and events == []
    agent.stop()
    with ledger_at(site) as ledger:
        assert open_alerts(ledger.db) == []


# -- the local HTTP API ---------------------------------------------------------------------------------
@pytest.fixture
def api_client(running):
    agent = running()
    server = api.serve(agent, "127.0.0.1", 0)
    client = ApiClient(*server.server_address[:2])      # the kiosk's page: its token from loading the screen
    yield client.request
    server.shutdown()


def test_api_login_issue_and_logout(api_client):
    http = api_client
    status, state = http("GET", "/api/state")
    assert status == 200 and state["ready"] and state["session"] is None
    assert http("POST", "/api/badge", {"badge": "04A1B2C3"})[1]["person"]["user_id"] == "T1"
    status, result = http("POST", "/api/issue", {"location": "L1", "quantity": 1})
    assert status == 200 and result["given"] == 1 and result["outcomes"] == ["vended"]
    assert http("POST", "/api/logout")[0] == 200
    status, answer = http("POST", "/api/issue", {"location": "L1"})
    assert status == 401 and "Tap your badge" in answer["message"]


def test_api_refusals_and_bad_requests_say_what_is_wrong(api_client):
    http = api_client
    status, answer = http("POST", "/api/badge", {"badge": "12345678"})
    assert status == 403 and answer["reason"] == "unknown_badge"
    http("POST", "/api/badge", {"badge": "04A1B2C3"})
    status, answer = http("POST", "/api/issue", {"location": "L2"})
    assert status == 403 and answer["reason"] == "not_allowed" and "Drill bit" in answer["message"]
    assert http("POST", "/api/issue", {"location": "L1", "quantity": "two"}) == (
        400, {"ok": False, "message": "quantity must be a whole number"})
    assert http("POST", "/api/issue", {"quantity": 1})[1]["message"] == "location is required"
    assert http("POST", "/api/issue", raw=b"{not json")[0] == 400
    assert http("GET", "/api/nothing")[0] == 404


def test_a_supervisors_tap_while_an_issue_waits_approves_it_and_keeps_the_session(tmp_path):
    ledger = ledger_from_csv(tmp_path, skus=SKUS + "INS,Insert,ppe\n", locations=LOCATIONS + "L3,lane,3,INS,4,0,4\n",
                             users=USERS + "T2,Bo,technician,1111,0B0B0B0B\n")
    ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
    ledger.db["sku_requirements"].insert({"sku": "INS", "needs_approval": 1})
    ledger.close()
    sim, host = cabinet()
    agent = make_agent(tmp_path / "ledger.db", VirtualCabinet(host))
    try:
        agent.call(agent.tap, "04A1B2C3")
        assert refused(agent.call, agent.issue, "L3").reason == "needs_approval"
        # Another technician's tap is a new session as ever: only an approver's tap approves.
        assert agent.call(agent.tap, "0B0B0B0B").user_id == "T2"
        agent.call(agent.tap, "04A1B2C3")
        assert refused(agent.call, agent.issue, "L3").reason == "needs_approval"
        approved = agent.call(agent.tap, "0A0B0C0D")
        assert approved.approver.user_id == "S1"
        state = agent.call(agent.state)
        assert state["session"]["user_id"] == "T1" and state["approver"] == "Dee"
        assert agent.call(agent.issue, "L3").ok
        # The approval was for that one issue: a supervisor's next tap logs them in.
        assert agent.call(agent.tap, "0A0B0C0D").user_id == "S1"
    finally:
        agent.stop()
    with ledger_at(tmp_path / "ledger.db") as ledger:
        [out] = rows_of(ledger, "outcome")
        assert (out["location"], out["user_id"], out["approver_id"]) == ("L3", "T1", "S1")


def test_the_state_says_which_areas_the_person_may_use_and_gates_refuse_the_rest(running):
    agent = running()
    agent.call(agent.tap, "04A1B2C3")                                       # a technician
    assert agent.call(agent.state)["may"] == ["take"]
    assert agent.call(agent.state, as_client="another screen")["may"] == []   # not their session
    for job in (agent.health, agent.stock, agent.open_alerts):
        said_no = refused(agent.call, job)
        assert said_no.reason == "not_allowed" and "Only a supervisor" in said_no.words
    agent.call(agent.tap, "0A0B0C0D")                                       # a supervisor
    assert agent.call(agent.state)["may"] == ["take", "refill", "supervise", "install"]
    assert agent.call(agent.stock)[0]["location"] == "L1"


def test_an_idle_time_pushed_by_the_cloud_ends_sessions_at_the_new_time(running):
    ticks = Ticks()
    agent = running(ticks=ticks, session_idle_s=300)
    agent.call(agent.apply_settings, session_idle_s=30)
    agent.call(agent.tap, "04A1B2C3")
    ticks.now += 31
    agent.call(agent.state)                               # the worker checks the timer after each job
    assert agent.call(agent.state)["session"] is None


def test_settings_the_cloud_pushed_still_hold_after_the_agent_restarts(running, site):
    with ledger_at(site) as ledger:                       # pushed and kept in the ledger by an earlier run
        outbox.set_settings(ledger, session_idle_s=30, max_pin_tries=1, lockout_s=600)
    ticks = Ticks()
    agent = running(ticks=ticks, session_idle_s=300, max_pin_tries=5, lockout_s=60)
    refused(agent.call, agent.pin, "T1", "0000")          # one try, as the cloud said, not five
    assert agent.call(lambda: agent.ledger.db.execute("SELECT left_ms FROM pin_lockouts").fetchone()[0]) == 600_000
    agent.call(agent.tap, "04A1B2C3")
    ticks.now += 31
    agent.call(agent.state)                               # the worker checks the timer after each job
    assert agent.call(agent.state)["session"] is None


def test_the_running_agent_measures_pin_lockouts_every_minute_so_a_reboot_loses_little(running):
    ticks = Ticks()
    agent = running(ticks=ticks, max_pin_tries=1, lockout_s=300)
    refused(agent.call, agent.pin, "T1", "0000")
    left = lambda: agent.call(lambda: agent.ledger.db.execute("SELECT left_ms FROM pin_lockouts").fetchone()[0])
    assert left() == 300_000
    agent.call(lambda: agent.ledger.clock.advance(100_000))
    ticks.now += lockouts.CHECKPOINT_S
    agent.call(agent.state)                               # the worker runs its timers after each job
    assert left() == 200_000
