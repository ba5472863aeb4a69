"""`locker-hub report`: one customer's monthly report across all its sites and cabinets (docs/hub/reports.md):
an HTML page with charts and a CSV file of billing by ownership, built by the agent's own report code."""
import argparse
import datetime
import sys

from edge_agent.reports import money, period
from edge_agent.reports.command import month_arg
from hub import customer_report, db

EPILOG = """A customer is the `customer` of sites (locker-hub site add --customer). Without --month: the last
whole calendar month before --now. Figures about time (hours out of stock) run to --now when it falls inside the
month. Example:
  locker-hub report --tenant acme --customer "Customer A" --month 2026-11 --html a.html --csv a.csv"""


def _time(text):
    try:
        return period.parse_time(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub):
    p = sub.add_parser("report", help="a customer's monthly report across its sites: HTML and billing CSV",
                       description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenant", required=True, help="the tenant (the supplier)")
    p.add_argument("--customer", required=True, help="the customer, as named on its sites")
    p.add_argument("--month", type=month_arg, metavar="YYYY-MM", help="the calendar month (UTC); default: the last "
                                                                   "whole month before --now")
    p.add_argument("--now", type=_time, metavar="TIME", help="judge the figures as of this time (default: now)")
    p.add_argument("--html", metavar="FILE", help="write the report page here (self-contained: charts inline)")
    p.add_argument("--csv", metavar="FILE", help="write the billing lines by ownership here")
    p.add_argument("--currency", default="EUR", metavar="CODE", help="currency of the unit costs (default EUR)")
    p.set_defaults(run=run)


def run(args, out, clock=None):
    now = args.now or period.instant((clock or _wall)())
    if args.month:
        start, end = args.month
    else:
        this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start, end = (this_month - datetime.timedelta(days=1)).replace(day=1), this_month
    if not args.html and not args.csv:
        sys.stderr.write("locker-hub: error: say where to write the report: --html FILE and/or --csv FILE\n")
        return 2
    with db.connect(args.dsn) as conn:
        try:
            c = customer_report.build(conn, args.tenant, args.customer, start, end, now, currency=args.currency)
        except customer_report.ScopeError as e:
            sys.stderr.write("locker-hub: %s\n" % e)
            return 2
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(customer_report.render(c))
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            f.write(customer_report.billing_csv(c))
    t = c.report.totals
    out("customer %s of %s, %s to %s: %d site(s), %d cabinet(s), %d units used, %s %s billable, %d stockouts "
        "(%.1f h out)" % (c.customer, c.tenant, period.iso(start), period.iso(end), len(c.sites), len(c.cabinets),
                          t.net_units, money.text(t.billable_cents), c.report.currency, t.stockouts, t.out_hours))
    for what, path in (("html", args.html), ("csv", args.csv)):
        if path:
            out("  %-5s %s" % (what, path))
    return 0


def _wall():
    import time
    return time.time()
