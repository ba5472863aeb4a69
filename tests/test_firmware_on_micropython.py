"""The firmware logic on real MicroPython (the official WebAssembly build): the same scripted session on the
same simulated physics prints exactly the same thing under MicroPython as under CPython."""
import json
import tomllib

from firmware.config import normalize
from sim import scenario
from tests.cabinets import EXAMPLE
from tests.micropython import run_micropython


def _inputs():
    raw = tomllib.loads(EXAMPLE.read_text())
    return normalize(raw), raw["sim"]


RUN = """
import json
from sim.scenario import Scenario, script
config = json.loads(%r)
sim_table = json.loads(%r)
sc = Scenario(config, sim_table)
script(sc)
"""


def test_a_whole_session_behaves_identically_on_micropython_and_cpython():
    config, sim_table = _inputs()
    lines = []
    sc = scenario.Scenario(config, sim_table, out=lines.append)
    scenario.script(sc)
    on_micropython = run_micropython(RUN % (json.dumps(config), json.dumps(sim_table)), timeout=600)
    assert on_micropython.splitlines() == lines
    text = "\n".join(lines)
    # And the session did what it says: a vend, an empty lane, a door, a forced door, a weighed take, a jam.
    assert "event 7 (1, 17, 1, 3, 1)" in text            # cmd 1 VEND done: VENDED after 1 turn
    assert "event 7 (2, 17, 1, 4, 2)" in text            # cmd 2 VEND done: NO_DROP after 2 turns
    assert "event 5 (4,)" in text                        # door 4 forced
    assert "event 7 (6, 17, 1, 5, 1)" in text            # cmd 6 VEND done: JAMMED, never left home
    assert "answer 91 status 8" in text                  # then E_LANE_DISABLED
    assert lines[-1].startswith("safety max_concurrent 1 ")
