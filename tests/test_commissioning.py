"""`locker-agent commission` against the simulated cabinet behind a real pty: the installer's prompts are
answered through the command's stdin by doing what they ask on the simulated hardware (empty a bin, put the
reference weight on, close a door). Faults: a jammed lane and a miswired door (its latch output wired to
another door's solenoid), both in the sim's hardware layer only."""
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_agent.cloud import outbox
from edge_agent.link.serial import CabinetLink
from edge_agent.flows.weighing import stable_reading
from sim.cabinet import Faults, SimCabinet, serve_pty
from hub.contract import check_batch, errors
from tests.agent_process import AgentProcess, ledger_of, write_agent_config
from tests.cabinets import example_config

LOCKER_AGENT = str(Path(sys.executable).parent / "locker-agent")
RUN_TIMEOUT_S = 120
REFERENCE_G = 500
LAYOUT = (["id,kind,unit,min,max"] + ["D%d,door,%d,0,0" % (n, n) for n in range(1, 5)]
          + ["L%d,lane,%d,0,0" % (n, n) for n in range(1, 13)] + ["B%d,bin,%d,0,0" % (n, n) for n in range(1, 5)])


def cabinet(faults=None, leave_open=True, **sim):
    """The example cabinet (4 doors, 12 empty lanes, 4 bins of 40 pieces) on a pty at 3x real time. Doors stay
    open until the installer closes them; turns are short to keep the run short."""
    raw = example_config(sim=dict({"lane_items": 0, "door_leave_open": leave_open, "door_hold_open_ms": 300}, **sim))
    raw["lane_matrix"].update(turn_ms=600, debounce_ms=10, settle_ms=200)
    for door in raw["door"]:
        door["open_window_s"] = 3           # a door that does not open fails after 1 s of real time
    sim = SimCabinet(raw, seed=3, faults=faults or Faults(), firmware_errors="raise")
    return sim, serve_pty(sim, 3.0)


@pytest.fixture
def site(tmp_path):
    """A site folder: agent config for a cabinet (set by the test) and a ledger with the cabinet's layout."""
    def make(port):
        config = write_agent_config(tmp_path, port, cabinet_id="CAB-7")
        (tmp_path / "locations.csv").write_text("\n".join(LAYOUT) + "\n")
        done = subprocess.run([LOCKER_AGENT, "--db", str(tmp_path / "ledger.db"), "import", "locations",
                               str(tmp_path / "locations.csv")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return config
    return make


def _number(text, after):
    return int(re.search(after + r" (\d+)", text).group(1))


class Installer:
    """Does what a prompt asks on the simulated cabinet, as a person at the cabinet would."""

    def __init__(self, sim):
        self.sim = sim
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        physics = self.sim.bridge.call
        if "take everything out of it" in prompt:
            n = _number(prompt, "Bin")
            physics(lambda s: setattr(s.physics.bin(n), "pieces", 0))
        elif prompt.startswith("Place the"):
            n = _number(prompt, "on bin")
            physics(lambda s: s.physics.bin(n).place(REFERENCE_G))
        elif prompt.startswith("Take the reference weight off"):
            n = _number(prompt, "off bin")
            physics(lambda s: s.physics.bin(n).place(0))
        elif "open: close" in prompt:
            for n in map(int, re.findall(r"[Dd]oor (\d+)", prompt)):
                physics(lambda s, n=n: s.physics.door(n).close())


def commission(config, *args, answer=None):
    """Run the command; answer(prompt) is called for every prompt before Enter is sent. Returns
    (exit status, stdout, stderr)."""
    proc = subprocess.Popen([LOCKER_AGENT, "commission", "--config", str(config), "--installer", "kari", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks, out = queue.Queue(), {}

    def pump(stream, into):
        while True:
            data = os.read(stream.fileno(), 4096)
            into(data)
            if not data:
                return
    threading.Thread(target=pump, args=(proc.stderr, chunks.put), daemon=True).start()
    reader = threading.Thread(target=lambda: out.update(text=proc.stdout.read()), daemon=True)
    reader.start()
    err, pending, end = b"", b"", time.monotonic() + RUN_TIMEOUT_S
    while True:
        data = chunks.get(timeout=max(0.0, end - time.monotonic()))
        if not data:
            break
        err += data
        pending += data
        while b"press Enter. " in pending:
            line, pending = pending.split(b"press Enter. ", 1)
            if answer is not None:
                answer(line.decode().rsplit("\n", 1)[-1] + "press Enter.")
            proc.stdin.write(b"\n")
            proc.stdin.flush()
    status = proc.wait(max(0.0, end - time.monotonic()))
    reader.join(5)
    return status, out.get("text", b"").decode(), err.decode()


def jam_alerts(ledger):
    return [r[0] for r in ledger.db.execute("SELECT location FROM alerts WHERE kind = 'lane_jammed' "
                                            "AND cleared_wall IS NULL")]


def checks_by_unit(report):
    return {(c["unit"], c["number"]): c for c in report["checks"]}


def test_a_jammed_lane_and_a_miswired_door_fail_with_what_to_check_and_the_rest_passes(site, tmp_path):
    sim, port = cabinet(Faults(jammed_lanes=[5], miswired_doors=[(3, 4)]))
    try:
        config = site(port)
        installer = Installer(sim)
        status, stdout, stderr = commission(config, "--json", "--weight-g", str(REFERENCE_G),
                                            "--report", str(tmp_path / "out" / "commissioning.json"), answer=installer)
        assert status == 1, stderr
        report = json.loads(stdout)
        checks = checks_by_unit(report)
        assert len(checks) == 4 + 12 + 4 and report["passed"] is False

        door3, lane5 = checks.pop(("door", 3)), checks.pop(("lane", 5))
        assert door3["status"] == "failed" and "opened door 4 instead" in door3["message"]
        assert "check the solenoid wiring of door 3 and door 4" in door3["message"]
        assert lane5["status"] == "failed" and "jammed" in lane5["message"] and "never left home" in lane5["message"]
        assert {k: c["status"] for k, c in checks.items()} == {k: "passed" for k in checks}
        # The installer was asked for every physical step, and the miswired door's neighbour got closed.
        assert sum("reference weight on bin" in p for p in installer.prompts) == 4
        assert "Door 4 open: close it and press Enter." in installer.prompts

        # Calibration: a factor per bin in the report, in the firmware's flash, and the bins weigh right.
        for n in range(1, 5):
            assert 200 <= checks[("bin", n)]["counts_per_g"] <= 220          # the sim's cells: 210 +- 2 %
            assert abs(checks[("bin", n)]["reading_mg"] - REFERENCE_G * 1000) <= report["tolerance_mg"]
        stored = sim.bridge.call(lambda s: s.hal.load("calibration"))
        assert sorted(stored) == ["1", "2", "3", "4"] and all(r["cal_mg"] == REFERENCE_G * 1000 for r in stored.values())
        sim.bridge.call(lambda s: s.physics.bin(2).place(REFERENCE_G))
        with CabinetLink(port) as link:
            assert abs(stable_reading(link, 2, wait=lambda ms: time.sleep(ms / 1000)).weight_mg
                       - REFERENCE_G * 1000) <= report["tolerance_mg"]

        # The report as files: the JSON the command printed, and a readable Markdown beside it.
        assert json.loads((tmp_path / "out" / "commissioning.json").read_text()) == report
        text = (tmp_path / "out" / "commissioning.md").read_text()
        assert "FAILED" in text and "2 of 20 checks failed" in text and "opened door 4 instead" in text

        with ledger_of(tmp_path) as ledger:
            (row,) = ledger.db.query("SELECT * FROM commissioning_reports")
            assert row["passed"] == 0 and json.loads(row["report"]) == {k: v for k, v in report.items()
                                                                        if k != "report_id"}
            # Every pulse and turn is an intent with its outcome; the jam is an open alert, as after any vend.
            assert ledger.pending_intents() == [] and ledger.verify().ok
            outcomes = {r["location"]: r["outcome"] for r in ledger.db.query(
                "SELECT location, outcome FROM transactions WHERE kind = 'outcome' AND user_id = 'installer:kari'")}
            assert outcomes["D3"] == "not_opened" and outcomes["L5"] == "jammed" and outcomes["L1"] == "no_drop"
            assert jam_alerts(ledger) == ["L5"]
            # For the cloud: the outbox event, valid against the contract's schema.
            batch = outbox.read_batch(ledger, "events", 0)
            (event,) = [e for e in batch.items if e["type"] == "commissioning_report"]
            assert event["passed"] is False and event["checks"] == report["checks"]
            payload = dict(v=1, cabinet="CAB-7", session=1, sent_wall=event["wall"], clock_synced=True,
                           stream="events", first_seq=batch.first_seq, last_seq=batch.last_seq, backlog=False,
                           events=batch.items)
            assert errors("event_batch", payload) == []
            check_batch(payload)

        # The installer frees the spiral and checks the lanes again: lane 5 turns, its jam alert clears.
        sim.bridge.call(lambda s: setattr(s.physics.lane(5), "jammed", False))
        status, stdout, stderr = commission(config, "--only", "lanes", "--yes")
        assert status == 0, stdout + stderr
        assert "lane 5: turned home to home" in stdout and "re-enabled for this test" in stdout
        with ledger_of(tmp_path) as ledger:
            assert jam_alerts(ledger) == []
            assert [r["passed"] for r in ledger.db.query("SELECT passed FROM commissioning_reports ORDER BY id")] == [0, 1]
    finally:
        sim.bridge.stop()


def test_a_healthy_cabinet_passes_without_prompts_and_a_stuck_door_is_named(site, tmp_path):
    sim, port = cabinet(Faults(stuck_doors=[2]), leave_open=False)
    try:
        config = site(port)
        status, stdout, stderr = commission(config, "--only", "doors", "--yes")
        assert status == 1, stderr
        assert ("door 2: latch pulsed but the door sensor never changed; check door 2's solenoid wiring"
                in stdout)
        for n in (1, 3, 4):
            assert re.search(r"ok +D%d +door %d: latch opened the door in \d+ ms" % (n, n), stdout)
        assert "[--yes: going on]" in stdout and "FAILED: 4 checks, 1 failed" in stdout
        (written,) = (tmp_path / "commissioning").glob("CAB-7-*.json")         # the default place: by the ledger
        assert json.loads(written.read_text())["parts"] == ["doors"]

        sim.bridge.call(lambda s: setattr(s.physics.door(2), "stuck", False))
        status, stdout, stderr = commission(config, "--only", "doors", "--yes")
        assert status == 0 and "PASSED: 4 checks, 0 failed" in stdout, stdout + stderr
        assert sim.bridge.call(lambda s: [s.physics.door(n).opens for n in range(1, 5)]) == [2, 1, 2, 2]
    finally:
        sim.bridge.stop()


def test_it_refuses_to_share_the_port_with_a_running_agent_and_moves_nothing(site, tmp_path):
    sim, port = cabinet()
    agent = AgentProcess(site(port))
    try:
        agent.start()
        agent.wait_ready()
        status, stdout, stderr = commission(agent.config_path, "--yes")
        assert status == 2
        assert "the cabinet port %s is busy" % port in stderr and "Stop the agent first" in stderr
        assert sim.bridge.call(lambda s: sum(d.opens for d in s.physics.doors)) == 0
        with ledger_of(tmp_path) as ledger:
            assert ledger.db["commissioning_reports"].count == 0
    finally:
        agent.kill()
        sim.bridge.stop()


def test_a_cabinet_that_does_not_answer_is_said_clearly(site, tmp_path):
    master, slave = os.openpty()                     # a port with nothing behind it
    try:
        status, stdout, stderr = commission(site(os.ttyname(slave)), "--yes")
    finally:
        os.close(master)
        os.close(slave)
    assert status == 2 and "the cabinet does not answer on" in stderr
