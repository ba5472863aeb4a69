"""locker-agent: the edge agent and its administration. `run` is the agent itself; every other command is
ledger administration that an installer or a supplier admin runs at the cabinet or on a copy of its
database (`--db FILE`, before or after the command): imports from CSV, users and PINs, stock, transactions,
refill tasks, alerts, export and chain verification. See docs/admin.md for the CSV formats.

Exit status: 0 done, 1 the ledger failed verification, 2 bad input (a bad file is named with its row and
field; nothing was changed)."""
import argparse
import getpass
import os
import sys
import textwrap

from edge_agent.cli import admin, commissioning, registration
from edge_agent.flows import loans
from edge_agent.ledger import LedgerError, lockouts, open_ledger
from edge_agent.rules import csv_io, pin_hashing
from edge_agent.rules.access import Access, Person
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.csv_io import (export_transactions, import_locations, import_role_allows, import_skus,
                                      import_user_limits, import_users)
from edge_agent.ledger.admin_log import record_admin_change
from edge_agent.ledger.schema_v1 import ROLES
from edge_agent.reports import command as report_command

EXIT_TAMPERED = 1
EXIT_USAGE = 2

IMPORTERS = {"users": import_users, "skus": import_skus, "locations": import_locations,
             "allows": import_role_allows, "limits": import_user_limits, "charge_lists": csv_io.import_charge_lists}
COLUMNS = {"users": csv_io.USER_COLUMNS, "skus": csv_io.SKU_COLUMNS, "locations": csv_io.LOCATION_COLUMNS,
           "allows": csv_io.ROLE_ALLOW_COLUMNS, "limits": csv_io.USER_LIMIT_COLUMNS,
           "charge_lists": csv_io.CHARGE_LIST_COLUMNS}
IMPORT_RULES = """users, skus and locations are created or updated: rows not in the file stay as they are.
allows (which SKUs or categories technicians and contractors may take) and limits (how many a user may
take per shift or day) REPLACE the whole rule set: a rule not in the file is removed, a file with only
its header removes them all. The file is the site's complete rule spreadsheet. charge_lists (the cost
centers, machines and work-order patterns a take may be charged to) is replaced the same way.
A rule names a sku or a category, not both. A file with any bad row is refused whole, every problem
named by row and field. Details: docs/admin.md."""


def _import_help():
    """The columns of each file, from the importers' own column specs (required first, [optional])."""
    lines = ["columns of each file (header row first):"]
    for what, columns in COLUMNS.items():
        required = [name for name, (needed, _) in columns.items() if needed]
        optional = [name for name, (needed, _) in columns.items() if not needed]
        lines.append(textwrap.fill("%-10s %s [, %s]" % (what, ", ".join(required), ", ".join(optional)),
                                   width=100, initial_indent="  ", subsequent_indent=" " * 13))
    return "\n".join(lines) + "\n\n" + IMPORT_RULES


class UsageError(Exception):
    """Bad input that is not a file (an unknown user, a bad PIN): exit 2, nothing changed."""


# -- the agent --------------------------------------------------------------------------------------------
def _run(args, out):
    # Imported here so the admin commands work on an install (or a checkout) without the agent service.
    from edge_agent.cli import service
    return service.main(args.config)


def _reset_mcu(args, out):
    # No ledger and no cabinet link: only the Pi's GPIO on the Pico's RUN pin (hw/wiring.md).
    from edge_agent.app.config import AgentConfigError, load_agent_config
    from edge_agent.link.mcu_reset import McuResetError, reset_mcu
    try:
        out(reset_mcu(load_agent_config(args.config)))
    except (AgentConfigError, McuResetError) as e:
        return _error(str(e))
    return 0


# -- ledger administration: each gets an open ledger and returns the exit status -------------------------
def _verify(ledger, args, out):
    result = ledger.verify(full=args.full)
    out(str(result))
    return 0 if result.ok else EXIT_TAMPERED


def _import(ledger, args, out):
    if args.cabinet is None:
        count = IMPORTERS[args.what](ledger, args.file)
    elif args.what != "locations":
        raise UsageError("--cabinet checks the units of a locations file, not %s; nothing imported" % args.what)
    else:
        from edge_agent.link.cabinet_file import CabinetFileError, read_cabinet_units
        try:
            cabinet = read_cabinet_units(args.cabinet)
        except CabinetFileError as e:
            raise UsageError("%s; nothing imported" % e) from None
        count = import_locations(ledger, args.file, cabinet=cabinet)
    replaced = " (the previous %s were replaced)" % args.what if args.what in csv_io.RULE_TABLES else ""
    out("imported %d %s from %s%s" % (count, args.what, args.file, replaced))
    return 0


def _export(ledger, args, out):
    count = export_transactions(ledger, args.file, since_seq=args.since)
    out("exported %d transactions to %s" % (count, args.file))
    return 0


def _user(ledger, user_id):
    row = ledger.db.execute("SELECT failed_pins FROM users WHERE id = ?", [user_id]).fetchone()
    if row is None:
        raise UsageError("no user %r" % user_id)
    return row[0]


def _read_pin():
    """The new PIN from stdin: typed twice without echo at a terminal, else the first line (a pipe).
    Never from the command line, where it would sit in the shell history and the process list."""
    if sys.stdin.isatty():
        pin = getpass.getpass("New PIN: ")
        if getpass.getpass("Same PIN again: ") != pin:
            raise UsageError("the two PINs differ; nothing changed")
    else:
        pin = sys.stdin.readline().strip()
    if not pin:
        raise UsageError("no PIN on stdin; nothing changed")
    problem = pin_hashing.check_pin_format(pin)
    if problem:
        raise UsageError(problem + "; nothing changed")
    return pin


def _set_pin(ledger, args, out):
    _user(ledger, args.user)
    pin_hash = pin_hashing.hash_pin(_read_pin())
    # A new PIN starts with a clean slate: old wrong tries and a lockout were about the old one.
    with ledger.transaction():
        ledger.db.execute("UPDATE users SET pin_hash = ?, failed_pins = 0 WHERE id = ?", [pin_hash, args.user])
        lockouts.clear(ledger, args.user)
        record_admin_change(ledger, "set pin", {"user": args.user})
    out("PIN set for %s" % args.user)
    return 0


def _unlock_user(ledger, args, out):
    failed = _user(ledger, args.user)
    locked_s = Access(ledger).locked_for_s(args.user)
    with ledger.transaction():
        ledger.db.execute("UPDATE users SET failed_pins = 0 WHERE id = ?", [args.user])
        lockouts.clear(ledger, args.user)
    out("unlocked %s (%s, %d wrong PINs cleared)" % (
        args.user, "PIN was locked for %d s more" % locked_s if locked_s else "was not locked", failed))
    return 0


def _tool_lost(ledger, args, out):
    """A supervisor marks a lent tool lost (loans.mark_lost): --by names them, as at the cabinet."""
    row = ledger.db.execute("SELECT id, name, role, department, cost_center, supplier FROM users WHERE id = ?",
                            [args.by]).fetchone()
    if row is None:
        raise UsageError("no user %r" % args.by)
    try:
        loan = loans.mark_lost(ledger, Person(*row), args.loan, args.note)
    except Refusal as refused:
        raise UsageError(refused.words) from None
    out("loan #%d marked lost: %d from %s, out to %s since %s (a tool_lost alert is open)"
        % (loan.id, loan.quantity, loan.location, loan.user_id, admin.short_time(loan.out_wall)))
    return 0


def _listing(fetch, empty):
    def handler(ledger, args, out):
        out(admin.render(fetch(ledger, args), args.json, empty))
        return 0
    return handler


def _at_least_one(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a whole number of at least 1" % text)
    return int(text)


# -- the parser -------------------------------------------------------------------------------------------
def build_parser():
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(prog="locker-agent", description=doc[0], epilog=doc[1])
    db_help = "the ledger database (on a Pi: /var/lib/smart-locker/ledger.db)"
    parser.add_argument("--db", metavar="FILE", help=db_help + "; for every command but run")
    # The same option after the command; SUPPRESS keeps it from overwriting a --db given before it.
    with_db = argparse.ArgumentParser(add_help=False)
    with_db.add_argument("--db", metavar="FILE", default=argparse.SUPPRESS, help=db_help)
    listing = argparse.ArgumentParser(add_help=False, parents=[with_db])
    listing.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, summary, handler, parents=(with_db,), **kw):
        p = sub.add_parser(name, help=summary, description=summary, parents=list(parents), **kw)
        p.set_defaults(handler=handler)
        return p

    r = command("run", "run the agent against the cabinet port named in the config file (the ledger path "
                       "comes from the config file too)", _run, parents=())
    r.add_argument("--config", required=True, metavar="FILE", help="the agent's config file (docs/agent-config.md)")
    m = command("reset-mcu", "hard-reset a hung cabinet microcontroller: pulse its RUN pin from the Pi's GPIO "
                             "([cabinet] reset_gpio; a running agent reconnects by itself)", _reset_mcu, parents=())
    m.add_argument("--config", required=True, metavar="FILE", help="the agent's config file (docs/agent-config.md)")
    # Installer commands (docs/commissioning.md); their logic is in commissioning.py and registration.py.
    commissioning.add_arguments(command(
        "commission", "walk a new cabinet with the installer: pulse every door, turn every lane, tare and "
                      "calibrate every weigh bin; a report goes to the ledger, a file and the cloud (exit 0 all "
                      "passed, 1 something failed). The agent must be stopped", lambda a, out: commissioning.main(a),
        parents=()))
    registration.add_arguments(command(
        "register", "make the cabinet's MQTT TLS key and certificate request and its command key (files 0640 in "
                    "the service's group, never overwritten without --force); prints what to send the cloud operator",
        lambda a, out: registration.main(a, out), parents=()))
    v = command("verify", "check that no transaction was edited, deleted or reordered, and the triggers, on hand, "
                          "people and the cloud's acknowledged hash (exit 1 if not); from where the last check "
                          "that passed stopped, or from the first row with --full", _verify)
    v.add_argument("--full", action="store_true",
                   help="walk the whole chain from seq 1 and replay on hand from the start, instead of going on "
                        "from the last verified row (or the cloud's last acknowledged one, when older): finds an "
                        "edit made before it, at the cost of reading every row")
    i = command("import", "import users, SKUs, locations (with min/max) or the access rules from a CSV file",
                _import, epilog=_import_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("what", choices=list(IMPORTERS),
                   help="users, skus, locations, allows, limits or charge_lists (below)")
    i.add_argument("file", help="the CSV file (header row first)")
    i.add_argument("--cabinet", metavar="CABINET.toml", help="locations: refuse a unit (door, lane, bin number) "
                                                              "this cabinet config does not have")
    e = command("export", "export transactions to a CSV file (for billing and ERP import)", _export)
    e.add_argument("what", choices=["transactions"])
    e.add_argument("file", help="the CSV file to write")
    e.add_argument("--since", type=int, default=0, metavar="SEQ", help="only transactions after this seq")
    u = command("users", "list users: role, department, cost center, supplier, valid to, badges, PIN, and "
                         "whether they can sign in now (locked out, expired)",
                _listing(lambda led, a: admin.users(led, a.role), "no users"), parents=[listing])
    u.add_argument("--role", choices=ROLES, help="only users with this role")
    p = command("set-pin", "set a user's PIN, read from stdin (typed twice without echo at a terminal, the "
                           "first line from a pipe); also clears a lockout", _set_pin)
    p.add_argument("user", help="the user id")
    k = command("unlock-user", "clear a user's PIN lockout and wrong-PIN count", _unlock_user)
    k.add_argument("user", help="the user id")
    s = command("stock", "list every location: SKU, on hand, min, max, quarantine, state (OK, LOW below min, "
                         "OUT at zero) and what a refill would bring",
                _listing(lambda led, a: admin.stock(led, a.below_min), "no locations"), parents=[listing])
    s.add_argument("--below-min", action="store_true", help="only locations below their min")
    t = command("transactions", "list transactions, oldest first, one a line (times in UTC; a ? after "
                                "the time: the cabinet's clock was not synchronised)",
                _listing(lambda led, a: admin.transactions(led, a.last, a.since), "no transactions"),
                parents=[listing])
    which = t.add_mutually_exclusive_group()
    which.add_argument("--last", type=_at_least_one, default=20, metavar="N", help="the last N (default 20)")
    which.add_argument("--since", type=int, metavar="SEQ", help="every transaction after this seq")
    f = command("refill-tasks", "list open refill tasks: location, SKU, quantity to bring, when opened",
                _listing(lambda led, a: admin.refill_tasks(led, a.all), "no refill tasks"), parents=[listing])
    f.add_argument("--all", action="store_true", help="include closed tasks")
    command("alerts", "list open alerts (low stock, stockouts...)",
            _listing(lambda led, a: admin.alerts(led), "no open alerts"), parents=[listing])
    # Tools lost, count tasks (issue 15: docs/decisions/0030).
    command("count-tasks", "list open count tasks: locations to count (a lane suspected empty) and why",
            _listing(lambda led, a: admin.count_tasks(led), "no count tasks"), parents=[listing])
    command("tools", "list every tool out on loan: loan id, door, who has it, due, overdue",
            _listing(lambda led, a: admin.tools_out(led), "no tools out"), parents=[listing])
    g = command("tool-lost", "mark a lent tool lost: the loan closes as lost, a tool_lost alert opens and the "
                             "report lists it (never a refill)", _tool_lost)
    g.add_argument("loan", type=_at_least_one, help="the loan id (locker-agent tools)")
    g.add_argument("--by", required=True, metavar="USER", help="the supervisor who says so (a user id)")
    g.add_argument("--note", help="what is known (where it was last seen)")
    report_command.add_arguments(command("report", report_command.SUMMARY, report_command.run))
    return parser


def main(argv=None, out=print):
    args = build_parser().parse_args(argv)
    if args.command in ("run", "reset-mcu", "commission", "register"):
        if args.db:
            return _error("%s takes what it needs from the config file, not --db" % args.command)
        return args.handler(args, out)
    if not args.db:
        return _error("%s needs --db FILE (the ledger database)" % args.command)
    if args.command != "import" and not os.path.exists(args.db):
        # Opening creates a ledger; looking at one that is not there must not.
        return _error("no ledger at %s" % args.db)
    try:
        # Administration is not a boot of the agent: it must not advance the boot counter.
        with open_ledger(args.db, count_boot=False) as ledger:
            return args.handler(ledger, args, out)
    except (LedgerError, OSError, UsageError) as e:
        return _error(str(e))


def _error(message):
    sys.stderr.write("locker-agent: error: %s\n" % message)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
