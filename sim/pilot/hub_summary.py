"""The summary of a supplier's pilot on the hub, as the supplier would read it: the set-up, what the cabinets
did, then one part per capability (van loads, orders, alert e-mails, min/max, the customers' reports), each
"not available" when the hub has no such capability. Written to summary.txt and summary.json in the output
folder; no wall clock and no paths in either, so the same seed gives the same files."""
import json

from sim.pilot import supplier as supplier_setup
from sim.pilot.runner import START


def lines_of(result):
    cabinets = result.cabinets
    takes = sum(c["takes"] for c in cabinets)
    asked = sum(c["units_asked"] for c in cabinets)
    given = sum(c["units_given"] for c in cabinets)
    lines = ["pilot on the hub: %d days from %s, %d cabinets, %d steps of virtual time"
             % (result.days, START[:10], len(cabinets), result.steps)]
    lines += supplier_setup.describe(result.supplier)
    lines.append("cabinets: %d takes, %d of %d units served (fill rate %.1f %%), %d scheduled visits, %d emergency "
                 "visits, %d refill lines (%d units), %d jams" % (
                     takes, given, asked, 100.0 * given / asked if asked else 100.0,
                     sum(c["visits"] for c in cabinets), sum(c["emergency_visits"] for c in cabinets),
                     sum(c["refill_lines"] for c in cabinets), sum(c["refill_units"] for c in cabinets),
                     sum(c["jams"] for c in cabinets)))
    lines.append("hub: %d rows and events stored, %d rejected; jobs: %s" % (
        result.hub["stored"], result.hub["rejected"],
        ", ".join("%s %d" % kv for kv in sorted(result.jobs.items())) or "none on this hub (hub/jobs.py)"))
    for name, failed in sorted(result.job_failures.items()):
        lines.append("job %s failed %d times, first at %s" % (name, len(failed), failed[0]))
    for section in result.sections:
        lines.append("%s:" % section.name)
        lines += ["  " + line for line in section.lines]
        if section.files:
            lines.append("  files: %s" % ", ".join(section.files))
    return lines


def write(result):
    lines = lines_of(result)
    (result.out_dir / "summary.txt").write_text("\n".join(lines) + "\n")
    data = {"days": result.days, "steps": result.steps, "cabinets": result.cabinets, "jobs": result.jobs,
            "job_failures": result.job_failures,
            "hub": {k: v for k, v in result.hub.items() if k in ("stored", "rejected")},
            "sections": {s.name: {"available": s.available, "figures": s.figures, "files": s.files}
                         for s in result.sections}}
    (result.out_dir / "summary.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    return lines
