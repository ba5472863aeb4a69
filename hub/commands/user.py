"""`locker-hub user add|list|disable`: who may sign in to the web app, with one role at one tenant
(supplier_admin, route_driver, customer_admin, customer_viewer: docs/hub/web.md). The password is read
from a file or standard input, never from the command line (where `ps` would show it)."""
import sys

from hub import db
from hub.registry import RegistryError
from hub.web import accounts
from hub.web.roles import ROLES


def add_parser(sub):
    p = sub.add_parser("user", help="add, list or disable the web app's users", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = what.add_parser("add", help="add a user (or set their role, customer and password again)")
    add.add_argument("user", help="how they sign in: their e-mail address")
    add.add_argument("--tenant", required=True, help="the supplier they work for or with")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--customer", help="for a customer role: the customer (as in `locker-hub site add --customer`)")
    add.add_argument("--name", help="their name as the pages show it (default: the user id)")
    add.add_argument("--email", help="where their mail goes (default: the user id when it is an address)")
    add.add_argument("--password-file", metavar="FILE",
                     help="a file whose first line is the password (default: read it from standard input)")
    add.set_defaults(run=run_add)
    ls = what.add_parser("list", help="the users, with their roles")
    ls.add_argument("--tenant", help="only this tenant's")
    ls.set_defaults(run=run_list)
    off = what.add_parser("disable", help="stop a user signing in and end their sessions")
    off.add_argument("user")
    off.set_defaults(run=run_disable)


def _password(path):
    try:
        text = open(path, encoding="utf-8").readline() if path else sys.stdin.readline()
    except OSError as e:
        raise RegistryError("cannot read the password file: %s" % e.strerror) from None
    return text.rstrip("\r\n")


def run_add(args, out):
    password = _password(args.password_file)
    with db.connect(args.dsn) as conn:
        accounts.add_user(conn, args.tenant, args.user, args.role, password, customer=args.customer, name=args.name,
                          email=args.email)
    out("user %s added to %s as %s" % (args.user, args.tenant, args.role))
    return 0


def run_list(args, out):
    with db.connect(args.dsn) as conn:
        rows = accounts.users(conn, args.tenant)
    out("%-32s %-12s %-16s %-20s %s" % ("USER", "TENANT", "ROLE", "CUSTOMER", "STATE"))
    for r in rows:
        out("%-32s %-12s %-16s %-20s %s" % (r["id"], r["tenant"], r["role"], r["customer"] or "-",
                                            "disabled" if r["disabled"] else "active"))
    return 0


def run_disable(args, out):
    with db.connect(args.dsn) as conn:
        accounts.disable_user(conn, args.user)
    out("user %s disabled" % args.user)
    return 0
