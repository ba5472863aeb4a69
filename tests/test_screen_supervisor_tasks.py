"""The supervisor's tools out and count tasks in real Chromium against the agent in-process over the simulated
cabinet: a lent torque wrench, overdue by the agent's clock, is marked lost with a note from the screen (the
loan leaves the list, a tool_lost alert is open); a lane that dropped nothing twice while the ledger says it
holds 8 is counted from its count task (the task leaves the list, the lane is back in service); a technician
reaches neither screen and the API refuses them."""
from edge_agent.flows import loans
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.alerts import open_alerts
from edge_agent.ledger.count_tasks import open_count_tasks
from tests.test_screen import (BADGE, OFFERED, SUPERVISOR, badge_in, chromium, open_screen,  # noqa: F401 - fixture
                               page, press_keys, rig, rows_of, supervisor_mode)

HOUR_MS = 3600 * 1000


def as_technician(page, rig, *actions):
    """The technician T1 does `actions` (agent calls: (method, args...)) and logs out, the page told of both."""
    rig.agent.call(rig.agent.tap, BADGE)
    page.locator("body[data-session=T1]").wait_for(state="attached")
    for method, *args in actions:
        rig.agent.call(method, *args)
    rig.agent.call(rig.agent.logout)
    page.locator('body[data-session=""]').wait_for(state="attached")
    page.locator("#idle").wait_for()


def lend_the_wrench(page, rig):
    as_technician(page, rig, (rig.agent.issue, "D1", 1))          # D1 lends for 8 h
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        [loan] = loans.loans_of(ledger, "T1")
    return loan


def test_a_supervisor_marks_an_overdue_wrench_lost_from_the_screen(page, rig):
    from playwright.sync_api import expect
    loan = lend_the_wrench(page, rig)
    rig.agent.call(lambda: rig.agent.ledger.clock.advance(9 * HOUR_MS))    # the agent's clock: 1 h past due
    badge_in(page, SUPERVISOR)
    page.locator("#supervise").click()
    page.locator("#sup-tools").click()
    tool = page.locator("#tool-list button", has_text="Torque wrench")
    expect(tool).to_have_count(1)
    expect(tool.locator(".where")).to_contain_text("Ana (T1) · since ")
    expect(tool.locator(".where")).to_contain_text("OVERDUE, was due ")
    expect(page.locator("#tool-name")).to_have_text("Torque wrench · D1")     # the only one is chosen already
    expect(page.locator("#tool-ok")).to_be_disabled()
    expect(page.locator("#tool-ok")).to_have_text("Write a note first")
    page.locator("#tool-quick button", has_text="Searched: not found").click()
    press_keys(page, "tool-keypad", ("Space", "B", "A", "Y", "Space", "3"))
    expect(page.locator("#tool-note .value")).to_have_text("SEARCHED NOT FOUND BAY 3")
    page.locator("#tool-ok").click()
    expect(page.locator("#tool-message")).to_have_text(
        "Torque wrench (loan #%d) marked lost: the alert is open until it comes back or you acknowledge it." % loan.id)
    expect(page.locator("#tool-list button")).to_have_count(0)
    expect(page.locator("#tool-list li")).to_have_text(["No tool is out."])
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        assert loans.open_loans(ledger) == []
        [(_, kind, words)] = [a for a in open_alerts(ledger.db, "D1") if a[1] == "tool_lost"]
        assert "out to T1 (Ana)" in words and "marked lost by S1: SEARCHED NOT FOUND BAY 3" in words
    page.locator("#tools-home").click()
    page.locator("#sup-alerts").click()                          # and the supervisor's alerts list it
    expect(page.locator("#alert-list button", has_text="Tool lost")).to_have_count(1)


def test_marking_a_tool_lost_that_is_no_longer_out_shows_the_agents_refusal(page, rig):
    from playwright.sync_api import expect
    loan = lend_the_wrench(page, rig)
    badge_in(page, SUPERVISOR)
    page.locator("#supervise").click()
    page.locator("#sup-tools").click()
    expect(page.locator("#tool-who")).to_contain_text("Out to Ana (T1) since ")
    page.locator("#tool-quick button", has_text="Holder says lost").click()
    status = page.evaluate("""async (id) => (await fetch("/api/tools/lost", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({loan_id: id})})).status""", loan.id)
    assert status == 200                                         # meanwhile, from elsewhere: marked lost already
    page.locator("#tool-ok").click()
    expect(page.locator("#tool-message")).to_have_text(
        "No tool is out on loan #%d: it was returned, marked lost already, or never lent." % loan.id)
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["no_loan"]
        assert len([a for a in open_alerts(ledger.db, "D1") if a[1] == "tool_lost"]) == 1


def test_a_supervisor_counts_a_lane_suspected_empty_from_its_count_task(page, rig):
    from playwright.sync_api import expect
    rig.sim.physics.lane(3).items = 0                             # the ledger says 8
    as_technician(page, rig, (rig.agent.issue, "L3", 1), (rig.agent.issue, "L3", 1))     # nothing dropped, twice
    badge_in(page, SUPERVISOR)
    supervisor_mode(page, "Count tasks")
    expect(page.locator("#sup-title")).to_have_text("Count tasks: count these")
    expect(page.locator("#sup-list .name")).to_have_text(["Nitrile gloves (pair)"])
    expect(page.locator("#sup-list .where")).to_have_text(["Lane 3 · 8 on hand"])
    expect(page.locator("#sup-task-reason")).to_contain_text("nothing dropped")   # the only one is chosen already
    press_keys(page, "sup-keypad", "0")
    page.locator("#count-ok", has_text="Confirm count 0").click()
    expect(page.locator("#result-title")).to_have_text("Lane 3: counted 0")
    expect(page.locator("#result-text")).to_have_text(
        "8 fewer than the ledger said (8). The ledger now says 0. The count task is done: Lane 3 is back in service.")
    page.locator("#result-more", has_text="Back to the list").click()
    expect(page.locator("#sup-list li")).to_have_text(["No count tasks."])
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        assert open_count_tasks(ledger) == [] and ledger.on_hand("L3") == 0
        assert "suspected_empty" not in [a[1] for a in open_alerts(ledger.db, "L3")]
        assert [(c["location"], c["quantity"], c["user_id"]) for c in rows_of(ledger, "count")
                if c["user_id"]] == [("L3", 0, "S1")]


def test_a_technician_reaches_neither_tools_out_nor_count_tasks_and_the_api_refuses_them(page, rig):
    from playwright.sync_api import expect
    loan = lend_the_wrench(page, rig)
    badge_in(page)
    expect(page.locator("#item-list .name")).to_have_count(len(OFFERED) - 1)    # the wrench is out
    expect(page.locator("#supervise")).to_be_hidden()
    for screen_button in ("#sup-tools", '.sup-menu button[data-mode="tasks"]'):
        expect(page.locator(screen_button)).to_have_count(1)      # the supervisor's menu has them ...
        expect(page.locator(screen_button)).to_be_hidden()        # ... and she never sees it
    statuses = page.evaluate("""async (id) => [
        (await fetch("/api/tools/out")).status, (await fetch("/api/count-tasks")).status,
        (await fetch("/api/tools/lost", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify({loan_id: id, reason: "gone"})})).status]""", loan.id)
    assert statuses == [403, 403, 403]
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        assert [lo.id for lo in loans.open_loans(ledger)] == [loan.id]          # still out, not lost
        assert "tool_lost" not in [a[1] for a in open_alerts(ledger.db)]
