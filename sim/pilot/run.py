"""One whole pilot: the site, the demand, the pilot arm on the ledger, the two baselines on the same demand
(the pilot's schedule, and the weekly one), the reports (edge_agent.reports), the comparison and the
accuracy figures, all into one directory."""
import datetime
from dataclasses import dataclass
from pathlib import Path

from sim.pilot import comparison
from sim.pilot.baseline import run_baseline
from sim.pilot.demand import DemandModel
from sim.pilot.faults import FaultPlan
from sim.pilot.plan import PilotPlan
from sim.pilot.runner import START, Pilot
from sim.pilot.site import build_site
from sim.pilot.station import STEP_MS

MAX_DAYS = 366


@dataclass
class PilotRun:
    out_dir: Path
    pilot: object             # runner.PilotResult
    baseline: object          # baseline.BaselineResult: the weekly one
    equal_visits: object      # baseline.BaselineResult on the pilot's schedule
    pilot_arm: comparison.Arm
    equal_arm: comparison.Arm
    baseline_arm: comparison.Arm
    paths: dict
    summary: list             # the lines printed at the end; no wall clock, no paths
    hub: object = None        # hub_pilot.HubPilotResult with --hub


def period(days):
    start = datetime.datetime.fromisoformat(START)
    return start, start + datetime.timedelta(days=days)


def run_pilot(out_dir, *, days=60, seed=1, locations=60, raw_config=None, progress=None, step_ms=STEP_MS,
              jam_rate=None, plan=None, faults=None, hub=None, hub_step_minutes=60, events=True):
    """plan: plan.PilotPlan (schedules and costs; the defaults without). faults: a FaultPlan instead of the
    seed's (tests inject known faults). hub: None, or the DSN of a pilot's hub database ("": a throw-away
    one): the pilot arm also runs on the hub (hub_pilot.py), its outputs in out_dir/hub. events=False: the
    cabinet runs a firmware pass every step_ms instead of event-driven time (the same outcome, slower)."""
    plan = plan or PilotPlan()
    if not 1 <= days <= MAX_DAYS:
        raise ValueError("--days must be between 1 and %d, got %d" % (MAX_DAYS, days))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError("--out %s exists and is not a directory" % out_dir)
    site = build_site(seed, locations, raw_config, plan.pilot.longest_gap_days())
    takes = DemandModel(site, seed, days).takes()
    if faults is None:
        faults = FaultPlan(seed, days) if jam_rate is None else FaultPlan(seed, days, jam_rate=jam_rate)
    side = on_hub = None
    if hub is not None:
        on_hub = HubArm(out_dir, seed, days, locations, plan, hub, hub_step_minutes, site)
    try:
        pilot = Pilot(site, seed, days, out_dir, takes=takes, faults=faults, step_ms=step_ms, progress=progress,
                      plan=plan, live_cloud=on_hub is not None, pace=on_hub and on_hub.pace, events=events)
    except BaseException:
        if on_hub is not None:
            on_hub.close()
        raise
    try:
        if on_hub is not None:
            on_hub.start(pilot)
        result = pilot.run()
        if on_hub is not None:
            side = on_hub.finish(result)
        start, end = period(days)
        from edge_agent.reports import build_report, write_reports
        paths = dict(write_reports(build_report(pilot.ledger, start, end, now=end), str(out_dir)))
    finally:
        if on_hub is not None:
            on_hub.close()
        pilot.close()
    equal = run_baseline(site, takes, days, plan.pilot)
    baseline = run_baseline(site, takes, days, plan.baseline)
    arms = comparison.arms(site, result, (equal, baseline), days, plan.costs)
    paths["comparison_csv"] = comparison.write_csv(site, arms, out_dir / "comparison.csv")
    paths["accuracy_csv"] = comparison.write_accuracy_csv(site, result.accuracy, out_dir / "accuracy.csv")
    paths["comparison_html"] = comparison.write_html(site, {"seed": seed, "plan": plan, "pilot": result}, arms,
                                                     result.accuracy, out_dir / "comparison.html")
    paths["ledger"] = result.ledger_path
    summary = ["pilot: %d days, seed %d, %d locations, %d takes; visits: pilot and same-visits baseline %s "
               "(%d each), weekly baseline %s (%d)" % (days, seed, len(site.locations), len(takes), plan.pilot,
                                                      equal.visits, plan.baseline, baseline.visits)]
    summary += comparison.summary_lines(arms, result, result.accuracy)
    if side is not None:
        summary += ["on the hub (%s/hub/summary.txt):" % out_dir.name] + ["  " + line for line in side.summary]
    return PilotRun(out_dir, result, baseline, equal, arms[0], arms[1], arms[2], paths, summary, side)


class HubArm:
    """The pilot arm on the hub, in this process: the supplier's set-up for one cabinet (supplier.py
    single_cabinet, on the pilot's schedule), the hub's side (hub_pilot.HubSide), the agent's CloudSync on
    the pilot's ledger, and the lock-step gate as the pilot's pace."""

    def __init__(self, out_dir, seed, days, locations, plan, dsn, step_minutes, site):
        from sim.pilot import hub_pilot, supplier
        hub_pilot.check_options(days, step_minutes, locations)
        self.supplier = supplier.single_cabinet(seed, plan.pilot)
        self.cabinet = self.supplier.cabinets[0]
        self.side = hub_pilot.HubSide(Path(out_dir) / "hub", self.supplier, days, locations, dsn, step_minutes,
                                      sites={self.cabinet.id: site}).open()
        self.gate = self.sync = None

    def pace(self, t_ms):
        self.gate.pace(t_ms)

    def start(self, pilot):
        from sim.pilot.fleet import cabinet_key
        from sim.pilot.lockstep import Gate, start_sync
        key_file = Path(pilot.out_dir) / "cabinet.key"
        key_file.write_text(cabinet_key(self.cabinet.id).hex())
        self.sync = start_sync(pilot, self.cabinet.id, self.supplier.tenant, self.cabinet.site,
                               self.side.broker.port, key_file)
        self.gate = Gate(pilot.ledger, self.sync, self.side.advance_for(self.cabinet.id))

    def finish(self, result):
        from sim.pilot.lockstep import result_of
        self.gate.drain()
        return self.side.finish([result_of(self.cabinet.id, result)], self.side.heads)

    def close(self):
        if self.sync is not None:
            self.sync.stop()
        self.side.close()
