"""CSV import of the access rules (role allows, user limits): a clean file replaces the rule set, a file with
any bad row is refused whole naming row and field, and the imported rules are the ones issue_refusal applies."""
import contextlib
import io
from pathlib import Path

import pytest

from edge_agent.cli import locker_agent
from edge_agent.rules.access import Person
from edge_agent.ledger import ImportRefused, ManualClock
from edge_agent.rules.csv_io import import_locations, import_role_allows, import_skus, import_user_limits
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


# -- imports that cannot mislead (issue 14, item 6) ---------------------------------------------------------
# Each of these was reproduced on 3915619: a file the importer took (or crashed on) although it was wrong.
CABINET = Path(__file__).resolve().parent.parent / "examples" / "cabinet.toml"   # 4 doors, 12 lanes, 4 bins


def cli(ledger, *args):
    """locker-agent on the ledger's file, in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = locker_agent.main(["--db", ledger.path, *map(str, args)], out=lambda s: out.write(s + "\n"))
    return status, out.getvalue(), err.getvalue()


def locations(ledger):
    return ledger.db.execute("SELECT id, kind, unit, sku, min, max FROM locations ORDER BY id").fetchall()


def test_two_locations_cannot_share_a_unit_in_one_file(ledger, tmp_path):
    # L5 on lane 1 would drop from L1's spiral and bill L5's SKU.
    before = locations(ledger)
    text = "id,unit,sku,min,max\nL3,3,GLV-NIT-L,0,5\nL5,1,DRL-HSS-8,0,5\nL6,3,DRL-HSS-8,0,5\n"
    with pytest.raises(ImportRefused) as refused:
        import_locations(ledger, write(tmp_path, "locations.csv", text))
    said = [(r, f, m) for r, f, m in refused.value.problems]
    assert (3, "unit", "lane 1 is already L1 (in the ledger)") in said
    assert (4, "unit", "lane 3 is already L3 on row 2") in said
    assert locations(ledger) == before


def test_a_unit_may_move_between_locations_in_one_file(ledger, tmp_path):
    # Swapping two lanes' products by swapping their units is one consistent file, not a clash.
    text = "id,unit,sku,min,max\nL1,2,GLV-NIT-L,0,20\nL2,1,DRL-HSS-8,0,6\nD1,1,DRL-HSS-8,0,1\n"
    assert import_locations(ledger, write(tmp_path, "locations.csv", text)) == 3
    assert [(i, k, u) for i, k, u, *_ in locations(ledger)] == [("D1", "door", 1), ("L1", "lane", 2),
                                                               ("L2", "lane", 1)]   # a door 1 is not lane 1


@pytest.mark.parametrize("unit, message", [
    (250, "lane 250 is not on the cabinet in %s (lanes: 1-12)" % CABINET),
    (13, "lane 13 is not on the cabinet in %s (lanes: 1-12)" % CABINET),
])
def test_a_unit_the_cabinet_does_not_have_is_refused_with_exit_2(ledger, tmp_path, unit, message):
    before = locations(ledger)
    target = write(tmp_path, "locations.csv", "id,unit,sku,min,max\nL7,%d,GLV-NIT-L,0,5\n" % unit)
    status, out, err = cli(ledger, "import", "locations", target, "--cabinet", CABINET)
    assert status == 2 and out == ""
    assert "%s: row 2, field 'unit': %s" % (target, message) in err
    assert locations(ledger) == before
    # The same file against a cabinet that has the lane is fine; a door the cabinet has is fine too.
    ok = write(tmp_path, "ok.csv", "id,unit,sku,min,max\nL7,7,GLV-NIT-L,0,5\nD4,4,,0,1\n")
    assert cli(ledger, "import", "locations", ok, "--cabinet", CABINET)[0] == 0


def test_units_outside_what_any_cabinet_has_are_refused_without_a_cabinet_file(ledger, tmp_path):
    for unit, said in ((0, "0 is below the minimum of 1"), (256, "256 is too large: at most 255"),
                       (250_000, "250000 is too large: at most 255")):
        target = write(tmp_path, "locations.csv", "id,unit,sku,min,max\nL7,%d,GLV-NIT-L,0,5\n" % unit)
        with pytest.raises(ImportRefused) as refused:
            import_locations(ledger, target)
        assert refused.value.problems == [(2, "unit", said)]


def test_a_stray_quote_is_an_error_naming_its_row_not_a_smaller_import(ledger, tmp_path):
    # The quote opens a quoted cell that runs over the next lines: before, "imported 1 skus", exit 0, and
    # the two rows after it were silently part of row 2's category.
    text = ('part_number,description,category\nTAPE-1,Tape,"ppe\nGLV-2,Gloves,ppe\nDRL-3,Drill,"cutting"\n'
            'PEN-4,Pen,office\n')
    target = write(tmp_path, "skus.csv", text)
    before = ledger.db.execute("SELECT count(*) FROM skus").fetchone()
    status, out, err = cli(ledger, "import", "skus", target)
    assert (status, out) == (2, "")
    assert "%s: row 2, field None: " % target in err and 'quote (")' in err
    assert ledger.db.execute("SELECT count(*) FROM skus").fetchone() == before
    # Unclosed to the end of the file: the same.
    target = write(tmp_path, "skus2.csv", 'part_number,description\nTAPE-1,"Tape\nGLV-2,Gloves\n')
    status, _, err = cli(ledger, "import", "skus", target)
    assert status == 2 and "row 2, field None" in err and 'quote (")' in err


@pytest.mark.parametrize("cell", ["Tape\x07", "Tape\tL", "Tape\x1b[2J", "Tape\x7f"])
def test_control_characters_are_refused_naming_row_and_field(ledger, tmp_path, cell):
    target = write(tmp_path, "skus.csv", "part_number,description\nTAPE-1,%s\n" % cell)
    with pytest.raises(ImportRefused) as refused:
        import_skus(ledger, target)
    assert [(r, f) for r, f, _ in refused.value.problems] == [(2, "description")]
    assert "control character" in str(refused.value)


@pytest.mark.parametrize("name, text, field, limit", [
    ("skus.csv", "part_number,unit_cost\nX-1,%s\n", "unit_cost", "10000000.00"),
    ("skus.csv", "part_number,package_size\nX-1,%s\n", "package_size", "1000000"),
    ("locations.csv", "id,unit,sku,min,max\nL7,7,,0,%s\n", "max", "1000000"),
    ("locations.csv", "id,unit,sku,min,max,on_hand\nL7,7,,0,5,%s\n", "on_hand", "1000000"),
    ("locations.csv", "id,unit,sku,min,max,refill_pack\nL7,7,,0,5,%s\n", "refill_pack", "1000000"),
    ("locations.csv", "id,unit,sku,min,max,piece_weight_mg\nB4,4,,0,5,%s\n", "piece_weight_mg", "1000000000"),
    ("locations.csv", "id,unit,sku,min,max,returnable,loan_hours\nD4,4,,0,1,yes,%s\n", "loan_hours", "8784"),
    ("limits.csv", "user_id,sku,period,max_quantity\ntech-1,GLV-NIT-L,day,%s\n", "max_quantity", "1000000"),
])
@pytest.mark.parametrize("huge", ["100000000000000000000", "1" + "0" * 5000])
def test_huge_numbers_are_refused_with_exit_2_naming_row_and_field(ledger, tmp_path, name, text, field,
                                                                   limit, huge):
    # 10^20 was a traceback and exit 1 (Python int too large to convert to SQLite INTEGER).
    target = write(tmp_path, name, text % huge)
    status, out, err = cli(ledger, "import", name.split(".")[0], target)
    assert (status, out) == (2, "")
    assert "%s: row 2, field %r: " % (target, field) in err and "at most %s" % limit in err
    assert len(err) < 2000     # the number is not echoed in full


def test_numbers_at_their_ceiling_are_accepted(ledger, tmp_path):
    assert import_skus(ledger, write(tmp_path, "skus.csv", "part_number,unit_cost,package_size\n"
                                                           "X-1,10000000.00,1000000\n")) == 1
    assert import_locations(ledger, write(tmp_path, "locations.csv",
                                          "id,unit,sku,min,max,on_hand,piece_weight_mg,loan_hours\n"
                                          "B4,255,X-1,0,1000000,1000000,1000000000,8784\n")) == 1
    assert ledger.on_hand("B4") == 1_000_000 and ledger.verify().ok


def test_a_cell_too_long_for_any_reader_is_named_not_blamed_on_a_quote(ledger, tmp_path):
    target = write(tmp_path, "skus.csv", 'part_number,description\nTAPE-1,"%s"\n' % ("x" * 200_000))
    with pytest.raises(ImportRefused) as refused:
        import_skus(ledger, target)
    assert refused.value.problems == [(2, None, "has a cell longer than 131072 characters; nothing after it "
                                                "could be read")]


def test_a_text_cell_is_at_most_200_characters(ledger, tmp_path):
    text = "part_number,description\nTAPE-1,%s\nTAPE-2,%s\n" % ("x" * 200, "y" * 201)
    with pytest.raises(ImportRefused) as refused:
        import_skus(ledger, write(tmp_path, "skus.csv", text))
    assert refused.value.problems == [(3, "description", "is 201 characters long; at most 200")]


def test_the_cabinet_file_says_which_units_it_has_and_a_bad_one_is_refused_in_its_words(ledger, tmp_path):
    small = write(tmp_path, "small.toml", '[cabinet]\nname = "x"\nboard = "pico"\n[[door]]\nnumber = 1\n'
                  + "".join("[[lane]]\nnumber = %d\n" % n for n in (1, 2, 3, 4, 7)))
    target = write(tmp_path, "locations.csv", "id,unit,sku,min,max\nL6,6,,0,5\nB1,1,,0,5\nD1,1,,0,1\n")
    status, _, err = cli(ledger, "import", "locations", target, "--cabinet", small)
    assert status == 2
    assert "row 2, field 'unit': lane 6 is not on the cabinet in %s (lanes: 1-4, 7)" % small in err
    assert "row 3, field 'unit': bin 1 is not on the cabinet in %s (it has no bins)" % small in err
    assert "row 4" not in err
    wrong = write(tmp_path, "wrong.toml", '[cabinet]\nboard = "pico"\n[[lane]]\nnumber = 300\n')
    status, _, err = cli(ledger, "import", "locations", target, "--cabinet", wrong)
    assert status == 2 and "%s: lane #1: number must be between 1 and 255, got 300" % wrong in err
    assert "nothing imported" in err
