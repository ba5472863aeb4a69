"""`locker-hub migrate`: bring the database's schema up to this version (safe to run again, and from several
machines at once)."""
from hub import db, migrate


def add_parser(sub):
    p = sub.add_parser("migrate", help="apply the schema migrations the database has not had yet",
                       description=__doc__)
    p.add_argument("--status", action="store_true", help="list applied and pending migrations, change nothing")
    p.set_defaults(run=run)


def run(args, out):
    with db.connect(args.dsn) as conn:
        if args.status:
            done = migrate.applied(conn)
            for m in migrate.available():
                out("%04d_%s  %s" % (m.version, m.name, "applied" if m.version in done else "pending"))
            return 0
        applied = migrate.apply(conn, report=out)
    out("schema up to date (%d applied now)" % len(applied))
    return 0
