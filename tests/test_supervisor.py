"""Supervisor actions on the real ledger and the simulated cabinet: counts and adjustments with a reason,
quarantine release (restock or scrap), and clearing a jammed lane so it vends again. Everyone else is
refused, on record."""
import pytest

from edge_agent.flows import stock
from edge_agent.flows import loans
from edge_agent.rules.access import Person
from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger import ManualClock
from edge_agent.rules.refusal import Refusal
from edge_agent.flows.vending import Vending
from edge_agent.ledger import record_admin_change
from firmware import messages as M
from sim.virtual_host import VirtualCabinet
from tests.refusals import refused
from tests.cabinets import cabinet
from tests.ledgers import ledger_from_csv, rows_of

ANA = Person("tech-1", "Ana", "technician", "Maint", "CC-410", None)
DEE = Person("sup-1", "Dee", "supervisor", "Maint", "CC-410", None)
ADMIN = Person("adm-1", "Kim", "customer_admin", None, None, None)
DRIVER = Person("drv-1", "Bo", "route_driver", None, None, "Acme")

SKUS = "part_number,description,category\nGLV,Gloves,ppe\nTRQ,Torque wrench,tools\n"
LOCATIONS = """id,kind,unit,sku,min,max,on_hand,returnable,loan_hours
L9,lane,9,GLV,2,8,6,no,
L3,lane,3,GLV,2,8,6,no,
D1,door,1,TRQ,0,3,3,yes,8
"""


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, clock=ManualClock())
    led.db["role_allows"].insert_all([{"role": "technician", "category": "ppe"},
                                      {"role": "technician", "category": "tools"}])
    record_admin_change(led, "access rules written by the test")   # as an import would
    yield led
    led.close()


def quarantine(ledger, location):
    return ledger.db.execute("SELECT quarantine FROM locations WHERE id = ?", [location]).fetchone()[0]


def kinds(ledger, location):
    return [a[1] for a in open_alerts(ledger.db, location)]


def test_a_cycle_count_sets_on_hand_returns_the_difference_and_runs_min_max(ledger):
    assert stock.cycle_count(ledger, DEE, "L3", 1) == -5
    assert ledger.on_hand("L3") == 1 and "low_stock" in kinds(ledger, "L3")
    count = rows_of(ledger, "count")[-1]
    assert (count["location"], count["quantity"], count["user_id"], count["reason"]) == (
        "L3", 1, "sup-1", "cycle count")
    assert stock.cycle_count(ledger, ADMIN, "L3", 4, reason="weekly count") == 3       # customer admin may
    assert rows_of(ledger, "count")[-1]["reason"] == "weekly count" and "low_stock" not in kinds(ledger, "L3")
    assert ledger.verify().ok


@pytest.mark.parametrize("person", [ANA, DRIVER])
def test_anyone_but_a_supervisor_is_refused_on_record(ledger, person):
    sim, host = cabinet()
    for said_no in (refused(stock.cycle_count, ledger, person, "L3", 0),
                    refused(stock.adjust, ledger, person, "L3", -1, "broken box"),
                    refused(stock.release_quarantine, ledger, person, "D1", 1, "restock"),
                    refused(stock.clear_lane, ledger, person, VirtualCabinet(host), "L9")):
        assert said_no == Refusal("not_allowed", "Only a supervisor can do this.")
    assert [(r["user_id"], r["reason"]) for r in rows_of(ledger, "refusal")] == [(person.user_id, "not_allowed")] * 4
    assert ledger.on_hand("L3") == 6 and rows_of(ledger, "adjustment") == [] and rows_of(ledger, "intent") == []


def test_an_adjustment_needs_a_reason_and_cannot_go_below_zero(ledger):
    blank = refused(stock.adjust, ledger, DEE, "L3", -2, "  ")
    assert (blank.reason, blank.words) == ("needs_reason", "An adjustment needs a reason.")
    assert refused(stock.adjust, ledger, DEE, "L3", -7, "lost").reason == "below_zero"
    assert ledger.on_hand("L3") == 6 and rows_of(ledger, "adjustment") == []
    assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["needs_reason", "below_zero"]
    assert stock.adjust(ledger, DEE, "L3", -2, "box crushed by forklift") == 4
    [row] = rows_of(ledger, "adjustment")
    assert (row["quantity"], row["reason"], row["user_id"]) == (-2, "box crushed by forklift", "sup-1")
    assert ledger.on_hand("L3") == 4 and ledger.verify().ok


def damaged_returns(ledger, n):
    """n torque wrenches checked out and returned damaged: n in D1's quarantine."""
    sim, host = cabinet()
    port = VirtualCabinet(host)
    for _ in range(n):
        assert loans.check_out(ledger, port, ANA, "D1").ok
        sim.physics.door(1).close()
        port.wait(100)
        assert loans.check_in(ledger, port, ANA, "D1", "damaged").ok
        sim.physics.door(1).close()
        port.wait(100)
    assert quarantine(ledger, "D1") == n and ledger.on_hand("D1") == 3 - n and "tool_damaged" in kinds(ledger, "D1")


def test_restocking_from_quarantine_puts_units_back_on_hand_through_the_ledger(ledger):
    damaged_returns(ledger, 2)
    assert stock.release_quarantine(ledger, DEE, "D1", 1, "restock") == 1
    assert (ledger.on_hand("D1"), quarantine(ledger, "D1")) == (2, 1)
    assert "tool_damaged" in kinds(ledger, "D1")                    # one still waits for a decision
    assert stock.release_quarantine(ledger, DEE, "D1", 1, "restock") == 0
    assert (ledger.on_hand("D1"), quarantine(ledger, "D1")) == (3, 0) and "tool_damaged" not in kinds(ledger, "D1")
    assert [(r["quantity"], r["reason"]) for r in rows_of(ledger, "adjustment")] == [(1, "quarantine release")] * 2
    assert ledger.verify().ok


def test_scrapping_from_quarantine_is_on_record_and_leaves_on_hand_alone(ledger):
    damaged_returns(ledger, 2)
    assert stock.release_quarantine(ledger, DEE, "D1", 2, "scrap") == 0
    assert (ledger.on_hand("D1"), quarantine(ledger, "D1")) == (1, 0) and "tool_damaged" not in kinds(ledger, "D1")
    [row] = rows_of(ledger, "adjustment")
    assert (row["quantity"], row["reason"], row["user_id"]) == (0, "scrapped 2 from quarantine", "sup-1")
    [(_, kind, detail)] = [a for a in open_alerts(ledger.db, "D1") if a[1] == "tool_scrapped"]
    assert "2 " in detail and "scrapped from quarantine by sup-1" in detail    # its own alert


def test_releasing_more_than_is_in_quarantine_is_refused(ledger):
    damaged_returns(ledger, 1)
    too_many = refused(stock.release_quarantine, ledger, DEE, "D1", 2, "restock")
    assert (too_many.reason, too_many.words) == ("not_in_quarantine", "D1 has 1 in quarantine.")
    assert (ledger.on_hand("D1"), quarantine(ledger, "D1")) == (2, 1) and rows_of(ledger, "adjustment") == []
    with pytest.raises(ValueError):
        stock.release_quarantine(ledger, DEE, "D1", 1, "sell")


def test_clearing_a_jammed_lane_after_freeing_the_spiral_lets_it_vend_again(ledger):
    sim, host = cabinet(lane=[{"number": 9, "jammed": True}])
    port = VirtualCabinet(host)
    vending = Vending(ledger, port)
    assert vending.issue(ANA, "L9", 1).outcomes == ["jammed"] and "lane_jammed" in kinds(ledger, "L9")
    sim.physics.lane(9).jammed = False            # the supervisor frees the spiral by hand
    cleared = stock.clear_lane(ledger, DEE, port, "L9")
    assert cleared.ok and cleared.outcome == "cleared"
    assert "lane_jammed" not in kinds(ledger, "L9")
    intent, outcome = rows_of(ledger, "intent")[-1], rows_of(ledger, "outcome")[-1]
    assert (intent["action"], intent["user_id"], outcome["intent_seq"], outcome["outcome"]) == (
        "clear_lane", "sup-1", intent["seq"], "cleared")
    result = vending.issue(ANA, "L9", 1)
    assert result.ok and result.outcomes == ["vended"] and sim.physics.lane(9).dropped == 1
    assert ledger.on_hand("L9") == 5 and ledger.verify().ok


def test_clearing_something_that_is_not_a_lane_is_refused(ledger):
    sim, host = cabinet()
    assert refused(stock.clear_lane, ledger, DEE, VirtualCabinet(host), "D1").reason == "not_a_lane"
    assert rows_of(ledger, "intent") == []


def test_a_lane_clear_whose_answer_was_lost_is_settled_by_recovery(ledger):
    sim, host = cabinet(lane=[{"number": 9, "jammed": True}])
    port = VirtualCabinet(host)
    vending = Vending(ledger, port)
    vending.issue(ANA, "L9", 1)
    # The agent wrote the clear's intent and sent it, then died before writing the outcome.
    seq, cmd_id = ledger.record_intent("clear_lane", location="L9", user_id="sup-1")
    host.actuate(M.CLEAR_LANE, cmd_id, 9)
    assert vending.recover() == [(seq, "cleared")]
    assert "lane_jammed" not in kinds(ledger, "L9") and ledger.on_hand("L9") == 6
