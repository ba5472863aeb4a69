"""Cloud sync end to end, every piece real: the agent process (`locker-agent run`) with its ledger, the
simulated cabinet on a pty, a Mosquitto broker started by the test, and the hub (hub/: the cloud half,
on the test's own PostgreSQL database). The failures are real too: the broker down, killed, frozen; the agent SIGKILLed;
the cloud away; a batch lost; a Pi clock weeks behind. Duplicates are allowed; loss never."""
import datetime
import glob
import os
import random
import signal

import pytest

from edge_agent.cloud import envelope, outbox
from edge_agent.ledger import record_admin_change
from hub.service import Hub
from tests.agent_process import AgentProcess, ledger_of, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv
from tests.mqtt_broker import Broker, free_port

CABINET = "CAB-7"
LANES = 6
FAST_LANES = {"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5}
FAST_DROPS = {"drop_delay_min_ms": 50, "drop_delay_max_ms": 120}
BADGE = "04A1B2C3"
WAIT_S = 30


class Site:
    """One cabinet's folder: ledger, key, config; its simulated cabinet; its agent; the broker and cloud."""

    def __init__(self, folder, hub_dsn=None):
        self.folder = folder
        self.hub_dsn = hub_dsn
        self.sim, self.port = simulated_cabinet(lane_matrix=FAST_LANES, sim=dict(FAST_DROPS, lane_items=40))
        lanes = "\n".join("L%d,lane,%d,GLV,40,38,40" % (n, n) for n in range(1, LANES + 1))   # soon below min
        ledger = ledger_from_csv(folder, skus="part_number,description,category\nGLV,Gloves,ppe\n",
                                 locations="id,kind,unit,sku,on_hand,min,max\n" + lanes + "\nD1,door,1,GLV,1,0,1\n",
                                 users="id,name,role,badges\nT1,Ana,technician,%s\n" % BADGE)
        ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
        record_admin_change(ledger, "access rules written by the test")    # as an import would
        ledger.close()
        self.key = bytes(range(32))
        (folder / "cabinet.key").write_text(self.key.hex())
        (folder / "timesync").write_text("")              # this Pi's clock is synchronised
        self.broker = Broker(folder / "broker", persistence=True, port=free_port())
        self.cloud = None
        self.agent = None

    def start_agent(self, days_behind=0, synced=True, **cloud_options):
        cloud = {"host": "127.0.0.1", "port": self.broker.port, "tenant": "acme", "site": "plant1",
                 "key_file": "cabinet.key", "publish_timeout_s": 2, "batch_rows": 8, **cloud_options}
        config = write_agent_config(self.folder, self.port, access={"session_idle_s": 3600}, cloud=cloud,
                                    cabinet_id=CABINET,
                                    agent={"timesync_flag": "timesync" if synced else "no-such-file"})
        env = {}
        if days_behind:     # libfaketime in the agent process itself (the faketime wrapper would eat SIGTERM)
            env = {"LD_PRELOAD": glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")[0],
                   "FAKETIME": "-%dd" % days_behind, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        self.agent = AgentProcess(config, env=env).start()
        self.agent.wait_ready()
        self.agent.login(BADGE)
        return self.agent

    def new_cloud(self, grace_s=1.0, client_setup=None):
        """The hub (not started), the cabinet registered in its database at acme/plant1 once it starts."""
        hub = Hub(self.hub_dsn, "127.0.0.1", self.broker.port, grace_s=grace_s)
        hub.client_setup = client_setup
        return hub

    def start_cloud(self, **options):
        hub = self.new_cloud(**options)
        hub.register(CABINET, self.key, tenant="acme", site="plant1")    # before it takes the birth
        self.cloud = hub.start()
        return self.cloud

    def issue(self, count, rng=random.Random(3)):
        for _ in range(count):
            status, result = self.agent.request("POST", "/api/issue", {"location": "L%d" % rng.randrange(1, LANES + 1)})
            assert status == 200 and result["outcomes"] == ["vended"], result

    def heads(self):
        with ledger_of(self.folder) as ledger:
            return {s: outbox.head(ledger, s) for s in outbox.STREAMS}

    def wait_delivered(self):
        """Until the cloud has every transaction and event the ledger holds, with nothing missing (asked again
        until the ledger stops growing: the cloud's own resend commands add command_result events)."""
        while True:
            heads = self.heads()
            assert self.cloud.wait_for(lambda: all(self.cloud.watermark(CABINET, s) >= heads[s] for s in heads),
                                       WAIT_S), (heads, {s: self.cloud.watermark(CABINET, s) for s in heads},
                                                 self.agent.log()[-3000:])
            if self.heads() == heads:
                return heads

    def check_complete(self):
        """The cloud's copy is the ledger's, row for row, in seq order; and the agent saw the acks."""
        heads = self.wait_delivered()
        with ledger_of(self.folder) as ledger:
            mine = [(r["seq"], r["hash"]) for r in ledger.transactions()]
        theirs = [(r["seq"], r["hash"]) for r in self.cloud.rows(CABINET)]
        assert theirs[:len(mine)] == mine
        events = [e["seq"] for e in self.cloud.events(CABINET)]
        assert events == list(range(1, len(events) + 1)) and len(events) >= heads["events"]
        end = self.agent.stop()
        assert end == 0
        with ledger_of(self.folder) as ledger:   # synced only by the cloud's ack, and all of it was
            assert all(outbox.acked(ledger, s) >= heads[s] for s in outbox.STREAMS)
        return heads

    def close(self):
        if self.agent:
            self.agent.kill()
        if self.cloud:
            self.cloud.stop()
        self.broker.stop()
        self.sim.bridge.stop()


@pytest.fixture
def site(tmp_path, hub_dsn):
    site = Site(tmp_path, hub_dsn)
    yield site
    site.close()


def test_broker_down_for_the_whole_session_then_up_delivers_everything_in_order(site):
    site.start_agent()
    site.issue(12)                                    # the locker works with no broker at all
    site.agent.kill()                                 # and a restart while offline loses nothing either
    site.start_agent()
    site.issue(4)
    site.broker.start()
    site.start_cloud()
    heads = site.check_complete()
    assert heads["tx"] >= 2 * 16 and heads["events"] >= 1
    assert site.cloud.stats.duplicates >= 0


def test_broker_killed_and_restarted_mid_stream(site):
    site.broker.start()
    site.start_cloud()
    site.start_agent()
    site.issue(5)
    site.broker.kill()
    site.issue(5)
    site.broker.start()
    site.issue(3)
    site.check_complete()


def test_agent_killed_between_publish_and_puback(site):
    site.broker.start()
    site.start_cloud()
    site.start_agent()
    site.issue(2)
    site.wait_delivered()
    os.kill(site.broker.proc.pid, signal.SIGSTOP)     # the broker takes bytes into its socket, answers nothing
    try:
        site.issue(4)
        site.agent.kill()
    finally:
        os.kill(site.broker.proc.pid, signal.SIGCONT)
    site.start_agent()
    site.check_complete()


def test_agent_killed_between_puback_and_the_clouds_ack(site):
    site.broker.start()                               # the broker takes everything; the cloud is away
    site.start_agent()
    site.issue(6)
    site.agent.kill()
    site.start_cloud()
    site.start_agent()
    site.check_complete()


def test_a_withheld_batch_is_asked_for_again_and_filled(site, monkeypatch):
    site.broker.start()
    cloud = site.start_cloud()
    withheld = []
    handle = cloud.ingest.handle

    def lose_one_batch(topic, raw):
        if topic.endswith("/tx") and not withheld and b'"first_seq": 1,' not in raw:
            withheld.append(raw)                      # lost on the way: acked by the broker, never stored
            return []
        return handle(topic, raw)

    monkeypatch.setattr(cloud.ingest, "handle", lose_one_batch)
    site.start_agent()
    site.issue(10)
    site.check_complete()
    assert withheld and cloud.stats.resends >= 1


def test_a_pi_weeks_behind_keeps_seq_order_and_says_its_clock_was_not_synchronised(site):
    site.broker.start()
    site.start_cloud()
    site.start_agent()
    site.issue(2)
    site.agent.stop()
    site.start_agent(days_behind=21, synced=False)                       # a Pi with no RTC, weeks behind
    site.issue(2)
    site.check_complete()
    rows = site.cloud.rows(CABINET)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    before = [r for r in rows if r["clock_synced"]]
    after = [r for r in rows if not r["clock_synced"] and r["kind"] == "outcome"]
    assert before and after and after[0]["wall_time"] < before[-1]["wall_time"]   # time went back, seq did not


def test_commands_are_applied_once_and_bad_ones_are_refused_and_change_nothing(site):
    site.broker.start()
    cloud = site.start_cloud()
    site.start_agent()
    site.wait_delivered()
    command_id = cloud.send_command(CABINET, "unlock", {"door": 1, "reason": "driver lost badge"})
    assert cloud.wait_for(lambda: any(r["command_id"] == command_id for r in cloud.command_results(CABINET)), WAIT_S)
    cloud.send_command(CABINET, "unlock", {"door": 1, "reason": "again"}, id_=command_id)   # delivered twice
    forged = envelope.sign(bytes(32), CABINET, "unlock", {"door": 1, "reason": "forged"}, envelope.instant(
        "2026-11-23T00:00:00Z"))
    cloud.publish_raw(CABINET, "cmd", forged)
    cloud.send_command(CABINET, "unlock", {"door": "one"})
    assert cloud.wait_for(lambda: len(cloud.command_results(CABINET)) >= 4, WAIT_S)
    results = {(r["command_id"], r["status"], r["reason"]) for r in cloud.command_results(CABINET)}
    assert (command_id, "applied", None) in results and (command_id, "duplicate", None) in results
    assert any(r[1:] == ("refused", "bad_signature") for r in results)
    assert any(r[1:] == ("refused", "malformed") for r in results)
    assert site.sim.bridge.call(lambda s: s.physics.door(1).opens) == 1       # opened once, for one command
    # The applied unlock's result names the ledger row it wrote: the unlock's outcome row, as the cloud holds it.
    applied = next(e for e in cloud.events(CABINET) if e["type"] == "command_result"
                   and e["command_id"] == command_id and e["status"] == "applied")
    assert cloud.wait_for(lambda: cloud.watermark(CABINET, "tx") >= (applied["ledger_seq"] or 0), WAIT_S)
    row = next(r for r in cloud.rows(CABINET) if r["seq"] == applied["ledger_seq"])
    assert (row["kind"], row["user_id"], row["outcome"]) == ("outcome", "cloud:%s" % command_id, applied["detail"])


def test_a_long_backlog_drains_at_a_bounded_rate_and_live_alerts_do_not_wait_behind_it(site):
    with ledger_of(site.folder) as ledger:            # weeks offline: hundreds of rows never sent
        for _ in range(400):
            ledger.append("count", location="D1", quantity=1, reason="backlog")
    site.broker.start()
    cloud = site.start_cloud()
    site.start_agent(backlog_rows_per_s=32)            # 400 rows take about 12 s
    for _ in range(3):                                 # live takes: L1 goes below min, an alert now
        assert site.agent.request("POST", "/api/issue", {"location": "L1"})[0] == 200
    assert cloud.wait_for(lambda: any(e["type"] == "alert_raised" for e in cloud.events(CABINET)), 5)
    assert cloud.watermark(CABINET, "tx") < 300        # the alert did not wait for the backlog
    site.check_complete()                              # and the backlog still all arrived


def test_desired_users_reach_the_cabinet_and_it_reports_the_version_applied(site):
    site.broker.start()
    cloud = site.start_cloud()
    cloud.publish_desired(CABINET, "users", 3, {"version": 3, "users": [
        {"id": "T1", "name": "Ana", "role": "technician", "badges": [BADGE]},
        {"id": "T2", "name": "Bo", "role": "technician", "badges": ["0A0B0C0D"]}]})
    site.start_agent()                                 # the retained set is waiting when it connects
    assert cloud.wait_for(lambda: any(e["type"] == "desired_applied" and e["version"] == 3
                                      for e in cloud.events(CABINET)), WAIT_S)
    assert site.agent.login("0A0B0C0D")["person"]["user_id"] == "T2"
    site.agent.stop()
    site.start_agent()                                 # the next birth says which version is in force
    assert cloud.wait_for(lambda: (cloud.birth(CABINET) or {}).get("applied", {}).get("users") == 3, WAIT_S)
    assert [e["version"] for e in cloud.events(CABINET) if e["type"] == "desired_applied"] == [3]   # once


def test_the_state_shows_the_cloud_as_it_is_unsent_rows_while_down_then_connected_and_acknowledged(site):
    """What the screen's cloud pill shows (GET /api/state `cloud`): not connected with the backlog waiting,
    then connected, nothing unsent, and when the cloud last acknowledged."""
    site.start_agent()
    site.issue(3)
    down = site.agent.wait_for_state(lambda s: s["cloud"] is not None and s["cloud"]["backlog"] >= 3)["cloud"]
    assert (down["connected"], down["last_ack_wall"]) == (False, None)
    site.broker.start()
    site.start_cloud()
    site.wait_delivered()
    up = site.agent.wait_for_state(lambda s: s["cloud"]["connected"] and s["cloud"]["backlog"] == 0
                                   and s["cloud"]["last_ack_wall"] is not None, timeout=30)
    assert up["cabinet_link"] == "up"


def test_the_last_wills_sent_wall_is_the_connect_time_so_the_cloud_dates_offline_by_receipt(site):
    """docs/mqtt.md, status: the will is registered at CONNECT, so it carries that connection's session and a
    sent_wall no later than the online status published after connecting; only the cloud's receipt dates
    the loss."""
    site.broker.start()
    cloud = site.start_cloud()
    site.start_agent()
    site.issue(1)
    site.wait_delivered()                              # time passes on the connection before it is lost
    online = cloud.status(CABINET)
    assert online["state"] == "online"
    site.agent.kill()                                  # SIGKILL: the broker publishes the last will
    assert cloud.wait_for(lambda: cloud.status(CABINET)["state"] == "offline", WAIT_S)
    offline = cloud.status(CABINET)
    assert offline["session"] == online["session"]
    when = {k: datetime.datetime.fromisoformat(v) for k, v in (("will", offline["wall"]), ("online", online["wall"]))}
    when["lost"] = offline["received_at"]
    assert when["will"] <= when["online"] <= when["lost"] + datetime.timedelta(seconds=1)   # received: whole s
    assert " as %s (" % CABINET in site.broker.log()   # the MQTT client id is the cabinet id (docs/mqtt.md)


def test_a_birth_head_ahead_of_the_cloud_is_followed_by_the_backlog_without_a_resend_or_a_break(site):
    """docs/mqtt.md, "What the cloud must do": a head ahead is recorded; the cabinet sends its backlog by
    itself from its last ack, so a cloud whose grace period never runs out in this test gets everything."""
    site.broker.start()
    site.start_cloud(grace_s=3600)
    heads = site.heads()
    assert heads["tx"] > 0 and site.cloud.watermark(CABINET, "tx") == 0        # rows written before any connection
    site.start_agent()
    assert site.cloud.wait_for(lambda: (site.cloud.birth(CABINET) or {}).get("streams"), WAIT_S)
    assert site.cloud.birth(CABINET)["streams"]["tx"]["head"] >= heads["tx"]
    site.check_complete()
    assert site.cloud.chain_breaks(CABINET) == []
    assert not [r for r in site.cloud.command_results(CABINET) if r["command_type"] == "resend"]
