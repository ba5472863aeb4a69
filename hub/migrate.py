"""The hub's schema, as numbered SQL files applied in order (docs/decisions/0036-hub-storage-and-migrations.md).

    hub/migrations/0001_core.sql, 0002_....sql, ...

`apply(conn)` applies those not yet applied, each in its own transaction together with its row in
`hub_migrations` (version, name, sha256 of the file, when). It holds a transaction-level advisory lock, so
several workers started at once apply each file once; and it refuses to run when a file already applied has
changed since (a migration on main is never edited: a new one is added).
"""
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "migrations"
NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_KEY = 0x10C4E2  # pg_advisory_xact_lock's key for "the hub's migrations"

BOOKKEEPING = """CREATE TABLE IF NOT EXISTS hub_migrations (
    version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())"""


class MigrationError(Exception):
    """The migrations cannot be applied as they are; the text says which file and why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self):
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available(folder=FOLDER):
    """Every migration file, in version order; MigrationError for a misnamed file or a number used twice."""
    found = {}
    for path in sorted(Path(folder).glob("*.sql")):
        match = NAME.match(path.name)
        if not match:
            raise MigrationError("%s: a migration is named NNNN_lowercase_name.sql" % path.name)
        version = int(match.group(1))
        if version in found:
            raise MigrationError("%s: version %04d is used twice" % (path.name, version))
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def applied(conn):
    """{version: sha256} of what this database has applied."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('hub_migrations') IS NOT NULL AS present")
        if not cur.fetchone()["present"]:
            return {}
        cur.execute("SELECT version, sha256 FROM hub_migrations")
        return {r["version"]: r["sha256"] for r in cur.fetchall()}


def pending(conn, folder=FOLDER):
    """The migrations still to apply; MigrationError when an applied one differs from its file."""
    done = applied(conn)
    for m in available(folder):
        if m.version in done and done[m.version] != m.sha256:
            raise MigrationError("migration %04d_%s.sql was changed after it was applied to this database "
                                 "(add a new migration instead)" % (m.version, m.name))
    return [m for m in available(folder) if m.version not in done]


def apply(conn, folder=FOLDER, report=lambda line: None):
    """Apply what is pending, each file in one transaction; returns the list applied."""
    done = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        conn.execute(BOOKKEEPING)
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            todo = pending(conn, folder)
            if not todo:
                return done
            m = todo[0]
            conn.execute(m.sql)
            conn.execute("INSERT INTO hub_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                         [m.version, m.name, m.sha256])
        report("applied %04d_%s" % (m.version, m.name))
        done.append(m)
