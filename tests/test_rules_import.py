"""CSV import of the access rules (role allows, user limits): a clean file replaces the rule set, a file with
any bad row is refused whole naming row and field, and the imported rules are the ones issue_refusal applies."""
import pytest

from edge_agent.rules.access import Person
from edge_agent.ledger import ImportRefused, ManualClock
from edge_agent.rules.csv_io import import_role_allows, import_user_limits
from edge_agent.rules.permissions import issue_refusal
from tests.ledgers import ledger_from_csv

SKUS = """part_number,description,category,supplier
GLV-NIT-L,Nitrile gloves L,ppe,Acme
DRL-HSS-8,HSS drill 8 mm,cutting,Acme
"""
LOCATIONS = """id,kind,unit,sku,min,max,on_hand
L1,lane,1,GLV-NIT-L,0,20,10
L2,lane,2,DRL-HSS-8,0,6,3
"""
USERS = """id,name,role,supplier
tech-1,Ana Ruiz,technician,
con-1,Cy Park,contractor,
sup-1,Dee Moss,supervisor,
"""
ALLOWS = """role,sku,category
technician,,ppe
technician,DRL-HSS-8,
contractor,,ppe
"""
LIMITS = """user_id,sku,category,period,max_quantity
tech-1,,ppe,day,6
tech-1,DRL-HSS-8,,shift,2
con-1,,ppe,shift,0
"""
TECH = Person("tech-1", "Ana Ruiz", "technician", None, None, None)
CONTRACTOR = Person("con-1", "Cy Park", "contractor", None, None, None)


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, SKUS, LOCATIONS, USERS, clock=ManualClock(start="2026-03-16T09:00:00+00:00"))
    yield led
    led.close()


def write(tmp_path, name, text):
    target = tmp_path / name
    target.write_text(text, encoding="utf-8")
    return target


def rules(ledger):
    allows = ledger.db.execute("SELECT role, sku, category FROM role_allows ORDER BY 1, 2, 3").fetchall()
    limits = ledger.db.execute("SELECT user_id, sku, category, period, max_quantity FROM user_limits "
                               "ORDER BY 1, 2, 3, 4").fetchall()
    return allows, limits


def test_imported_rules_are_the_ones_the_cabinet_applies(ledger, tmp_path):
    assert issue_refusal(ledger, TECH, "L1", 1).reason == "not_allowed"       # no rules yet: nothing allowed
    assert import_role_allows(ledger, write(tmp_path, "allows.csv", ALLOWS)) == 3
    assert import_user_limits(ledger, write(tmp_path, "limits.csv", LIMITS)) == 3
    assert rules(ledger) == (
        [("contractor", None, "ppe"), ("technician", None, "ppe"), ("technician", "DRL-HSS-8", None)],
        [("con-1", None, "ppe", "shift", 0), ("tech-1", None, "ppe", "day", 6),
         ("tech-1", "DRL-HSS-8", None, "shift", 2)])   # NULLs sort first in SQLite
    assert issue_refusal(ledger, TECH, "L1", 6) is None
    assert issue_refusal(ledger, TECH, "L1", 7).reason == "over_limit"
    assert issue_refusal(ledger, TECH, "L2", 3).reason == "over_limit"
    assert issue_refusal(ledger, CONTRACTOR, "L1", 1).reason == "over_limit"    # a limit of 0 blocks
    assert issue_refusal(ledger, CONTRACTOR, "L2", 1).reason == "not_allowed"


def test_an_import_replaces_the_whole_rule_set(ledger, tmp_path):
    import_role_allows(ledger, write(tmp_path, "allows.csv", ALLOWS))
    import_user_limits(ledger, write(tmp_path, "limits.csv", LIMITS))
    # The site's spreadsheet now says: technicians get drills only; no limits but one.
    import_role_allows(ledger, write(tmp_path, "allows2.csv", "role,sku\ntechnician,DRL-HSS-8\n"))
    import_user_limits(ledger, write(tmp_path, "limits2.csv", "user_id,category,period,max_quantity\n"
                                                              "tech-1,cutting,day,4\n"))
    assert rules(ledger) == ([("technician", "DRL-HSS-8", None)], [("tech-1", None, "cutting", "day", 4)])
    assert issue_refusal(ledger, TECH, "L1", 1).reason == "not_allowed"
    # A header-only file removes every rule (a spreadsheet emptied on purpose).
    assert import_role_allows(ledger, write(tmp_path, "none.csv", "role,sku,category\n")) == 0
    assert rules(ledger)[0] == []


def test_the_rules_import_is_one_admin_row_on_the_chain(ledger, tmp_path):
    before = ledger.cabinet()["next_seq"]
    import_role_allows(ledger, write(tmp_path, "allows.csv", ALLOWS))
    row = ledger.transaction_row(before)
    assert ledger.cabinet()["next_seq"] == before + 1 and ledger.verify().ok
    assert (row["kind"], row["reason"]) == ("admin", "import role_allows")


@pytest.mark.parametrize("text, row, field, message", [
    (ALLOWS + "janitor,,ppe\n", 5, "role", "'janitor' is not one of"),
    (ALLOWS + "supervisor,,ppe\n", 5, "role", "not bound by an allow list"),
    (ALLOWS + "route_driver,GLV-NIT-L,\n", 5, "role", "not bound by an allow list"),
    (ALLOWS + ",,ppe\n", 5, "role", "is required"),
    (ALLOWS + "technician,,\n", 5, "sku", "has neither"),
    (ALLOWS + "technician,GLV-NIT-L,ppe\n", 5, "category", "not both"),
    (ALLOWS + "technician,GLV-XXX,\n", 5, "sku", "'GLV-XXX' is not a known part number"),
    (ALLOWS + "technician,,PPE\n", 5, "category", "'PPE' is the category of no SKU (known: cutting, ppe)"),
    (ALLOWS + "contractor,,ppe\n", 5, "category", "the same rule is already on row 4"),
    (ALLOWS + "technician,DRL-HSS-8,\n", 5, "sku", "the same rule is already on row 3"),
    (ALLOWS + "technician,ppe\n", 5, None, "has 2 cells, the header has 3"),
    ("role,sku,category,note\ntechnician,,ppe,x\n", 1, "note", "unknown column"),
    ("sku,category\nDRL-HSS-8,\n", 1, "role", "required column is missing"),
])
def test_a_bad_allow_file_is_refused_naming_row_and_field(ledger, tmp_path, text, row, field, message):
    assert_refused_and_unchanged(ledger, tmp_path, import_role_allows, "allows.csv", text, row, field, message)


@pytest.mark.parametrize("text, row, field, message", [
    (LIMITS + "ghost,,ppe,day,1\n", 5, "user_id", "'ghost' is not a known user"),
    (LIMITS + "sup-1,,ppe,day,1\n", 5, "user_id", "'sup-1' is a supervisor, who has no limits"),
    (LIMITS + "tech-1,,ppe,week,1\n", 5, "period", "'week' is not one of shift, day"),
    (LIMITS + "tech-1,,ppe,,1\n", 5, "period", "is required"),
    (LIMITS + "tech-1,,ppe,shift,-1\n", 5, "max_quantity", "-1 is below the minimum of 0"),
    (LIMITS + "tech-1,,ppe,shift,2.5\n", 5, "max_quantity", "'2.5' is not a whole number"),
    (LIMITS + "tech-1,,ppe,shift,\n", 5, "max_quantity", "is required"),
    (LIMITS + "tech-1,,,shift,1\n", 5, "sku", "has neither"),
    (LIMITS + "tech-1,DRL-HSS-8,cutting,day,1\n", 5, "category", "not both"),
    (LIMITS + "tech-1,NOPE,,day,1\n", 5, "sku", "'NOPE' is not a known part number"),
    (LIMITS + "tech-1,,tools,day,1\n", 5, "category", "'tools' is the category of no SKU"),
    (LIMITS + "tech-1,,ppe,day,9\n", 5, "category", "the same rule is already on row 2"),
    ("user_id,sku,period\ntech-1,DRL-HSS-8,day\n", 1, "max_quantity", "required column is missing"),
])
def test_a_bad_limits_file_is_refused_naming_row_and_field(ledger, tmp_path, text, row, field, message):
    assert_refused_and_unchanged(ledger, tmp_path, import_user_limits, "limits.csv", text, row, field, message)


def test_every_problem_of_a_file_is_listed_at_once(ledger, tmp_path):
    bad = "role,sku,category\njanitor,,ppe\ntechnician,NOPE,\ntechnician,,\n"
    with pytest.raises(ImportRefused) as refused:
        import_role_allows(ledger, write(tmp_path, "allows.csv", bad))
    assert [(r, f) for r, f, _ in refused.value.problems] == [(2, "role"), (3, "sku"), (4, "sku")]


def assert_refused_and_unchanged(ledger, tmp_path, importer, name, text, row, field, message):
    import_role_allows(ledger, write(tmp_path, "good-allows.csv", ALLOWS))
    import_user_limits(ledger, write(tmp_path, "good-limits.csv", LIMITS))
    before = rules(ledger)
    target = write(tmp_path, name, text)
    with pytest.raises(ImportRefused) as refused:
        importer(ledger, target)
    assert [(r, f) for r, f, m in refused.value.problems if message in m] == [(row, field)]
    said = str(refused.value)
    assert str(target) in said and "row %d, field %r" % (row, field) in said and "nothing imported" in said
    assert rules(ledger) == before      # the good rows were not written, and the old rules not removed


def test_a_file_that_is_not_utf8_is_refused_with_what_to_do(ledger, tmp_path):
    target = tmp_path / "allows.csv"
    target.write_bytes("role,sku,category\ntechnician,,ppe\ncontractor,,Schutzausrüstung\n".encode("cp1252"))
    with pytest.raises(ImportRefused) as refused:
        import_role_allows(ledger, target)
    assert "save the spreadsheet as \"CSV UTF-8\"" in str(refused.value) and rules(ledger) == ([], [])
