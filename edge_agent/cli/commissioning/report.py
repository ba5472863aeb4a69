"""The commissioning report: one JSON document, kept in the ledger's `commissioning_reports` (a trigger puts
it in the cloud outbox), as a JSON file and as a readable Markdown file beside it (docs/commissioning.md)."""
import dataclasses
import datetime
import json
from pathlib import Path

from edge_agent.cli.commissioning.checks import PASSED, grams


def build_report(cabinet_id, hello, installer, parts, weight_mg, tolerance_mg, started, finished, checks):
    return {
        "cabinet": cabinet_id, "started": started, "finished": finished,
        "firmware": hello.firmware if hello else None, "firmware_boot": hello.boot_id if hello else None,
        "installer": installer, "parts": list(parts),
        "reference_weight_mg": weight_mg, "tolerance_mg": tolerance_mg,
        "passed": bool(checks) and all(c.status == PASSED for c in checks),
        "checks": [dataclasses.asdict(c) for c in checks],
    }


def record_report(ledger, report):
    """The report in the ledger; the schema_v4 trigger puts its event in the cloud outbox. Returns its id."""
    wall, synced = ledger.clock.wall()
    with ledger.transaction():
        return ledger.db.execute(
            "INSERT INTO commissioning_reports (wall, clock_synced, cabinet_id, installer, firmware, passed, report) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [wall, int(bool(synced)), report["cabinet"], report["installer"],
                                             report["firmware"], int(report["passed"]),
                                             json.dumps(report, sort_keys=True)]).lastrowid


def markdown(report):
    failed = [c for c in report["checks"] if c["status"] != PASSED]
    lines = ["# Commissioning report: cabinet %s" % report["cabinet"], "",
             "- result: **%s**%s" % ("PASSED" if report["passed"] else "FAILED",
                                     " (%d of %d checks failed)" % (len(failed), len(report["checks"])) if failed else
                                     " (%d checks)" % len(report["checks"])),
             "- started %s, finished %s" % (report["started"], report["finished"]),
             "- firmware %s (boot %s); installer %s; checked: %s" % (report["firmware"], report["firmware_boot"],
                                                                   report["installer"], ", ".join(report["parts"])),
             "- reference weight %s, tolerance %s" % (grams(report["reference_weight_mg"]),
                                                      grams(report["tolerance_mg"])),
             "", "| unit | location | result | counts/g | what was seen |", "|---|---|---|---|---|"]
    for c in report["checks"]:
        lines.append("| %s %d | %s | %s | %s | %s |" % (c["unit"], c["number"], c["location"] or "-", c["status"],
                                                      "" if c["counts_per_g"] is None else c["counts_per_g"],
                                                      c["message"].replace("|", "/")))
    return "\n".join(lines) + "\n"


def write_files(report, path):
    """The JSON report at path and the Markdown beside it (same name, .md). Returns both paths."""
    path = Path(path)
    if path.suffix == ".md":
        path = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    md = path.with_suffix(".md")
    path.write_text(json.dumps(report, indent=2) + "\n")
    md.write_text(markdown(report))
    return path, md


def default_report_path(config, started):
    stamp = datetime.datetime.fromisoformat(started).astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(config.ledger).parent / "commissioning" / ("%s-%s.json" % (config.cabinet_id, stamp))
