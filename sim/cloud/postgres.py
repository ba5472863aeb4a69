"""A throw-away PostgreSQL of our own (../shared/design/test-rig.md, "PostgreSQL for a test session"): Debian's
`pg_virtualenv -t` makes a cluster in a temporary folder on a free port (it works as root: it drops privileges
itself) and removes it when we let go. The tests (tests/postgres.py) and the benches use it.

    pg = Postgres().start()
    dsn = pg.new_database("hub_1")      # an empty database of our own
    pg.kill(); pg.start()               # a crash (SIGKILL of the postmaster) and the restart after it
    pg.stop()                           # the cluster and its folder are gone

pg_virtualenv runs a small holder of ours that prints the cluster's environment and waits for its stdin to
close, so the cluster lives exactly as long as this object's process handle.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from sim.cloud.broker import free_port

VERSION = "15"
START_TIMEOUT_S = 60
GONE_TIMEOUT_S = 30
HOLDER = ("import json, os, sys; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('PG')}), "
          "flush=True); sys.stdin.read()")


class Postgres:
    def __init__(self, version=VERSION):
        self.version = version
        self.proc = None
        self.env = None
        # pg_virtualenv's own messages (and the server log it prints when something fails): a file, never a
        # pipe nobody reads, which would stall it once full.
        self._log = tempfile.TemporaryFile(mode="w+")

    def log(self):
        self._log.seek(0)
        return self._log.read()

    # -- the whole cluster ------------------------------------------------------------------------------
    def start(self):
        """Create the cluster (first call) or start it again after kill()/stop_server(). Returns self."""
        if self.proc is None:
            port = free_port()
            self.proc = subprocess.Popen(
                ["pg_virtualenv", "-t", "-v", self.version, "-c", "-p %d" % port, sys.executable, "-c", HOLDER],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
            line = "pg_virtualenv's own lines come first"
            while line and not line.startswith("{"):
                line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("pg_virtualenv did not start a cluster: %s" % self.log()[-3000:])
            self.env = json.loads(line)
        else:
            self._ctl("start")
        self._wait_ready()
        return self

    def stop(self):
        """Drop the cluster (pg_virtualenv removes it and its folder once its command ends)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc = None

    # -- the server process, for crash tests --------------------------------------------------------------
    @property
    def pid(self):
        """The postmaster's pid (from postmaster.pid), or None when it is not running."""
        try:
            return int((Path(self.data_directory) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @property
    def data_directory(self):
        return subprocess.run(["pg_conftool", "-s", self.version, "regress", "show", "data_directory"],
                              env=self._env(), capture_output=True, text=True, check=True).stdout.strip()

    def kill(self):
        """SIGKILL the postmaster, as a power cut would, and wait until it is gone (its backends exit by
        themselves once their postmaster is dead); start() runs crash recovery."""
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while _alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError("postgres pid %d still there %d s after SIGKILL" % (pid, GONE_TIMEOUT_S))
            time.sleep(0.05)        # a process's end cannot be waited on unless it is our child
        self._clear_stale_locks(pid)

    def _clear_stale_locks(self, pid):
        """A dead postmaster not yet reaped (its parent is init, which may take its time) still answers
        kill(pid, 0), so the next start would take its lock files for a live server's: wait a little for the
        reaping, then remove the locks of that pid ourselves (it is dead: _alive said so)."""
        deadline = time.monotonic() + 5
        while Path("/proc/%d" % pid).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not Path("/proc/%d" % pid).exists():
            return
        for lock in [Path(self.data_directory) / "postmaster.pid",
                     *Path("/var/run/postgresql").glob(".s.PGSQL.%d.lock" % self.port),
                     *Path(self.env.get("PGHOST", "/nonexistent")).glob(".s.PGSQL.%d.lock" % self.port)]:
            try:
                if lock.read_text().split()[0] == str(pid):
                    lock.unlink()
            except (OSError, IndexError):
                pass

    def _ctl(self, action):
        result = subprocess.run(["pg_ctlcluster", self.version, "regress", action], env=self._env(),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("pg_ctlcluster %s failed: %s" % (action, (result.stderr or result.stdout)[-2000:]))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postgres did not accept connections in %d s" % START_TIMEOUT_S) from None
                time.sleep(0.05)

    def _env(self):
        return dict(os.environ, **self.env)

    # -- databases -----------------------------------------------------------------------------------------
    @property
    def port(self):
        return int(self.env["PGPORT"])

    def dsn(self, dbname="postgres"):
        return "host=%s port=%s user=%s password=%s dbname=%s" % (
            self.env.get("PGHOST", "localhost"), self.env["PGPORT"], self.env["PGUSER"], self.env["PGPASSWORD"],
            dbname)

    def new_database(self, name, template=None):
        """CREATE DATABASE name (from `template` when given); returns its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s%s" % (_ident(name), " TEMPLATE %s" % _ident(template) if template else ""))
        return self.dsn(name)

    def drop_database(self, name):
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % _ident(name))


def _ident(name):
    return psycopg.sql.Identifier(name).as_string(None)


def _alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
