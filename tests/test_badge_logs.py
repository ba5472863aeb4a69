"""Logs and keys (issue 14, item 8): a tap never puts the badge number in the log (journald keeps it, and a
125 kHz card is cloned from its number). The real agent process (`locker-agent run`) with a 125 kHz serial
module on a real pty and the simulated cabinet; what it wrote to stderr (the journal on a Pi) is read back."""
import os
import re
import threading
import time
import tty

import pytest

from edge_agent.badge.ids import log_tag
from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv
from tests.test_badge_readers import frame

KNOWN, UNKNOWN = "0F00A1B2C3", "1A2B3C4D5E"


@pytest.fixture
def locker(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    sim, port = simulated_cabinet()
    ledger_from_csv(tmp_path, users="id,name,role,badges\nT100,Ana,technician,%s\n" % KNOWN).close()
    agent = AgentProcess(write_agent_config(tmp_path, port, readers={"serial": os.ttyname(slave)})).start()
    try:
        agent.wait_ready()
        yield (lambda data: os.write(master, data)), agent
    finally:
        agent.kill()
        sim.bridge.stop()
        os.close(master)
        os.close(slave)


def wait_for_log(agent, pattern, timeout=10.0):
    end = time.monotonic() + timeout
    while not re.search(pattern, agent.log()):
        if time.monotonic() > end:
            raise AssertionError("no %r in the log:\n%s" % (pattern, agent.log()[-3000:]))
        threading.Event().wait(0.05)


def test_a_tap_logs_a_tag_and_the_user_never_the_badge_number(locker):
    send, agent = locker
    send(frame(KNOWN))
    agent.wait_for_state(lambda state: state["session"])
    wait_for_log(agent, r"tap: badge#[0-9a-f]{6} -> Person T100")
    send(frame(UNKNOWN) + frame(UNKNOWN[:8] + "00", checksum=0x00))    # an unknown card; a bad frame
    wait_for_log(agent, r"tap: badge#[0-9a-f]{6} refused: unknown_badge")
    log = agent.log()
    for number in (KNOWN, UNKNOWN, KNOWN[2:], UNKNOWN[2:], UNKNOWN[:8]):
        assert number.lower() not in log.lower(), number
    tags = re.findall(r"tap: (badge#[0-9a-f]{6}) on ", log)
    assert len(tags) == 2 and tags[0] != tags[1]          # each badge can be followed through the log


def test_a_tag_is_short_keyed_and_the_same_for_one_badge():
    assert re.fullmatch(r"badge#[0-9a-f]{6}", log_tag(KNOWN))
    assert log_tag(KNOWN) == log_tag(KNOWN) != log_tag(UNKNOWN)
    import hashlib
    assert log_tag(KNOWN)[6:] not in (hashlib.sha256(KNOWN.encode()).hexdigest()[:6],
                                      hashlib.md5(KNOWN.encode()).hexdigest()[:6])   # not a plain hash
