"""Every cell of docs/admin.md's exit status table, run as a real `locker-agent` process: a usage error and a
config or input error exit 2 with one line on stderr and no traceback, for every command; 0, 1 and 3 where
the table says. A cell the table documents and no case here runs (or a command the parser has and the table
lacks) fails test_every_documented_exit_status_is_run."""
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from edge_agent.cli import locker_agent
from sim.cabinet import Faults
from tests.agent_process import LOCKER_AGENT, AgentProcess, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv
from tests.test_commissioning import LAYOUT, commission
from tests.test_commissioning import cabinet as commissioning_cabinet
from tests.test_mcu_reset import FAKE_RPI_GPIO
from tests.test_registration import MY_GROUP      # as root, register needs a group the agent runs in

ROOT = Path(__file__).resolve().parent.parent
SKUS = "part_number,description\nGLV-NIT-L,Nitrile gloves L\n"
LOCATIONS = "id,unit,sku,min,max,on_hand\nL1,1,GLV-NIT-L,2,8,1\n"
USERS = "id,name,role\ntech-1,Ana Ruiz,technician\n"
RAN = set()     # (command, status) pairs the tests below ran


def documented():
    """{(command, status)} from the table under '## Exit status' in docs/admin.md."""
    section = (ROOT / "docs/admin.md").read_text().split("## Exit status", 1)[1].split("\n## ", 1)[0]
    header, cells = None, set()
    for line in section.splitlines():
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set(row[0]) <= {"-"}:
            continue
        if header is None:
            header = row
            continue
        cells |= {(row[0].strip("`"), int(status)) for status, said in zip(header[1:], row[1:]) if said}
    return cells


def run(argv, stdin=None, env=None, timeout=60):
    done = subprocess.run([LOCKER_AGENT, *map(str, argv)], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A ledger with one SKU, lane and user, and agent configs that are wrong in one way each."""
    folder = tmp_path_factory.mktemp("site")
    ledger_from_csv(folder, SKUS, LOCATIONS, USERS).close()
    (folder / "skus-bad.csv").write_text("part_number,unit_cost\nX-1,100000000000000000000\n")
    (folder / "skus-quote.csv").write_text('part_number,description\nX-1,"Tape\nX-2,Gloves\nX-3,Drill\n')
    base = '[agent]\ncabinet_id = "CAB-X"\nledger = "ledger.db"\ncabinet_port = "/dev/no-such-port"\n'
    for name, text in (("ok", base + "[cabinet]\nreset_gpio = 22\nreset_pulse_ms = 5\n"),
                       ("typo", base + "[agent2]\n"),
                       ("not-wired", base + "[cabinet]\nreset_gpio = -1\n"),
                       ("bad-host", base + '[cloud]\nhost = "bad host!"\ntenant = "t"\nsite = "s"\nkey_file = "k"\n')):
        (folder / (name + ".toml")).write_text(text)
    return folder


def tampered(site):
    copy = site / "tampered.db"
    shutil.copy(site / "ledger.db", copy)
    with sqlite3.connect(copy) as con:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            con.execute("DROP TRIGGER %s" % name)
        con.execute("UPDATE transactions SET quantity = 7 WHERE seq = 1")
    return copy


def fake_gpio(site):
    package = site / "fake-gpio" / "RPi"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "GPIO.py").write_text(FAKE_RPI_GPIO)
    path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "FAKE_GPIO_LOG": str(site / "gpio.log")}


# (command, status, argv from the site folder, what stderr says; stdin, env from the site folder)
CASES = [
    ("run", 2, lambda s: ["run"], "the following arguments are required: --config"),
    ("run", 2, lambda s: ["run", "--config", s / "missing.toml"], "cannot read"),
    ("run", 2, lambda s: ["run", "--config", s / "typo.toml"], "unknown section [agent2]"),
    ("run", 2, lambda s: ["run", "--config", s / "bad-host.toml"], "'bad host!' is neither a host name nor"),
    ("run", 2, lambda s: ["run", "--config", s / "ok.toml"], "cannot open the cabinet port /dev/no-such-port"),
    ("run", 2, lambda s: ["--db", s / "ledger.db", "run", "--config", s / "ok.toml"], "not --db"),
    ("reset-mcu", 2, lambda s: ["reset-mcu"], "required: --config"),
    ("reset-mcu", 2, lambda s: ["reset-mcu", "--config", s / "not-wired.toml"], "reset_gpio = -1"),
    ("reset-mcu", 2, lambda s: ["reset-mcu", "--config", s / "ok.toml"], "RPi.GPIO is not installed"),
    ("reset-mcu", 0, lambda s: ["reset-mcu", "--config", s / "ok.toml"], "", None, fake_gpio),
    ("commission", 2, lambda s: ["commission", "--config", s / "ok.toml", "--only", "roof"], "invalid choice"),
    ("commission", 2, lambda s: ["commission", "--config", s / "typo.toml"], "unknown section"),
    ("commission", 2, lambda s: ["commission", "--config", s / "ok.toml", "--yes"], "/dev/no-such-port"),
    ("register", 2, lambda s: ["register", "--config", s / "typo.toml"], "unknown section"),
    ("register", 0, lambda s: ["register", "--config", s / "ok.toml", "--dir", s / "keys", "--group", MY_GROUP], ""),
    ("register", 2, lambda s: ["register", "--config", s / "ok.toml", "--dir", s / "keys", "--group", MY_GROUP], "already exist"),
    ("verify", 0, lambda s: ["--db", s / "ledger.db", "verify"], ""),
    ("verify", 1, lambda s: ["--db", tampered(s), "verify"], ""),
    ("verify", 2, lambda s: ["--db", s / "missing.db", "verify"], "no ledger at"),
    ("verify", 2, lambda s: ["verify", "--db"], "expected one argument"),
    ("import", 0, lambda s: ["--db", s / "ledger.db", "import", "skus", s / "skus.csv"], ""),
    ("import", 2, lambda s: ["--db", s / "ledger.db", "import", "skus", s / "skus-bad.csv"],
     "row 2, field 'unit_cost': 100000000000000000000 is too large: at most 10000000.00"),
    ("import", 2, lambda s: ["--db", s / "ledger.db", "import", "skus", s / "skus-quote.csv"],
     "row 2, field None: has a quote (\")"),
    ("import", 2, lambda s: ["--db", s / "ledger.db", "import", "skus", s / "skus.csv", "--cabinet", s / "ok.toml"],
     "--cabinet checks the units of a locations file"),
    ("import", 2, lambda s: ["--db", s / "ledger.db", "import", "locations", s / "locations.csv", "--cabinet",
                             s / "missing.toml"], "cannot read the cabinet file"),
    ("import", 2, lambda s: ["--db", s / "no-folder" / "ledger.db", "import", "skus", s / "skus.csv"],
     "cannot open the ledger"),
    ("import", 2, lambda s: ["--db", s / "ledger.db", "import", "parts", s / "skus.csv"], "invalid choice: 'parts'"),
    ("import", 2, lambda s: ["import", "skus", s / "skus.csv"], "needs --db FILE"),
    ("export", 0, lambda s: ["--db", s / "ledger.db", "export", "transactions", s / "out.csv"], ""),
    ("export", 2, lambda s: ["--db", s / "ledger.db", "export", "transactions", s / "no-folder" / "out.csv"],
     "No such file or directory"),
    ("export", 2, lambda s: ["--db", s / "ledger.db", "export", "transactions", s / "o.csv", "--since", "x"],
     "invalid int value"),
    ("users", 0, lambda s: ["--db", s / "ledger.db", "users", "--json"], ""),
    ("users", 2, lambda s: ["--db", s / "ledger.db", "users", "--role", "janitor"], "invalid choice"),
    ("set-pin", 0, lambda s: ["--db", s / "ledger.db", "set-pin", "tech-1"], "", "97531\n"),
    ("set-pin", 2, lambda s: ["--db", s / "ledger.db", "set-pin", "ghost"], "no user 'ghost'", "97531\n"),
    ("set-pin", 2, lambda s: ["--db", s / "ledger.db", "set-pin", "tech-1"], "digits", "12ab\n"),
    ("unlock-user", 0, lambda s: ["--db", s / "ledger.db", "unlock-user", "tech-1"], ""),
    ("unlock-user", 2, lambda s: ["--db", s / "ledger.db", "unlock-user", "ghost"], "no user 'ghost'"),
    ("stock", 0, lambda s: ["--db", s / "ledger.db", "stock", "--below-min"], ""),
    ("stock", 2, lambda s: ["--db", s / "missing.db", "stock"], "no ledger at"),
    ("transactions", 0, lambda s: ["--db", s / "ledger.db", "transactions", "--last", "5"], ""),
    ("transactions", 2, lambda s: ["--db", s / "ledger.db", "transactions", "--last", "0"], "at least 1"),
    ("refill-tasks", 0, lambda s: ["--db", s / "ledger.db", "refill-tasks", "--all"], ""),
    ("refill-tasks", 2, lambda s: ["refill-tasks"], "needs --db FILE"),
    ("alerts", 0, lambda s: ["--db", s / "ledger.db", "alerts"], ""),
    ("alerts", 2, lambda s: ["--db", s / "missing.db", "alerts"], "no ledger at"),
    ("count-tasks", 0, lambda s: ["--db", s / "ledger.db", "count-tasks", "--json"], ""),
    ("count-tasks", 2, lambda s: ["--db", s / "missing.db", "count-tasks"], "no ledger at"),
    ("tools", 0, lambda s: ["--db", s / "ledger.db", "tools"], ""),
    ("tools", 2, lambda s: ["tools"], "needs --db FILE"),
    ("tool-lost", 2, lambda s: ["--db", s / "ledger.db", "tool-lost", "7", "--by", "ghost"], "no user 'ghost'"),
    ("tool-lost", 2, lambda s: ["--db", s / "ledger.db", "tool-lost", "0", "--by", "tech-1"], "at least 1"),
    ("report", 0, lambda s: ["--db", s / "ledger.db", "report", "--month", "2026-02", "--out", s / "report"], ""),
    ("report", 2, lambda s: ["--db", s / "ledger.db", "report", "--month", "2026-13"], "2026-13"),
]
RAN |= {(case[0], case[1]) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=["%s-%d-%d" % (c[0], c[1], i) for i, c in enumerate(CASES)])
def test_each_command_exits_as_documented(site, case):
    command, status, argv, said, stdin, env = (tuple(case) + (None, None))[:6]
    done = run(argv(site), stdin=stdin, env=env(site) if env else None)
    assert done.returncode == status, (done.stdout, done.stderr)
    if status == 2:
        # Ours ("locker-agent: error: ...") or argparse's ("locker-agent import: error: ..." after the usage).
        assert said in done.stderr and re.search(r"^locker-agent( \S+)?: error: ", done.stderr, re.M), done.stderr


RAN |= {("run", 0), ("run", 2), ("run", 3)}
RAN |= {("tool-lost", 0)}   # needs a tool out on loan: tests/test_tools.py marks one lost from the command line


def test_run_exits_2_on_a_ledger_folder_or_port_it_cannot_use_0_when_stopped_and_3_when_the_link_fails(
        tmp_path):
    sim, port = simulated_cabinet()
    try:
        # A ledger in a folder that is not there (the missing /var/lib/smart-locker of a half-done install).
        config = write_agent_config(tmp_path, port, agent={"timesync_flag": "synced"})
        config.write_text(config.read_text().replace('ledger = "ledger.db"', 'ledger = "no-folder/ledger.db"'))
        done = run(["run", "--config", config])
        assert done.returncode == 2 and "cannot open the ledger %s" % (tmp_path / "no-folder/ledger.db") in done.stderr
        # The API port already taken (another agent, another service).
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            config = write_agent_config(tmp_path, port)
            config.write_text(config.read_text().replace("port = 0", "port = %d" % taken.getsockname()[1]))
            done = run(["run", "--config", config])
        assert done.returncode == 2 and "[api]" in done.stderr and "Address already in use" in done.stderr
        # A broker name that does not resolve (DNS not up yet at boot): the agent runs and keeps trying.
        (tmp_path / "k").write_text("00" * 32 + "\n")
        config = write_agent_config(tmp_path, port, cloud={"host": "no-such-host.invalid", "tenant": "t", "site": "s",
                                                           "key_file": "k"})
        agent = AgentProcess(config).start()
        agent.wait_ready()
        waited = threading.Event()
        for _ in range(200):
            if "cannot reach no-such-host.invalid" in agent.log() or waited.wait(0.05):
                break
        assert "cannot reach no-such-host.invalid" in agent.log()
        # A second agent on the cabinet port this one holds.
        second = tmp_path / "second"
        second.mkdir()
        done = run(["run", "--config", write_agent_config(second, port)])
        assert done.returncode == 2 and "cannot open the cabinet port %s" % port in done.stderr
        assert agent.stop() == 0 and "Traceback" not in agent.log()
        # The cabinet link failing while running: exit 3, for the service manager to restart the agent.
        agent = AgentProcess(write_agent_config(tmp_path, port)).start()
        sim.bridge.stop()
        assert agent.proc.wait(30) == 3
        agent.proc.stdout.close()
        assert "Traceback" not in agent.log()
    finally:
        sim.bridge.stop()


RAN |= {("commission", 0), ("commission", 1)}


def test_commission_exits_1_when_a_check_fails_and_0_when_all_pass(tmp_path):
    sim, port = commissioning_cabinet(Faults(stuck_doors=[2]), leave_open=False)
    try:
        config = write_agent_config(tmp_path, port, cabinet_id="CAB-7")
        (tmp_path / "locations.csv").write_text("\n".join(LAYOUT) + "\n")
        assert run(["--db", tmp_path / "ledger.db", "import", "locations", tmp_path / "locations.csv"]).returncode == 0
        status, _, stderr = commission(config, "--only", "doors", "--yes")
        assert status == 1 and "Traceback" not in stderr
        sim.bridge.call(lambda s: setattr(s.physics.door(2), "stuck", False))
        status, _, stderr = commission(config, "--only", "doors", "--yes")
        assert status == 0 and "Traceback" not in stderr
    finally:
        sim.bridge.stop()


def test_every_documented_exit_status_is_run():
    commands = set(locker_agent.build_parser()._subparsers._group_actions[0].choices)
    table = documented()
    assert {command for command, _ in table} == commands
    assert RAN == table
    assert {status for _, status in table} == {0, 1, 2, 3}

