"""The touchscreen on the whole locker with nothing faked but the hardware: Debian's Chromium at 800x480 on
the agent process (`locker-agent run`), badges tapped as virtual cards on a virtual reader in the real pcscd,
the simulated cabinet (the real firmware logic) behind a real pty. What the page shows arrives by the
agent's push; the ledger file and the simulated hardware are read back afterwards."""
import pytest

from tests.agent_process import AgentProcess, ledger_of, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv, rows_of
from tests.chromium import browser
from tests.test_screen import open_screen
from edge_agent.ledger import record_admin_change

FAST_LANES = {"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5}   # a short turn needs a short debounce
SIM = {"drop_delay_min_ms": 50, "drop_delay_max_ms": 120, "lane_items": 6,
       "door_leave_open": True}                                    # the person closes the door when the test says
TECH = bytes.fromhex("04A1B2C3D4E5F6")
SUPERVISOR = bytes.fromhex("0A0B0C0D")
READER = {"pcsc": True, "pcsc_reader": "Virtual PCD 00 00"}


@pytest.fixture
def locker(tmp_path):
    sim, port = simulated_cabinet(lane_matrix=FAST_LANES, sim=SIM)
    ledger = ledger_from_csv(
        tmp_path,
        skus="part_number,description,category,needs_approval\nGLV,Nitrile gloves,ppe,no\n"
             "INS,Carbide insert,cutting,yes\nTAPE,Duct tape,ppe,no\n",
        locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,6,2,8\nL2,lane,2,INS,6,2,8\n"
                  "D1,door,1,TAPE,5,1,5\n",
        users="id,name,role,badges\nT100,Ana,technician,04A1B2C3D4E5F6\nS200,Dee,supervisor,0A0B0C0D\n")
    ledger.db["role_allows"].insert_all([{"role": "technician", "category": c} for c in ("ppe", "cutting")])
    record_admin_change(ledger, "access rules written by the test")   # as an import would
    ledger.close()
    agent = AgentProcess(write_agent_config(tmp_path, port, readers=READER)).start()
    try:
        agent.wait_ready()
        yield sim, agent, tmp_path
    finally:
        agent.kill()
        sim.bridge.stop()


def tap(card, uid, agent, until):
    """A card held to the reader until the agent has read it (pcscd polls the virtual reader), then taken away."""
    card.tap(uid)
    try:
        agent.wait_for_state(until)
    finally:
        card.remove()


def test_tap_vend_approval_by_a_supervisors_tap_and_a_door_watched_until_closed(locker, virtual_cards):
    from playwright.sync_api import expect
    sim, agent, folder = locker
    card = virtual_cards()
    with browser() as chromium:
        page = open_screen(chromium, agent)
        tap(card, TECH, agent, lambda s: s["session"])             # Ana badges in on the reader
        page.locator("#items").wait_for()
        expect(page.locator("#who")).to_have_text("Ana")

        page.locator("#item-list button", has_text="Nitrile gloves").click()
        page.locator("#take").click()
        expect(page.locator("#result-title")).to_have_text("Take your item")
        assert sim.bridge.call(lambda s: s.physics.lane(1).dropped) == 1

        page.locator("#result-more").click()                        # the insert needs a supervisor
        page.locator("#item-list button", has_text="Carbide insert").click()
        page.locator("#take").click()
        expect(page.locator("#result-title")).to_have_text("You cannot take this")
        expect(page.locator("#approve-box")).to_be_visible()
        card.tap(SUPERVISOR)                                         # Dee taps the same reader
        expect(page.locator("#result-title")).to_have_text("Take your item")
        card.remove()
        expect(page.locator("#who")).to_have_text("Ana")                # still Ana's session
        assert sim.bridge.call(lambda s: s.physics.lane(2).dropped) == 1

        page.locator("#result-more").click()                        # a locker door: watched until closed
        page.locator("#item-list button", has_text="Duct tape").click()
        page.locator("#take").click()
        expect(page.locator("#result-live")).to_have_text("Door 1 is open: close it when done")
        page.locator("#result-live[data-seen-open=yes]").wait_for()    # the push showed it open
        sim.bridge.do(lambda s: s.physics.door(1).close())
        expect(page.locator("#result-live")).to_have_text("Door 1 is closed. Thank you.")
        page.locator("#result-done").click()
        page.locator("#idle").wait_for()
    assert agent.stop() == 0

    with ledger_of(folder) as ledger:
        outcomes = [(o["location"], o["outcome"], o["user_id"], o["approver_id"]) for o in rows_of(ledger, "outcome")]
        assert outcomes == [("L1", "vended", "T100", None), ("L2", "vended", "T100", "S200"),
                            ("D1", "opened", "T100", None)]
        assert (ledger.on_hand("L1"), ledger.on_hand("L2"), ledger.on_hand("D1")) == (5, 5, 4)
        assert ledger.verify().ok
