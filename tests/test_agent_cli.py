"""locker-agent, the ledger administration commands, run as an installer would, on real SQLite files."""
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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
    assert (run.returncode, run.stdout.strip()) == (0, "ledger OK: 1 transactions, chain intact")
    run = agent(db, "export", "transactions", tmp_path / "out.csv")
    assert run.returncode == 0 and "exported 1 transactions" in run.stdout
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
