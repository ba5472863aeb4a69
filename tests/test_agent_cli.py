"""locker-agent, the ledger administration commands, run as an installer or a supplier admin would, on real
SQLite files: in a subprocess (the installed console script and `python -m`) and in-process through main()."""
import io
import json
import re
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

import edge_agent.cli
from edge_agent.cli import locker_agent
from edge_agent.rules.access import Access, Person
from edge_agent.ledger import ManualClock, SystemClock, open_ledger
from tests.refusals import refused

ROOT = Path(__file__).resolve().parent.parent
LOCKER_AGENT = Path(sys.executable).parent / "locker-agent"   # the console script of the install

SKUS = "part_number,description,unit_cost,ownership\nGLV-NIT-L,Nitrile gloves L,0.45,consignment\n"
LOCATIONS = "id,kind,unit,sku,min,max,refill_pack,on_hand\nL3,lane,3,GLV-NIT-L,2,8,1,5\n"
USERS = "id,name,role,pin,badges\ntech-1,Ana Ruiz,technician,90817263,04:a1:b2:c3\n"


def agent(db, *args):
    return subprocess.run([sys.executable, "-m", "edge_agent.cli", "--db", str(db), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_installer_imports_the_cabinet_then_verifies_and_exports_it(tmp_path):
    db = tmp_path / "ledger.db"
    for what, text in (("skus", SKUS), ("locations", LOCATIONS), ("users", USERS)):
        run = agent(db, "import", what, write(tmp_path, what + ".csv", text))
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("imported 1 %s" % what)
    run = agent(db, "verify")
    # The location's count, and each import an admin row (docs/decisions/0025).
    assert (run.returncode, run.stdout.strip()) == (0, "ledger OK: 4 transactions, chain intact")
    run = agent(db, "export", "transactions", tmp_path / "out.csv")
    assert run.returncode == 0 and "exported 4 transactions" in run.stdout
    exported = (tmp_path / "out.csv").read_text()
    assert "L3" in exported and "count" in exported
    with sqlite3.connect(db) as con:
        assert con.execute("select badge_id from badges").fetchall() == [("04A1B2C3",)]


def test_a_bad_row_is_named_and_nothing_is_imported(tmp_path):
    db = tmp_path / "ledger.db"
    run = agent(db, "import", "users", write(tmp_path, "users.csv", USERS + "x-2,Bo,janitor,,\n"))
    assert run.returncode == 2
    assert "users.csv: row 3, field 'role'" in run.stderr
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from users").fetchone() == (0,)


def test_verify_reports_a_tampered_ledger_with_exit_1(tmp_path):
    db = tmp_path / "ledger.db"
    agent(db, "import", "skus", write(tmp_path, "skus.csv", SKUS))
    agent(db, "import", "locations", write(tmp_path, "locations.csv", LOCATIONS))
    with sqlite3.connect(db) as con:
        for (name,) in con.execute("select name from sqlite_master where type = 'trigger'").fetchall():
            con.execute("drop trigger %s" % name)
        con.execute("update transactions set quantity = 50 where seq = 1")
    run = agent(db, "verify")
    assert run.returncode == 1
    assert run.stdout.startswith("ledger TAMPERED at seq 1")


def test_verify_does_not_create_a_ledger_that_is_not_there(tmp_path):
    run = agent(tmp_path / "missing.db", "verify")
    assert run.returncode == 2 and "no ledger at" in run.stderr
    assert not (tmp_path / "missing.db").exists()


# -- the admin commands, in-process -----------------------------------------------------------------------
SITE = {
    "skus": "part_number,description,category,unit_cost,supplier\n"
            "GLV-NIT-L,Nitrile gloves L,ppe,0.45,Acme\nDRL-HSS-8,HSS drill 8 mm,cutting,3.20,Acme\n",
    "locations": "id,kind,unit,sku,min,max,refill_pack,on_hand\n"
                 "L1,lane,1,GLV-NIT-L,2,8,1,5\nL2,lane,2,DRL-HSS-8,3,10,2,1\nL3,lane,3,DRL-HSS-8,0,4,1,0\n",
    "users": "id,name,role,department,cost_center,supplier,valid_to,pin,badges\n"
             "tech-1,Ana Ruiz,technician,Maintenance,CC-410,,,1357,04A1B2C3;04A1B2C4\n"
             "drv-1,Bo Lind,route_driver,,,Acme,2099-12-31,,\n"
             "con-1,Cy Park,contractor,Projects,CC-900,,2020-01-31,,\n",
    "allows": "role,sku,category\ntechnician,,ppe\ntechnician,DRL-HSS-8,\n",
    "limits": "user_id,sku,category,period,max_quantity\ntech-1,,ppe,day,6\n",
}


def admin(db, *argv):
    """Run locker-agent in-process: (exit status, printed lines)."""
    lines = []
    status = locker_agent.main(["--db", str(db), *map(str, argv)], out=lines.append)
    return status, "\n".join(lines)


@pytest.fixture
def site(tmp_path):
    """A ledger set up through the CLI, then an issue and a refill by the agent (a hand-moved clock)."""
    db = tmp_path / "ledger.db"
    for what, text in SITE.items():
        status, said = admin(db, "import", what, write(tmp_path, what + ".csv", text))
        assert status == 0 and said.startswith("imported"), said
    with open_ledger(db, clock=ManualClock(start="2026-03-16T09:00:00+00:00", synced=False)) as ledger:
        seq, _ = ledger.record_intent("issue", location="L1", quantity=4, user_id="tech-1", work_order="WO-77")
        ledger.record_outcome(seq, "done", 4)
        ledger.append("refill", user_id="drv-1", location="L2", quantity=10)
    return db


def table(text):
    """A text table's rows as {first cell: the row's words joined by one space}."""
    return {line.split()[0]: " ".join(line.split()) for line in text.splitlines()[1:]}


def boots(db):
    with sqlite3.connect(db) as con:
        return con.execute("select boot from cabinet").fetchone()[0]


def test_users_lists_what_a_supplier_admin_needs(site, monkeypatch):
    real_wall = SystemClock.wall
    monkeypatch.setattr(SystemClock, "wall", lambda self: (real_wall(self)[0], True))   # this host: synchronised
    system = SystemClock()
    with sqlite3.connect(site) as con:      # a PIN lockout with 10 minutes to run, on this machine's clock
        con.execute("insert into pin_lockouts values ('drv-1', 600000, ?, ?, '2026-03-16T10:00:00+00:00', 1)",
                    [system.monotonic_epoch(), system.monotonic_ms()])
    status, said = admin(site, "users")
    assert status == 0
    header = said.splitlines()[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == ["id", "name", "role", "department", "cost center",
                                                         "supplier", "valid to", "badges", "pin", "wrong pins",
                                                         "state"]
    rows = table(said)
    assert rows["tech-1"] == "tech-1 Ana Ruiz technician Maintenance CC-410 - - 2 set 0 ok"
    assert rows["drv-1"] == "drv-1 Bo Lind route_driver - - Acme 2099-12-31 0 none 0 PIN locked for 600 s more"
    assert rows["con-1"] == "con-1 Cy Park contractor Projects CC-900 - 2020-01-31 0 none 0 expired"
    assert set(table(admin(site, "users", "--role", "technician")[1])) == {"tech-1"}
    users = json.loads(admin(site, "users", "--json")[1])
    assert {u["id"]: u["badges"] for u in users} == {"con-1": 0, "drv-1": 0, "tech-1": 2}
    assert not any("hash" in key for key in users[0])      # never the PIN hash


def test_stock_shows_state_and_what_to_bring(site):
    status, said = admin(site, "stock")
    rows = table(said)
    assert status == 0 and list(rows) == ["L1", "L2", "L3"]
    assert said.splitlines()[0].split() == ["location", "kind", "sku", "description", "supplier", "on", "hand",
                                            "min", "max", "quarantine", "state", "refill"]
    assert rows["L1"] == "L1 lane GLV-NIT-L Nitrile gloves L Acme 1 2 8 0 LOW 7"     # 5 - 4 taken < min 2
    assert rows["L2"] == "L2 lane DRL-HSS-8 HSS drill 8 mm Acme 11 3 10 0 OK 0"
    assert rows["L3"] == "L3 lane DRL-HSS-8 HSS drill 8 mm Acme 0 0 4 0 OUT 0"
    assert list(table(admin(site, "stock", "--below-min")[1])) == ["L1"]
    assert [r["state"] for r in json.loads(admin(site, "stock", "--json")[1])] == ["LOW", "OK", "OUT"]


def test_transactions_are_one_readable_line_each(site):
    status, said = admin(site, "transactions")
    assert status == 0
    lines = said.splitlines()
    assert lines[0].split() == ["seq", "time", "kind", "action", "user", "location", "sku", "qty", "detail"]
    issue = next(line for line in lines if " outcome " in line)
    for shown in ("2026-03-16 09:00:00?", "issue", "tech-1", "L1", "GLV-NIT-L", "done", "work order WO-77"):
        assert shown in issue
    # 1 the skus import (an admin row), 2-4 the imported locations' counts (L3 is new, at 0: its min/max goes
    # on record too) and 5 that import, 6-8 the users, allows and limits imports, 9-10 the issue, 11 a refill
    assert [line.split()[0] for line in lines[1:]] == [str(seq) for seq in range(1, 12)]
    assert [line.split()[3] for line in lines[6:9]] == ["admin"] * 3
    assert [line.split()[0] for line in admin(site, "transactions", "--last", "2")[1].splitlines()[1:]] == ["10", "11"]
    since = json.loads(admin(site, "transactions", "--since", "9", "--json")[1])
    assert [(t["seq"], t["kind"], t["user"], t["qty"]) for t in since] == [(10, "outcome", "tech-1", 4),
                                                                         (11, "refill", "drv-1", 10)]
    assert since[0]["time"] == "2026-03-16T09:00:00.000+00:00" and since[0]["clock_synced"] is False


def test_refill_tasks_and_alerts(site):
    status, said = admin(site, "refill-tasks")
    assert status == 0 and list(table(said)) == ["L1"]       # L2's task closed with the refill
    assert table(said)["L1"] == "L1 GLV-NIT-L Nitrile gloves L Acme 7 1 2026-03-16 09:00:00"
    closed = {t["location"]: t for t in json.loads(admin(site, "refill-tasks", "--all", "--json")[1])}
    assert closed["L2"]["closed"] and closed["L1"]["closed"] is None and closed["L1"]["quantity"] == 7
    status, said = admin(site, "alerts")
    # L3 was imported empty: out of stock from the start, not only after the next take
    assert status == 0 and said.split()[:7] == ["id", "location", "kind", "detail", "since", "acknowledged", "by"]
    assert [re.sub(r"\s+\S+ \S+\s+-$", "", line) for line in said.splitlines()[1:]] == [
        " 2  L3        stockout   nothing on hand", " 3  L1        low_stock  1 on hand, min 2"]
    listed = json.loads(admin(site, "alerts", "--json")[1])
    assert [{k: a[k] for k in ("id", "location", "kind", "detail", "acknowledged_by")} for a in listed] == [
        {"id": 2, "location": "L3", "kind": "stockout", "detail": "nothing on hand", "acknowledged_by": None},
        {"id": 3, "location": "L1", "kind": "low_stock", "detail": "1 on hand, min 2", "acknowledged_by": None}]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", a["since"]) for a in listed)


def test_set_pin_reads_stdin_and_the_pin_then_works(site, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("24682468\n"))
    assert admin(site, "set-pin", "tech-1") == (0, "PIN set for tech-1")
    with open_ledger(site, clock=ManualClock(start="2026-03-16T10:00:00+00:00")) as ledger:
        assert isinstance(Access(ledger).by_pin("tech-1", "24682468"), Person)
        wrong = refused(Access(ledger).by_pin, "tech-1", "1357", after_badge=True)
        assert (wrong.reason, wrong.details) == ("wrong_pin", dict(user_id="tech-1", tries_left=4))


@pytest.mark.parametrize("stdin, user, message", [
    ("12ab\n", "tech-1", "a PIN is digits only"),
    ("12\n", "tech-1", "a PIN has 4 to 12 digits"),
    ("", "tech-1", "no PIN on stdin"),
    ("2468\n", "ghost", "no user 'ghost'"),
])
def test_set_pin_refuses_a_bad_pin_or_user_and_changes_nothing(site, monkeypatch, capsys, stdin, user, message):
    before = snapshot(site)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert admin(site, "set-pin", user)[0] == 2
    err = capsys.readouterr().err
    assert message in err and "12ab" not in err       # the PIN is never echoed
    assert snapshot(site) == before


def test_unlock_user_clears_a_lockout(site):
    clock = ManualClock(start="2026-03-16T10:00:00+00:00")
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger, max_tries=2)
        refused(access.by_pin, "tech-1", "0000")
        assert refused(access.by_pin, "tech-1", "0000", after_badge=True).reason == "locked_out"
        assert refused(access.by_pin, "tech-1", "1357", after_badge=True).reason == "locked_out"
    status, said = admin(site, "unlock-user", "tech-1")
    assert status == 0 and said.startswith("unlocked tech-1 (PIN was locked for "), said
    with open_ledger(site, clock=clock) as ledger:
        assert isinstance(Access(ledger, max_tries=2).by_pin("tech-1", "1357"), Person)
    assert admin(site, "unlock-user", "ghost")[0] == 2


def test_bad_rules_file_exits_2_naming_row_and_field_and_changes_nothing(site, tmp_path, capsys):
    before = snapshot(site)
    bad = write(tmp_path, "limits-bad.csv", "user_id,sku,category,period,max_quantity\n"
                                            "tech-1,,ppe,day,6\nghost,,ppe,week,-2\n")
    assert admin(site, "import", "limits", bad)[0] == 2
    err = capsys.readouterr().err
    for field in ("user_id", "period", "max_quantity"):
        assert "limits-bad.csv: row 3, field '%s'" % field in err
    assert snapshot(site) == before


def test_admin_commands_do_not_count_a_boot_nor_create_a_ledger(site, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("2468\n"))
    before = boots(site)
    for argv in (["users"], ["stock"], ["transactions"], ["refill-tasks"], ["alerts"], ["verify"],
                 ["set-pin", "tech-1"], ["unlock-user", "tech-1"]):
        assert admin(site, *argv)[0] == 0
        assert admin(tmp_path / "missing.db", *argv)[0] == 2
    assert boots(site) == before and not (tmp_path / "missing.db").exists()


def test_db_comes_before_or_after_the_command_and_is_needed(site, capsys):
    assert locker_agent.main(["stock", "--db", str(site)], out=lambda text: None) == 0
    assert locker_agent.main(["stock"], out=print) == 2
    assert "stock needs --db FILE" in capsys.readouterr().err


def every_command():
    return sorted(locker_agent.build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("command", every_command())
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        locker_agent.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: locker-agent %s" % command) and len(text.splitlines()) > 4
    helps = {a.dest: a.help for a in locker_agent.build_parser()._subparsers._group_actions[0]._choices_actions}
    assert helps[command].split("(")[0].strip() in " ".join(text.split())


def test_import_help_says_rules_replace_and_names_the_columns(capsys):
    with pytest.raises(SystemExit):
        locker_agent.main(["import", "--help"])
    text = capsys.readouterr().out
    assert "REPLACE the whole rule set" in text and "limits     user_id, period, max_quantity [, sku, category]" in text


def test_run_hands_the_config_to_the_agent_service(monkeypatch, capsys):
    seen = []
    fake = types.SimpleNamespace(main=lambda config: seen.append(config) or 0)
    monkeypatch.setitem(sys.modules, "edge_agent.cli.service", fake)
    monkeypatch.setattr(edge_agent.cli, "service", fake, raising=False)     # when another test imported it already
    assert locker_agent.main(["run", "--config", "site/agent.toml"]) == 0 and seen == ["site/agent.toml"]
    assert locker_agent.main(["--db", "x.db", "run", "--config", "site/agent.toml"]) == 2
    assert "from the config file, not --db" in capsys.readouterr().err


def test_the_installed_console_script(site, tmp_path):
    run = subprocess.run([str(LOCKER_AGENT), "run", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--config FILE" in run.stdout
    run = subprocess.run([str(LOCKER_AGENT), "set-pin", "con-1", "--db", str(site)], input="97531\n",
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout.strip()) == (0, "PIN set for con-1")
    run = subprocess.run([str(LOCKER_AGENT), "--db", str(site), "stock", "--below-min"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and "L1" in run.stdout and "LOW" in run.stdout and "L2" not in run.stdout
    bad = write(tmp_path, "allows-bad.csv", "role,sku,category\ntechnician,,PPE\n")
    run = subprocess.run([str(LOCKER_AGENT), "--db", str(site), "import", "allows", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "allows-bad.csv: row 2, field 'category': 'PPE'" in run.stderr


def snapshot(db):
    """Every table but the transaction log's own bookkeeping, to show a refused command changed nothing."""
    with sqlite3.connect(db) as con:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table' order by name")]
        return {t: sorted(map(repr, con.execute("select * from %s" % t).fetchall())) for t in tables}


def test_docs_admin_lists_every_command_and_every_csv_column():
    text = (ROOT / "docs/admin.md").read_text()
    for command in every_command():
        assert "| `%s" % command in text, command
    for what, columns in locker_agent.COLUMNS.items():
        section = text.split("### %s.csv" % what, 1)[1].split("###", 1)[0]
        documented = {}
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line.startswith("|") and len(cells) == 3 and cells[0] not in ("column", "---"):
                for name in cells[0].split(", "):
                    documented[name] = cells[1] == "yes"
        assert documented == {name: required for name, (required, _) in columns.items()}, what
