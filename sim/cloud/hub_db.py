"""A hub database for the simulations and benches (`locker-sim fleet`, `locker-sim cloud`, bench/): the one
the user gives, migrated here, or else a throw-away PostgreSQL of our own (sim/cloud/postgres.py) that is
gone at the end. Only an explicit DSN is used: a simulation never writes into $LOCKER_HUB_DB by surprise."""
from contextlib import contextmanager

import psycopg

from hub import db, migrate


@contextmanager
def hub_database(dsn=None):
    """Yields the DSN of a migrated hub database. RuntimeError, with words, when there is none to be had."""
    pg = None
    if not dsn:
        from sim.cloud.postgres import Postgres
        try:
            pg = Postgres().start()
        except FileNotFoundError:
            raise RuntimeError("a throw-away PostgreSQL needs pg_virtualenv (scripts/setup installs postgresql); "
                               "or give --db DSN") from None
        dsn = pg.new_database("hub")
    try:
        try:
            with db.connect(dsn) as conn:
                migrate.apply(conn)
        except (db.DatabaseUnavailable, migrate.MigrationError) as e:
            raise RuntimeError(str(e)) from None
        except psycopg.ProgrammingError as e:       # a DSN libpq cannot read
            raise RuntimeError("the --db DSN cannot be read: %s" % e) from None
        yield dsn
    finally:
        if pg is not None:
            pg.stop()
