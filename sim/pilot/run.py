"""One whole pilot: the site, the demand, the pilot arm on the ledger, the baseline on the same demand, the
reports (edge_agent.reports) and the comparison, all into one directory."""
import datetime
from dataclasses import dataclass
from pathlib import Path

from sim.pilot import comparison
from sim.pilot.baseline import run_baseline
from sim.pilot.demand import DemandModel
from sim.pilot.faults import FaultPlan
from sim.pilot.runner import START, Pilot
from sim.pilot.site import build_site
from sim.pilot.station import STEP_MS

MAX_DAYS = 366


@dataclass
class PilotRun:
    out_dir: Path
    pilot: object             # runner.PilotResult
    baseline: object          # baseline.BaselineResult
    pilot_arm: comparison.Arm
    baseline_arm: comparison.Arm
    paths: dict
    summary: list             # the lines printed at the end; no wall clock, no paths


def period(days):
    start = datetime.datetime.fromisoformat(START)
    return start, start + datetime.timedelta(days=days)


def run_pilot(out_dir, *, days=60, seed=1, locations=60, raw_config=None, progress=None, step_ms=STEP_MS,
              jam_rate=None):
    if not 1 <= days <= MAX_DAYS:
        raise ValueError("--days must be between 1 and %d, got %d" % (MAX_DAYS, days))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError("--out %s exists and is not a directory" % out_dir)
    site = build_site(seed, locations, raw_config)
    takes = DemandModel(site, seed, days).takes()
    faults = FaultPlan(seed, days) if jam_rate is None else FaultPlan(seed, days, jam_rate=jam_rate)
    pilot = Pilot(site, seed, days, out_dir, takes=takes, faults=faults, step_ms=step_ms, progress=progress)
    try:
        result = pilot.run()
        start, end = period(days)
        from edge_agent.reports import build_report, write_reports
        paths = dict(write_reports(build_report(pilot.ledger, start, end, now=end), str(out_dir)))
    finally:
        pilot.close()
    baseline = run_baseline(site, takes, days)
    pilot_arm, base_arm = comparison.arms(site, result, baseline, days)
    paths["comparison_csv"] = comparison.write_csv(site, pilot_arm, base_arm, out_dir / "comparison.csv")
    paths["comparison_html"] = comparison.write_html(site, {"seed": seed}, pilot_arm, base_arm,
                                                     out_dir / "comparison.html")
    paths["ledger"] = result.ledger_path
    summary = ["pilot: %d days, seed %d, %d locations, %d takes" % (days, seed, len(site.locations), len(takes))]
    summary += comparison.summary_lines(pilot_arm, base_arm, result)
    return PilotRun(out_dir, result, baseline, pilot_arm, base_arm, paths, summary)
