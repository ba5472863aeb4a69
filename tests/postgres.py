"""PostgreSQL for the tests: one throw-away cluster per test session (sim/cloud/postgres.py, Debian's
pg_virtualenv), and a fresh database with the hub's schema per test, copied from a migrated template (fast).

    def test_x(hub_dsn): ...            # a DSN of an empty, migrated hub database of this test's own
"""
import itertools

import psycopg
import pytest

from hub import migrate
from sim.cloud.postgres import Postgres

TEMPLATE = "hub_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL, with the hub's migrated template database."""
    pg = Postgres().start()
    with psycopg.connect(pg.new_database(TEMPLATE), row_factory=psycopg.rows.dict_row) as conn:
        migrate.apply(conn)
    yield pg
    pg.stop()


@pytest.fixture
def hub_dsn(postgres):
    """A migrated hub database of this test's own, dropped at the end."""
    name = "hub_test_%d" % next(_numbers)
    dsn = postgres.new_database(name, template=TEMPLATE)
    yield dsn
    postgres.drop_database(name)
