"""Min/max after every stock change: one refill task and one low-stock alert however many takes follow, a
stockout at zero, and a refill that closes them, all in the ledger's own SQLite file."""
import pytest

from edge_agent.ledger import alerts
from edge_agent.ledger.minmax import refill_quantity
from tests.ledgers import ledger_from_csv


@pytest.fixture
def ledger(tmp_path):
    led = ledger_from_csv(tmp_path, skus="part_number,description\nGLV-NIT-L,Nitrile gloves L\n",
                          locations="id,kind,unit,sku,min,max,refill_pack,on_hand\n"
                                    "L3,lane,3,GLV-NIT-L,2,8,1,5\nB1,bin,1,GLV-NIT-L,20,100,25,60\n")
    yield led
    led.close()


def open_tasks(led, location):
    return list(led.db.query("SELECT quantity, opened_seq FROM refill_tasks WHERE location = ? AND closed_seq IS NULL",
                             [location]))


def open_alerts(led, location):
    return sorted(kind for _, kind, _ in alerts.open_alerts(led.db, location))


def issue(led, location, n=1):
    return led.append("issue", location=location, quantity=n, user_id="tech-1")["seq"]


def test_falling_below_min_opens_one_task_and_one_alert_not_one_per_take(ledger):
    issue(ledger, "L3")                          # 4 left: above min
    assert open_tasks(ledger, "L3") == [] and open_alerts(ledger, "L3") == []
    issue(ledger, "L3", 2)                       # 2 left: at min, not below
    assert open_tasks(ledger, "L3") == []
    first = issue(ledger, "L3")                  # 1 left: below min
    assert open_tasks(ledger, "L3") == [{"quantity": 7, "opened_seq": first}]
    assert open_alerts(ledger, "L3") == ["low_stock"]
    issue(ledger, "L3")                          # 0 left
    assert open_tasks(ledger, "L3") == [{"quantity": 8, "opened_seq": first}]   # one task, following the stock
    assert open_alerts(ledger, "L3") == ["low_stock", "stockout"]
    assert ledger.db.execute("SELECT count(*) FROM alerts WHERE kind = 'low_stock'").fetchone() == (1,)


def test_a_refill_above_min_closes_the_task_and_clears_the_alerts(ledger):
    issue(ledger, "L3", 5)
    refill = ledger.append("refill", location="L3", quantity=8, user_id="drv-1")["seq"]
    assert open_tasks(ledger, "L3") == [] and open_alerts(ledger, "L3") == []
    closed = ledger.db.execute("SELECT closed_seq FROM refill_tasks WHERE location = 'L3'").fetchall()
    assert closed == [(refill,)]
    cleared = ledger.db.execute("SELECT kind, cleared_seq FROM alerts ORDER BY kind").fetchall()
    assert cleared == [("low_stock", refill), ("stockout", refill)]
    issue(ledger, "L3", 7)                       # below min again later: a new task, a new alert
    assert len(open_tasks(ledger, "L3")) == 1 and open_alerts(ledger, "L3") == ["low_stock"]


def test_a_vend_with_no_drop_changes_nothing_and_a_count_below_min_opens_a_task(ledger):
    seq, cmd_id = ledger.record_intent("issue", location="L3", quantity=1, user_id="tech-1")
    ledger.record_outcome(seq, "no_drop", 0)
    assert ledger.on_hand("L3") == 5 and open_tasks(ledger, "L3") == []
    ledger.append("count", location="B1", quantity=12, user_id="sup-1")
    assert open_tasks(ledger, "B1") == [{"quantity": 75, "opened_seq": ledger.cabinet()["next_seq"] - 1}]


def test_refill_quantities_are_whole_packs_up_to_max():
    assert refill_quantity(1, 10, 4) == 8       # 9 needed: two packs of 4, never above max
    assert refill_quantity(7, 10, 4) == 3       # not one whole pack fits: what is missing
    assert refill_quantity(12, 10, 4) == 0
    assert refill_quantity(0, 8, None) == 8
    # Whole packs that would leave it below min: what is missing up to max (issue 15: 24 of 254 pilot
    # refills ended below min when the pack was larger than the gap between min and max).
    assert refill_quantity(2, 14, 10, minimum=13) == 12      # one pack of 10 would leave 12, below 13
    assert refill_quantity(2, 14, 10, minimum=12) == 10      # one pack reaches min: whole packs stay
