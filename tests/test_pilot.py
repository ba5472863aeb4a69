"""`locker-sim pilot`: a short pilot end to end on the real agent flows, the real firmware on the simulated
cabinet and a real ledger file, checked against what the cabinet physically did; the demand model, the
stock figures and the baseline on their own with known answers."""
import csv
import filecmp
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.ledger import open_ledger
from edge_agent.reports.period import parse_time
from sim import cli
from sim.pilot.baseline import run_baseline
from sim.pilot.demand import DAY_MS, HOUR_MS, DemandModel, Take, weekday
from sim.pilot.faults import FaultPlan, next_supervisor_round
from sim.pilot.run import run_pilot
from sim.pilot.runner import START
from sim.pilot.site import DRIVER, build_site
from sim.pilot.stock import figures, ledger_timelines
from tests.ledgers import ledger_from_csv

ROOT = Path(__file__).resolve().parent.parent
DAYS, LOCATIONS = 6, 12        # Monday to Saturday: two driver visits, a small cabinet
JAM_RATE = 0.1                 # jams often enough to see the supervisor clear some in six days


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    def run(name, seed):
        return run_pilot(tmp_path_factory.mktemp(name), days=DAYS, seed=seed, locations=LOCATIONS,
                         jam_rate=JAM_RATE)
    return {"a": run("a", 3), "other": run("other", 4)}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The same pilot twice through the command line, each in a process of its own with its own hash seed:
    nothing may depend on dict/set order, the process or the directory."""
    out = []
    for name, hash_seed in (("cli1", "1"), ("cli2", "2")):
        folder = tmp_path_factory.mktemp(name)
        proc = subprocess.run([sys.executable, "-m", "sim.cli", "pilot", "--days", "3", "--locations", "10",
                               "--seed", "5", "--out", str(folder)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, PYTHONHASHSEED=hash_seed))
        assert proc.returncode == 0, proc.stderr
        out.append((folder, proc.stdout.splitlines()[:-1], proc.stderr))   # the last line names the folder
    return out


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_reports_and_both_arms_of_the_comparison_are_written(runs):
    out = runs["a"].out_dir
    assert (out / "report.html").stat().st_size > 1000
    for name in ("billing", "usage", "stockouts", "refills"):
        assert (out / (name + ".csv")).exists()
    site = {r["figure"]: r for r in rows(out / "comparison.csv") if r["scope"] == "site"}
    for figure in ("stockouts", "hours_out_of_stock", "emergency_orders", "stock_carried_avg_value"):
        assert site[figure]["pilot"] != "" and site[figure]["baseline"] != ""
    # Both arms served the same demand.
    assert site["takes"]["pilot"] == site["takes"]["baseline"] == str(runs["a"].pilot.demand.takes)
    assert int(site["takes"]["pilot"]) > 20
    page = (out / "comparison.html").read_text()
    assert "Baseline: fixed weekly visit" in page and page.count("<svg") >= 2
    assert "http" not in page                      # readable offline: nothing fetched from anywhere


def test_the_same_seed_gives_the_same_files_and_summary(cli_runs):
    (one, summary1, err1), (two, summary2, _) = cli_runs
    names = sorted(p.name for p in one.glob("*.csv")) + ["report.html", "comparison.html"]
    assert len(names) > 5
    match, mismatch, errors = filecmp.cmpfiles(one, two, names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)
    assert summary1 == summary2 and "stockouts" in "\n".join(summary1)
    assert "day 3/3" in err1                                      # the progress, on stderr


def test_another_seed_gives_another_pilot(runs):
    a, other = runs["a"], runs["other"]
    assert (a.out_dir / "comparison.csv").read_bytes() != (other.out_dir / "comparison.csv").read_bytes()
    assert a.summary != other.summary


def test_the_ledger_verifies_and_every_vend_is_what_the_cabinet_dropped(runs):
    run = runs["a"]
    with open_ledger(run.paths["ledger"], count_boot=False) as ledger:
        assert ledger.verify().ok
        given = dict(ledger.db.execute("SELECT location, sum(quantity) FROM transactions WHERE kind = 'outcome' "
                                       "AND action = 'issue' AND location LIKE 'L%' GROUP BY location").fetchall())
        assert ledger.pending_intents() == []
    dropped = run.pilot.dropped
    assert sum(dropped.values()) > 10
    assert {loc: given.get(loc, 0) for loc in dropped} == dropped


def test_the_drivers_refills_are_refill_transactions(runs):
    run = runs["a"]
    assert run.pilot.visits == 2 and run.pilot.refill_lines > 0
    with open_ledger(run.paths["ledger"], count_boot=False) as ledger:
        refills = ledger.db.execute("SELECT count(*), sum(quantity) FROM transactions WHERE kind = 'refill' "
                                    "AND user_id = ?", [DRIVER[0]]).fetchone()
    assert refills == (run.pilot.refill_lines, run.pilot.refill_units)


def test_on_hand_never_goes_negative_and_matches_what_is_physically_there(runs):
    run = runs["a"]
    with open_ledger(run.paths["ledger"], count_boot=False) as ledger:
        timelines, lowest = ledger_timelines(ledger, parse_time(START))
        assert lowest is not None and lowest >= 0
        assert ledger.db.execute("SELECT min(on_hand) FROM locations").fetchone()[0] >= 0
    assert run.pilot.physical_mismatches == []
    assert run.pilot.firmware_exceptions == 0


def test_jammed_lanes_are_cleared_by_the_supervisor_through_the_flow(runs):
    run = runs["a"]
    assert run.pilot.jams >= 1 and run.pilot.lanes_cleared >= 1
    with open_ledger(run.paths["ledger"], count_boot=False) as ledger:
        jammed = ledger.db.execute("SELECT count(*) FROM transactions WHERE kind = 'outcome' AND outcome = 'jammed'"
                                   ).fetchone()[0]
        cleared = ledger.db.execute("SELECT count(*) FROM transactions WHERE kind = 'outcome' AND "
                                    "action = 'clear_lane' AND outcome = 'cleared'").fetchone()[0]
    assert (jammed, cleared) == (run.pilot.jams, run.pilot.lanes_cleared)


def test_the_cli_explains_bad_input(capsys, tmp_path):
    assert cli.main(["pilot", "--days", "0", "--out", str(tmp_path)]) == 2
    assert "--days must be between 1" in capsys.readouterr().err
    assert cli.main(["pilot", "--locations", "3", "--out", str(tmp_path)]) == 2
    assert "--locations must be between" in capsys.readouterr().err
    assert cli.main(["pilot", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- the demand model ----------------------------------------------------------------------------------------
WEEKS = 26


@pytest.fixture(scope="module")
def half_year():
    site = build_site(5, 60)
    return site, DemandModel(site, 5, WEEKS * 7)


def test_demand_follows_the_working_week_over_many_weeks(half_year):
    site, model = half_year
    per_day = [0] * (WEEKS * 7)
    for take in model.takes():
        per_day[take.t_ms // DAY_MS] += 1
    burst = model.burst
    by_weekday = [statistics.mean(n for d, n in enumerate(per_day)
                                  if weekday(d) == wd and not burst[0] <= d <= burst[1]) for wd in range(7)]
    weekdays, weekend = by_weekday[:5], by_weekday[5:]
    assert min(weekdays) > 2.5 * max(weekend)       # Friday 0.85 against Saturday 0.25 (demand.py)
    assert statistics.mean(weekdays) > 4 * statistics.mean(weekend)
    assert by_weekday[0] > by_weekday[4]          # Monday busier than Friday
    burst_days = [per_day[d] for d in range(burst[0], burst[1] + 1)]
    assert statistics.mean(burst_days) > 1.8 * statistics.mean(weekdays)


def test_demand_is_mostly_on_the_day_shift_and_little_at_night(half_year):
    _, model = half_year
    hours = [(t.t_ms % DAY_MS) // HOUR_MS for t in model.takes()]
    night = sum(1 for h in hours if h < 6 or h >= 22) / len(hours)
    day = sum(1 for h in hours if 6 <= h < 14) / len(hours)
    assert night < 0.05 and day > 0.5


def test_critical_spares_are_rare_and_fast_movers_are_not(half_year):
    site, model = half_year
    takes = model.takes()
    per_location = {loc.id: 0 for loc in site.locations}
    for t in takes:
        per_location[t.location] += 1
    doors = [per_location[l.id] / (WEEKS * 7) for l in site.locations if l.kind == "door"]
    assert doors and max(doors) < 0.15              # a critical spare is taken every week or two at most
    assert max(per_location.values()) / (WEEKS * 7) > 1


def test_demand_is_seeded(half_year):
    site, model = half_year
    again = DemandModel(site, 5, WEEKS * 7).takes()
    assert model.takes() == again
    assert DemandModel(site, 6, WEEKS * 7).takes() != again


# -- figures and the baseline with known answers -------------------------------------------------------------
def test_stock_figures_count_stockouts_hours_out_and_value():
    # 10 on hand from 0 h, 0 at 2 h, 5 at 5 h, 0 at 8 h to the end at 10 h; 2.00 a unit.
    timeline = [(0, 10), (2 * HOUR_MS, 0), (5 * HOUR_MS, 5), (8 * HOUR_MS, 0)]
    f = figures(timeline, 200, 10 * HOUR_MS)
    assert f.stockouts == 2
    assert f.hours_out == pytest.approx(3 + 2)
    assert f.avg_value_cents == pytest.approx((10 * 2 + 5 * 3) * 200 / 10)


def test_the_baseline_tops_up_weekly_and_counts_emergency_orders():
    site = build_site(1, 12)
    door = next(l for l in site.locations if l.kind == "door")
    door.par = 2
    takes = [Take(1 * DAY_MS, "T100", door.id, 1, "WO-1"), Take(2 * DAY_MS, "T100", door.id, 1, "WO-2"),
             Take(3 * DAY_MS, "T100", door.id, 1, "WO-3"), Take(8 * DAY_MS, "T100", door.id, 1, "WO-4")]
    result = run_baseline(site, takes, 14)
    assert result.visits == 2                      # Mondays, day 0 and day 7
    assert result.demand.emergency_orders == 1     # the third take found the locker empty
    assert result.timelines[door.id] == [(0, 2), (DAY_MS, 1), (2 * DAY_MS, 0), (7 * DAY_MS + 8 * HOUR_MS, 2),
                                         (8 * DAY_MS, 1)]


def test_faults_are_seeded_and_supervisors_walk_the_floor_by_day():
    plan = FaultPlan(9, 60)
    assert plan.outages == FaultPlan(9, 60).outages and plan.outages
    assert all(a < b <= 60 * DAY_MS for a, b in plan.outages)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(plan.outages, plan.outages[1:]))
    assert next_supervisor_round(0) == 7 * HOUR_MS                       # Monday 00:00 -> 07:00
    assert next_supervisor_round(5 * DAY_MS + 10 * HOUR_MS) == 6 * DAY_MS + 9 * HOUR_MS   # Saturday after 9


def test_a_ledger_that_is_not_a_pilots_is_never_replaced(capsys, tmp_path):
    ledger = ledger_from_csv(tmp_path, skus="part_number,description\nGLV,Gloves\n")
    ledger.close()
    before = (tmp_path / "ledger.db").read_bytes()
    assert cli.main(["pilot", "--days", "1", "--locations", "8", "--out", str(tmp_path), "--quiet"]) == 2
    assert "is not a pilot's ledger" in capsys.readouterr().err
    assert (tmp_path / "ledger.db").read_bytes() == before
