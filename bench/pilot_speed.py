"""Simulated days per second of the pilot simulation (`locker-sim pilot`) for a 60-location cabinet, and its
peak memory. One whole pilot in this process: the agent's real flows on a real ledger file (WAL, the
pilot's connection at synchronous=OFF: docs/decisions/0049), the real firmware on the simulated cabinet
(event-driven virtual time on a 5 ms pass grid; --fixed-steps: a pass every 5 ms, the same run), the demand,
driver, jams and outages, then the reports and the comparison, timed apart.

Figures: simulated days per wall second and per CPU second (the pilot arm alone, and the whole run), takes
and ledger rows per second, the virtual time the cabinet worked and the firmware passes run for it, peak RSS
(ru_maxrss of this process). --split also says where the pilot arm's time went: the real firmware's passes,
the rest of the simulated cabinet's passes (physics, line, the agent's link core), and everything else (the
agent's real flows on the real ledger, the people, the driver, the sync); and so the most the run could do
if the simulation cost nothing. The last line is JSON.
Usage: .venv/bin/python bench/pilot_speed.py [--days N] [--locations N] [--seed N] [--dir DIR] [--fixed-steps]
       [--split]"""
import argparse
import json
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.reports import build_report, write_reports  # noqa: E402
from firmware.cabinet import Cabinet  # noqa: E402
from sim.pilot.baseline import run_baseline  # noqa: E402
from sim.pilot.demand import DemandModel  # noqa: E402
from sim.pilot.faults import FaultPlan  # noqa: E402
from sim.pilot.plan import PilotPlan  # noqa: E402
from sim.pilot.run import STEP_MS, period  # noqa: E402
from sim.pilot.runner import Pilot  # noqa: E402
from sim.pilot.site import build_site  # noqa: E402
from sim.virtual_host import VirtualHost  # noqa: E402


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # Linux: KiB


@contextmanager
def timed_split():
    """Wall seconds inside the firmware's passes (Cabinet.step) and inside the simulated cabinet's passes as a
    whole (VirtualHost's public entry points, outermost call only), by wrapping them for the block. A wrapper costs
    about a microsecond a call, so the headline figure is measured without them."""
    spent = {"firmware": 0.0, "cabinet": 0.0}
    clock = time.perf_counter
    depth = [0]
    entries = ("run", "wait_for", "tick")     # every way into VirtualHost's passes (call, hello and actuate run)
    wrapped = [(Cabinet, "step")] + [(VirtualHost, name) for name in entries]
    saved = [getattr(cls, name) for cls, name in wrapped]

    def firmware_step(self, now, _step=Cabinet.step):
        t = clock()
        try:
            return _step(self, now)
        finally:
            spent["firmware"] += clock() - t

    def outermost(fn):
        def wrapper(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] = 1
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["cabinet"] += clock() - t
                depth[0] = 0
        return wrapper

    Cabinet.step = firmware_step
    for name in entries:
        setattr(VirtualHost, name, outermost(getattr(VirtualHost, name)))
    try:
        yield spent
    finally:
        for (cls, name), fn in zip(wrapped, saved):
            setattr(cls, name, fn)


def split_figures(days, run_s, spent):
    """The pilot arm's wall time in three parts, and the floor: days per second with a free simulation."""
    firmware, cabinet = spent["firmware"], spent["cabinet"]
    rest = run_s - cabinet
    real = rest + firmware
    return {"firmware_step_s": round(firmware, 3), "simulation_s": round(cabinet - firmware, 3),
            "agent_and_pilot_s": round(rest, 3),
            "sim_days_per_s_if_simulation_free": round(days / real, 2) if real > 0 else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=14, help="days of virtual time (default 14)")
    ap.add_argument("--locations", type=int, default=60, help="locations in the cabinet (default 60)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="where the ledger goes (default: a temp dir)")
    ap.add_argument("--fixed-steps", action="store_true", help="a firmware pass every 5 virtual ms (as before "
                    "event-driven time: docs/decisions/0049)")
    ap.add_argument("--split", action="store_true", help="also time the real firmware's passes, the rest of the "
                    "simulation and the agent apart (slows the run by a few per cent)")
    args = ap.parse_args()
    if args.days < 1 or args.locations < 1:
        ap.error("--days and --locations must be at least 1")
    rss_start = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="pilot_speed.", dir=args.dir) as tmp:
        w0, c0 = time.perf_counter(), time.process_time()
        site = build_site(args.seed, args.locations)
        takes = DemandModel(site, args.seed, args.days).takes()
        pilot = Pilot(site, args.seed, args.days, tmp, takes=takes, faults=FaultPlan(args.seed, args.days),
                      step_ms=STEP_MS, events=not args.fixed_steps)
        w1, c1 = time.perf_counter(), time.process_time()
        if args.split:
            with timed_split() as spent:
                result = pilot.run()
        else:
            result = pilot.run()
        w2, c2 = time.perf_counter(), time.process_time()
        start, end = period(args.days)
        write_reports(build_report(pilot.ledger, start, end, now=end), tmp)
        rows = pilot.ledger.db.execute("SELECT count(*) FROM transactions").fetchone()[0]
        pilot.close()
        plan = PilotPlan()
        for schedule in (plan.pilot, plan.baseline):      # the equal-visits and the weekly baseline
            run_baseline(site, takes, args.days, schedule)
        w3, c3 = time.perf_counter(), time.process_time()
    counts = site.counts
    out = {
        "bench": "pilot_speed", "days": args.days, "locations": len(site.locations), "cabinet": counts,
        "takes": len(takes), "ledger_rows": rows, "vends": sum(result.dropped.values()),
        "virtual_cabinet_s": round(result.virtual_cabinet_s, 1), "step_ms": STEP_MS,
        "time": "fixed steps" if args.fixed_steps else "event-driven", "firmware_passes": pilot.station.host.passes,
        "setup_s": round(w1 - w0, 3), "run_wall_s": round(w2 - w1, 3), "run_cpu_s": round(c2 - c1, 3),
        "reports_and_baseline_s": round(w3 - w2, 3), "total_wall_s": round(w3 - w0, 3),
        "sim_days_per_s": round(args.days / (w2 - w1), 3),
        "sim_days_per_cpu_s": round(args.days / max(1e-9, c2 - c1), 3),
        "sim_days_per_s_total": round(args.days / (w3 - w0), 3),
        "takes_per_s": round(len(takes) / (w2 - w1), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "rss_at_start_mb": round(rss_start, 1),
        "jams": result.jams, "hangs": result.hangs, "outages": result.sync.outages,
        "mcu_resets": result.mcu_resets, "shrinkage_events": len(result.shrinkage),
    }
    if args.split:
        out.update(split_figures(args.days, w2 - w1, spent))
    print("%(locations)d locations, %(days)d days: %(takes)d takes, %(vends)d vends, %(ledger_rows)d ledger rows; "
          "%(time)s: %(firmware_passes)d firmware passes in %(virtual_cabinet_s).0f s of the cabinet's work" % out)
    print("pilot arm %(run_wall_s).1f s wall, %(run_cpu_s).1f s CPU = %(sim_days_per_s).2f simulated days/s "
          "(%(sim_days_per_cpu_s).2f per CPU second); reports + baseline %(reports_and_baseline_s).1f s" % out)
    print("whole run %(total_wall_s).1f s = %(sim_days_per_s_total).2f days/s; peak RSS %(peak_rss_mb).1f MB "
          "(%(rss_at_start_mb).1f MB after imports)" % out)
    if args.split:
        print("where the pilot arm went: the real firmware's passes %(firmware_step_s).2f s, the rest of the "
              "simulated cabinet %(simulation_s).2f s, the agent's flows on the ledger and the pilot "
              "%(agent_and_pilot_s).2f s; with a free simulation at most %(sim_days_per_s_if_simulation_free).2f "
              "simulated days/s" % out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
