"""The bar's pills as they are (issue 15, point 9), in a real Chromium: the cabinet link and the cloud shown
apart; no cloud configured says so; a cabinet that stops answering is shown as such, and back when it answers
again (the agent in-process); a configured cloud offline with what waits, then connected (the agent process,
a real Mosquitto and the hub). The page reaching the agent is neither."""
import re

from sim.cabinet import Faults, Line
from tests.test_screen import BADGE, chromium, open_screen, page, rig, screen_rig  # noqa: F401 - fixtures


def test_with_no_cloud_configured_the_pill_says_so_beside_a_ready_cabinet(page, rig):
    from playwright.sync_api import expect
    expect(page.locator("#status")).to_have_text("Cabinet ready")
    expect(page.locator("#cloud")).to_have_text("Cloud not configured")
    expect(page.locator("#bar")).not_to_contain_text("Online")


def test_a_cabinet_that_stops_answering_is_shown_as_such_and_back_when_it_answers(chromium, tmp_path):
    from playwright.sync_api import expect
    with screen_rig(tmp_path) as rig:
        page = open_screen(chromium, rig)
        expect(page.locator("#status")).to_have_text("Cabinet ready")
        wire = rig.sim.line
        rig.sim.line = Line(rig.sim.config["uart"]["baud"], Faults(drop_rate=1.0))   # the cable is pulled
        rig.agent.call(rig.agent.tap, BADGE)
        result = rig.agent.call(rig.agent.issue, "L3", 1)      # a vend nobody can know: the locker closes
        assert result.unknown
        expect(page.locator("#status")).to_have_text("Cabinet not answering")
        expect(page.locator("#cloud")).to_have_text("Cloud not configured")
        state = rig.agent.call(rig.agent.state)
        assert (state["ready"], state["cabinet_link"]) == (False, "not_answering")
        rig.sim.line = wire                                     # plugged back in: recovery settles the vend
        expect(page.locator("#status")).to_have_text("Cabinet ready")
        page.close()



def test_with_a_cloud_configured_the_pill_shows_it_offline_with_its_backlog_then_connected(chromium, tmp_path, hub_dsn):
    """The agent process with a [cloud] section, its broker down, then up with the cloud acknowledging."""
    from playwright.sync_api import expect
    from tests.test_cloud_sync import Site
    site = Site(tmp_path, hub_dsn)
    try:
        agent = site.start_agent()
        site.issue(2)
        page = open_screen(chromium, agent)
        cloud = page.locator("#cloud")
        expect(cloud).to_have_text(re.compile(r"^Cloud offline · \d+ unsent · no ack yet$"), timeout=15000)
        expect(page.locator("#status")).to_have_text("Cabinet ready")
        site.broker.start()
        site.start_cloud()
        site.wait_delivered()
        expect(cloud).to_have_text("Cloud connected", timeout=15000)
        page.close()
    finally:
        site.close()
