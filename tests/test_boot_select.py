"""The boot selector's rule on real MicroPython: which slot boots, one trial for a new one, fall back when the
trial never reports healthy. The firmware is replaced by a stand-in run() so each case is one boot."""
import json

import pytest

from tests.micropython import run_micropython

PRELUDE = """
import os, sys, json
for d in ('/fw', '/fw/a', '/fw/b'):
    try:
        os.mkdir(d)
    except OSError:
        pass
with open('/lib/machine.py', 'w') as f:
    f.write('class Reset(BaseException):\\n    pass\\ndef reset():\\n    raise Reset()\\n')
import machine
import firmware.boot_select as bs

def put(path, text):
    with open(path, 'w') as f:
        f.write(text)

def state():
    out = {}
    for name in ('active', 'next', 'trial'):
        try:
            with open('/fw/' + name) as f:
                out[name] = f.read()
        except OSError:
            out[name] = None
    return out

ran = []
def healthy(slot_dir, on_healthy):
    ran.append(slot_dir)
    if on_healthy:
        on_healthy()
def hangs(slot_dir, on_healthy):       # never reports healthy; the watchdog resets the board
    ran.append(slot_dir)
    raise machine.Reset()
def crashes(slot_dir, on_healthy):
    ran.append(slot_dir)
    raise ValueError('broken firmware')
def interrupted(slot_dir, on_healthy):
    ran.append(slot_dir)
    raise KeyboardInterrupt()

def boot(run):
    try:
        bs.boot(run)
        return 'returned'
    except machine.Reset:
        return 'reset'
    except KeyboardInterrupt:
        return 'interrupted'
"""


def run_case(body):
    out = run_micropython(PRELUDE + body + "\nprint(json.dumps({'ran': ran, 'state': state()}))\n")
    lines = out.strip().splitlines()
    return json.loads(lines[-1]), lines[:-1]


def test_a_healthy_trial_becomes_the_active_slot():
    result, said = run_case("put('/fw/active', 'a')\nput('/fw/next', 'b')\nprint(boot(healthy))")
    assert result["ran"] == ["/fw/b"]
    assert result["state"] == {"active": "b", "next": None, "trial": None}
    assert "boot_select: slot b healthy" in said


def test_a_trial_that_never_reports_healthy_falls_back_on_the_next_boot():
    result, said = run_case(
        "put('/fw/active', 'a')\nput('/fw/next', 'b')\n"
        "print(boot(hangs))\n"            # the trial boot: the watchdog resets it
        "print(boot(healthy))\n")         # the next boot runs the old slot
    assert said[-1] == "returned" and "reset" in said
    assert result["ran"] == ["/fw/b", "/fw/a"]
    assert result["state"] == {"active": "a", "next": None, "trial": None}
    assert any("slot b never reported healthy; falling back to slot a" in line for line in said)


def test_a_trial_that_raises_falls_back_at_once():
    result, said = run_case(
        "put('/fw/active', 'a')\nput('/fw/next', 'b')\nprint(boot(crashes))\nprint(boot(healthy))")
    assert result["ran"] == ["/fw/b", "/fw/a"]
    assert result["state"] == {"active": "a", "next": None, "trial": None}
    assert any("ValueError: broken firmware" in line for line in said)


def test_stopping_a_trial_at_the_repl_is_not_a_failure():
    result, _ = run_case(
        "put('/fw/active', 'a')\nput('/fw/next', 'b')\nprint(boot(interrupted))\nprint(boot(healthy))")
    assert result["ran"] == ["/fw/b", "/fw/b"]
    assert result["state"] == {"active": "b", "next": None, "trial": None}


def test_without_a_next_slot_the_active_one_runs_and_nothing_changes():
    result, _ = run_case("put('/fw/active', 'b')\nprint(boot(healthy))")
    assert result["ran"] == ["/fw/b"]
    assert result["state"] == {"active": "b", "next": None, "trial": None}


@pytest.mark.parametrize("junk", ["", "c", "a\x00"])
def test_a_missing_or_garbled_next_file_is_ignored(junk):
    result, _ = run_case("put('/fw/active', 'a')\nput('/fw/next', %r)\nprint(boot(healthy))" % junk)
    assert result["ran"] == ["/fw/a"] and result["state"]["active"] == "a"


def test_first_install_that_fails_leaves_no_firmware_running_but_the_repl():
    result, said = run_case("put('/fw/next', 'a')\nprint(boot(crashes))\nprint(boot(healthy))")
    assert result["ran"] == ["/fw/a"]
    assert "boot_select: no firmware installed" in said
    assert result["state"] == {"active": None, "next": None, "trial": None}


def test_switching_is_one_rename_over_the_old_file():
    result, _ = run_case("put('/fw/active', 'a')\nbs.write_slot('/fw/active', 'b')\nprint(os.listdir('/fw'))")
    assert result["state"]["active"] == "b"
