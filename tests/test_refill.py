"""Refill mode on a real ledger: a driver's pick list holds only their supplier's open tasks, a refill
closes the task and clears its alerts, a count that differs corrects the ledger, another supplier's
location is refused and on record."""
import pytest

from edge_agent.rules.access import Person
from edge_agent.ledger.alerts import open_alerts
from edge_agent.flows.refill import PickLine, RefillDone, confirm_refill, pick_list
from tests.refusals import refused
from tests.ledgers import ledger_from_csv, rows_of

ACME = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
BOLT = Person("drv-2", "Eli", "route_driver", None, None, "Bolt & Co")
SUPERVISOR = Person("sup-1", "Dee", "supervisor", None, None, None)


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path,
                          skus="part_number,description,supplier\nGLV,Gloves L,Acme\nTRQ,Torque wrench,Bolt & Co\n",
                          locations="id,kind,unit,sku,min,max,refill_pack,on_hand\n"
                                    "L1,lane,1,GLV,4,20,5,10\nL2,lane,2,GLV,4,20,5,10\nD1,door,1,TRQ,1,2,1,2\n")
    for location, n in (("L1", 8), ("L2", 10), ("D1", 2)):
        led.append("issue", location=location, quantity=n, user_id="tech-1")
    yield led
    led.close()


def test_a_driver_sees_only_their_suppliers_open_tasks(ledger):
    assert pick_list(ledger, ACME) == [PickLine("L1", "GLV", "Gloves L", 2, 20, 15),
                                       PickLine("L2", "GLV", "Gloves L", 0, 20, 20)]
    assert [line.location for line in pick_list(ledger, BOLT)] == ["D1"]
    assert [line.location for line in pick_list(ledger, SUPERVISOR)] == ["D1", "L1", "L2"]


def test_a_refill_closes_the_task_and_clears_the_alerts(ledger):
    assert [a[1] for a in open_alerts(ledger.db, "L2")] == ["low_stock", "stockout"]
    done = confirm_refill(ledger, ACME, "L2", 20, counted=20)
    assert done == RefillDone("L2", 20, 20, None)
    assert [line.location for line in pick_list(ledger, ACME)] == ["L1"]
    assert open_alerts(ledger.db, "L2") == []


def test_a_count_that_differs_corrects_the_ledger(ledger):
    done = confirm_refill(ledger, ACME, "L1", 15, counted=16)   # 2 + 15 = 17 by the ledger; the driver counts 16
    assert done == RefillDone("L1", 15, 16, corrected_from=17)
    counts = [r for r in rows_of(ledger, "count") if r["reason"] == "count at refill"]
    assert [(r["location"], r["quantity"], r["user_id"]) for r in counts] == [("L1", 16, "drv-1")]


def test_another_suppliers_location_is_refused_and_on_record(ledger):
    assert refused(confirm_refill, ledger, ACME, "D1", 2).reason == "other_supplier"
    assert ledger.on_hand("D1") == 0
    assert [(r["reason"], r["location"]) for r in rows_of(ledger, "refusal")] == [
        ("other_supplier", "D1")]
