"""`locker-hub`: the supplier's hub (docs/hub.md). Each subcommand is a module of hub/commands/.

Exit status: 0 done, 1 failed while running (the database or broker went away), 2 bad usage or a refusal
before anything was done (unreadable arguments, the database unreachable at start, a changed migration; for
tenant/site/cabinet/broker: an unknown tenant or site, a bad id, a cabinet already at another tenant, a bad
certificate request, command key or CA, an unreadable file).
"""
import argparse
import importlib
import sys

from hub import db
from hub.certificates import CertificateError
from hub.migrate import MigrationError
from hub.registry import RegistryError

COMMANDS = ["hub.commands.migrate", "hub.commands.serve", "hub.commands.tenant", "hub.commands.site",
            "hub.commands.cabinet", "hub.commands.broker", "hub.commands.desired", "hub.commands.jobs",
            "hub.commands.web", "hub.commands.user", "hub.commands.route", "hub.commands.alert",
            "hub.commands.minmax", "hub.commands.report", "hub.commands.order"]
EXIT_USAGE = 2


def parser():
    ap = argparse.ArgumentParser(
        prog="locker-hub", description="The supplier's hub: every cabinet of every customer, in PostgreSQL.",
        epilog="The database: --db, else $%s, else libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE." % db.ENV_DSN)
    ap.add_argument("--db", metavar="DSN", default=None,
                    help="PostgreSQL connection string, e.g. 'host=db1 dbname=hub user=hub' or postgresql://...")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    args.dsn = db.dsn_from(args.db)

    def out(line):
        print(line, flush=True)
    try:
        return args.run(args, out)
    except (db.DatabaseUnavailable, MigrationError, RegistryError, CertificateError) as e:
        print("locker-hub: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
