"""Connections to the hub's PostgreSQL: where the DSN comes from, and the pool every worker uses.

The DSN is --db, else $LOCKER_HUB_DB, else empty: libpq then reads PGHOST, PGPORT, PGUSER, PGPASSWORD and
PGDATABASE (what `pg_virtualenv` sets), so an operator's usual PostgreSQL environment just works.
"""
import os

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

ENV_DSN = "LOCKER_HUB_DB"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused us; the text says where and why, without the password."""


def dsn_from(arg=None):
    """The DSN to use: the argument, else $LOCKER_HUB_DB, else "" (libpq's PG* environment)."""
    return arg if arg else os.environ.get(ENV_DSN, "")


def describe(dsn):
    """Where a DSN points, for messages: host, port and database, never the password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unreadable DSN"
    host = info.get("host") or os.environ.get("PGHOST", "localhost")
    port = info.get("port") or os.environ.get("PGPORT", "5432")
    name = info.get("dbname") or os.environ.get("PGDATABASE", "?")
    return "%s:%s/%s" % (host, port, name)


def connect(dsn, autocommit=False):
    """One connection (rows as dicts); DatabaseUnavailable with words when it cannot be made."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, row_factory=dict_row, connect_timeout=10)
    except psycopg.OperationalError as e:
        raise DatabaseUnavailable("cannot connect to PostgreSQL at %s: %s"
                                  % (describe(dsn), str(e).strip().splitlines()[-1])) from None


def open_pool(dsn, min_size=1, max_size=4, name="hub"):
    """A psycopg_pool.ConnectionPool whose connections return dicts; each connection is checked before it
    is handed out, so a PostgreSQL restarted under a running worker costs one failed transaction, not all."""
    return ConnectionPool(dsn, min_size=min_size, max_size=max_size, name=name, open=True,
                          kwargs={"row_factory": dict_row, "connect_timeout": 10},
                          check=ConnectionPool.check_connection, timeout=30)
