"""The supervisor's alerts screen in real Chromium against the agent in-process over the simulated cabinet:
a door forced open at the cabinet is listed in words, with where and since when; the supervisor
acknowledges it with a note and it leaves the list (and the ledger says how it ended); a technician cannot
reach the screen and the API refuses them."""
import threading
import time

from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.alerts import open_alerts
from tests.test_screen import (BADGE, OFFERED, SUPERVISOR, badge_in, chromium, open_screen,  # noqa: F401 - fixture
                               page, rig, rows_of)


def force_door_and_wait_for_its_alert(rig, door=2):
    rig.sim.physics.door(door).force_open()
    rig.cab.wait(1000)                                   # the firmware reports it; the agent's worker stores it
    end = time.monotonic() + 20
    while time.monotonic() < end:
        with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
            if any(a[1] == "door_forced" for a in open_alerts(ledger.db)):
                return
        threading.Event().wait(0.05)
    raise AssertionError("the door_forced alert never came")


def test_a_supervisor_acknowledges_a_forced_door_with_a_note_and_it_leaves_the_list(page, rig):
    from playwright.sync_api import expect
    force_door_and_wait_for_its_alert(rig)
    badge_in(page, SUPERVISOR)
    page.locator("#supervise").click()
    page.locator("#sup-alerts").click()
    forced = page.locator("#alert-list button", has_text="Door forced open")
    expect(forced).to_have_count(1)
    expect(forced.locator(".where")).to_contain_text("D2 · door 2 opened without an unlock · since ")
    expect(page.locator("#alert-list .name")).to_contain_text(["Low stock"])    # the others are listed too
    forced.click()
    expect(page.locator("#alert-ends")).to_have_text("Ends with your acknowledgement")
    expect(page.locator("#alert-ok")).to_be_disabled()
    page.locator("#alert-quick button", has_text="Reported").click()
    for key in ("Space", "B", "Y", "Space", "D", "E", "E"):
        page.locator('#alert-keypad [data-key="%s"]' % key).click()
    expect(page.locator("#alert-note .value")).to_have_text("REPORTED TO MAINTENANCE BY DEE")
    page.locator("#alert-ok").click()
    expect(page.locator("#alert-message")).to_have_text("Door forced open: acknowledged and closed.")
    expect(page.locator("#alert-list button", has_text="Door forced open")).to_have_count(0)
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        row = ledger.db.execute("SELECT cleared_how, acked_by, ack_note FROM alerts WHERE kind = 'door_forced'").fetchone()
        assert tuple(row) == ("acknowledged", "S1", "REPORTED TO MAINTENANCE BY DEE")
    low = page.locator("#alert-list button", has_text="Low stock").first       # ends with a refill, not a note
    low.click()
    expect(page.locator("#alert-ends")).to_have_text("Ends when its cause ends")


def test_a_technician_cannot_reach_the_alerts_screen_and_the_api_refuses_them(page, rig):
    from playwright.sync_api import expect
    force_door_and_wait_for_its_alert(rig)
    badge_in(page)
    expect(page.locator("#item-list .name")).to_have_count(len(OFFERED))
    expect(page.locator("#supervise")).to_be_hidden()
    expect(page.locator("#sup-alerts")).to_be_hidden()
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        alert_id = ledger.db.execute("SELECT id FROM alerts WHERE kind = 'door_forced'").fetchone()[0]
    statuses = page.evaluate("""async (id) => [
        (await fetch("/api/alerts")).status,
        (await fetch("/api/alerts/ack", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify({alert_id: id, note: "fine"})})).status]""", alert_id)
    assert statuses == [403, 403]
    with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
        assert [a[1] for a in open_alerts(ledger.db)].count("door_forced") == 1
        assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["not_allowed"]
