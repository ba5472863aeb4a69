"""bench/tap_to_command.py still runs end to end (its own pcscd rig, the agent process, the simulated
cabinet) at a tiny size, as a subprocess finishing with its JSON line. No timing is asserted here."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("tap_to_identified", "tap_to_pcscd", "pcscd_to_get_uid", "tap_to_get_uid", "get_uid_to_identified",
           "issue_to_unlock", "issue_to_vend", "issue_answered_unlock", "issue_answered_vend",
           "tap_to_unlock", "tap_to_vend", "pcscd_to_unlock", "pcscd_to_vend")


def test_tap_to_command_bench_runs_and_prints_its_figures(tmp_path):
    # libpcsclite reads PCSCLITE_CSOCK_NAME once per process: the bench starts its own pcscd and must not be
    # pointed at this session's rig.
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "tap_to_command.py"), "--count", "3",
                           "--dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) > 1, "the bench prints its figures before the JSON line"
    out = json.loads(lines[-1])
    assert out["bench"] == "tap_to_command" and out["count"] == 3
    for key in FIGURES:
        assert out[key]["n"] == 3 and {"p50_ms", "p99_ms", "max_ms"} <= set(out[key]), key
    assert {"sim_speed", "reader_poll_s", "api_poll_ms", "command_frames_max"} <= set(out)
    assert list(tmp_path.iterdir()) == []                                   # its temp dir is gone
