"""Charge-to lists (issue 15, point 6): the site's cost centers, machines and work-order patterns, imported
from CSV or sent with the cloud's catalog. Through the real API and agent over the simulated cabinet: a
value off a non-empty list is refused with words naming the field and the choices, and nothing moves; an
empty list is not checked; charging another cost center than one's own only where the site allows it."""
import pytest

from edge_agent.cli import main as locker_agent_main
from edge_agent.ledger import ImportRefused, ManualClock, open_ledger
from edge_agent.rules.charge_lists import matches
from edge_agent.rules.csv_io import import_charge_lists
from tests.ledgers import rows_of
from tests.test_bounded_input import logged_in
from tests.test_cloud_commands import down, results  # noqa: F401  (the real desired-state path, as a fixture)
from tests.test_screen import BADGE, screen_rig

LISTS = """list,value,description
cost_center,CC-100,Maintenance
cost_center,CC-200,Production
machine,PRESS-07,Press line 7
work_order,WO-######,SAP PM orders
work_order,MAINT-*,Maintenance requests
"""


@pytest.mark.parametrize("pattern, value, fits", [
    ("WO-######", "WO-004512", True), ("WO-######", "wo-004512", True), ("WO-######", "WO-4512", False),
    ("WO-######", "WO-00451A", False), ("WO-######", "WO-0045123", False), ("MAINT-*", "MAINT-", True),
    ("MAINT-*", "MAINT-PUMP 3", True), ("MAINT-*", "XMAINT-1", False), ("A?C", "ABC", True), ("*-##", "X-Y-12", True),
    ("##*", "١٢3", False),                          # `#` is an ASCII digit, not any Unicode one
])
def test_work_order_patterns(pattern, value, fits):
    assert matches(pattern, value) is fits


def test_a_pattern_cannot_make_the_check_slow():
    # A regular expression like (a*)*b backtracks exponentially on this; the wildcard matcher is linear-ish.
    assert not matches("*A*A*A*A*A*A*A*A*A*A*B", "A" * 64)
    assert matches("*A*A*A*A*A*A*A*A*A*A*B", "A" * 63 + "B")


def write(tmp_path, text, name="lists.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def rig(tmp_path):
    with screen_rig(tmp_path) as r:
        r.lists = lambda text: r.agent.call(import_charge_lists, r.agent.ledger, write(tmp_path, text))
        yield r


def lists_of(rig):
    return rig.agent.call(lambda: rig.agent.ledger.db.execute(
        "SELECT list, value FROM charge_lists ORDER BY list, value").fetchall())


def moved(rig):
    return rig.agent.call(lambda: rig.agent.ledger.db.execute(
        "SELECT count(*) FROM transactions WHERE kind IN ('intent', 'issue')").fetchone()[0])


def test_the_import_replaces_the_lists_and_is_an_admin_row_on_the_chain(rig, tmp_path):
    assert rig.lists(LISTS) == 5
    assert lists_of(rig) == [("cost_center", "CC-100"), ("cost_center", "CC-200"), ("machine", "PRESS-07"),
                             ("work_order", "MAINT-*"), ("work_order", "WO-######")]
    assert rig.lists("list,value\nmachine,LATHE-2\n") == 1
    assert lists_of(rig) == [("machine", "LATHE-2")]            # the other lists are now empty: not checked
    admin = rig.agent.call(lambda: rows_of(rig.agent.ledger, "admin"))
    assert [a["reason"] for a in admin][-2:] == ["import charge_lists", "import charge_lists"]
    with pytest.raises(ImportRefused) as refused:
        rig.lists("list,value\nmachine,LATHE-2\ncost_centre,CC-1\nmachine,LATHE-2\nwork_order,\n")
    assert [(r, f) for r, f, _ in refused.value.problems] == [(3, "list"), (4, "value"), (5, "value")]
    assert "'cost_centre' is not one of cost_center, machine, work_order" in str(refused.value)
    assert lists_of(rig) == [("machine", "LATHE-2")]            # a bad file changes nothing


def test_the_cli_imports_charge_lists(tmp_path, capsys):
    ledger = open_ledger(tmp_path / "ledger.db", ManualClock())
    ledger.close()
    path = write(tmp_path, LISTS)
    assert locker_agent_main(["--db", str(tmp_path / "ledger.db"), "import", "charge_lists", str(path)]) == 0
    assert "imported 5 charge_lists from %s (the previous charge_lists were replaced)" % path in capsys.readouterr().out


def test_a_work_order_off_the_list_is_refused_with_words_and_nothing_moves(rig):
    rig.lists(LISTS)
    tech = logged_in(rig, BADGE)
    before = moved(rig)
    status, answer = tech.request("POST", "/api/issue", {"location": "S1", "work_order": "WO-12"})
    assert status == 403 and answer["reason"] == "not_on_list", answer
    assert answer["message"] == ("Work order WO-12 is not in this site's form (MAINT-*, WO-######). Check the "
                                 "number on the work order.")
    assert moved(rig) == before
    status, answer = tech.request("POST", "/api/issue", {"location": "S1", "work_order": "WO-004512"})
    assert status == 200 and answer["ok"], answer


def test_a_machine_off_the_list_is_refused_naming_the_choices(rig):
    rig.lists(LISTS)
    tech = logged_in(rig, BADGE)
    status, answer = tech.request("POST", "/api/issue", {"location": "L3", "machine_id": "PRESS-7"})
    assert (status, answer["reason"]) == (403, "not_on_list")
    assert answer["message"] == "Machine PRESS-7 is not one of this site's machines. Pick one from the list (PRESS-07)."
    status, answer = tech.request("POST", "/api/issue", {"location": "L3", "machine_id": "press-07"})
    assert status == 200 and answer["given"] == 1, answer


def test_an_empty_list_is_not_checked(rig):
    rig.lists("list,value\ncost_center,CC-100\n")                  # no machine or work-order list
    tech = logged_in(rig, BADGE)
    status, answer = tech.request("POST", "/api/issue", {"location": "S1", "work_order": "anything 1",
                                                         "machine_id": "any machine"})
    assert status == 200, answer


def test_another_cost_center_is_refused_where_the_site_does_not_allow_it(rig):
    rig.lists(LISTS)
    tech = logged_in(rig, BADGE)                                   # Ana, cost center CC-100; the site does not ask
    before = moved(rig)
    status, answer = tech.request("POST", "/api/issue", {"location": "L3", "cost_center": "CC-200"})
    assert (status, answer["reason"]) == (403, "cost_center_override")
    assert answer["message"] == ("Takes here are charged to your own cost center (CC-100); this site does not "
                                 "allow charging another one.")
    assert moved(rig) == before
    status, answer = tech.request("GET", "/api/charge_lists")
    assert status == 200 and answer["cost_center_override"] is False
    assert [e["value"] for e in answer["lists"]["cost_center"]] == ["CC-100", "CC-200"]
    status, answer = tech.request("POST", "/api/issue", {"location": "L3", "cost_center": "CC-100"})   # her own
    assert status == 200, answer
    refusals = rig.agent.call(lambda: [r["reason"] for r in rows_of(rig.agent.ledger, "refusal")])
    assert "cost_center_override" in refusals                     # on record, as every refusal


@pytest.mark.parametrize("options", [{"ask_cost_center": True}, {"cost_center_override": True}])
def test_where_the_site_allows_it_another_cost_center_must_be_on_the_list(tmp_path, options):
    with screen_rig(tmp_path, agent_options=options) as rig:
        rig.agent.call(import_charge_lists, rig.agent.ledger, write(tmp_path, LISTS))
        tech = logged_in(rig, BADGE)
        status, answer = tech.request("POST", "/api/issue", {"location": "L3", "cost_center": "CC-999"})
        assert (status, answer["reason"]) == (403, "not_on_list")
        assert answer["message"] == ("Cost center CC-999 is not one of this site's cost centers. Pick one from the "
                                     "list (CC-100, CC-200).")
        status, answer = tech.request("POST", "/api/issue", {"location": "L3", "cost_center": "cc-200"})
        assert status == 200, answer
        outcome = rig.agent.call(lambda: rows_of(rig.agent.ledger, "outcome")[-1])      # as the list spells it
        assert (outcome["cost_center"], outcome["user_id"]) == ("CC-200", "T1")


def test_the_catalog_sets_the_lists_and_a_bad_entry_changes_nothing(down):  # noqa: F811
    down("desired/catalog", "catalog", {"version": 1, "skus": [], "locations": [], "charge_lists": {
        "machine": [{"value": "PRESS-07", "description": "Press line 7"}], "work_order": [{"value": "WO-######"}]}})
    rows = down.ledger.db.execute("SELECT list, value, description FROM charge_lists ORDER BY list").fetchall()
    assert rows == [("machine", "PRESS-07", "Press line 7"), ("work_order", "WO-######", "")]
    down("desired/catalog", "catalog", {"version": 2, "skus": [], "locations": [], "charge_lists": {
        "machine": [{"value": "LATHE-2"}], "cost_centre": [{"value": "CC-1"}]}})
    assert results(down.ledger)[-1] == ("refused", "malformed")
    assert down.ledger.db.execute("SELECT list, value, description FROM charge_lists ORDER BY list").fetchall() == rows
    down("desired/catalog", "catalog", {"version": 3, "skus": [], "locations": [], "charge_lists": {"machine": []}})
    assert down.ledger.db.execute("SELECT list, value FROM charge_lists").fetchall() == [("work_order", "WO-######")]
