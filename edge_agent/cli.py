"""locker-agent: the edge agent's command line. So far the ledger administration that an installer or a
supplier admin runs at the cabinet or on a copy of its database: check the chain, import the catalog,
layout and people from CSV, export transactions. (`locker-agent run`, the agent itself, is still to come.)

Exit status: 0 done, 1 the ledger failed verification, 2 bad input (the message names file, row and field;
nothing was changed)."""
import argparse
import os
import sys

from edge_agent.ledger import LedgerError, open_ledger
from edge_agent.ledger.csv_io import export_transactions, import_locations, import_skus, import_users

EXIT_TAMPERED = 1
EXIT_USAGE = 2

IMPORTERS = {"users": import_users, "skus": import_skus, "locations": import_locations}


def _verify(ledger, args, out):
    result = ledger.verify()
    out(str(result))
    return 0 if result.ok else EXIT_TAMPERED


def _import(ledger, args, out):
    count = IMPORTERS[args.what](ledger, args.file)
    out("imported %d %s from %s" % (count, args.what, args.file))
    return 0


def _export(ledger, args, out):
    count = export_transactions(ledger, args.file, since_seq=args.since)
    out("exported %d transactions to %s" % (count, args.file))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="locker-agent", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n")[1])
    parser.add_argument("--db", required=True, metavar="FILE",
                        help="the ledger database (on a Pi: /var/lib/locker/ledger.db)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser("verify", help="check that no transaction was edited, deleted or reordered")
    v.set_defaults(run=_verify)
    i = sub.add_parser("import", help="import users, SKUs or locations (with min/max) from a CSV file; a file "
                                      "with any bad row is refused whole")
    i.add_argument("what", choices=sorted(IMPORTERS), help="what the file holds")
    i.add_argument("file", help="the CSV file (header row first)")
    i.set_defaults(run=_import)
    e = sub.add_parser("export", help="export transactions to a CSV file (for billing and ERP import)")
    e.add_argument("what", choices=["transactions"])
    e.add_argument("file", help="the CSV file to write")
    e.add_argument("--since", type=int, default=0, metavar="SEQ", help="only transactions after this seq")
    e.set_defaults(run=_export)
    return parser


def main(argv=None, out=print):
    args = build_parser().parse_args(argv)
    if args.command != "import" and not os.path.exists(args.db):
        # Opening creates a ledger; checking or exporting one that is not there must not.
        sys.stderr.write("locker-agent: error: no ledger at %s\n" % args.db)
        return EXIT_USAGE
    try:
        # Administration is not a boot of the agent: it must not advance the boot counter.
        with open_ledger(args.db, count_boot=False) as ledger:
            return args.run(ledger, args, out)
    except (LedgerError, OSError) as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
