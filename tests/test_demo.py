"""The README's main job: locker-sim demo runs a scripted session over a real pty with the agent's real
link client, and says what happened in words a person understands."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_vends_opens_a_door_weighs_a_bin_and_does_not_charge_an_empty_lane():
    run = subprocess.run([sys.executable, "-m", "sim.cli", "demo", "--config", "examples/cabinet.toml",
                          "--speed", "3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "4 doors, 12 lanes, 4 bins" in out
    assert "Bin 1: calibrated" in out
    stocked = re.search(r"stocked with 40 pieces, reads ([\d.]+) g", out)
    assert stocked and abs(float(stocked.group(1)) - 500) < 2       # 40 x 12.5 g
    assert "Take your item: lane 3 vended" in out and "(1 turn), charged" in out
    assert "Door 2 is open" in out and "Door 2 closed after" in out
    assert "Bin 1: you took 4 (" in out
    assert "Lane 12: NO_DROP after 2 turns" in out and "not charged" in out


def test_the_demo_refuses_a_missing_config_in_one_line():
    run = subprocess.run([sys.executable, "-m", "sim.cli", "demo", "--config", "no/such.toml"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == "locker-sim: error: cannot read no/such.toml: No such file or directory"
