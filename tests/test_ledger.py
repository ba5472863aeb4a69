"""The ledger against real SQLite files: migrations, seq and boot, intent/outcome, atomic stock changes,
append-only triggers, tamper detection by the hash chain, CSV import/export and PIN hashing."""
import sqlite3

import pytest

from edge_agent.rules import pin_hashing
from edge_agent.ledger import (AppendRefused, ImportRefused, ManualClock, MigrationError, SchemaTooNew,
                               open_ledger)
from edge_agent.ledger.chain import verify_rows
from edge_agent.rules.csv_io import (export_transactions, import_locations, import_skus, import_users,
                                      read_transactions)
from edge_agent.ledger.migrations import MIGRATIONS, Migration, schema_version


@pytest.fixture
def clock():
    return ManualClock(start="2026-03-02T08:00:00+00:00")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path, clock):
    with open_ledger(path, clock, cabinet_id="CAB-1") as opened:
        yield opened


def stock(ledger, location="L3", on_hand=10, sku="P-100", unit_cost=1250, min=2, max=20):
    """A SKU in a location with some stock, the stock recorded as a refill like any other."""
    ledger.db["skus"].upsert({"part_number": sku, "description": "hex bolt M8", "unit_cost": unit_cost},
                             pk="part_number")
    kind = {"L": "lane", "D": "door", "B": "bin", "S": "scan"}[location[0]]
    ledger.db["locations"].insert({"id": location, "kind": kind, "unit": int(location[1:]), "sku": sku,
                                   "min": min, "max": max})
    if on_hand:
        ledger.append("refill", location=location, quantity=on_hand, user_id="driver-1")


def raw(path):
    """A plain sqlite3 connection, as someone with the sqlite3 CLI would have: no triggers of ours help."""
    return sqlite3.connect(str(path), isolation_level=None)


def tamper(path, *statements):
    conn = raw(path)
    conn.execute("DROP TRIGGER transactions_no_update")
    conn.execute("DROP TRIGGER transactions_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.close()


def snapshot(ledger):
    return list(ledger.db.iterdump())


# -- opening and migrations -------------------------------------------------------------------------------
def test_fresh_ledger_is_migrated_wal_and_durable(ledger, path):
    assert schema_version(ledger.db) == MIGRATIONS[-1].version == len(MIGRATIONS)
    for table in ("cabinet", "skus", "locations", "users", "badges", "role_allows", "user_limits",
                  "sku_requirements", "transactions", "refill_tasks", "alerts"):
        assert ledger.db[table].exists(), table
    assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert ledger.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert ledger.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert ledger.cabinet() == {"id": 1, "cabinet_id": "CAB-1", "boot": 1, "next_seq": 1,
                                "head_hash": "0" * 64}


def test_empty_existing_file_is_migrated(path, clock):
    raw(path).close()  # an empty SQLite file: version 0
    with open_ledger(path, clock) as ledger:
        assert schema_version(ledger.db) == len(MIGRATIONS)


NEXT = len(MIGRATIONS) + 1  # a migration from the future, for the upgrade tests


def test_older_ledger_is_upgraded_without_losing_data(path, clock):
    with open_ledger(path, clock) as ledger:
        stock(ledger)
        ledger.append("issue", location="L3", quantity=2, user_id="tech-1")
    newer = MIGRATIONS + [Migration(NEXT, "skus get a hazmat flag",
                                    ["ALTER TABLE skus ADD COLUMN hazmat INTEGER NOT NULL DEFAULT 0"])]
    with open_ledger(path, clock, migrations=newer) as ledger:
        assert schema_version(ledger.db) == NEXT
        assert ledger.db["skus"].get("P-100")["hazmat"] == 0
        assert ledger.on_hand("L3") == 8
        assert [r["seq"] for r in ledger.transactions()] == [1, 2]
        assert ledger.verify().ok
        assert ledger.append("issue", location="L3", quantity=1)["seq"] == 3


def test_failed_migration_leaves_the_last_good_version(path, clock):
    with open_ledger(path, clock) as ledger:
        stock(ledger)
    broken = MIGRATIONS + [Migration(NEXT, "half-done step", ["ALTER TABLE skus ADD COLUMN hazmat INTEGER",
                                                              "ALTER TABLE no_such_table ADD COLUMN x"])]
    with pytest.raises(MigrationError, match="migration %d .* left at version %d" % (NEXT, NEXT - 1)):
        open_ledger(path, clock, migrations=broken)
    with open_ledger(path, clock) as ledger:
        assert schema_version(ledger.db) == NEXT - 1
        assert "hazmat" not in ledger.db["skus"].columns_dict  # the first statement was rolled back too
        assert ledger.on_hand("L3") == 10


def test_newer_ledger_is_refused_clearly(path, clock):
    open_ledger(path, clock).close()
    conn = raw(path)
    conn.execute("INSERT INTO schema_version (version, name) VALUES (?, 'from the future')", [NEXT])
    conn.close()
    with pytest.raises(SchemaTooNew, match=r"version %d but this agent knows only up to %d.*refusing" % (NEXT, NEXT - 1)):
        open_ledger(path, clock)


def test_ledger_of_another_cabinet_is_refused(path, clock):
    open_ledger(path, clock, cabinet_id="CAB-1").close()
    with pytest.raises(Exception, match="belongs to cabinet 'CAB-1'"):
        open_ledger(path, clock, cabinet_id="CAB-2")


# -- seq, boot and time -----------------------------------------------------------------------------------
def test_seq_is_consecutive_across_reopen_and_boot_counts_up(path, clock):
    with open_ledger(path, clock) as ledger:
        stock(ledger)
        ledger.append("issue", location="L3", quantity=1, user_id="tech-1")
        assert ledger.boot == 1
    with open_ledger(path, clock, count_boot=False) as reader:  # verify/export tools do not count a boot
        assert reader.boot == 1
    clock.set_wall("2020-01-01T00:00:00+00:00", synced=False)  # a Pi with no RTC boots in the past
    with open_ledger(path, clock) as ledger:
        assert ledger.boot == 2
        row = ledger.append("issue", location="L3", quantity=1, user_id="tech-1")
        assert (row["seq"], row["boot"], row["clock_synced"]) == (3, 2, 0)
        assert row["wall_time"] == "2020-01-01T00:00:00.000+00:00"
        rows = list(ledger.transactions())
        assert [(r["seq"], r["boot"]) for r in rows] == [(1, 1), (2, 1), (3, 2)]
        assert ledger.verify().ok


def test_rows_carry_both_clock_readings(ledger, clock):
    stock(ledger, on_hand=0)
    clock.advance(1500)
    row = ledger.append("refill", location="L3", quantity=4)
    assert row["wall_time"] == "2026-03-02T08:00:01.500+00:00"
    assert row["monotonic_ms"] == 1500 and row["clock_synced"] == 1
    assert row["unit_cost"] == 1250 and row["sku"] == "P-100"  # filled from the location and the SKU


def test_append_refuses_what_it_cannot_record_honestly(ledger):
    stock(ledger)
    before = snapshot(ledger)
    for kind, fields, message in [
        ("theft", {}, "unknown transaction kind"),
        ("issue", {"location": "L3", "quantity": 1, "seq": 99}, "not allowed: seq"),
        ("issue", {"location": "L9", "quantity": 1}, "no location 'L9'"),
        ("issue", {"location": "L3", "quantity": 1.5}, "whole number"),
        ("issue", {"location": "L3", "quantity": -1}, "must not be negative"),
        ("issue", {"quantity": 1}, "a location is needed"),
        ("issue", {"location": "L3", "quantity": 1, "user_id": 42}, "must be text"),
    ]:
        with pytest.raises(AppendRefused, match=message):
            ledger.append(kind, **fields)
    assert snapshot(ledger) == before


# -- intent and outcome -----------------------------------------------------------------------------------
def test_intent_then_outcome_moves_stock_once(path, clock):
    with open_ledger(path, clock) as ledger:
        stock(ledger)
        seq, cmd_id = ledger.record_intent("issue", location="L3", quantity=1, user_id="tech-1",
                                           work_order="WO-77")
        assert cmd_id == seq == 2
        assert ledger.on_hand("L3") == 10  # nothing moved yet
        assert [i["seq"] for i in ledger.pending_intents()] == [2]
    # a crash here: the intent is what start-up recovery finds
    with open_ledger(path, clock) as ledger:
        assert [i["cmd_id"] for i in ledger.pending_intents()] == [2]
        outcome_seq = ledger.record_outcome(seq, "done", 1)
        outcome = ledger.transaction_row(outcome_seq)
        assert (outcome["intent_seq"], outcome["quantity"], outcome["work_order"]) == (2, 1, "WO-77")
        assert outcome["cmd_id"] is None
        assert ledger.on_hand("L3") == 9
        assert ledger.pending_intents() == []
        with pytest.raises(AppendRefused, match="already has an outcome"):
            ledger.record_outcome(seq, "done", 1)
        assert ledger.on_hand("L3") == 9


def test_no_drop_is_not_charged_and_cmd_ids_increase(ledger):
    stock(ledger)
    first, first_cmd = ledger.record_intent("issue", location="L3", quantity=1)
    ledger.record_outcome(first, "no_drop", 0)
    second, second_cmd = ledger.record_intent("issue", location="L3", quantity=1)
    ledger.record_outcome(second, "done", 1)
    clear, clear_cmd = ledger.record_intent("clear_lane", location="L3")
    ledger.record_outcome(clear, "done", 0)
    assert first_cmd < second_cmd < clear_cmd
    assert ledger.on_hand("L3") == 9
    with pytest.raises(AppendRefused, match="is not an intent"):
        ledger.record_outcome(1, "done", 1)  # seq 1 is the refill
    with pytest.raises(AppendRefused, match="unknown action"):
        ledger.record_intent("teleport", location="L3")


def test_returns_refills_counts_and_adjustments(ledger):
    stock(ledger, location="D2", on_hand=1)
    ledger.append("issue", location="D2", quantity=1)
    ledger.append("return", location="D2", quantity=1)
    ledger.append("refill", location="D2", quantity=3)
    assert ledger.on_hand("D2") == 4
    ledger.append("count", location="D2", quantity=3, reason="cycle count")
    ledger.append("adjustment", location="D2", quantity=-1, reason="damaged in handling")
    ledger.append("refusal", user_id="tech-9", badge_id="04A1B2", reason="unknown badge")
    assert ledger.on_hand("D2") == 2


# -- atomicity --------------------------------------------------------------------------------------------
def test_stock_change_and_its_row_land_together_or_not_at_all(ledger, path):
    stock(ledger)
    # A real SQLite failure after the row is inserted, while on_hand is written (think: disk full).
    conn = raw(path)
    conn.execute("CREATE TRIGGER fail_stock BEFORE UPDATE OF on_hand ON locations "
                 "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.close()
    before = snapshot(ledger)
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        ledger.append("issue", location="L3", quantity=3, user_id="tech-1")
    assert snapshot(ledger) == before
    assert [r["seq"] for r in ledger.transactions()] == [1]
    assert ledger.cabinet()["next_seq"] == 2
    ledger.db.execute("DROP TRIGGER fail_stock")
    assert ledger.append("issue", location="L3", quantity=3)["seq"] == 2  # no gap was left
    assert ledger.on_hand("L3") == 7
    assert ledger.verify().ok


def test_a_failed_outcome_leaves_the_intent_pending(ledger, path):
    stock(ledger)
    seq, _ = ledger.record_intent("issue", location="L3", quantity=2)
    conn = raw(path)
    conn.execute("CREATE TRIGGER fail_stock BEFORE UPDATE OF on_hand ON locations "
                 "BEGIN SELECT RAISE(ABORT, 'power cut'); END")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError):
        ledger.record_outcome(seq, "done", 2)
    assert [i["seq"] for i in ledger.pending_intents()] == [seq]
    assert ledger.on_hand("L3") == 10


# -- append-only and the hash chain -----------------------------------------------------------------------
def test_update_and_delete_are_refused_by_triggers(ledger, path):
    stock(ledger)
    for conn in (ledger.db.conn, raw(path)):
        with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
            conn.execute("UPDATE transactions SET quantity = 1 WHERE seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
            conn.execute("DELETE FROM transactions WHERE seq = 1")
    assert ledger.transaction_row(1)["quantity"] == 10


@pytest.fixture
def five_rows(path, clock):
    with open_ledger(path, clock) as ledger:
        stock(ledger)
        for quantity in (1, 2, 3, 4):
            clock.advance(1000)
            ledger.append("issue", location="L3", quantity=quantity, user_id="tech-1")
        assert ledger.verify().ok
    return path


def verify_file(path, clock):
    """A full check: the fixture's verify kept seq 5 as the verified head, and an edit before it that leaves
    the hashes alone is what `verify --full` is for (tests/test_verify_incremental.py has the rest)."""
    with open_ledger(path, clock, count_boot=False) as ledger:
        return ledger.verify(full=True)


def test_edited_quantity_is_detected(five_rows, clock):
    tamper(five_rows, "UPDATE transactions SET quantity = 0 WHERE seq = 3")
    result = verify_file(five_rows, clock)
    assert (result.ok, result.bad_seq, result.checked) == (False, 3, 2)
    assert "edited" in result.reason and "seq 3" in str(result)


def test_edit_with_a_recomputed_hash_is_caught_at_the_next_row(five_rows, clock):
    from edge_agent.ledger.chain import row_hash
    conn = raw(five_rows)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM transactions WHERE seq = 3").fetchone())
    conn.close()
    row["quantity"] = 0
    tamper(five_rows, "UPDATE transactions SET quantity = 0, hash = '%s' WHERE seq = 3"
           % row_hash(row["prev_hash"], row))
    result = verify_file(five_rows, clock)
    assert (result.bad_seq, "prev_hash" in result.reason) == (4, True)


def test_deleted_row_is_detected(five_rows, clock):
    tamper(five_rows, "DELETE FROM transactions WHERE seq = 2")
    result = verify_file(five_rows, clock)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "missing" in result.reason


def test_deleted_last_row_is_detected(five_rows, clock):
    tamper(five_rows, "DELETE FROM transactions WHERE seq = 5")
    result = verify_file(five_rows, clock)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert "deleted from the end" in result.reason


def test_swapped_rows_are_detected(five_rows, clock):
    conn = raw(five_rows)
    conn.row_factory = sqlite3.Row
    second, fourth = (dict(conn.execute("SELECT * FROM transactions WHERE seq = ?", [seq]).fetchone())
                      for seq in (2, 4))
    conn.close()
    # Swap everything but seq, hashes included, so each row still matches its own hash.
    second["seq"], fourth["seq"] = 4, 2
    insert = "INSERT INTO transactions (%s) VALUES (%s)" % (", ".join(second), ", ".join("?" * len(second)))
    conn = raw(five_rows)
    conn.execute("DROP TRIGGER transactions_no_delete")
    conn.execute("BEGIN")
    conn.execute("DELETE FROM transactions WHERE seq IN (2, 4)")
    conn.execute(insert, list(fourth.values()))
    conn.execute(insert, list(second.values()))
    conn.execute("COMMIT")
    conn.close()
    with open_ledger(five_rows, clock, count_boot=False) as ledger:
        assert [r["quantity"] for r in ledger.transactions()] == [10, 3, 2, 1, 4]
        result = ledger.verify(full=True)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "reordered" in result.reason


def test_swapped_contents_under_the_original_hashes_are_detected(five_rows, clock):
    tamper(five_rows, "UPDATE transactions SET quantity = 9 WHERE seq = 2",
           "UPDATE transactions SET quantity = 1 WHERE seq = 4",
           "UPDATE transactions SET quantity = 3 WHERE seq = 2")
    result = verify_file(five_rows, clock)
    assert (result.bad_seq, "edited" in result.reason) == (2, True)


# -- CSV import and export --------------------------------------------------------------------------------
def write(tmp_path, name, text):
    target = tmp_path / name
    target.write_text(text.strip() + "\n", encoding="utf-8")
    return target


SKUS = """
part_number,description,category,package_size,unit_cost,criticality,supplier,ownership,needs_approval
P-100,Hex bolt M8x20,fasteners,50,0.12,low,Acme,consignment,no
P-200,Carbide end mill 10mm,cutting,1,84.50,high,Acme,customer,yes
"""
LOCATIONS = """
id,kind,unit,sku,min,max,refill_pack,piece_weight_mg,on_hand
L3,lane,3,P-200,2,8,1,,5
B1,bin,1,P-100,100,500,50,9800,300
S1,,,P-100,0,10,1,,
"""
USERS = """
id,name,role,department,cost_center,supplier,valid_from,valid_to,pin,badges
tech-1,Ana Ruiz,technician,Maintenance,CC-410,,,,90817263,04A1B2C3;04A1B2C4
drv-1,Bo Lind,route_driver,,,Acme,,,,00:04:55:aa
con-1,Cy Park,contractor,Projects,CC-900,,2026-03-01,2026-03-31,55554444,
"""


def test_csv_import_happy_path(ledger, tmp_path, path):
    assert import_skus(ledger, write(tmp_path, "skus.csv", SKUS)) == 2
    assert import_locations(ledger, write(tmp_path, "locations.csv", LOCATIONS)) == 3
    assert import_users(ledger, write(tmp_path, "users.csv", USERS)) == 3
    assert ledger.db["skus"].get("P-200")["unit_cost"] == 8450  # integer cents
    assert ledger.db["skus"].get("P-100")["unit_cost"] == 12
    assert ledger.db["sku_requirements"].get("P-200")["needs_approval"] == 1
    assert ledger.db["locations"].get("S1")["kind"] == "scan"
    assert (ledger.on_hand("L3"), ledger.on_hand("B1"), ledger.on_hand("S1")) == (5, 300, 0)
    counts = [r for r in ledger.transactions() if r["kind"] == "count"]
    # S1 is new and empty: its min/max still goes on record, and min/max sees it is out of stock at once
    assert [(r["location"], r["quantity"]) for r in counts] == [("L3", 5), ("B1", 300), ("S1", 0)]
    assert [(a["location"], a["kind"]) for a in ledger.db["alerts"].rows] == [("S1", "stockout")]
    assert {b["badge_id"]: b["user_id"] for b in ledger.db["badges"].rows} == {
        "04A1B2C3": "tech-1", "04A1B2C4": "tech-1", "000455AA": "drv-1"}   # as a reader reports it
    tech = ledger.db["users"].get("tech-1")
    assert tech["pin_hash"].startswith("scrypt$") and pin_hashing.verify_pin("90817263", tech["pin_hash"])
    assert not pin_hashing.verify_pin("90817264", tech["pin_hash"])
    assert ledger.db["users"].get("drv-1")["pin_hash"] is None
    assert ledger.verify().ok
    # Re-importing with a blank PIN keeps the PIN; the badges column replaces the badges.
    import_users(ledger, write(tmp_path, "again.csv", "id,role,pin,badges\ntech-1,technician,,04A1B2C4\n"))
    assert pin_hashing.verify_pin("90817263", ledger.db["users"].get("tech-1")["pin_hash"])
    assert [b["badge_id"] for b in ledger.db["badges"].rows_where("user_id = ?", ["tech-1"])] == ["04A1B2C4"]


def test_pins_are_never_stored_in_clear(ledger, tmp_path, path):
    import_users(ledger, write(tmp_path, "users.csv", USERS))
    ledger.db.execute("PRAGMA wal_checkpoint(FULL)")
    for stored in (path, path.with_name(path.name + "-wal")):
        if stored.exists():
            data = stored.read_bytes()
            assert b"90817263" not in data and b"55554444" not in data


@pytest.mark.parametrize("name, text, row, field, message", [
    ("users.csv", USERS + "bad-1,Dee,janitor,,,,,,,\n", 5, "role", "'janitor' is not one of"),
    ("users.csv", USERS + "drv-2,Ed,route_driver,,,,,,,\n", 5, "supplier", "must name their supplier"),
    ("users.csv", USERS + "con-2,Flo,contractor,,,,2026-03-31,2026-03-01,,\n", 5, "valid_to", "before"),
    ("users.csv", USERS + "tech-2,Gus,technician,,,,,,12ab,\n", 5, "pin", "digits only"),
    ("users.csv", USERS + "tech-2,Gus,technician,,,,,,,000455AA\n", 5, "badges", "already on row 3"),
    ("users.csv", USERS + "tech-2,Gus,technician,,,,,,,0455\n", 5, "badges", "bytes"),
    ("skus.csv", SKUS + "P-100,dup,,1,1.00,,,consignment,no\n", 4, "part_number", "already on row 2"),
    ("skus.csv", SKUS + "P-300,x,,1O,1.00,,,consignment,no\n", 4, "package_size", "not a whole number"),
    ("skus.csv", SKUS + "P-300,x,,1,1.005,,,consignment,no\n", 4, "unit_cost", "more than two decimals"),
    ("skus.csv", SKUS + "P-300,x,,1,abc,,,consignment,no\n", 4, "unit_cost", "not an amount of money"),
    ("skus.csv", SKUS + "P-300,x,,1,1,,,borrowed,no\n", 4, "ownership", "not one of"),
    ("locations.csv", LOCATIONS + "L4,lane,4,P-100,-1,5,1,,\n", 5, "min", "below the minimum of 0"),
    ("locations.csv", LOCATIONS + "L4,lane,4,P-100,6,5,1,,\n", 5, "max", "max 5 is below min 6"),
    ("locations.csv", LOCATIONS + "L4,door,4,P-100,1,5,1,,\n", 5, "kind", "disagrees with id L4"),
    ("locations.csv", LOCATIONS + "X4,lane,4,P-100,1,5,1,,\n", 5, "id", "not a location id"),
    ("locations.csv", LOCATIONS + "L4,lane,,P-100,1,5,1,,\n", 5, "unit", "needs its unit number"),
    ("locations.csv", LOCATIONS + "L4,lane,4,P-999,1,5,1,,\n", 5, "sku", "not a known part number"),
    ("locations.csv", LOCATIONS + "L3,lane,3,P-100,1,5,1,,\n", 5, "id", "already on row 2"),
    ("locations.csv", LOCATIONS + "L4,lane,4,P-100,1,5\n", 5, None, "has 6 cells, the header has 9"),
    ("skus.csv", "part_number,price\nP-1,1\n", 1, "price", "unknown column"),
    ("locations.csv", "id,unit,sku,max\nL1,1,P-100,5\n", 1, "min", "required column is missing"),
])
def test_bad_csv_is_refused_naming_row_and_field_and_changes_nothing(ledger, tmp_path, name, text, row,
                                                                     field, message):
    import_skus(ledger, write(tmp_path, "base-skus.csv", SKUS))
    before = snapshot(ledger)
    importer = {"users.csv": import_users, "skus.csv": import_skus, "locations.csv": import_locations}[name]
    target = write(tmp_path, name, text)
    with pytest.raises(ImportRefused) as refused:
        importer(ledger, target)
    assert [(r, f) for r, f, m in refused.value.problems if message in m] == [(row, field)]
    text_of_error = str(refused.value)
    assert str(target) in text_of_error and "row %d" % row in text_of_error and "nothing imported" in text_of_error
    assert snapshot(ledger) == before  # the good rows before the bad one were not written either


def test_export_round_trip_and_the_export_can_be_verified(ledger, tmp_path):
    stock(ledger)
    seq, _ = ledger.record_intent("issue", location="L3", quantity=1, user_id="tech-1", reason='said "hi", ok')
    ledger.record_outcome(seq, "done", 1)
    ledger.append("refusal", badge_id="0999", reason="unknown badge")
    target = tmp_path / "transactions.csv"
    assert export_transactions(ledger, target) == 4
    back = read_transactions(target)
    assert back == list(ledger.transactions())
    assert verify_rows(back).ok
    assert export_transactions(ledger, tmp_path / "since.csv", since_seq=2) == 2
    assert [r["seq"] for r in read_transactions(tmp_path / "since.csv")] == [3, 4]
    back[1]["quantity"] = 5
    assert verify_rows(back).bad_seq == 2


# -- PINs -------------------------------------------------------------------------------------------------
def test_pin_hashing():
    first, second = pin_hashing.hash_pin("1234"), pin_hashing.hash_pin("1234")
    assert first != second  # a random salt each time
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, int(n), len(bytes.fromhex(salt))) == ("scrypt", 2 ** 14, 16)
    assert pin_hashing.verify_pin("1234", first) and pin_hashing.verify_pin("1234", second)
    assert not pin_hashing.verify_pin("1243", first)
    assert not pin_hashing.verify_pin("1234", "plain1234") and not pin_hashing.verify_pin("1234", None)
    with pytest.raises(ValueError, match="digits"):
        pin_hashing.hash_pin("12a4")
    with pytest.raises(ValueError, match="4 to 12"):
        pin_hashing.hash_pin("123")
