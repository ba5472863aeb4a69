"""Issue 14, "Disk full mid-vend", on a real full filesystem: the test mounts a 16 MB tmpfs, puts the ledger
on it and fills it with a file, as a runaway log would. The agent runs in-process with its real worker, the
simulated cabinet in virtual time behind it; the disk fills while the lane turns (after the intent was
committed, before the outcome is written).

What a person and the supplier must see: the item that dropped is charged exactly once, after room returns,
and no lane turns twice; the locker stays closed meanwhile; below the configured free-space mark nothing is
actuated, the screen says why, and the disk_low alert goes out to the cloud and is cleared when room is back.

Mounting needs root (or CAP_SYS_ADMIN): without it the test fails saying so, it is never skipped."""
import json
import os
import subprocess

import pytest

from edge_agent import api
from edge_agent.app.agent import DISK_CHECK_S, RECOVER_RETRY_S, Agent, NotReady
from edge_agent.app.config import AgentConfig, AgentConfigError, load_agent_config
from edge_agent.app.worker import Worker
from edge_agent.cli import service
from edge_agent.ledger import LedgerUnwritable, ManualClock, open_ledger, record_admin_change
from edge_agent.ledger import refusal_tally
from edge_agent.ledger.alerts import open_alerts
from edge_agent.rules.refusal import Refusal
from sim.virtual_host import VirtualCabinet
from tests.api_client import ApiClient
from tests.cabinets import cabinet
from tests.ledgers import ledger_from_csv, rows_of
from tests.refusals import refused
from tests.test_agent import Ticks

SKUS = "part_number,description,category\nGLV,Gloves,ppe\n"
LOCATIONS = "id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,8,2,8\nD1,door,1,GLV,2,0,2\n"
USERS = "id,name,role,badges\nT1,Ana,technician,04A1B2C3\n"
MB = 2 ** 20


class Disk:
    """A small real filesystem the test fills and empties again."""

    def __init__(self, folder):
        self.folder = folder
        self.filler = folder / "runaway.log"

    def free(self):
        st = os.statvfs(self.folder)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """Write the filler until only `leave` bytes are free (0: until the filesystem says it is full)."""
        with open(self.filler, "ab") as f:
            for chunk in (MB, 4096, 1):
                try:
                    while self.free() - chunk >= leave:
                        f.write(b"x" * chunk)
                        f.flush()
                except OSError:           # ENOSPC: full at this chunk size, go on with smaller ones
                    pass
        assert self.free() <= max(leave, 4096)

    def empty(self):
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail("the full-disk test needs a real small filesystem and could not mount one (tmpfs at %s: "
                    "%s); run it as root or with CAP_SYS_ADMIN" % (folder, (mounted.stderr or "").strip()))
    try:
        ledger = ledger_from_csv(folder, skus=SKUS, locations=LOCATIONS, users=USERS)
        ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
        record_admin_change(ledger, "access rules written by the test")   # as an import would
        ledger.close()
        yield Disk(folder)
    finally:
        if subprocess.run(["umount", str(folder)]).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def locker(disk):
    """start(min_free_mb) -> (agent, sim, ticks): the agent on the small disk, the cabinet simulated."""
    agents = []

    def start(min_free_mb):
        sim, host = cabinet()
        ticks = Ticks()
        path = disk.folder / "ledger.db"
        config = AgentConfig(cabinet_id="CAB-T", ledger=path, cabinet_port="virtual", min_free_mb=min_free_mb)
        agent = Agent(lambda: open_ledger(path, ManualClock()), VirtualCabinet(host), config, clock=ticks)
        agent.start()
        agents.append(agent)
        return agent, sim, ticks

    yield start
    for agent in agents:
        agent.stop()


def passes(agent):
    """Two jobs: the worker's periodic tasks (recovery, checks) have run at least once between them."""
    agent.call(agent.state)
    return agent.call(agent.state)


def ledger_on(disk):
    return open_ledger(disk.folder / "ledger.db", ManualClock(), count_boot=False)


def test_disk_full_mid_vend_charges_the_dropped_item_once_room_returns_and_never_vends_twice(disk, locker):
    agent, sim, ticks = locker(min_free_mb=1)
    cab = agent.cabinet
    real_vend = cab.vend

    def vend_while_the_disk_fills(lane, cmd_id):
        answer = real_vend(lane, cmd_id)       # the lane turns, the item drops...
        disk.fill()                            # ...and meanwhile a runaway log takes the last byte
        return answer

    cab.vend = vend_while_the_disk_fills
    agent.call(agent.tap, "04A1B2C3")
    result = agent.call(agent.issue, "L1", 2)

    assert result.unknown and result.given == 0 and not result.ok
    assert "storage is full" in result.message and "database" not in result.message
    assert sim.physics.lane(1).dropped == 1 and sim.physics.safety.times_on("lane 1") == 1   # stopped at once
    assert passes(agent)["ready"] is False                 # closed until the outcome is written
    with pytest.raises(NotReady, match="storage is nearly full"):
        agent.call(agent.tap, "04A1B2C3")

    for _ in range(3):                                     # recovery tries every second; the disk is still full
        ticks.now += RECOVER_RETRY_S
        assert passes(agent)["ready"] is False
    with ledger_on(disk) as ledger:
        assert [i["location"] for i in ledger.pending_intents()] == ["L1"] and ledger.on_hand("L1") == 8

    disk.empty()                                           # the supplier makes room
    ticks.now += RECOVER_RETRY_S
    assert passes(agent)["ready"] is True
    assert sim.physics.lane(1).dropped == 1 and sim.physics.safety.times_on("lane 1") == 1   # never again
    agent.stop()
    with ledger_on(disk) as ledger:
        assert ledger.pending_intents() == [] and ledger.verify().ok
        assert [(o["outcome"], o["quantity"], o["user_id"]) for o in rows_of(ledger, "outcome")] == \
            [("vended", 1, "T1")]                           # charged once, to the person who took it
        assert ledger.on_hand("L1") == 7


def test_below_the_free_space_mark_the_locker_refuses_in_plain_words_and_the_cloud_is_told(disk, locker):
    agent, sim, ticks = locker(min_free_mb=8)
    agent.call(agent.tap, "04A1B2C3")
    disk.fill(leave=4 * MB)                                # room for records, less than the mark

    for location in ("L1", "D1"):
        refusal = refused(agent.call, agent.issue, location, 1)
        assert refusal.reason == "disk_low"
        assert refusal.words == "The locker is closed: its storage is nearly full. Call the supplier."
    assert sim.physics.lane(1).dropped == 0 and sim.physics.safety.times_on("lane 1") == 0
    assert sim.physics.safety.times_on("door 1") == 0
    with ledger_on(disk) as ledger:
        assert rows_of(ledger, "intent") == []             # nothing written that would need an outcome
        assert [(a[0], a[1]) for a in open_alerts(ledger.db)] == [(None, "disk_low")]
        assert outbox_alerts(ledger) == [("alert_raised", "disk_low")]   # on its way to the cloud

    disk.empty()
    ticks.now += DISK_CHECK_S                              # the periodic check sees the room back
    passes(agent)
    with ledger_on(disk) as ledger:
        assert open_alerts(ledger.db) == []
        assert outbox_alerts(ledger) == [("alert_raised", "disk_low"), ("alert_cleared", "disk_low")]
    assert agent.call(agent.issue, "L1", 1).ok and sim.physics.lane(1).dropped == 1


def test_a_disk_full_to_the_last_byte_still_refuses_in_plain_words_and_alerts_once_it_can(disk, locker):
    agent, sim, ticks = locker(min_free_mb=1)
    agent.call(agent.tap, "04A1B2C3")
    disk.fill()                                            # not even room for the alert
    assert refused(agent.call, agent.issue, "L1", 1).reason == "disk_low"
    assert sim.physics.safety.times_on("lane 1") == 0 and passes(agent)["ready"] is True
    disk.empty()
    disk.fill(leave=MB // 2)                               # room for the alert, still below the mark
    ticks.now += DISK_CHECK_S
    passes(agent)
    with ledger_on(disk) as ledger:
        assert [(a[0], a[1]) for a in open_alerts(ledger.db)] == [(None, "disk_low")]


def test_a_disk_that_fills_past_the_check_refuses_the_intent_and_nothing_moves(disk, locker):
    # The mark off (0, which the config file does not allow): the check passes, the intent write fails.
    agent, sim, ticks = locker(min_free_mb=0)
    agent.call(agent.tap, "04A1B2C3")
    disk.fill()
    refusal = refused(agent.call, agent.issue, "L1", 1)
    assert refusal.reason == "ledger_unwritable" and "database" not in refusal.words
    assert sim.physics.safety.times_on("lane 1") == 0
    assert agent.call(agent.state)["ready"] is True        # nothing pending: nothing to settle
    disk.empty()
    assert agent.call(agent.issue, "L1", 1).ok and sim.physics.lane(1).dropped == 1
    agent.stop()
    with ledger_on(disk) as ledger:
        assert ledger.verify().ok and ledger.pending_intents() == [] and ledger.on_hand("L1") == 7


def outbox_alerts(ledger):
    return [(row[0], row[1]) for row in ledger.db.execute(
        "SELECT type, json_extract(body, '$.kind') FROM outbox_events WHERE type LIKE 'alert_%' ORDER BY seq")]


def test_a_refusal_count_due_on_a_full_disk_is_dropped_with_a_warning_and_the_ledger_still_closes(disk, caplog):
    clock = ManualClock()
    ledger = open_ledger(disk.folder / "ledger.db", clock, count_boot=False)
    for n in range(refusal_tally.BURST + 2):              # past the burst: counted, not written
        Refusal("unknown_badge", "not registered").record(ledger, badge_id="DEAD%04X" % n)
    disk.fill()
    clock.advance(refusal_tally.WINDOW_S * 1000)
    assert Refusal.flush(ledger, everything=True) == 0    # what the agent runs as it stops: no exception
    assert "2 unknown_badge refusals were counted but their count could not be written" in caplog.text
    ledger.close()
    disk.empty()
    with ledger_on(disk) as ledger:
        assert len(rows_of(ledger, "refusal")) == refusal_tally.BURST


def test_a_write_that_finds_the_disk_full_rolls_back_whole_and_the_next_one_lands(disk):
    with ledger_on(disk) as ledger:
        disk.fill()
        with pytest.raises(LedgerUnwritable, match="full"):
            ledger.append("refusal", reason="unknown_badge", badge_id="FFFF0001")
        assert not ledger.db.conn.in_transaction          # not left inside a transaction that never commits
        disk.empty()
        ledger.append("refusal", reason="unknown_badge", badge_id="FFFF0002")
    with ledger_on(disk) as ledger:                        # another connection sees exactly the second one
        assert [r["badge_id"] for r in rows_of(ledger, "refusal")] == ["FFFF0002"] and ledger.verify().ok


def test_a_periodic_task_that_raises_does_not_stop_the_worker():
    ticks = Ticks()
    worker = Worker(ticks)
    runs = []

    def failing():
        runs.append(ticks.now)
        raise LedgerUnwritable("ledger.db: database or disk is full")

    worker.every(30, failing)
    worker.start(lambda: None, lambda: None, lambda: None)
    try:
        assert worker.call(lambda: "still here", timeout=10) == "still here"
        ticks.now += 30
        worker.call(lambda: None, timeout=10)
        assert worker.call(lambda: "still here", timeout=10) == "still here" and runs == [0, 30]
    finally:
        worker.stop()


@pytest.mark.parametrize("value, ok", [(0, False), (1, True), (10240, True), (10241, False)])
def test_min_free_mb_out_of_its_bounds_is_a_config_error_with_exit_2(tmp_path, value, ok):
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/null-cabinet"\n'
                      "[ledger]\nmin_free_mb = %d\n" % value)
    if ok:
        assert load_agent_config(config).min_free_mb == value
    else:
        with pytest.raises(AgentConfigError, match=r"\[ledger\] min_free_mb must be 1 to 10240"):
            load_agent_config(config)
        assert service.main(config) == 2


def test_min_free_mb_defaults_to_64(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/null-cabinet"\n')
    assert load_agent_config(config).min_free_mb == 64


def test_the_screen_is_told_in_plain_words_through_the_local_api(disk, locker):
    agent, sim, ticks = locker(min_free_mb=1)
    real_vend = agent.cabinet.vend

    def vend_while_the_disk_fills(lane, cmd_id):
        answer = real_vend(lane, cmd_id)
        disk.fill()
        return answer

    agent.cabinet.vend = vend_while_the_disk_fills
    server = api.serve(agent, "127.0.0.1", 0)
    try:
        client = ApiClient(*server.server_address[:2], timeout=60)
        assert client.request("POST", "/api/badge", {"badge": "04A1B2C3"})[0] == 200
        status, answer = client.request("POST", "/api/issue", {"location": "L1", "quantity": 1})
        assert (status, answer["ok"], answer["unknown"]) == (200, False, True)
        assert "storage is full" in answer["message"] and "database" not in json.dumps(answer)
        status, answer = client.request("POST", "/api/badge", {"badge": "04A1B2C3"})
        assert status == 503 and "storage is nearly full" in answer["message"]
        disk.empty()
        ticks.now += RECOVER_RETRY_S
        passes(agent)
        disk.fill()                                        # full again while the locker is open
        status, answer = client.request("POST", "/api/badge", {"badge": "FFFF0001"})   # its refusal row fails
        assert (status, answer["reason"]) == (503, "ledger_unwritable") and "database" not in answer["message"]
    finally:
        server.shutdown()
