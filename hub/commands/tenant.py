"""`locker-hub tenant add|list`: the suppliers running their managed-inventory program on this hub."""
from hub import db, registry


def add_parser(sub):
    p = sub.add_parser("tenant", help="add or list supplier tenants", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = what.add_parser("add", help="add a tenant")
    add.add_argument("tenant", help="its id (the tenant level of the MQTT topics): A-Z a-z 0-9 _ -, at most 64")
    add.add_argument("--name", help="its display name (default: the id)")
    add.set_defaults(run=run_add)
    what.add_parser("list", help="every tenant with its numbers of sites and cabinets").set_defaults(run=run_list)


def run_add(args, out):
    with db.connect(args.dsn) as conn:
        registry.add_tenant(conn, args.tenant, args.name)
    out("tenant %s added" % args.tenant)
    return 0


def run_list(args, out):
    with db.connect(args.dsn) as conn:
        rows = registry.tenants(conn)
    out("%-20s %-30s %6s %9s" % ("TENANT", "NAME", "SITES", "CABINETS"))
    for r in rows:
        out("%-20s %-30s %6d %9d" % (r["id"], r["name"], r["sites"], r["cabinets"]))
    return 0
