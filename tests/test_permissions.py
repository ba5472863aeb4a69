"""The permission matrix: each role against each rule, decided from a real ledger file."""
import pytest

from edge_agent.rules.access import Person
from edge_agent.ledger import ManualClock
from edge_agent.rules.permissions import issue_refusal, refill_refusal
from tests.ledgers import ledger_from_csv

SKUS = """part_number,description,category,supplier,needs_approval,needs_work_order,needs_machine_id
GLV-NIT-L,Nitrile gloves L,ppe,Acme,no,no,no
DRL-HSS-8,HSS drill 8 mm,cutting,Acme,no,yes,no
TRQ-WR-50,Torque wrench 50 Nm,tools,Bolt & Co,yes,no,yes
"""
LOCATIONS = """id,kind,unit,sku,min,max,refill_pack,on_hand
L1,lane,1,GLV-NIT-L,2,20,5,10
L2,lane,2,DRL-HSS-8,1,6,1,3
D1,door,1,TRQ-WR-50,0,1,1,1
"""

TECH = Person("tech-1", "Ana", "technician", "Maint", "CC-1", None)
CONTRACTOR = Person("con-1", "Cy", "contractor", "Proj", "CC-9", None)
SUPERVISOR = Person("sup-1", "Dee", "supervisor", "Maint", "CC-1", None)
DRIVER_ACME = Person("drv-1", "Bo", "route_driver", None, None, "Acme")
DRIVER_BOLT = Person("drv-2", "Eli", "route_driver", None, None, "Bolt & Co")
CUSTOMER_ADMIN = Person("adm-1", "Flo", "customer_admin", None, None, None)


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, SKUS, LOCATIONS, clock=ManualClock(start="2026-03-16T09:00:00+00:00"))
    db = led.db
    for user in ("tech-1", "con-1", "sup-1"):
        db["users"].insert({"id": user, "role": {"t": "technician", "c": "contractor", "s": "supervisor"}[user[0]]})
    db["role_allows"].insert_all([{"role": "technician", "category": "ppe"},
                                  {"role": "technician", "sku": "DRL-HSS-8"},
                                  {"role": "technician", "category": "tools"},
                                  {"role": "contractor", "category": "ppe"}])
    db["user_limits"].insert_all([{"user_id": "tech-1", "category": "ppe", "period": "day", "max_quantity": 6},
                                  {"user_id": "tech-1", "sku": "DRL-HSS-8", "period": "shift", "max_quantity": 2}])
    yield led
    led.close()


def reason(refusal):
    return None if refusal is None else refusal.reason


@pytest.mark.parametrize("person, location, extra, expected", [
    (TECH, "L1", {}, None),
    (CONTRACTOR, "L1", {}, None),
    (CONTRACTOR, "L2", {"work_order": "WO-1"}, "not_allowed"),        # project stock only
    (TECH, "L2", {}, "needs_work_order"),
    (TECH, "L2", {"work_order": "WO-7"}, None),
    (TECH, "D1", {"machine_id": "M-3"}, "needs_approval"),
    (TECH, "D1", {"machine_id": "M-3", "approver": TECH}, "needs_approval"),   # not their own approval
    (TECH, "D1", {"machine_id": "M-3", "approver": SUPERVISOR}, None),
    (TECH, "D1", {"approver": SUPERVISOR}, "needs_machine_id"),
    (SUPERVISOR, "D1", {"machine_id": "M-3"}, None),                   # supervisors approve themselves
    (DRIVER_ACME, "L1", {}, "not_allowed"),                            # drivers refill, they do not take
    (CUSTOMER_ADMIN, "L1", {}, "not_allowed"),
    (TECH, "Z9", {}, "no_such_item"),
])
def test_who_may_take_what(ledger, person, location, extra, expected):
    assert reason(issue_refusal(ledger, person, location, 1, **extra)) == expected


def test_limits_count_what_was_taken_today_and_this_shift(ledger):
    for _ in range(2):
        ledger.append("issue", location="L1", quantity=3, user_id="tech-1")
    over = issue_refusal(ledger, TECH, "L1", 1)
    assert (over.reason, over.words) == ("over_limit", "Over your limit for this day: 6 of 6 taken, 0 left.")
    assert issue_refusal(ledger, SUPERVISOR, "L1", 1) is None                # limits are per user
    ledger.clock.advance(24 * 3600 * 1000)                                # the next day
    assert issue_refusal(ledger, TECH, "L1", 4) is None                     # the day limit starts again
    ledger.append("issue", location="L2", quantity=2, user_id="tech-1", work_order="WO-1")
    assert issue_refusal(ledger, TECH, "L2", 1, work_order="WO-2").reason == "over_limit"
    ledger.clock.advance(8 * 3600 * 1000 + 1)                             # a new shift
    assert issue_refusal(ledger, TECH, "L2", 1, work_order="WO-2") is None


def test_out_of_stock_is_refused_in_plain_words(ledger):
    ledger.append("count", location="L2", quantity=0, user_id="sup-1")
    refusal = issue_refusal(ledger, TECH, "L2", 1, work_order="WO-1")
    assert (refusal.reason, refusal.words) == ("out_of_stock", "HSS drill 8 mm is out of stock here.")
    assert issue_refusal(ledger, TECH, "L1", 11).words == "Nitrile gloves L: only 10 left here."


@pytest.mark.parametrize("person, location, expected", [
    (DRIVER_ACME, "L1", None),
    (DRIVER_ACME, "D1", "other_supplier"),      # a driver trying another supplier's location
    (DRIVER_BOLT, "D1", None),
    (DRIVER_BOLT, "L2", "other_supplier"),
    (SUPERVISOR, "D1", None),
    (TECH, "L1", "not_allowed"),
    (Person("drv-3", "Gil", "route_driver", None, None, None), "L1", "other_supplier"),  # no supplier set
])
def test_who_may_refill_where(ledger, person, location, expected):
    assert reason(refill_refusal(ledger, person, location)) == expected
