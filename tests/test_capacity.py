"""A location's physical capacity (issue 15, point 5): set by the layout import and the cloud's catalog, a max
above it refused with the reason and nothing written, the refill ceiling and the min/max recommendations held
within it (the report says so, in the HTML and the CSV)."""
import csv
from pathlib import Path

import pytest

from edge_agent.flows import refill
from edge_agent.ledger import ImportRefused, ManualClock
from edge_agent.ledger.locations import find_location
from edge_agent.reports import build_report, write_reports
from edge_agent.rules.access import Person
from edge_agent.rules.csv_io import import_locations
from tests.ledgers import ledger_from_csv
from tests.test_cloud_commands import down, results  # noqa: F401  (the real desired-state path, as a fixture)
from tests.test_reports import AFTER, OCTOBER, october

SKUS = "part_number,description,supplier\nGLV,Nitrile gloves,Acme\n"
LOCATIONS = "id,kind,unit,sku,min,max,capacity,on_hand\nL1,lane,1,GLV,2,10,15,4\nL2,lane,2,GLV,1,4,,2\n"
DRIVER = Person("R1", "Ray", "route_driver", None, None, "Acme")


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, SKUS, LOCATIONS, "id,name,role,supplier\nR1,Ray,route_driver,Acme\n",
                          clock=ManualClock())
    yield led
    led.close()


def layout(ledger):
    return ledger.db.execute("SELECT id, min, max, capacity FROM locations ORDER BY id").fetchall()


def write(tmp_path, text):
    path = tmp_path / "layout.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_layout_import_records_capacity(ledger):
    assert layout(ledger) == [("L1", 2, 10, 15), ("L2", 1, 4, None)]
    assert find_location(ledger, "L1").capacity == 15


def test_an_import_with_max_above_capacity_is_refused_naming_the_row(ledger, tmp_path):
    before = layout(ledger)
    path = write(tmp_path, "id,unit,sku,min,max,capacity\nL1,1,GLV,33,43,15\nL2,2,GLV,1,4,4\n")
    with pytest.raises(ImportRefused) as refused:
        import_locations(ledger, path)
    assert refused.value.problems == [(2, "max", "max 43 is more than the location physically holds (capacity "
                                                 "15): lower max, or raise capacity if the location really holds more")]
    assert "row 2, field 'max'" in str(refused.value) and "nothing imported" in str(refused.value)
    assert layout(ledger) == before


def test_a_file_without_a_capacity_column_is_held_to_the_capacity_on_record(ledger, tmp_path):
    with pytest.raises(ImportRefused) as refused:
        import_locations(ledger, write(tmp_path, "id,unit,sku,min,max\nL1,1,GLV,2,16\n"))
    assert [(r, f) for r, f, _ in refused.value.problems] == [(2, "max")]
    assert "capacity 15" in refused.value.problems[0][2]
    # a blank capacity cell says "not known": then any max is taken
    assert import_locations(ledger, write(tmp_path, "id,unit,sku,min,max,capacity\nL1,1,GLV,2,16,\n")) == 1
    assert layout(ledger)[0] == ("L1", 2, 16, None)


def test_the_catalog_sets_capacity_and_a_max_above_it_is_refused_with_the_reason(down):  # noqa: F811
    down("desired/catalog", "catalog", {"version": 1, "skus": [],
                                        "locations": [{"id": "L1", "sku": "GLV", "min": 2, "max": 8, "capacity": 12}]})
    assert down.ledger.db["locations"].get("L1")["capacity"] == 12
    before = down.ledger.db.execute("SELECT id, min, max, capacity FROM locations ORDER BY id").fetchall()
    down("desired/catalog", "catalog", {"version": 2, "skus": [], "locations": [
        {"id": "L3", "sku": "GLV", "min": 1, "max": 4, "capacity": 4},
        {"id": "L1", "sku": "GLV", "min": 33, "max": 43}]})          # capacity 12 on record
    assert results(down.ledger)[-1] == ("refused", "malformed")
    said = [e for e in down.ledger.db.query("SELECT body FROM outbox_events WHERE type = 'command_result'")][-1]
    assert "location L1: max 43 is more than the location physically holds (capacity 12)" in said["body"]
    assert down.ledger.db.execute("SELECT id, min, max, capacity FROM locations ORDER BY id").fetchall() == before


def test_a_refill_cannot_put_in_more_than_the_location_holds(ledger):
    # L1: max 10 is what a refill aims at; 15 is what the spiral physically takes, so the bound on a number typed
    with pytest.raises(ValueError, match="L1 holds at most 15"):
        refill.confirm_refill(ledger, DRIVER, "L1", 16)
    refill.confirm_refill(ledger, DRIVER, "L1", 11, counted=15)
    assert ledger.on_hand("L1") == 15


def test_a_recommendation_stays_within_capacity_and_says_so(tmp_path):
    with october(tmp_path) as ledger:
        path = tmp_path / "capacity.csv"
        path.write_text("id,unit,min,max,capacity\nL2,2,1,4,4\n")
        import_locations(ledger, path)
        report = build_report(ledger, *OCTOBER, now=AFTER)
        rec = {r.location: r for r in report.recommendations}["L2"]
        assert (rec.min, rec.max) == (2, 4)        # demand alone asks 2 / 5 (test_reports), the lane holds 4
        assert rec.reason.endswith("Capped at capacity 4; demand needs 5: add a second lane.")
        paths = write_reports(report, tmp_path / "out")
    assert "Capped at capacity 4; demand needs 5: add a second lane." in Path(paths["html"]).read_text()
    with open(paths["minmax_recommendations"], newline="", encoding="utf-8") as f:
        l2 = [r for r in csv.DictReader(f) if r["location"] == "L2"][0]
    assert (l2["recommended_min"], l2["recommended_max"]) == ("2", "4") and "add a second lane" in l2["reason"]


def test_the_inventory_snapshot_carries_capacity(down):  # noqa: F811
    down("desired/catalog", "catalog", {"version": 1, "skus": [],
                                        "locations": [{"id": "L1", "sku": "GLV", "min": 2, "max": 8, "capacity": 12}]})
    snapshot = {loc["id"]: loc for loc in down.sync._inventory()["locations"]}
    assert (snapshot["L1"]["capacity"], snapshot["L3"]["capacity"]) == (12, None)
