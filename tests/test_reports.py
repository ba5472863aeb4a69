"""Reports (`locker-agent report`, edge_agent/reports) against a hand-built ledger with known answers.

The ledger is written through the real Ledger API (appends, intents and outcomes) with a ManualClock set to
exact instants, so every expected figure below is worked out by hand from the story in `october()`:

  before Oct   30 Sep 12:00 R1 fills L1 gloves 10, L2 drills 4, B1 fittings 10, S1 grease 6, S2 screws 50,
               D1 torque wrench 1; 30 Sep 15:00 T1 takes 1 glove (before the period: not counted)
  01 Oct 08:00 T1 (Maintenance, CC-410) vends 3 gloves on WO-1; 09:00 a vend that drops nothing
  01 Oct 10:00 T2 (Production, CC-520) vends 2 drills            L2: 4 -> 2
  02 Oct 08:00 T1 vends 2 drills                                   L2: 2 -> 0, OUT, refill task opened
  03 Oct 14:00 R1 refills L2 with 4                               L2 back: 30 h out, task 30 h
  06 Oct 11:00 T2 takes 5 fittings from B1, returns 2 on 07 Oct   net 3 x 12.50, billed to CC-520
  08 Oct 13:00 T1 takes 2 customer-owned grease cartridges         value 14.70, not billed
  09 Oct 07:00-16:00 T1 borrows and returns the torque wrench      a tool loan: not consumption
  10 Oct 09:00 T1 vends 1 drill                                    L2: 4 -> 3
  17 Oct 09:00 R1 refills L1 +4, 09:30 B1 +3 (one visit)           visits 3 Oct and 17 Oct: 13 d 19 h apart
  20 Oct 10:00 T2 vends 2 gloves; 31 Oct 23:59:59 1 more; 01 Nov 00:00:00 1 more (next period)
  S2 screws never move: a slow mover.
"""
import csv
import html.parser
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from edge_agent.cli import main as locker_agent_main
from edge_agent.ledger import ManualClock
from edge_agent.reports import COLUMNS, build_report, write_reports
from tests.chromium import browser
from tests.ledgers import ledger_from_csv

SKUS = """part_number,description,category,unit_cost,criticality,supplier,ownership
GLV,Nitrile gloves (pair),ppe,0.45,low,Acme,consignment
DRL,HSS drill 6 mm,cutting,4.20,medium,Acme,consignment
FIT,Hydraulic fitting 1/2in,fittings,12.50,low,Acme,consignment
GRS,Grease cartridge,lube,7.35,low,Acme,customer
SCR,Socket screw M6 (pc),fasteners,0.08,low,Acme,consignment
TRQ,Torque wrench 10-50 Nm,tools,150.00,high,Acme,customer
"""
LOCATIONS = """id,kind,unit,sku,min,max,refill_pack,piece_weight_mg,returnable,loan_hours
L1,lane,1,GLV,2,10,1,,,
L2,lane,2,DRL,1,4,1,,,
B1,bin,1,FIT,3,10,1,20000,,
S1,scan,,GRS,1,6,1,,,
S2,scan,,SCR,10,50,10,,,
D1,door,1,TRQ,0,1,1,,yes,12
"""
USERS = """id,name,role,department,cost_center,supplier
T1,Ana Tech,technician,Maintenance,CC-410,
T2,Ben Tech,technician,Production,CC-520,
R1,Ray Driver,route_driver,,,Acme
"""
OCTOBER = ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")
AFTER = "2026-11-05T00:00:00+00:00"


def at(clock, iso):
    clock.set_wall(iso + "+00:00")


def vend(ledger, clock, when, location, user, cost_center, units=1, work_order=None, gives=1):
    """A lane vend as Vending records it: one intent and one outcome per unit."""
    at(clock, when)
    for _ in range(units):
        seq, _ = ledger.record_intent("issue", location=location, quantity=1, user_id=user, cost_center=cost_center,
                                      work_order=work_order)
        ledger.record_outcome(seq, "vended" if gives else "no_drop", gives)


def october(tmp_path):
    clock = ManualClock(start="2026-09-30T11:00:00+00:00")
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS, clock=clock)
    ledger.db.execute("UPDATE cabinet SET cabinet_id = 'CAB-7' WHERE id = 1")
    at(clock, "2026-09-30T12:00:00")
    for location, quantity in (("L1", 10), ("L2", 4), ("B1", 10), ("S1", 6), ("S2", 50), ("D1", 1)):
        ledger.append("refill", location=location, quantity=quantity, user_id="R1")
    vend(ledger, clock, "2026-09-30T15:00:00", "L1", "T1", "CC-410")
    vend(ledger, clock, "2026-10-01T08:00:00", "L1", "T1", "CC-410", units=3, work_order="WO-1")
    vend(ledger, clock, "2026-10-01T09:00:00", "L1", "T1", "CC-410", gives=0)
    vend(ledger, clock, "2026-10-01T10:00:00", "L2", "T2", "CC-520", units=2)
    vend(ledger, clock, "2026-10-02T08:00:00", "L2", "T1", "CC-410", units=2)
    at(clock, "2026-10-03T14:00:00")
    ledger.append("refill", location="L2", quantity=4, user_id="R1")
    at(clock, "2026-10-06T11:00:00")
    ledger.append("issue", location="B1", quantity=5, user_id="T2", cost_center="CC-520")
    at(clock, "2026-10-07T11:00:00")
    ledger.append("return", location="B1", quantity=2, user_id="T2", cost_center="CC-520")
    at(clock, "2026-10-08T13:00:00")
    ledger.append("issue", location="S1", quantity=2, user_id="T1", cost_center="CC-410", outcome="stated")
    at(clock, "2026-10-09T07:00:00")
    seq, _ = ledger.record_intent("issue", location="D1", quantity=1, user_id="T1", cost_center="CC-410")
    ledger.record_outcome(seq, "opened", 1)
    at(clock, "2026-10-09T16:00:00")
    seq, _ = ledger.record_intent("return", location="D1", quantity=1, user_id="T1", cost_center="CC-410")
    ledger.record_outcome(seq, "opened", 1)
    vend(ledger, clock, "2026-10-10T09:00:00", "L2", "T1", "CC-410")
    at(clock, "2026-10-17T09:00:00")
    ledger.append("refill", location="L1", quantity=4, user_id="R1")
    at(clock, "2026-10-17T09:30:00")
    ledger.append("refill", location="B1", quantity=3, user_id="R1")
    vend(ledger, clock, "2026-10-20T10:00:00", "L1", "T2", "CC-520", units=2)
    vend(ledger, clock, "2026-10-31T23:59:59", "L1", "T2", "CC-520")
    vend(ledger, clock, "2026-11-01T00:00:00", "L1", "T2", "CC-520")
    at(clock, AFTER[:19])
    return ledger


@pytest.fixture
def ledger(tmp_path):
    with october(tmp_path) as opened:
        yield opened


@pytest.fixture
def report(ledger):
    return build_report(ledger, *OCTOBER, now=AFTER)


def by(rows, attr):
    return {getattr(r, attr): r for r in rows}


# -- usage ------------------------------------------------------------------------------------------------
def test_usage_per_item_counts_what_moved_in_the_period(report):
    items = by(report.items, "sku")
    # gloves: T1 3 (01 Oct) + T2 2 (20 Oct) + T2 1 (31 Oct 23:59:59); not 30 Sep, not the empty vend, not 1 Nov
    assert (items["GLV"].issued, items["GLV"].net, items["GLV"].value_cents) == (6, 6, 6 * 45)
    assert (items["DRL"].issued, items["DRL"].value_cents) == (5, 5 * 420)
    assert (items["FIT"].issued, items["FIT"].returned, items["FIT"].net, items["FIT"].value_cents) == \
        (5, 2, 3, 3 * 1250)
    assert (items["GRS"].net, items["GRS"].value_cents, items["GRS"].ownership) == (2, 2 * 735, "customer")
    assert "TRQ" not in items and "SCR" not in items          # a tool loan is not consumption; screws never moved
    assert report.totals.net_units == 6 + 5 + 3 + 2
    assert report.totals.value_cents == 270 + 2100 + 3750 + 1470


def test_a_commissioning_test_turn_is_not_usage(tmp_path):
    with october(tmp_path) as ledger:
        at(ledger.clock, "2026-10-12T10:00:00")
        seq, _ = ledger.record_intent("issue", location="L1", quantity=1, user_id="R1",
                                      reason="commissioning: lane 1 test turn")
        ledger.record_outcome(seq, "vended", 1)                     # a glove dropped into the tray
        report = build_report(ledger, *OCTOBER, now=AFTER)
    assert by(report.items, "sku")["GLV"].issued == 6 and report.totals.billable_cents == 6120
    assert [(u.movement, u.billable, u.amount_cents) for u in report.usage if u.seq == seq + 1] == \
        [("commissioning", False, 0)]


def test_usage_by_cost_center_department_and_work_order(report):
    centers = by(report.by_cost_center, "key")
    # CC-410: gloves 3 x 0.45, drills 3 x 4.20, grease 2 x 7.35; CC-520: gloves 3, drills 2, fittings 5 - 2
    assert centers["CC-410"].value_cents == 3 * 45 + 3 * 420 + 2 * 735 == 2865
    assert centers["CC-520"].value_cents == 3 * 45 + 2 * 420 + 3 * 1250 == 4725
    assert (centers["CC-520"].issued, centers["CC-520"].returned) == (3 + 2 + 5, 2)
    departments = by(report.by_department, "key")
    assert departments["Maintenance"].value_cents == 2865 and departments["Production"].value_cents == 4725
    assert [(w.key, w.net, w.value_cents) for w in report.by_work_order] == [("WO-1", 3, 135)]
    users = by(report.users, "user_id")
    assert (users["T1"].issues, users["T1"].net, users["T1"].tool_loans) == (3 + 2 + 1 + 1, 3 + 2 + 1 + 2, 1)
    assert users["R1"].refills == 3


def test_billing_consignment_billed_customer_owned_not_returns_credited(report):
    lines = {(b.cost_center, b.sku): b for b in report.billing}
    assert set(lines) == {("CC-410", "GLV"), ("CC-410", "DRL"), ("CC-520", "GLV"), ("CC-520", "DRL"),
                          ("CC-520", "FIT")}                         # no grease (customer-owned), no wrench
    fit = lines[("CC-520", "FIT")]
    assert (fit.issued, fit.returned, fit.quantity, fit.unit_price_cents, fit.amount_cents) == (5, 2, 3, 1250, 3750)
    assert lines[("CC-410", "DRL")].amount_cents == 3 * 420
    owned = by(report.ownership, "ownership")
    assert (owned["consignment"].billed, owned["consignment"].amount_cents) == (True, 135 + 1260 + 135 + 840 + 3750)
    assert (owned["customer"].billed, owned["customer"].value_cents, owned["customer"].amount_cents) == \
        (False, 1470, 0)
    assert report.totals.billable_cents == 6120
    assert report.quality.zero_outcomes == 1                          # the vend that dropped nothing


# -- stock over time ---------------------------------------------------------------------------------------
def test_hours_out_of_stock_for_a_location_that_ran_out_and_was_refilled(report):
    stockouts = by(report.stockouts, "location")
    l2 = stockouts["L2"]
    assert (l2.stockouts, l2.out_hours, l2.out_now) == (1, 30.0, False)     # 02 Oct 08:00 to 03 Oct 14:00
    assert [(a.isoformat(), b.isoformat()) for a, b in l2.intervals] == \
        [("2026-10-02T08:00:00+00:00", "2026-10-03T14:00:00+00:00")]
    assert all(s.out_hours == 0 for loc, s in stockouts.items() if loc != "L2")
    assert "D1" not in stockouts                                     # the tool door is not a stock location
    assert report.totals.stockouts == 1 and report.totals.out_hours == 30.0
    assert [(a.location, a.raised.isoformat(), a.cleared.isoformat()) for a in report.low_stock_events] == \
        [("L2", "2026-10-02T08:00:00+00:00", "2026-10-03T14:00:00+00:00")]
    # the ledger also raised a stockout when the torque wrench went out on loan: not a stockout to report
    assert report.alert_counts == {"low_stock": 1, "stockout": 1}


def test_out_of_stock_is_clipped_to_the_period_and_to_now(ledger):
    inside = build_report(ledger, "2026-10-02T20:00:00", "2026-10-03T02:00:00", now=AFTER)
    l2 = by(inside.stockouts, "location")["L2"]
    assert (l2.stockouts, l2.out_hours) == (0, 6.0)                  # went out before the window began
    so_far = build_report(ledger, *OCTOBER, now="2026-10-02T18:00:00")
    l2 = by(so_far.stockouts, "location")["L2"]
    assert (l2.stockouts, l2.out_hours, l2.out_now) == (1, 10.0, True)


def test_refill_history_visits_lines_and_task_times(report):
    refills = report.refills
    assert [(v.start.isoformat(), v.user_id, v.lines, v.quantity) for v in refills.visits] == [
        ("2026-10-03T14:00:00+00:00", "R1", 1, 4), ("2026-10-17T09:00:00+00:00", "R1", 2, 7)]
    assert [(l.location, l.quantity) for l in refills.lines] == [("L2", 4), ("L1", 4), ("B1", 3)]
    assert refills.mean_interval_days == pytest.approx(13 + 19 / 24)
    assert [(t.location, t.hours) for t in refills.tasks] == [("L2", 30.0)]
    assert refills.median_task_hours == 30.0


# -- planning ----------------------------------------------------------------------------------------------
def test_slow_movers_no_movement_and_too_many_days_of_cover(report):
    slow = by(report.slow_movers, "location")
    assert set(slow) == {"S2", "B1"}
    assert (slow["S2"].on_hand, slow["S2"].value_cents) == (50, 50 * 8)
    assert slow["S2"].reason == "no movement in 31 days"
    # fittings: net 3 in 31 days in stock, 10 on the shelf: 10 / (3 / 31) = 103.3 days of cover (> 90)
    assert slow["B1"].days_of_cover == pytest.approx(10 / (3 / 31))
    assert slow["B1"].reason.startswith("103.3 days of cover")


def test_min_max_recommendation_with_its_reason(report):
    rec = by(report.recommendations, "location")["L2"]
    # drills: 5 taken in 31 - 30/24 days with stock; daily totals 2, 2, 1 and 28 zeros
    rate = 5 / (31 - 30 / 24)
    mean = 5 / 31
    sd = math.sqrt((2 * 2 + 2 * 2 + 1 * 1) / 31 - mean * mean)
    lead = 30 / 24                                                   # the one L2 task: 30 h
    interval = 13 + 19 / 24                                          # 03 Oct 14:00 to 17 Oct 09:00
    assert (rec.demand_per_day, rec.sd_per_day) == (pytest.approx(rate), pytest.approx(sd))
    assert (rec.lead_days, rec.interval_days) == (pytest.approx(lead), pytest.approx(interval))
    expected_min = math.ceil(rate * lead + 1.65 * sd * math.sqrt(lead))          # ceil(0.21 + 0.95) = 2
    expected_max = expected_min + math.ceil(rate * interval)                     # 2 + ceil(2.32) = 5
    assert (rec.current_min, rec.current_max, rec.min, rec.max) == (1, 4, expected_min, expected_max) == (1, 4, 2, 5)
    assert rec.reason.startswith("demand 0.17/day (sd 0.51), lead 1.25 d (median time from refill task to "
                                 "refilled here), refill interval 13.8 d: min = ceil(")
    assert "= 2 (now 1)" in rec.reason and "= 5 (now 4)" in rec.reason


def test_stockout_risk_over_the_refill_interval(report):
    risk = by(report.risks, "location")["L2"]
    rate, mean = 5 / (31 - 30 / 24), 5 / 31
    sd = math.sqrt(9 / 31 - mean * mean)
    interval = 13 + 19 / 24
    z = (3 - rate * interval) / (sd * math.sqrt(interval))           # 3 drills on hand at the end
    assert risk.on_hand == 3
    assert risk.probability == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert risk.level == "medium"                                     # about 36 %
    assert "S2" not in by(report.risks, "location")                    # no demand, not out: no risk


# -- periods -----------------------------------------------------------------------------------------------
def test_a_transaction_exactly_at_the_end_is_in_the_next_period(ledger):
    november = build_report(ledger, "2026-11-01", "2026-12-01", now="2026-12-01")
    assert [(u.sku, u.quantity, u.time.isoformat()) for u in november.usage] == [
        ("GLV", 1, "2026-11-01T00:00:00+00:00")]
    october_usage = build_report(ledger, *OCTOBER, now=AFTER).usage
    assert "2026-10-31T23:59:59+00:00" in [u.time.isoformat() for u in october_usage]
    assert "2026-11-01T00:00:00+00:00" not in [u.time.isoformat() for u in october_usage]


def test_an_empty_period_writes_an_empty_but_whole_report(ledger, tmp_path):
    report = build_report(ledger, "2027-01-01", "2027-02-01", now="2027-02-01")
    t = report.totals
    assert (t.transactions, t.net_units, t.value_cents, t.billable_cents, t.stockouts, t.out_hours) == \
        (0, 0, 0, 0, 0, 0)
    assert report.items == report.billing == report.usage == report.refills.visits == []
    paths = write_reports(report, tmp_path / "empty")
    assert "Nothing billable." in Path(paths["html"]).read_text()
    for name in COLUMNS:
        lines = Path(paths[name]).read_text().splitlines()
        if name == "stockouts":                  # every stock location, each with 0 hours out
            assert [line.split(",")[0] for line in lines[1:]] == ["B1", "L1", "L2", "S1", "S2"]
            assert {line.split(",")[-2:] == ["0.00", "no"] for line in lines[1:]} == {True}
        else:
            assert lines == [",".join(COLUMNS[name])], name


def test_bad_periods_are_refused(ledger):
    with pytest.raises(ValueError, match="before it starts"):
        build_report(ledger, "2026-11-01", "2026-10-01")


# -- the command -------------------------------------------------------------------------------------------
class _Parser(html.parser.HTMLParser):
    """Collects every URL-bearing attribute and checks the tags nest (a page that does not parse fails)."""
    VOID = {"meta", "br", "img", "link", "input", "hr", "rect", "line", "polyline", "polygon"}

    def __init__(self):
        super().__init__()
        self.stack, self.urls, self.svgs = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href", "xlink:href", "data")]
        self.svgs += tag == "svg"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, "</%s> closes <%s>" % (tag, self.stack[-1:] or None)
        self.stack.pop()


def test_cli_writes_the_html_and_the_csvs(tmp_path, capsys):
    with october(tmp_path):
        pass
    out_dir = tmp_path / "out"
    assert locker_agent_main(["--db", str(tmp_path / "ledger.db"), "report", "--month", "2026-10", "--out", str(out_dir),
                     "--now", AFTER]) == 0
    said = capsys.readouterr().out
    assert "16 units used, 61.20 EUR billable, 1 stockouts (30.0 h out), 2 refill visits" in said
    page = (out_dir / "report.html").read_text()
    parser = _Parser()
    parser.feed(page)
    parser.close()
    assert parser.stack == [] and parser.svgs >= 5
    assert parser.urls == [] and not re.search(r"https?://", page) and "@import" not in page
    assert "Monthly report, October 2026" in page and "CAB-7" in page and "@page" in page
    for name, columns in COLUMNS.items():
        with open(out_dir / (name + ".csv"), newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == list(columns), name
    with open(out_dir / "billing.csv", newline="", encoding="utf-8") as f:
        billing = list(csv.DictReader(f))
    assert sum(Decimal(r["amount"]) for r in billing) == Decimal("61.20")
    fit = [r for r in billing if r["part_number"] == "FIT"][0]
    assert (fit["cost_center"], fit["quantity"], fit["unit_price"], fit["amount"], fit["currency"]) == \
        ("CC-520", "3", "12.50", "37.50", "EUR")
    with open(out_dir / "usage.csv", newline="", encoding="utf-8") as f:
        usage = list(csv.DictReader(f))
    assert [r["movement"] for r in usage].count("tool_out") == 1
    assert {r["billable"] for r in usage if r["part_number"] in ("GRS", "TRQ")} == {"no"}
    with open(out_dir / "minmax_recommendations.csv", newline="", encoding="utf-8") as f:
        l2 = [r for r in csv.DictReader(f) if r["location"] == "L2"][0]
    assert (l2["current_min"], l2["current_max"], l2["recommended_min"], l2["recommended_max"]) == ("1", "4", "2", "5")


def test_cli_refuses_a_bad_period(tmp_path, capsys):
    with october(tmp_path):
        pass
    db = str(tmp_path / "ledger.db")
    assert locker_agent_main(["--db", db, "report", "--from", "2026-10-05", "--to", "2026-10-01"]) == 2
    assert "--to is before --from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        locker_agent_main(["--db", db, "report", "--month", "2026-13"])


# -- the page in a real browser ----------------------------------------------------------------------------
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "reports"
A4_TEXT_WIDTH = 703          # 210 mm less the 12 mm margins each side of @page, in CSS pixels


def _rendered(tmp_path):
    with october(tmp_path) as ledger:
        return write_reports(build_report(ledger, *OCTOBER, now=AFTER), tmp_path / "out")


def test_the_page_renders_offline_and_prints_on_a4(tmp_path):
    paths = _rendered(tmp_path)
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": A4_TEXT_WIDTH, "height": 1000})
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(Path(paths["html"]).as_uri())
        page.emulate_media(media="print")
        # nothing sticks out of the printed page (a table or chart cut off at the right edge)
        assert page.evaluate("document.documentElement.scrollWidth") <= A4_TEXT_WIDTH
        assert page.locator("svg.chart").count() >= 5
        pdf = page.pdf(format="A4", print_background=True)
    assert requested == [Path(paths["html"]).as_uri()]             # the page itself and nothing else
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3


def screenshots(out=SHOTS):
    """docs/reports/*.png: the hand-built October report on screen, the summary and the planning section."""
    import tempfile
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, browser() as chromium:
        paths = _rendered(Path(tmp))
        page = chromium.new_page(viewport={"width": 1100, "height": 1400})
        page.goto(Path(paths["html"]).as_uri())
        shots = {"report-summary.png": None, "report-availability.png": "section:nth-of-type(5)",
                 "report-planning.png": "section:nth-of-type(6)"}
        for name, selector in shots.items():
            if selector is None:
                page.screenshot(path=str(out / name), clip={"x": 0, "y": 0, "width": 1100, "height": 1400})
            else:                               # the section with the page's margin around it
                box = page.locator(selector).bounding_box()
                page.screenshot(path=str(out / name), full_page=True,
                                clip={"x": box["x"] - 24, "y": box["y"] - 12, "width": box["width"] + 48,
                                      "height": box["height"] + 24})
            yield out / name
        page.emulate_media(media="print")
        page.pdf(path=str(out / "report-october.pdf"), format="A4", print_background=True)
        yield out / "report-october.pdf"


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--screenshots"]:
        sys.exit("usage: python -m tests.test_reports --screenshots   (writes %s/)" % SHOTS)
    for shot in screenshots():
        print(shot)


def test_docs_list_every_csv_file_with_its_columns():
    text = (Path(__file__).resolve().parent.parent / "docs" / "reports.md").read_text()
    documented = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[0].endswith(".csv"):
            documented[cells[0][:-4]] = tuple(cells[2].split(", "))
    assert documented == COLUMNS
