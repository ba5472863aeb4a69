"""`locker-agent report`: the argument parsing and the handler, kept here so cli.py only names the command.

    locker-agent report --db LEDGER [--month 2026-10 | --from 2026-10-01 --to 2026-10-31] [--out DIR]
                        [--now 2026-11-01T06:00] [--currency EUR]
"""
import argparse
import datetime
import sys

from edge_agent.reports import period

SUMMARY = ("write a cabinet's report for a month or any period: report.html (charts, printable) and CSV files "
           "for billing and ERP import (docs/reports.md)")
EPILOG = """Without --month or --from/--to: the last whole calendar month before --now.
--to with a date includes that whole day; with a time it is the exclusive end. Times are UTC unless they
carry an offset. A transaction stamped exactly at the end belongs to the next period."""


def month_arg(text):
    """argparse type of --month (YYYY-MM), for the agent's and the hub's report commands."""
    try:
        return period.month(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _time(text):
    try:
        return period.parse_time(text), "T" not in text and " " not in text.strip()
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(p):
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    which = p.add_mutually_exclusive_group()
    which.add_argument("--month", type=month_arg, metavar="YYYY-MM", help="a calendar month (UTC)")
    which.add_argument("--from", dest="from_", type=_time, metavar="DATE", help="the period's first day or time")
    p.add_argument("--to", type=_time, metavar="DATE", help="with --from: the last day (included) or end time")
    p.add_argument("--out", metavar="DIR", help="where to write report.html and the CSV files "
                                                "(default: report-<period> in the current directory)")
    p.add_argument("--now", type=_time, metavar="TIME", help="judge the figures as of this time (default: the "
                                                            "clock now); open stockouts are counted up to here")
    p.add_argument("--currency", default="EUR", metavar="CODE", help="currency of the ledger's unit costs "
                                                                    "(default EUR), written on every amount")
    return p


def period_of(args, now):
    """(start, end, default out dir name) from --month / --from --to, else the last whole month."""
    if args.month:
        start, end = args.month
        return start, end, "report-%s" % start.strftime("%Y-%m")
    if args.from_:
        if not args.to:
            raise ValueError("--from needs --to")
        start = args.from_[0]
        end, is_date = args.to
        if is_date:
            end += datetime.timedelta(days=1)        # the whole last day
        if end <= start:
            raise ValueError("--to is before --from")
        return start, end, "report-%s_%s" % (start.strftime("%Y-%m-%d"),
                                              (end - datetime.timedelta(seconds=1)).strftime("%Y-%m-%d"))
    if args.to:
        raise ValueError("--to needs --from")
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (this_month - datetime.timedelta(days=1)).replace(day=1)
    return start, this_month, "report-%s" % start.strftime("%Y-%m")


def run(ledger, args, out):
    """The handler: build, write, print where. Exit 0, or 2 for a bad period."""
    from edge_agent.reports import build_report, write_reports
    now = args.now[0] if args.now else period.parse_time(ledger.clock.wall()[0])
    try:
        start, end, default_dir = period_of(args, now)
    except ValueError as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        return 2
    report = build_report(ledger, start, end, now=now, currency=args.currency)
    paths = write_reports(report, args.out or default_dir)
    t = report.totals
    out("cabinet %s, %s to %s: %d units used, %s %s billable, %d stockouts (%.1f h out), %d refill visits"
        % (report.cabinet_id or "?", period.iso(start), period.iso(end), t.net_units,
           _decimal(t.billable_cents), report.currency, t.stockouts, t.out_hours, t.refill_visits))
    for name, path in paths.items():
        out("  %-24s %s" % (name, path))
    return 0


def _decimal(cents):
    from edge_agent.reports import money
    return money.text(cents)
