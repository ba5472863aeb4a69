"""`locker-hub migrate` and the refusals before a worker starts (docs/hub.md, decision 0036), on a real
PostgreSQL: an operator upgrading a hub, or starting workers on several machines at once."""
import itertools
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from hub import migrate
from hub.db import connect

LOCKER_HUB = str(Path(sys.executable).parent / "locker-hub")
_numbers = itertools.count(1)


@pytest.fixture
def empty_dsn(postgres):
    name = "hub_empty_%d" % next(_numbers)
    yield postgres.new_database(name)
    postgres.drop_database(name)


def hub(*args):
    return subprocess.run([LOCKER_HUB, *args], capture_output=True, text=True, timeout=60)


def tables(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_migrate_builds_the_schema_once_and_again_changes_nothing(empty_dsn):
    first = hub("--db", empty_dsn, "migrate")
    assert first.returncode == 0, first.stderr
    every = migrate.available()
    assert "applied 0001_core" in first.stdout and "(%d applied now)" % len(every) in first.stdout
    assert {"cabinets", "tx_rows", "streams", "hub_migrations"} <= tables(empty_dsn)
    again = hub("--db", empty_dsn, "migrate")
    assert again.returncode == 0 and "(0 applied now)" in again.stdout
    status = hub("--db", empty_dsn, "migrate", "--status")
    assert status.stdout.splitlines() == ["%04d_%s  applied" % (m.version, m.name) for m in every]


def test_workers_migrating_at_once_apply_each_file_once(empty_dsn):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: hub("--db", empty_dsn, "migrate"), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    applied_lines = sum(r.stdout.count("applied 0001_core") for r in results)
    assert applied_lines == 1
    with connect(empty_dsn) as conn:
        assert [r["version"] for r in conn.execute("SELECT version FROM hub_migrations ORDER BY version")] == \
            [m.version for m in migrate.available()]


def test_serve_refuses_a_database_that_is_not_migrated(empty_dsn):
    result = hub("--db", empty_dsn, "serve", "--broker", "127.0.0.1:1")
    assert result.returncode == 2
    assert "not migrated" in result.stdout + result.stderr and "locker-hub migrate" in result.stdout + result.stderr


def test_a_migration_changed_after_it_was_applied_is_refused(empty_dsn, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.FOLDER, folder)
    with connect(empty_dsn) as conn:
        migrate.apply(conn, folder)
    core = folder / "0001_core.sql"
    core.write_text(core.read_text() + "\n-- edited on main after release\n")
    with connect(empty_dsn) as conn, pytest.raises(migrate.MigrationError, match="0001_core.sql was changed"):
        migrate.apply(conn, folder)


@pytest.mark.parametrize("name", ["1_core.sql", "0002_Core.sql"])
def test_a_misnamed_migration_file_is_refused_by_name(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=name.replace(".", r"\.")):
        migrate.available(tmp_path)


def test_an_unreachable_database_is_said_in_words_without_the_password(postgres):
    dsn = postgres.dsn("no_such_database").replace("password=", "password=s3cret")
    result = hub("--db", dsn, "migrate")
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL at" in result.stderr and "no_such_database" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
