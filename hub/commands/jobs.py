"""`locker-hub jobs`: run the hub's scheduled work (hub/jobs.py) on the wall clock, once or every few seconds.
Run it beside the workers, on one machine or several: the jobs claim their work, so two never do it twice."""
import datetime
import signal
import threading

from hub import db, jobs, migrate


def add_parser(sub):
    p = sub.add_parser("jobs", help="run the scheduled work: alert mail and escalation, orders, deliveries",
                       description=__doc__)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="run every job once and exit (1 if one failed)")
    when.add_argument("--every", type=positive_seconds, default=30.0, metavar="SECONDS",
                      help="run them all this often until stopped (default 30)")
    p.add_argument("--quiet", action="store_true", help="print only failures")
    p.set_defaults(run=run)


def positive_seconds(text):
    import argparse
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError("%r: give a number of seconds above 0" % text)
    return value


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def run(args, out):
    stop = threading.Event()
    with db.connect(args.dsn, autocommit=True) as conn:   # each job makes its own transactions
        todo = migrate.pending(conn)
        if todo:
            out("the database is not migrated (%d pending): run locker-hub migrate first" % len(todo))
            return 2
        if not args.once:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        while True:
            done = jobs.run_all(conn, _utc_now())
            failed = [name for name, n in done.items() if isinstance(n, str)]
            for name, n in done.items():
                if isinstance(n, str) or (not args.quiet and n):
                    out("%s: %s" % (name, n))
            if args.once:
                return 1 if failed else 0
            if stop.wait(args.every):
                return 0
