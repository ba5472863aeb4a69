"""The terms screen with the site's charge-to lists (issue 15, point 6), in real Chromium against the real
agent: it offers the list's entries to tap, shows the work-order forms, and when the agent refuses a value
off the list it shows the agent's words on the terms screen, with what was typed kept to correct."""
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.rules.csv_io import import_charge_lists
from tests.ledgers import rows_of
from tests.test_screen import badge_in, chromium, open_screen, press_keys, screen_rig  # noqa: F401

LISTS = """list,value,description
cost_center,CC-100,Maintenance
cost_center,CC-200,Production
work_order,WO-######,SAP PM orders
"""


def with_lists(rig, tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text(LISTS, encoding="utf-8")
    rig.agent.call(import_charge_lists, rig.agent.ledger, path)


def test_the_terms_screen_offers_the_cost_centers_and_records_the_one_tapped(chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import expect
    with screen_rig(tmp_path, agent_options={"ask_cost_center": True}) as rig:
        with_lists(rig, tmp_path)
        page = open_screen(chromium, rig)
        badge_in(page)
        page.locator("#item-list button", has_text="Nitrile gloves").click()
        page.locator("#take").click()
        expect(page.locator("#f-cost_center .value")).to_have_text("CC-100")     # her own, offered
        choices = page.locator("#terms-choices .chip")
        expect(choices).to_have_text(["CC-100 · Maintenance", "CC-200 · Production"])
        expect(page.locator("#terms-choices .chip.on")).to_have_text("CC-100 · Maintenance")
        choices.nth(1).click()
        expect(page.locator("#f-cost_center .value")).to_have_text("CC-200")
        page.locator("#terms-ok").click()
        expect(page.locator("#result-title")).to_have_text("Take your item")
        with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
            [out] = rows_of(ledger, "outcome")
            assert (out["location"], out["cost_center"], out["user_id"]) == ("L3", "CC-200", "T1")
        page.close()


def test_a_work_order_off_the_list_shows_the_agents_words_on_the_terms_screen(chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import expect
    with screen_rig(tmp_path) as rig:
        with_lists(rig, tmp_path)
        page = open_screen(chromium, rig)
        badge_in(page)
        page.locator("#item-list button", has_text="Duct tape").click()            # needs a work order
        page.locator("#take").click()
        expect(page.locator("#terms-choices")).to_have_text("Form: WO-######  (# a digit, * anything)")
        press_keys(page, "terms-keypad", "WO-77")
        page.locator("#terms-ok").click()
        expect(page.locator("#terms-message")).to_have_text(
            "Work order WO-77 is not in this site's form (WO-######). Check the number on the work order.")
        expect(page.locator("#terms")).to_be_visible()
        expect(page.locator("#f-work_order .value")).to_have_text("WO-77")        # kept, to correct
        expect(page.locator("#f-work_order")).to_have_class("field active")
        press_keys(page, "terms-keypad", "4512")
        page.locator("#terms-ok").click()
        expect(page.locator("#result-title")).to_have_text("Take your item")
        with open_ledger(rig.path, ManualClock(), count_boot=False) as ledger:
            assert rows_of(ledger, "issue")[-1]["work_order"] == "WO-774512"
            assert [r["reason"] for r in rows_of(ledger, "refusal")] == ["not_on_list"]
        page.close()


def test_another_cost_center_where_the_site_does_not_allow_it_is_refused_on_screen(chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import expect
    with screen_rig(tmp_path, agent_options={"ask_cost_center": True, "cost_center_override": False}) as rig:
        with_lists(rig, tmp_path)
        page = open_screen(chromium, rig)
        badge_in(page)
        page.locator("#item-list button", has_text="Nitrile gloves").click()
        page.locator("#take").click()
        expect(page.locator("#f-cost_center .value")).to_have_text("CC-100")
        expect(page.locator("#terms-choices")).to_be_hidden()                    # nothing else to pick
        page.locator('#terms-keypad [data-key="Clear"]').click()
        press_keys(page, "terms-keypad", "CC-200")
        page.locator("#terms-ok").click()
        expect(page.locator("#terms-message")).to_have_text(
            "Takes here are charged to your own cost center (CC-100); this site does not allow charging "
            "another one.")
        page.close()
