"""Returnable tools in locker doors, through the real ledger, the agent's link core and the simulated cabinet
running the real firmware: a check-out opens the door and a loan due by the ledger clock, a check-in takes it
back good (on hand again) or damaged (quarantine, alert), overdue loans raise one alert per location, and a
lost answer is settled by recovery with the loan and the condition."""
import datetime

import pytest

from edge_agent.flows import loans
from edge_agent.rules.access import Person
from edge_agent.ledger.alerts import open_alerts
from edge_agent.link.errors import LinkTimeout
from edge_agent.ledger import ManualClock
from edge_agent.flows.vending import Vending
from edge_agent.ledger import record_admin_change
from sim.virtual_host import VirtualCabinet
from tests.refusals import refused
from tests.cabinets import cabinet
from tests.ledgers import ledger_from_csv, rows_of

ANA = Person("tech-1", "Ana", "technician", "Maint", "CC-410", None)
RAJ = Person("tech-2", "Raj", "technician", "Maint", "CC-410", None)
DEE = Person("sup-1", "Dee", "supervisor", "Maint", "CC-410", None)
START = "2026-01-01T08:00:00+00:00"
HOUR_MS = 3600 * 1000

SKUS = "part_number,description,category\nTRQ,Torque wrench,tools\nMTR,Multimeter,tools\nGLV,Gloves,ppe\n"
LOCATIONS = """id,kind,unit,sku,min,max,on_hand,returnable,loan_hours
D1,door,1,TRQ,1,1,1,yes,8
D2,door,2,MTR,0,1,1,yes,
D3,door,3,GLV,0,5,5,no,
D4,door,4,TRQ,0,2,2,yes,4
"""
USERS = "id,name,role\ntech-1,Ana,technician\ntech-2,Raj,technician\nsup-1,Dee,supervisor\n"


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS, clock=ManualClock(START))
    led.db["role_allows"].insert_all([{"role": "technician", "category": "tools"},
                                      {"role": "technician", "category": "ppe"}])
    record_admin_change(led, "access rules written by the test")   # as an import would
    yield led
    led.close()


@pytest.fixture
def rig():
    sim, host = cabinet()
    return sim, VirtualCabinet(host)


def later(hours):
    return (datetime.datetime.fromisoformat(START) + datetime.timedelta(hours=hours)).isoformat(
        timespec="milliseconds")


def close_door(sim, port, number):
    sim.physics.door(number).close()     # the person shuts it; the firmware sees it after debounce
    port.wait(100)


def overdue_alerts(ledger):
    return [(a[0], a[2]) for a in open_alerts(ledger.db) if a[1] == "tool_overdue"]


def quarantine(ledger, location):
    return ledger.db.execute("SELECT quarantine FROM locations WHERE id = ?", [location]).fetchone()[0]


def test_check_out_opens_the_door_charges_and_opens_a_loan_due_after_the_locations_hours(ledger, rig):
    sim, port = rig
    result = loans.check_out(ledger, port, ANA, "D1")
    assert result.ok and sim.physics.door(1).opens == 1 and ledger.on_hand("D1") == 0
    [intent], [outcome] = rows_of(ledger, "intent"), rows_of(ledger, "outcome")
    assert (intent["action"], intent["seq"] < outcome["seq"]) == ("issue", True)
    assert (outcome["outcome"], outcome["quantity"], outcome["user_id"]) == ("opened", 1, "tech-1")
    [loan] = loans.loans_of(ledger, "tech-1")
    assert loan == result.loan
    assert (loan.location, loan.sku, loan.quantity, loan.out_seq) == ("D1", "TRQ", 1, outcome["seq"])
    assert loan.due_wall == later(8)
    assert ledger.verify().ok


def test_loan_hours_come_from_the_caller_then_the_location_then_the_default(ledger, rig):
    sim, port = rig
    assert loans.check_out(ledger, port, ANA, "D4", hours=2).loan.due_wall == later(2)
    assert loans.check_out(ledger, port, ANA, "D2").loan.due_wall == later(loans.DEFAULT_LOAN_HOURS)
    assert [loan.location for loan in loans.loans_of(ledger, "tech-1")] == ["D4", "D2"]   # soonest due first


def test_check_out_from_a_door_that_holds_no_returnable_tools_is_refused_on_record(ledger, rig):
    sim, port = rig
    assert refused(loans.check_out, ledger, port, ANA, "D3").reason == "not_returnable"
    assert [(r["reason"], r["location"]) for r in rows_of(ledger, "refusal")] == [("not_returnable", "D3")]
    assert sim.physics.door(3).opens == 0 and rows_of(ledger, "intent") == [] and ledger.on_hand("D3") == 5


def test_check_out_follows_the_issue_rules_and_records_the_approver(ledger, rig):
    sim, port = rig
    ledger.db["sku_requirements"].insert({"sku": "TRQ", "needs_approval": 1})
    assert refused(loans.check_out, ledger, port, ANA, "D1", approver=RAJ).reason == "needs_approval"
    assert sim.physics.door(1).opens == 0 and loans.loans_of(ledger, "tech-1") == []
    result = loans.check_out(ledger, port, ANA, "D1", approver=DEE)
    assert result.ok and [r["approver_id"] for r in rows_of(ledger, "outcome")] == ["sup-1"]


def test_a_good_check_in_puts_the_tool_back_on_hand_and_closes_the_loan(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    assert open_alerts(ledger.db, "D1") == []     # min 1 and the only wrench is out: a loan, not a shortage
    close_door(sim, port, 1)
    result = loans.check_in(ledger, port, ANA, "D1", "good")
    assert result.ok and sim.physics.door(1).opens == 2 and ledger.on_hand("D1") == 1
    back = rows_of(ledger, "outcome")[-1]
    assert (back["action"], back["outcome"], back["quantity"], back["condition"]) == ("return", "opened", 1, "good")
    row = ledger.db.execute("SELECT in_seq, condition FROM tool_loans WHERE id = ?", [loan.id]).fetchone()
    assert row == (back["seq"], "good") and loans.loans_of(ledger, "tech-1") == []
    assert open_alerts(ledger.db, "D1") == [] and quarantine(ledger, "D1") == 0
    assert ledger.verify().ok


def test_a_damaged_check_in_goes_to_quarantine_not_back_on_hand(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    close_door(sim, port, 1)
    result = loans.check_in(ledger, port, ANA, "D1", "damaged")
    assert result.ok and sim.physics.door(1).opens == 2
    assert ledger.on_hand("D1") == 0 and quarantine(ledger, "D1") == 1
    back = rows_of(ledger, "outcome")[-1]
    assert (back["action"], back["quantity"], back["condition"], back["reason"]) == (
        "return", 0, "damaged", "1 to quarantine")
    assert ledger.db.execute("SELECT condition FROM tool_loans WHERE id = ?", [loan.id]).fetchone()[0] == "damaged"
    assert [a[1] for a in open_alerts(ledger.db, "D1") if a[1] == "tool_damaged"] == ["tool_damaged"]
    assert loans.loans_of(ledger, "tech-1") == [] and ledger.verify().ok


def test_a_check_in_whose_door_stays_shut_moves_nothing_and_keeps_the_loan_open(ledger, rig):
    sim, port = rig
    loans.check_out(ledger, port, ANA, "D1")
    close_door(sim, port, 1)
    sim.physics.door(1).stuck = True
    result = loans.check_in(ledger, port, ANA, "D1", "damaged")
    assert not result.ok and result.outcomes == ["not_opened"]
    assert ledger.on_hand("D1") == 0 and quarantine(ledger, "D1") == 0
    assert rows_of(ledger, "outcome")[-1]["quantity"] == 0
    assert [loan.location for loan in loans.loans_of(ledger, "tech-1")] == ["D1"]
    assert "tool_damaged" not in [a[1] for a in open_alerts(ledger.db)]


def test_a_check_in_by_someone_with_no_loan_is_refused_on_record(ledger, rig):
    sim, port = rig
    loans.check_out(ledger, port, ANA, "D1")
    close_door(sim, port, 1)
    assert refused(loans.check_in, ledger, port, RAJ, "D1", "good").reason == "no_loan"
    assert sim.physics.door(1).opens == 1
    loan = loans.loans_of(ledger, "tech-1")[0]
    # naming Ana's loan
    assert refused(loans.check_in, ledger, port, RAJ, "D1", "good", loan_id=loan.id).reason == "not_your_loan"
    assert sim.physics.door(1).opens == 1
    assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["no_loan", "not_your_loan"]
    assert [i["action"] for i in rows_of(ledger, "intent")] == ["issue"] and ledger.on_hand("D1") == 0


def test_a_supervisor_can_check_in_someone_elses_loan(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    close_door(sim, port, 1)
    result = loans.check_in(ledger, port, DEE, "D1", "good")
    assert result.ok and result.loan.id == loan.id and ledger.on_hand("D1") == 1
    assert rows_of(ledger, "outcome")[-1]["user_id"] == "sup-1" and loans.loans_of(ledger, "tech-1") == []


def test_overdue_loans_raise_one_alert_per_location_until_they_come_back(ledger, rig):
    sim, port = rig
    loans.check_out(ledger, port, ANA, "D4")
    close_door(sim, port, 4)
    loans.check_out(ledger, port, RAJ, "D4")
    close_door(sim, port, 4)
    loans.check_out(ledger, port, ANA, "D1")
    assert loans.raise_overdue_alerts(ledger) == [] and overdue_alerts(ledger) == []
    ledger.clock.advance(5 * HOUR_MS)                  # past D4's 4 h, not D1's 8 h
    late = loans.raise_overdue_alerts(ledger)
    assert sorted((loan.location, loan.user_id) for loan in late) == [("D4", "tech-1"), ("D4", "tech-2")]
    assert loans.overdue(ledger) == late
    loans.raise_overdue_alerts(ledger)                 # asking again raises nothing new
    [(location, detail)] = overdue_alerts(ledger)
    assert location == "D4" and "tech-1 (Ana)" in detail and "tech-2 (Raj)" in detail and later(4)[:16] in detail
    loans.check_in(ledger, port, ANA, "D4", "good")
    [(_, detail)] = overdue_alerts(ledger)
    assert "tech-2" in detail and "tech-1" not in detail     # still one alert, naming who is still late
    close_door(sim, port, 4)
    loans.check_in(ledger, port, RAJ, "D4", "good")
    assert overdue_alerts(ledger) == []                # cleared at the check-in
    ledger.clock.advance(4 * HOUR_MS)                  # now D1 is late too
    loans.raise_overdue_alerts(ledger)
    assert [a[0] for a in overdue_alerts(ledger)] == ["D1"]
    assert ledger.verify().ok


def test_a_return_whose_answer_was_lost_is_settled_by_recovery_with_its_condition(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    close_door(sim, port, 1)
    real_unlock = port.unlock

    def unlock_then_lose_the_answer(door, cmd_id, pulse_ms=0):
        real_unlock(door, cmd_id, pulse_ms)
        raise LinkTimeout("answer lost", cmd_id)
    port.unlock = unlock_then_lose_the_answer
    result = loans.check_in(ledger, port, ANA, "D1", "damaged")
    assert result.unknown and not result.ok and ledger.pending_intents() != []
    assert quarantine(ledger, "D1") == 0 and loans.loans_of(ledger, "tech-1") == [loan]   # nothing on a guess
    port.unlock = real_unlock
    [pending] = ledger.pending_intents()
    assert Vending(ledger, port).recover() == [(pending["seq"], "opened")]
    assert sim.physics.door(1).opens == 2                                   # never pulsed again
    assert ledger.on_hand("D1") == 0 and quarantine(ledger, "D1") == 1
    assert loans.loans_of(ledger, "tech-1") == [] and rows_of(ledger, "outcome")[-1]["condition"] == "damaged"
    assert ledger.verify().ok


def test_a_check_out_settled_by_recovery_opens_its_loan_with_the_hours_asked(ledger, rig):
    sim, port = rig
    real_unlock = port.unlock

    def unlock_then_lose_the_answer(door, cmd_id, pulse_ms=0):
        real_unlock(door, cmd_id, pulse_ms)
        raise LinkTimeout("answer lost", cmd_id)
    port.unlock = unlock_then_lose_the_answer
    result = loans.check_out(ledger, port, ANA, "D2", hours=3)
    assert result.unknown and result.loan is None and loans.loans_of(ledger, "tech-1") == []
    port.unlock = real_unlock
    ledger.clock.advance(60 * 1000)
    Vending(ledger, port).recover()
    [loan] = loans.loans_of(ledger, "tech-1")
    assert loan.location == "D2" and loan.due_wall == later(3 + 1 / 60) and ledger.on_hand("D2") == 0


def test_a_plain_door_issue_at_a_returnable_door_still_opens_a_loan(ledger, rig):
    sim, port = rig
    assert Vending(ledger, port).issue(ANA, "D2", 1).ok
    assert [loan.location for loan in loans.loans_of(ledger, "tech-1")] == ["D2"]


def test_lending_the_only_wrench_opens_no_refill_task_and_no_stock_alert(ledger, rig):
    from edge_agent.flows import refill
    sim, port = rig
    ledger.db.execute("UPDATE skus SET supplier = 'Acme'")
    loans.check_out(ledger, port, ANA, "D1")                   # min 1, max 1: the only torque wrench
    assert ledger.on_hand("D1") == 0
    assert open_alerts(ledger.db, "D1") == []                  # no low_stock, no stockout
    assert ledger.db.execute("SELECT count(*) FROM refill_tasks").fetchone()[0] == 0
    driver = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
    assert [line.location for line in refill.pick_list(ledger, driver)] == []     # nothing for the driver
    ledger.clock.advance(9 * HOUR_MS)
    loans.raise_overdue_alerts(ledger)                          # overdue is its own alert
    assert [a[1] for a in open_alerts(ledger.db, "D1")] == ["tool_overdue"]


def test_stock_alerts_and_refill_tasks_an_older_version_left_at_a_tool_door_close_at_start(ledger, rig, tmp_path):
    from edge_agent.ledger import open_ledger
    sim, port = rig
    loans.check_out(ledger, port, ANA, "D1")
    wall = ledger.clock.wall()[0]
    ledger.db.execute("INSERT INTO refill_tasks (location, sku, quantity, opened_seq, opened_wall) "
                      "VALUES ('D1', 'TRQ', 1, 2, ?)", [wall])          # as the older version wrote them
    for kind in ("low_stock", "stockout"):
        ledger.db.execute("INSERT INTO alerts (location, kind, detail, raised_seq, raised_wall) "
                          "VALUES ('D1', ?, 'old', 2, ?)", [kind, wall])
    ledger.close()
    again = open_ledger(tmp_path / "ledger.db", ManualClock(START))
    try:
        assert open_alerts(again.db, "D1") == []
        assert again.db.execute("SELECT count(*) FROM refill_tasks WHERE closed_seq IS NULL").fetchone()[0] == 0
        assert again.verify().ok
    finally:
        again.close()


def test_a_supervisor_marks_a_lent_tool_lost_its_own_alert_no_refill(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    ledger.clock.advance(9 * HOUR_MS)
    loans.raise_overdue_alerts(ledger)
    assert [a[1] for a in open_alerts(ledger.db, "D1")] == ["tool_overdue"]
    no = refused(loans.mark_lost, ledger, ANA, loan.id)
    assert (no.reason, no.words) == ("not_allowed", "Only a supervisor can mark a tool lost.")
    assert loans.mark_lost(ledger, DEE, loan.id, note="left at the customer's site") == loan
    [(_, kind, detail)] = open_alerts(ledger.db, "D1")           # lost, no longer overdue: one alert
    assert kind == "tool_lost"
    assert "loan #%d" % loan.id in detail and "tech-1 (Ana)" in detail and "marked lost by sup-1" in detail
    assert "left at the customer's site" in detail
    assert loans.loans_of(ledger, "tech-1") == [] and loans.overdue(ledger) == []
    [lost] = rows_of(ledger, "adjustment")
    assert (lost["location"], lost["quantity"], lost["user_id"]) == ("D1", 0, "sup-1")
    assert lost["reason"] == "tool lost: 1 from loan #%d, out to tech-1" % loan.id
    assert ledger.db.execute("SELECT in_seq, condition FROM tool_loans WHERE id = ?",
                             [loan.id]).fetchone() == (lost["seq"], None)
    assert ledger.db.execute("SELECT count(*) FROM refill_tasks").fetchone()[0] == 0
    assert ledger.on_hand("D1") == 0
    again = refused(loans.mark_lost, ledger, DEE, loan.id)
    assert again.reason == "no_loan" and "marked lost already" in again.words
    assert ledger.verify().ok


def test_a_lost_tool_that_turns_up_is_checked_in_and_its_alert_ends(ledger, rig):
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    loans.mark_lost(ledger, DEE, loan.id)
    close_door(sim, port, 1)
    assert refused(loans.check_in, ledger, port, ANA, "D1", "good").reason == "no_loan"   # which loan? say it
    result = loans.check_in(ledger, port, ANA, "D1", "good", loan_id=loan.id)
    assert result.ok and ledger.on_hand("D1") == 1
    assert open_alerts(ledger.db, "D1") == []
    how = ledger.db.execute("SELECT cleared_how FROM alerts WHERE kind = 'tool_lost'").fetchone()[0]
    assert how in (None, "condition")                       # ended because the tool came back
    assert ledger.db.execute("SELECT condition FROM tool_loans WHERE id = ?", [loan.id]).fetchone()[0] == "good"
    assert ledger.verify().ok


def test_lost_and_scrapped_tools_are_report_lines_of_their_own(ledger, rig, tmp_path):
    import csv
    from edge_agent.flows import stock
    from edge_agent.reports import build_report, write_reports
    sim, port = rig
    ledger.db.execute("UPDATE skus SET unit_cost = 18900 WHERE part_number = 'TRQ'")
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    loans.mark_lost(ledger, DEE, loan.id)
    loans.check_out(ledger, port, RAJ, "D4")
    close_door(sim, port, 4)
    loans.check_in(ledger, port, RAJ, "D4", "damaged")
    stock.release_quarantine(ledger, DEE, "D4", 1, "scrap")
    assert [a[1] for a in open_alerts(ledger.db) if a[1] in ("tool_lost", "tool_scrapped")] == [
        "tool_lost", "tool_scrapped"]
    report = build_report(ledger, "2026-01-01", "2026-02-01", now=later(1))
    lines = [(t.what, t.location, t.description, t.quantity, t.value_cents, t.recorded_by, t.loan_id, t.holder)
             for t in report.tool_losses]
    assert lines == [("lost", "D1", "Torque wrench", 1, 18900, "sup-1", loan.id, "tech-1"),
                     ("scrapped", "D4", "Torque wrench", 1, 18900, "sup-1", None, None)]
    assert report.totals.billable_cents == 0 and report.usage and all(not u.billable for u in report.usage)
    paths = write_reports(report, tmp_path / "out")
    with open(paths["tool_losses"], newline="", encoding="utf-8") as f:
        rows = [(r["what"], r["location"], r["value"], r["holder"]) for r in csv.DictReader(f)]
    assert rows == [("lost", "D1", "189.00", "tech-1"), ("scrapped", "D4", "189.00", "")]
    page = open(paths["html"], encoding="utf-8").read()
    assert "Tools lost or scrapped" in page and "No tool was lost or scrapped." not in page
    again = write_reports(build_report(ledger, "2026-01-01", "2026-02-01", now=later(1)), tmp_path / "again")
    assert open(again["tool_losses"], "rb").read() == open(paths["tool_losses"], "rb").read()   # deterministic


def test_a_supervisor_marks_a_tool_lost_from_the_command_line(ledger, rig, tmp_path, capsys):
    import json
    from edge_agent.cli import locker_agent
    sim, port = rig
    loan = loans.check_out(ledger, port, ANA, "D1").loan
    db = str(tmp_path / "ledger.db")
    said = []
    assert locker_agent.main(["tools", "--db", db, "--json"], out=said.append) == 0
    [row] = json.loads(said[0])
    assert (row["loan"], row["location"], row["user"], row["due"]) == (loan.id, "D1", "tech-1", later(8))
    assert locker_agent.main(["tool-lost", str(loan.id), "--by", "tech-1", "--db", db], out=said.append) == 2
    assert "Only a supervisor can mark a tool lost." in capsys.readouterr().err
    assert locker_agent.main(["tool-lost", str(loan.id), "--by", "sup-1", "--note", "not seen since Monday",
                              "--db", db], out=said.append) == 0
    assert said[-1].startswith("loan #%d marked lost: 1 from D1, out to tech-1" % loan.id)
    [(_, kind, detail)] = open_alerts(ledger.db, "D1")
    assert kind == "tool_lost" and "not seen since Monday" in detail
    assert locker_agent.main(["tools", "--db", db], out=said.append) == 0 and said[-1] == "no tools out"
