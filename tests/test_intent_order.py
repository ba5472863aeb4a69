"""The durability order, checked at the hardware boundary on every actuating command: when the host's bytes
for a command reach the cabinet's UART, its intent row is already COMMITTED in the ledger file, as a second,
read-only SQLite connection (another process would see the same) reads it. Before this test only the
minute-long random SIGKILL test (test_crash_recovery.py) could notice an intent committed late; this one is
fast and deterministic, and runs every flow that drives the cabinet through the agent: a lane vend, a door
unlock, a tool lent and returned, a jammed lane cleared by a supervisor, the installer's door and lane tests,
a lane re-enabled, a bin tared and calibrated, a driver's refill door, a remote unlock from the cloud."""
import sqlite3
import struct

import pytest

from edge_agent.app.agent import Agent
from edge_agent.app.config import AgentConfig
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.rules.refusal import Refusal
from firmware import messages as M
from firmware.codec import FrameDecoder
from sim.virtual_host import VirtualCabinet
from tests.cabinets import CAL_MG, cabinet
from tests.ledgers import ledger_from_csv, rows_of

SKUS = """part_number,description,category,supplier
WSH,Washer M8,hardware,Acme
INS,Carbide insert,cutting,Acme
TRQ,Torque wrench,tools,Acme
GLV,Gloves,ppe,Acme
"""
LOCATIONS = """id,kind,unit,sku,on_hand,min,max,piece_weight_mg,returnable,loan_hours
B1,bin,1,WSH,0,0,60,12500,,
L1,lane,1,INS,8,2,8,,,
L9,lane,9,GLV,8,2,8,,,
D1,door,1,TRQ,1,0,1,,yes,8
D2,door,2,GLV,4,2,6,,,
"""
USERS = """id,name,role,supplier,badges
T1,Ana,technician,,04A1B2C3
S1,Dee,supervisor,,0A0B0C0D
R1,Ray,route_driver,Acme,CAFEF00D
"""
NAMES = {getattr(M, name): name for name in ("UNLOCK", "VEND", "TARE", "CALIBRATE", "CLEAR_LANE", "HOME_CHECK")}
assert set(NAMES) == set(M.ACTUATION_ARGS)      # every actuating kind the protocol has is watched


class CommitWitness:
    """Sits on the simulated cabinet's UART input: decodes every frame the host writes, and for each
    actuating command asks a separate read-only connection to the ledger file whether its intent (the row
    whose cmd_id the command carries) is committed."""

    def __init__(self, sim, ledger_path):
        self.reader = sqlite3.connect("file:%s?mode=ro" % ledger_path, uri=True, check_same_thread=False)
        self.sent = []               # (command name, cmd_id, intent committed when the bytes left)
        self.decoder = FrameDecoder(self._frame)
        write = sim.uart_host_write

        def witnessed(data):
            self.decoder.feed(data)
            return write(data)

        sim.uart_host_write = witnessed

    def _frame(self, seq, kind, payload):
        if kind in M.ACTUATION_ARGS:
            _boot, cmd_id = struct.unpack_from(M.ACT_FMT, bytes(payload))
            committed = self.reader.execute("SELECT 1 FROM transactions WHERE kind = 'intent' AND cmd_id = ?",
                                            [cmd_id]).fetchone() is not None
            self.sent.append((NAMES[kind], cmd_id, committed))


@pytest.fixture
def witnessed(tmp_path):
    ledger = ledger_from_csv(tmp_path, skus=SKUS, locations=LOCATIONS, users=USERS)
    ledger.db["role_allows"].insert_all([{"role": "technician", "category": c}
                                         for c in ("hardware", "cutting", "tools", "ppe")])
    ledger.close()
    sim, host = cabinet(sim={"bin_pieces": 0}, lane=[{"number": 9, "jammed": True}])
    path = tmp_path / "ledger.db"
    witness = CommitWitness(sim, path)
    config = AgentConfig(cabinet_id="CAB-T", ledger=path, cabinet_port="virtual")
    agent = Agent(lambda: open_ledger(path, ManualClock()), VirtualCabinet(host), config)
    agent.start()
    yield agent, sim, witness, path
    agent.stop()
    witness.reader.close()


def as_person(agent, badge, *jobs):
    agent.call(agent.tap, badge)
    for fn, *args in jobs:
        try:
            agent.call(fn, *args)
        except Refusal:
            pass                      # a bin that would not settle, say: the command went out all the same
    agent.call(agent.logout)


def test_no_actuating_command_reaches_the_cabinet_before_its_intent_is_committed(witnessed):
    agent, sim, witness, path = witnessed
    as_person(agent, "04A1B2C3",
              (agent.issue, "L1", 2),                 # VEND, twice
              (agent.issue, "D2", 1),                 # UNLOCK a door
              (agent.issue, "D1", 1),                 # a tool lent: UNLOCK
              (agent.give_back, "D1", "good"),        # and returned: UNLOCK
              (agent.issue, "L9", 1))                 # a jam
    as_person(agent, "0A0B0C0D",
              (agent.clear_lane, "L9"),               # a supervisor clears it: CLEAR_LANE
              (agent.test_door, "D2"),                # the installer's tests
              (agent.test_lane, "L1"),
              (agent.reenable_lane, "L9"),
              (agent.tare_bin, "B1"))
    sim.physics.bin(1).place(CAL_MG / 1000)
    as_person(agent, "0A0B0C0D", (agent.calibrate_bin, "B1", CAL_MG))
    as_person(agent, "CAFEF00D", (agent.open_for_refill, "D2"))     # a driver's refill door
    agent.call(agent.remote_unlock, 2, "cmd-1", "driver locked out")  # the cloud's signed unlock
    agent.stop()

    late = [(name, cmd_id) for name, cmd_id, committed in witness.sent if not committed]
    assert late == [], "driven before its intent was committed: %s" % late
    assert {name for name, _, _ in witness.sent} == {"VEND", "UNLOCK", "CLEAR_LANE", "TARE", "CALIBRATE"}
    with open_ledger(path, ManualClock(), count_boot=False) as ledger:
        intents = rows_of(ledger, "intent")
        assert {i["action"] for i in intents} == {"issue", "return", "refill", "clear_lane", "tare", "calibrate"}
        assert {i["user_id"] for i in intents} == {"T1", "S1", "R1", "cloud:cmd-1"}
        # every intent was witnessed going out (a command never sent is no test of the order)
        assert sorted({cmd_id for _, cmd_id, _ in witness.sent}) == [i["cmd_id"] for i in intents]
