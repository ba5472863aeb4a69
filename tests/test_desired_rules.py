"""The cloud's desired catalog and users are judged by the CSV import's own checks (rules/csv_io.py check_*,
shared, not copied): what a file would give, the catalog gives; what a file would refuse, the catalog refuses
with the same words; and a catalog whose limits name users it waits for is applied right after them."""
import pytest

from edge_agent.cloud import desired, outbox
from edge_agent.cloud.envelope import Refused
from edge_agent.ledger.errors import ImportRefused
from edge_agent.rules import csv_io
from tests.ledgers import ledger_from_csv
from tests.test_cloud_commands import down, events, results  # noqa: F401 - down: the fixture

BASE = dict(skus="part_number,description,category\nGLV,Gloves,ppe\n",
            locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,5,2,8\nL2,lane,2,GLV,5,2,8\n",
            users="id,name,role\nT1,Ana,technician\nT2,Ben,contractor\n")
RULE_TABLES = {"skus": "part_number", "sku_requirements": "sku", "locations": "id", "role_allows": "role, sku, category",
               "user_limits": "user_id, sku, category, period"}

CSV = {"skus": "part_number,description,category,unit_cost,needs_approval,needs_work_order\n"
               "DRL,Drill,tools,129.90,yes,no\nBLD,Blade,blades,3.05,no,yes\n",
       "locations": "id,kind,unit,sku,min,max,capacity,returnable,loan_hours\nL1,lane,1,BLD,1,6,10,no,\n"
                    "D3,door,3,DRL,0,1,1,yes,8\nS1,scan,,GLV,0,50,,no,\n",
       "allows": "role,sku,category\ntechnician,,tools\ncontractor,BLD,\n",
       "limits": "user_id,sku,category,period,max_quantity\nT2,BLD,,shift,2\nT1,,tools,day,1\n"}
CATALOG = {"skus": [{"part_number": "DRL", "description": "Drill", "category": "tools", "unit_cost": 12990,
                     "needs_approval": True, "needs_work_order": False},
                    {"part_number": "BLD", "description": "Blade", "category": "blades", "unit_cost": 305,
                     "needs_approval": False, "needs_work_order": True}],
           "locations": [{"id": "L1", "kind": "lane", "unit": 1, "sku": "BLD", "min": 1, "max": 6, "capacity": 10,
                          "returnable": False, "loan_hours": None},
                         {"id": "D3", "kind": "door", "unit": 3, "sku": "DRL", "min": 0, "max": 1, "capacity": 1,
                          "returnable": True, "loan_hours": 8},
                         {"id": "S1", "kind": "scan", "unit": None, "sku": "GLV", "min": 0, "max": 50, "capacity": None,
                          "returnable": False, "loan_hours": None}],
           "allows": [{"role": "technician", "category": "tools"}, {"role": "contractor", "sku": "BLD"}],
           "limits": [{"user_id": "T2", "sku": "BLD", "period": "shift", "max_quantity": 2},
                      {"user_id": "T1", "category": "tools", "period": "day", "max_quantity": 1}]}


def tables(ledger):
    return {table: [dict(r) for r in ledger.db.query("SELECT * FROM %s ORDER BY %s" % (table, order))]
            for table, order in RULE_TABLES.items()}


def imported(tmp_path):
    ledger = ledger_from_csv(tmp_path, **BASE)
    for what, importer in (("skus", csv_io.import_skus), ("locations", csv_io.import_locations),
                           ("allows", csv_io.import_role_allows), ("limits", csv_io.import_user_limits)):
        path = tmp_path / ("in-" + what + ".csv")
        path.write_text(CSV[what])
        importer(ledger, path)
    return ledger


def applied(tmp_path, body, version=1):
    ledger = ledger_from_csv(tmp_path, **BASE)
    with ledger.transaction():
        desired.apply_catalog(ledger, body, version)
    return ledger


def test_a_catalog_gives_what_the_csv_import_of_the_same_rows_gives(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    by_file, by_cloud = imported(tmp_path / "a"), applied(tmp_path / "b", CATALOG)
    assert tables(by_cloud) == tables(by_file)
    assert tables(by_cloud)["sku_requirements"][0] == {"sku": "BLD", "needs_approval": 0, "needs_work_order": 1,
                                                       "needs_machine_id": 0}
    assert by_cloud.on_hand("L1") == by_file.on_hand("L1") == 5      # stock is never set by a catalog


@pytest.mark.parametrize("change, csv_text, words", [
    (("locations", 0, "max"), 11, "max 11 is more than the location physically holds (capacity 10)"),
    (("limits", 0, "user_id"), "T9", "'T9' is not a known user (import users first)"),
    (("allows", 0, "category"), "toolz", "'toolz' is the category of no SKU"),
    (("locations", 1, "unit"), 1, "lane 1 is already"),
])
def test_what_an_import_refuses_the_catalog_refuses_in_the_same_words(tmp_path, change, csv_text, words):
    import copy
    body = copy.deepcopy(CATALOG)
    table, index, field = change
    body[table][index][field] = csv_text
    if change == ("locations", 1, "unit"):
        body["locations"][1]["kind"] = "lane"
        body["locations"][1]["id"] = "L9"
    ledger = ledger_from_csv(tmp_path, **BASE)
    before = tables(ledger)
    with pytest.raises(Refused) as refused:
        with ledger.transaction():
            desired.apply_catalog(ledger, body, 1)
    assert refused.value.reason == "malformed" and words in refused.value.detail
    assert tables(ledger) == before                                    # nothing of it written
    if table == "locations" and field == "max":                         # and the file says the same
        path = tmp_path / "max.csv"
        path.write_text("id,unit,sku,min,max,capacity\nL1,1,GLV,1,11,10\n")
        with pytest.raises(ImportRefused) as by_file:
            csv_io.import_locations(ledger, path)
        assert words in str(by_file.value)


def test_a_catalog_refusal_names_each_problem_and_where(tmp_path):
    body = dict(CATALOG, locations=[dict(CATALOG["locations"][0], max=11), {"id": "L7", "min": 3, "max": 1}])
    ledger = ledger_from_csv(tmp_path, **BASE)
    with pytest.raises(Refused) as refused:
        with ledger.transaction():
            desired.apply_catalog(ledger, body, 1)
    assert refused.value.detail.startswith("location L1: max 11 is more than")
    assert "location L7: max 1 is below min 3" in refused.value.detail
    assert "location L7 unit: a lane needs its unit number" in refused.value.detail


def test_a_catalog_entry_of_the_wrong_type_is_refused_not_coerced(tmp_path):
    ledger = ledger_from_csv(tmp_path, **BASE)
    for bad in ({"part_number": "X", "needs_approval": "yes"}, {"part_number": "X", "package_size": "2"},
                {"part_number": "X", "on_hand": 3}):
        with pytest.raises(Refused, match="sku X"):
            with ledger.transaction():
                desired.apply_catalog(ledger, {"skus": [bad], "locations": []}, 1)


def test_users_are_held_to_the_user_import_checks(tmp_path):
    ledger = ledger_from_csv(tmp_path, **BASE)
    for user, words in (({"id": "R1", "role": "route_driver"}, "a route_driver must name their supplier"),
                        ({"id": "C1", "role": "contractor", "valid_from": "2026-05-01", "valid_to": "2026-04-01"},
                         "2026-04-01 is before valid_from 2026-05-01")):
        with pytest.raises(Refused) as refused:
            desired.checked_users([user])
        assert words in refused.value.detail
        path = tmp_path / "u.csv"
        path.write_text(",".join(user) + "\n" + ",".join(user.values()) + "\n")
        with pytest.raises(ImportRefused, match=words):
            csv_io.import_users(ledger, path)


def test_a_catalog_waits_for_the_users_it_names_and_is_applied_right_after_them(down):  # noqa: F811
    users = [{"id": "T1", "name": "Ana", "role": "technician"}, {"id": "T3", "name": "Cy", "role": "contractor"}]
    catalog = {"version": 4, "users_version": 2, "skus": [], "locations": [],
               "limits": [{"user_id": "T3", "category": None, "sku": "GLV", "period": "day", "max_quantity": 3}]}
    down("desired/catalog", "catalog", catalog)                  # retained messages come in either order
    assert outbox.applied_versions(down.ledger)["catalog"] is None and results(down.ledger) == []
    down("desired/users", "users", {"version": 2, "users": users})
    assert outbox.applied_versions(down.ledger) == {"users": 2, "catalog": 4}
    assert [(e["what"], e["version"]) for e in events(down.ledger) if e["type"] == "desired_applied"] == \
        [("users", 2), ("catalog", 4)]
    assert [dict(r) for r in down.ledger.db.query("SELECT user_id, sku, max_quantity FROM user_limits")] == \
        [{"user_id": "T3", "sku": "GLV", "max_quantity": 3}]
