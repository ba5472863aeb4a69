"""`locker-hub jobs` and `locker-hub user`: the scheduled work runs every job once even when one fails, and the
web app's users are added with their words of refusal (docs/hub/web.md)."""
import datetime
import subprocess
import sys
import types

import pytest

from hub import db, jobs, registry
from hub.web import accounts

NOW = datetime.datetime(2026, 11, 30, 6, 0, tzinfo=datetime.timezone.utc)


def _module(monkeypatch, name, run_due):
    module = types.ModuleType(name)
    module.run_due = run_due
    monkeypatch.setitem(sys.modules, name, module)
    return name


def test_a_failing_job_is_reported_and_the_others_still_run_at_the_given_time(hub_dsn, monkeypatch):
    seen = []

    def broken(conn, now):
        conn.execute("SELECT no_such_column FROM tenants")

    def counting(conn, now):
        seen.append(now)
        return conn.execute("SELECT count(*) AS n FROM tenants").fetchone()["n"]
    monkeypatch.setattr(jobs, "JOBS", [_module(monkeypatch, "job_broken", broken),
                                       _module(monkeypatch, "job_counting", counting)])
    with db.connect(hub_dsn) as conn:
        registry.add_tenant(conn, "acme")
        done = jobs.run_all(conn, NOW)
    assert done["job_broken"].startswith("failed:") and "no_such_column" in done["job_broken"]
    assert done["job_counting"] == 1 and seen == [NOW]      # it ran after the failure, on the caller's clock


def _hub(dsn, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "hub.cli", "--db", dsn, *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_jobs_once_runs_and_exits_zero_on_a_migrated_database(hub_dsn):
    result = _hub(hub_dsn, "jobs", "--once")
    assert result.returncode == 0, result.stderr + result.stdout


def test_user_add_reads_the_password_from_stdin_and_refuses_in_words(hub_dsn):
    with db.connect(hub_dsn) as conn:
        registry.add_tenant(conn, "acme")
        registry.add_site(conn, "acme", "bolt-north", customer="Bolt Works")
    ok = _hub(hub_dsn, "user", "add", "bea@bolt.example", "--tenant", "acme", "--role", "customer_admin",
              "--customer", "Bolt Works", stdin="a long password\n")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "a long password" not in ok.stdout + ok.stderr
    with db.connect(hub_dsn) as conn:
        assert accounts.sign_in(conn, "bea@bolt.example", "a long password", NOW)
    refusals = {
        ("--role", "customer_admin", "--customer", "Nobody Inc"): "has no site of customer",
        ("--role", "customer_viewer"): "must name their customer",
        ("--role", "supplier_admin", "--customer", "Bolt Works"): "names no customer",
    }
    for extra, words in refusals.items():
        bad = _hub(hub_dsn, "user", "add", "x@acme.example", "--tenant", "acme", *extra, stdin="a long password\n")
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
    short = _hub(hub_dsn, "user", "add", "x@acme.example", "--tenant", "acme", "--role", "supplier_admin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    listing = _hub(hub_dsn, "user", "list", "--tenant", "acme")
    assert "bea@bolt.example" in listing.stdout and "x@acme.example" not in listing.stdout


def test_a_new_password_or_disabling_ends_the_users_sessions(hub_dsn):
    with db.connect(hub_dsn) as conn:
        registry.add_tenant(conn, "acme")
        accounts.add_user(conn, "acme", "ann@acme.example", "supplier_admin", "first password!")
        token = accounts.sign_in(conn, "ann@acme.example", "first password!", NOW)
        assert accounts.session_user(conn, token, NOW)["id"] == "ann@acme.example"
        accounts.add_user(conn, "acme", "ann@acme.example", "supplier_admin", "second password")
        assert accounts.session_user(conn, token, NOW) is None
        token = accounts.sign_in(conn, "ann@acme.example", "second password", NOW)
        accounts.disable_user(conn, "ann@acme.example")
        assert accounts.session_user(conn, token, NOW) is None
        with pytest.raises(accounts.SignInRefused):
            accounts.sign_in(conn, "ann@acme.example", "second password", NOW)


def test_a_jobs_work_is_committed_before_the_next_job_runs(hub_dsn, monkeypatch):
    """Another hub process must see (and not wait on the locks of) what a job did, while the jobs loop goes on."""
    seen_by_other = []

    def writes(conn, now):
        conn.execute("INSERT INTO tenants (id, name) VALUES ('t1', 'T1')")
        return 1

    def looks(conn, now):
        with db.connect(hub_dsn) as other:
            seen_by_other.append(other.execute("SELECT count(*) AS n FROM tenants").fetchone()["n"])
        return 0
    monkeypatch.setattr(jobs, "JOBS", [_module(monkeypatch, "job_writes", writes),
                                       _module(monkeypatch, "job_looks", looks)])
    with db.connect(hub_dsn) as conn:
        conn.execute("SELECT 1")                     # a read left open, as migrate.pending() leaves one
        jobs.run_all(conn, NOW)
    assert seen_by_other == [1]
