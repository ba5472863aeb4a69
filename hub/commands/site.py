"""`locker-hub site add|list`: a customer's site where a tenant's cabinets stand."""
from hub import db, registry


def add_parser(sub):
    p = sub.add_parser("site", help="add or list customer sites", description=__doc__)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = what.add_parser("add", help="add a site to a tenant")
    add.add_argument("--tenant", required=True, help="the tenant (it must exist)")
    add.add_argument("site", help="its id (the site level of the MQTT topics): A-Z a-z 0-9 _ -, at most 64")
    add.add_argument("--name", help="its display name (default: the id)")
    add.add_argument("--customer", default="", help="the customer it belongs to")
    add.set_defaults(run=run_add)
    ls = what.add_parser("list", help="the sites, with their customers and numbers of cabinets")
    ls.add_argument("--tenant", help="only this tenant's")
    ls.set_defaults(run=run_list)


def run_add(args, out):
    with db.connect(args.dsn) as conn:
        registry.add_site(conn, args.tenant, args.site, args.name, args.customer)
    out("site %s added to tenant %s" % (args.site, args.tenant))
    return 0


def run_list(args, out):
    with db.connect(args.dsn) as conn:
        rows = registry.sites(conn, args.tenant)
    out("%-16s %-16s %-24s %-24s %9s" % ("TENANT", "SITE", "NAME", "CUSTOMER", "CABINETS"))
    for r in rows:
        out("%-16s %-16s %-24s %-24s %9d" % (r["tenant"], r["id"], r["name"], r["customer"], r["cabinets"]))
    return 0
