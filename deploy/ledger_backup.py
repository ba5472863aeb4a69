#!/usr/bin/env python3
"""The ledger's side of an upgrade, for deploy/install.sh (standard library only: runs with the system
python3 before any venv exists, or with a version's own venv python for `schema-check`).

  backup        a consistent copy of the ledger, taken with SQLite's online backup API (safe even while
                a writer is active, WAL included), checked with PRAGMA integrity_check before it is kept.
  schema-check  whether the edge_agent importable by this interpreter can open the ledger (its migrations
                know the ledger's schema version): a code rollback is refused when it cannot.

Exit status: 0 done (or no ledger yet), 1 the check failed or the backup is not sound, 2 bad arguments.
"""
import argparse
import sqlite3
import sys
import time
import tomllib
from pathlib import Path


def ledger_path(config, root):
    """The ledger named by `[agent] ledger` in the agent config, inside `root` (relative: beside the config)."""
    try:
        ledger = tomllib.loads(Path(config).read_text(encoding="utf-8"))["agent"]["ledger"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise SystemExit("ledger_backup: cannot read [agent] ledger from %s: %s" % (config, e))
    path = Path(ledger)
    return Path(root, *path.parts[1:]) if path.is_absolute() else Path(config).parent / path


def schema_version(db):
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone():
        return 0
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def backup(ledger, into, label, keep):
    into.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    final = into / ("ledger-%s-%s.db" % (stamp, label))
    partial = final.with_suffix(".partial")
    src = sqlite3.connect(ledger, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)       # page by page, retried past concurrent writes: a consistent snapshot
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            version = schema_version(dst)
        finally:
            dst.close()
    finally:
        src.close()
    if ok != "ok":
        partial.unlink()
        raise SystemExit("ledger_backup: the copy of %s failed its integrity check: %s" % (ledger, ok))
    partial.rename(final)
    for old in sorted(into.glob("ledger-*.db"))[:-keep]:   # names sort by time: keep the newest
        old.unlink()
    return final, version


def schema_check(ledger):
    from edge_agent.ledger.migrations import MIGRATIONS   # the version whose python runs this
    known = MIGRATIONS[-1].version
    db = sqlite3.connect("file:%s?mode=ro" % ledger, uri=True)
    try:
        have = schema_version(db)
    finally:
        db.close()
    return have, known


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("backup", "schema-check"):
        p = sub.add_parser(name)
        p.add_argument("--config", required=True, help="the agent config (/etc/smart-locker/agent.toml)")
        p.add_argument("--root", default="/", help="the filesystem root the config's absolute paths are in")
        if name == "backup":
            p.add_argument("--into", required=True, type=Path, help="the backups folder")
            p.add_argument("--label", default="manual", help="added to the file name (e.g. 0.1.0-to-0.2.0)")
            p.add_argument("--keep", type=int, default=10, help="backups kept in the folder (newest)")
    args = parser.parse_args(argv)
    ledger = ledger_path(args.config, args.root)
    if not ledger.exists():
        print("no ledger at %s yet: nothing to back up or check" % ledger)
        return 0
    if args.command == "backup":
        final, version = backup(ledger, args.into, args.label, max(args.keep, 1))
        print("ledger backup: %s (schema version %d)" % (final, version))
        return 0
    have, known = schema_check(ledger)
    if have > known:
        print("the ledger %s has schema version %d; this version of the agent knows only up to %d"
              % (ledger, have, known))
        return 1
    print("the ledger %s (schema version %d) opens with this version (knows up to %d)" % (ledger, have, known))
    return 0


if __name__ == "__main__":
    sys.exit(main())
