"""Issuing from lanes and doors through the real ledger, the agent's link core and the simulated cabinet
running the real firmware: intent before actuation, outcome after, nothing charged that did not come out,
and start-up recovery that never pulses an actuator again on a guess."""
import pytest

from edge_agent.rules.access import Person
from edge_agent.ledger.alerts import open_alerts
from edge_agent.flows.vending import Vending
from edge_agent.ledger import record_admin_change
from firmware import messages as M
from sim.virtual_host import VirtualCabinet, VirtualHost
from tests.refusals import refused
from tests.cabinets import cabinet, reset_mid_vend
from tests.ledgers import ledger_from_csv, rows_of

TECH = Person("tech-1", "Ana", "technician", "Maint", "CC-410", None)
SUPERVISOR = Person("sup-1", "Dee", "supervisor", "Maint", "CC-410", None)


@pytest.fixture
def ledger(tmp_path):
    locations = ["L%d,lane,%d,GLV,2,8,1,6" % (n, n) for n in range(1, 13)] + [
        "D%d,door,%d,TRQ,0,1,1,1" % (n, n) for n in range(1, 5)]
    led = ledger_from_csv(tmp_path, skus="part_number,description,category\nGLV,Gloves,ppe\nTRQ,Torque wrench,tools\n",
                          locations="id,kind,unit,sku,min,max,refill_pack,on_hand\n" + "\n".join(locations) + "\n")
    led.db["role_allows"].insert_all([{"role": "technician", "category": "ppe"},
                                      {"role": "technician", "category": "tools"}])
    record_admin_change(led, "access rules written by the test")   # as an import would
    yield led
    led.close()


def test_issuing_two_from_a_lane_vends_twice_and_charges_two(ledger):
    sim, host = cabinet()
    result = Vending(ledger, VirtualCabinet(host)).issue(TECH, "L3", 2)
    assert result.ok and result.outcomes == ["vended", "vended"]
    assert sim.physics.lane(3).turns == 2 and sim.physics.lane(3).dropped == 2
    assert ledger.on_hand("L3") == 4
    intents, outcomes = rows_of(ledger, "intent"), rows_of(ledger, "outcome")
    assert [o["intent_seq"] for o in outcomes] == [i["seq"] for i in intents]
    assert all(i["seq"] < o["seq"] for i, o in zip(intents, outcomes))     # intent written first
    assert ledger.verify().ok


def test_a_vend_with_no_drop_is_not_charged(ledger):
    sim, host = cabinet(lane=[{"number": 5, "items": 0}])
    result = Vending(ledger, VirtualCabinet(host)).issue(TECH, "L5", 1)
    assert (result.given, result.outcomes) == (0, ["no_drop"])
    assert ledger.on_hand("L5") == 6


def test_a_jammed_lane_raises_an_alert_and_later_issues_are_refused_by_the_cabinet(ledger):
    sim, host = cabinet(lane=[{"number": 9, "jammed": True}])
    vending = Vending(ledger, VirtualCabinet(host))
    assert vending.issue(TECH, "L9", 2).outcomes == ["jammed"]               # stops at the jam
    assert ("L9", "lane_jammed", "lane 9 jammed") in open_alerts(ledger.db)
    jammed = refused(vending.issue, TECH, "L9", 1)
    assert jammed.reason == "lane_jammed" and "supervisor" in jammed.words
    assert ledger.on_hand("L9") == 6 and sim.physics.safety.times_on("lane 9") == 1


def test_a_jam_stays_refused_after_an_mcu_reset_forgot_it(ledger):
    sim, host = cabinet(lane=[{"number": 9, "jammed": True}])
    vending = Vending(ledger, VirtualCabinet(host))
    vending.issue(TECH, "L9", 1)
    sim.reset_mcu(M.RESET_HARD)                       # the firmware's lane-disabled flag is gone
    host.hello()
    assert refused(vending.issue, TECH, "L9", 1).reason == "lane_jammed"
    assert sim.physics.safety.times_on("lane 9") == 1   # the jammed motor was not run again


def test_a_door_issue_charges_what_the_door_held(ledger):
    sim, host = cabinet()
    result = Vending(ledger, VirtualCabinet(host)).issue(TECH, "D2", 1)
    assert result.ok and result.outcomes == ["opened"] and ledger.on_hand("D2") == 0


def test_a_refused_issue_moves_nothing_and_is_on_record(ledger):
    sim, host = cabinet()
    driver = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
    assert refused(Vending(ledger, VirtualCabinet(host)).issue, driver, "L1", 1).reason == "not_allowed"
    assert [(r["reason"], r["location"]) for r in rows_of(ledger, "refusal")] == [("not_allowed", "L1")]
    assert rows_of(ledger, "intent") == [] and sim.physics.lane(1).turns == 0


def test_an_mcu_reset_mid_vend_leaves_the_intent_pending_and_recovery_records_unknown(ledger):
    sim, host = cabinet()
    port = VirtualCabinet(host)
    vending = Vending(ledger, port)
    original = port.vend
    port.vend = reset_mid_vend(sim, host)
    result = vending.issue(TECH, "L4", 1)
    assert result.unknown and result.given == 0
    [pending] = ledger.pending_intents()
    port.vend = original
    host.hello()
    assert vending.recover() == [(pending["seq"], "unknown")]
    assert ledger.pending_intents() == []
    assert ("L4", "unknown_outcome") in [(a[0], a[1]) for a in open_alerts(ledger.db)]
    assert ledger.on_hand("L4") == 6                                     # not charged on a guess
    assert sim.physics.safety.times_on("lane 4") == 1                   # and never pulsed again


def test_a_vend_whose_drop_was_reported_before_an_mcu_reset_is_charged_at_recovery(ledger):
    sim, host = cabinet()
    port = VirtualCabinet(host)
    vending = Vending(ledger, port)
    original = port.vend

    def vend_then_reset_after_the_drop(lane, cmd_id):
        op = host.core.actuate(M.VEND, cmd_id, (lane,), sim.now, 30000)
        beam = sim.cab.lanes[0].bank.drop
        assert host.wait_for(lambda: beam.count == 1, 5000)   # the firmware sees the item fall
        host.tick(5)                            # EV_DROP is out and acknowledged; the vend has not ended
        sim.reset_mcu(M.RESET_HARD)
        return host.run(op)
    port.vend = vend_then_reset_after_the_drop
    result = vending.issue(TECH, "L4", 1)
    assert result.unknown and result.given == 0              # the vend's own result never came
    [pending] = ledger.pending_intents()
    port.vend = original
    host.hello()
    assert vending.recover() == [(pending["seq"], "dropped")]
    [outcome] = rows_of(ledger, "outcome")
    assert outcome["quantity"] == 1 and "EV_DROP" in outcome["reason"]
    assert ledger.on_hand("L4") == 5 and sim.physics.lane(4).dropped == 1
    assert "unknown_outcome" not in [a[1] for a in open_alerts(ledger.db)]
    assert sim.physics.safety.times_on("lane 4") == 1                   # never pulsed again


def test_recovery_settles_a_command_that_ran_while_the_agent_was_down(ledger):
    sim, host = cabinet()
    vending = Vending(ledger, VirtualCabinet(host))
    # The agent wrote its intent and sent the vend, then died before writing the outcome.
    seq, cmd_id = ledger.record_intent("issue", location="L2", quantity=1, user_id="tech-1")
    host.actuate(M.VEND, cmd_id, 2)
    assert vending.recover() == [(seq, "vended")]
    assert ledger.on_hand("L2") == 5 and sim.physics.lane(2).turns == 1


def test_recovery_of_a_command_the_replay_table_has_forgotten_is_not_taken_for_one_never_sent(ledger):
    sim, host = cabinet()
    seq, cmd_id = ledger.record_intent("issue", location="L2", quantity=1, user_id="tech-1",
                                       fw_boot=host.hello().boot_id)
    host.actuate(M.VEND, cmd_id, 2)                   # it ran and an item came out; then the agent died
    for n in range(1, 33):                            # 32 later commands push it out of the firmware's table
        host.actuate(M.CLEAR_LANE, cmd_id + n, 1)
    restarted = VirtualHost(sim)                      # the agent starts again: its link knows nothing
    restarted.hello()
    # Same boot, id forgotten: the firmware says E_STALE_ID, not E_UNKNOWN_ID ("this boot never saw it"),
    # so recovery cannot settle it as not sent and uncharged.
    assert Vending(ledger, VirtualCabinet(restarted)).recover() == [(seq, "unknown")]
    assert sim.physics.lane(2).dropped == 1 and ledger.on_hand("L2") == 6
    assert ("L2", "unknown_outcome") in [(a[0], a[1]) for a in open_alerts(ledger.db)]


def test_recovery_of_an_intent_the_cabinet_never_saw_is_not_guessed(ledger):
    sim, host = cabinet()
    seq, _ = ledger.record_intent("issue", location="L6", quantity=1, user_id="tech-1")   # died before sending
    assert Vending(ledger, VirtualCabinet(host)).recover() == [(seq, "unknown")]
    assert sim.physics.lane(6).turns == 0 and ledger.on_hand("L6") == 6


def test_a_restricted_item_issued_with_a_supervisors_approval_records_the_approver(ledger):
    ledger.db["sku_requirements"].insert({"sku": "TRQ", "needs_approval": 1})
    sim, host = cabinet()
    vending = Vending(ledger, VirtualCabinet(host))
    other_tech = Person("tech-2", "Raj", "technician", "Maint", "CC-410", None)
    said_no = refused(vending.issue, TECH, "D2", 1, approver=other_tech)          # a technician cannot approve
    assert said_no.reason == "needs_approval" and sim.physics.door(2).opens == 0
    assert [r["approver_id"] for r in rows_of(ledger, "refusal")] == [None]
    result = vending.issue(TECH, "D2", 1, approver=SUPERVISOR)
    assert result.ok and sim.physics.door(2).opens == 1 and ledger.on_hand("D2") == 0
    [intent], [outcome] = rows_of(ledger, "intent"), rows_of(ledger, "outcome")
    assert (intent["user_id"], intent["approver_id"]) == ("tech-1", "sup-1")
    assert (outcome["user_id"], outcome["approver_id"], outcome["quantity"]) == ("tech-1", "sup-1", 1)
    assert ledger.verify().ok



def test_recovery_proves_a_command_never_arrived_when_its_firmware_boot_is_still_running(ledger):
    sim, host = cabinet()
    port = VirtualCabinet(host)
    # The agent wrote its intent for the running boot, then died before sending: provably nothing moved.
    seq, _ = ledger.record_intent("issue", location="L6", quantity=1, user_id="tech-1", fw_boot=port.boot_id)
    assert Vending(ledger, port).recover() == [(seq, "not_sent")]
    assert open_alerts(ledger.db) == [] and ledger.on_hand("L6") == 6 and sim.physics.lane(6).turns == 0


def test_an_intent_records_the_firmware_boot_it_was_sent_to(ledger):
    sim, host = cabinet()
    Vending(ledger, VirtualCabinet(host)).issue(TECH, "L1", 1)
    [intent] = rows_of(ledger, "intent")
    assert intent["fw_boot"] == host.core.boot_id != None   # noqa: E711


def test_a_lane_empty_in_fact_but_not_on_the_ledger_is_suspected_empty_after_two_no_drops(ledger):
    from edge_agent.flows import stock
    from edge_agent.ledger.count_tasks import open_count_tasks
    from edge_agent.rules.choices import offered_items
    sim, host = cabinet(lane=[{"number": 5, "items": 0}])     # physically empty, the ledger says 6
    vending = Vending(ledger, VirtualCabinet(host))
    assert vending.issue(TECH, "L5", 1).outcomes == ["no_drop"]
    assert open_alerts(ledger.db, "L5") == [] and open_count_tasks(ledger) == []     # once may be a hung item
    assert vending.issue(TECH, "L5", 1).outcomes == ["no_drop"]
    [(_, kind, detail)] = open_alerts(ledger.db, "L5")
    assert kind == "suspected_empty" and "2 vends in a row" in detail and "6 on hand" in detail
    [task] = open_count_tasks(ledger)
    assert (task["location"], task["on_hand"], task["description"]) == ("L5", 6, "Gloves")
    assert "nothing dropped" in task["reason"] and "may be empty" in task["reason"]
    turns, counts = sim.physics.lane(5).turns, len(rows_of(ledger, "count"))
    no = refused(vending.issue, TECH, "L5", 1)
    assert no.reason == "suspected_empty" and "Lane 5 is out of service" in no.words and "counts it" in no.words
    assert sim.physics.lane(5).turns == turns                  # the motor was not run again
    [item] = [i for i in offered_items(ledger, TECH) if i["location"] == "L5"]
    assert item["out_of_service"] and item["suspected_empty"] and not item["jammed"]
    assert offered_items(ledger, TECH)[-1]["location"] == "L5"   # listed last
    assert ledger.on_hand("L5") == 6 and len(rows_of(ledger, "count")) == counts

    assert stock.cycle_count(ledger, SUPERVISOR, "L5", 0) == -6    # the supervisor counts: empty
    assert open_count_tasks(ledger) == []
    task = ledger.db.execute("SELECT closed_seq FROM count_tasks").fetchone()
    assert task[0] == rows_of(ledger, "count")[-1]["seq"]
    assert ledger.db.execute("SELECT cleared_how FROM alerts WHERE kind = 'suspected_empty'").fetchone()[0] == "count"
    assert sorted(a[1] for a in open_alerts(ledger.db, "L5")) == ["low_stock", "stockout"]   # min/max sees 0
    assert ledger.db.execute("SELECT quantity FROM refill_tasks WHERE location = 'L5' AND closed_seq IS NULL"
                             ).fetchone() == (8,)
    outbox = [r[0] for r in ledger.db.execute("SELECT type FROM outbox_events")]
    assert "count_task_opened" in outbox and "count_task_closed" in outbox
    assert ledger.verify().ok


def test_a_no_drop_after_a_vend_starts_counting_again(ledger):
    from edge_agent.ledger.count_tasks import open_count_tasks
    sim, host = cabinet(lane=[{"number": 5, "items": 0}])
    vending = Vending(ledger, VirtualCabinet(host))
    assert vending.issue(TECH, "L5", 1).outcomes == ["no_drop"]
    sim.physics.lane(5).items = 1                              # someone put one in without telling the ledger
    assert vending.issue(TECH, "L5", 1).outcomes == ["vended"]
    assert vending.issue(TECH, "L5", 1).outcomes == ["no_drop"]
    assert open_alerts(ledger.db, "L5") == [] and open_count_tasks(ledger) == []
    assert vending.issue(TECH, "L5", 1).outcomes == ["no_drop"]
    assert [a[1] for a in open_alerts(ledger.db, "L5")] == ["suspected_empty"]


def test_a_lane_the_ledger_says_is_empty_is_not_suspected(ledger):
    from edge_agent.flows.actuation import Actuator, IssueResult
    from edge_agent.ledger.locations import find_location
    sim, host = cabinet(lane=[{"number": 5, "items": 0}])
    ledger.append("count", user_id="sup-1", location="L5", quantity=0)
    actuator = Actuator(ledger, VirtualCabinet(host))
    for _ in range(3):                         # as an installer's lane test turns an empty lane: nothing to doubt
        actuator.run(find_location(ledger, "L5"), 1, IssueResult("L5", 1), dict(user_id="installer:Ivo"))
    assert [o["outcome"] for o in rows_of(ledger, "outcome")] == ["no_drop"] * 3
    assert "suspected_empty" not in [a[1] for a in open_alerts(ledger.db)]


def test_the_drivers_count_at_a_refill_puts_a_suspected_lane_back_in_service(ledger):
    from edge_agent.flows import refill
    from edge_agent.ledger.count_tasks import open_count_tasks
    sim, host = cabinet(lane=[{"number": 5, "items": 0}])
    vending = Vending(ledger, VirtualCabinet(host))
    vending.issue(TECH, "L5", 1)
    vending.issue(TECH, "L5", 1)
    assert [t["location"] for t in open_count_tasks(ledger)] == ["L5"]
    ledger.db.execute("UPDATE skus SET supplier = 'Acme' WHERE part_number = 'GLV'")
    driver = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
    sim.physics.lane(5).items = 2
    refill.confirm_refill(ledger, driver, "L5", 2, counted=2)     # the ledger expected 8
    assert open_count_tasks(ledger) == [] and open_alerts(ledger.db, "L5") == []
    assert vending.issue(TECH, "L5", 1).outcomes == ["vended"] and ledger.on_hand("L5") == 1
