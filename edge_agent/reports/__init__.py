"""Monthly (or any period's) reports of one cabinet, from its ledger: `locker-agent report`.

    from edge_agent.reports import build_report, write_reports
    report = build_report(ledger, start, end, now=None)   # a Ledger or a ledger path; times are epoch
                                                           # seconds, datetimes (naive = UTC) or ISO text
    paths = write_reports(report, out_dir)                 # {"html": .../report.html, "billing": ...csv, ...}

`ledger` may also be a report source (source.py): the hub builds its customer reports with this same code
from its copy of the cabinets (hub/history.py, decision 0047).
`report` is a plain dataclass (model.Report): money in integer cents, times as aware UTC datetimes.
`charts` has the small inline-SVG chart functions the HTML uses, for other pages to reuse.
What counts as what: docs/reports.md and docs/decisions/0012-report-figures.md."""
import os

from edge_agent.reports.build import DEFAULT_CURRENCY, build_report
from edge_agent.reports.csv_out import COLUMNS, write_csv
from edge_agent.reports.model import Parameters, Report

HTML_NAME = "report.html"


def write_reports(report, out_dir):
    """Write report.html and every CSV file (csv_out.COLUMNS) into out_dir (created if needed).
    Returns {name: path}: "html" and one entry per CSV name ("billing", "usage", ...)."""
    from edge_agent.reports.html_page import render_html     # the page pulls in more code than the CSVs
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    html_path = os.path.join(out_dir, HTML_NAME)
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(render_html(report))
    paths["html"] = html_path
    for name in COLUMNS:
        paths[name] = write_csv(report, name, os.path.join(out_dir, name + ".csv"))
    return paths


__all__ = ["build_report", "write_reports", "Report", "Parameters", "COLUMNS", "DEFAULT_CURRENCY", "HTML_NAME"]
