"""The hub's ingest (hub/: the cloud half of docs/mqtt.md) on a real PostgreSQL and a real Mosquitto, fed by a
test cabinet: a paho client publishing hand-built payloads exactly as docs/mqtt.md says, and listening on
{root}/ack and {root}/cmd as the agent does, so every ack and command is checked with the agent's own
envelope.check."""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_agent.cloud import envelope
from edge_agent.cloud.topics import Topics
from edge_agent.ledger.chain import GENESIS_HASH, row_hash
from hub.contract import SCHEMA_DIR as SCHEMAS_DIR
from hub.contract import ContractError
from hub.service import Hub
from tests.mqtt_broker import broker  # noqa: F401 - the fixture

KEY = bytes(range(32))
CABINET, TENANT, SITE = "CAB-1", "acme", "plant1"
WAIT_S = 10
GRACE_S = 0.5
LOCKER_HUB = str(Path(sys.executable).parent / "locker-hub")


# -- hand-built payloads, as docs/mqtt.md writes them -------------------------------------------------------
def now():
    return datetime.datetime.now(datetime.timezone.utc)


def up(session=1, cabinet=CABINET, **fields):
    return dict({"v": 1, "cabinet": cabinet, "session": session, "sent_wall": "2026-11-23T10:00:02.250+00:00",
                 "clock_synced": True}, **fields)


def chain(first, last, prev_hash=GENESIS_HASH):
    """Transaction rows first..last with a hash chain that checks out from prev_hash."""
    rows = []
    for seq in range(first, last + 1):
        row = {"seq": seq, "boot": 1, "wall_time": "2026-11-23T09:41:07.118+00:00", "clock_synced": 1,
               "monotonic_ms": 5210334 + seq, "kind": "refill", "user_id": "driver-1", "sku": "P-100",
               "location": "L3", "quantity": seq, "unit_cost": 1250, "prev_hash": prev_hash}
        row["hash"] = prev_hash = row_hash(prev_hash, row)
        rows.append(row)
    return rows


ROWS = chain(1, 12)   # one cabinet's history; tests send slices of it


def tx_batch(rows, backlog=False, **fields):
    return up(stream="tx", first_seq=rows[0]["seq"], last_seq=rows[-1]["seq"], backlog=backlog, rows=rows,
              **fields)


def alert(seq, **fields):
    return dict({"seq": seq, "type": "alert_raised", "wall": "2026-11-23T10:00:03.120+00:00", "clock_synced": True,
                 "ledger_seq": None, "alert_id": seq, "location": "L3", "kind": "low_stock", "detail": "2 left"},
                **fields)


def event_batch(events):
    return up(stream="events", first_seq=events[0]["seq"], last_seq=events[-1]["seq"], backlog=False,
              events=events)


def birth(tx=(0, 0), events=(0, 0), session=1):
    """tx and events: (head, acked)."""
    return up(session=session, agent_version="0.1.0", firmware_version=None, firmware_boot=None, agent_boot=3,
              config_hash=None, applied={"users": None, "catalog": None},
              streams={"tx": {"head": tx[0], "acked": tx[1]}, "events": {"head": events[0], "acked": events[1]}})


def status(state, session):
    return up(session=session, state=state)


# -- the test cabinet: a real MQTT client on the broker ------------------------------------------------------
class CabinetPeer:
    """Publishes up messages at QoS 1 (waiting for the PUBACK) and collects what comes down to it."""

    def __init__(self, port, cabinet=CABINET, tenant=TENANT, site=SITE):
        self.topics = Topics(tenant, site, cabinet)
        self.down = []                            # (leaf, raw payload), in arrival order
        self._changed = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-" + cabinet,
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(self.topics.ack, mqtt.SubscribeOptions(qos=1)),
                               (self.topics.cmd, mqtt.SubscribeOptions(qos=1))])
        assert subscribed.wait(WAIT_S)

    def _on_message(self, client, userdata, message):
        with self._changed:
            self.down.append((message.topic.rsplit("/", 1)[1], message.payload))
            self._changed.notify_all()

    def publish(self, leaf, payload):
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish("%s/%s" % (self.topics.root, leaf), raw, qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def envelopes(self, leaf, key=KEY):
        """Everything received on `leaf`, each checked as the agent checks it (Refused if it would refuse)."""
        with self._changed:
            raws = [raw for got, raw in self.down if got == leaf]
        return [envelope.check(raw, key, self.topics.cabinet, now()) for raw in raws]

    def wait_envelope(self, leaf, predicate=lambda env: True, timeout=WAIT_S):
        with self._changed:
            found = self._changed.wait_for(lambda: [e for e in self.envelopes(leaf) if predicate(e)], timeout)
        assert found, "nothing on %s matching; got %r" % (leaf, self.down)
        return found[0]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def acks(cabinet, stream="tx"):
    return [e["body"]["upto_seq"] for e in cabinet.envelopes("ack") if e["body"]["stream"] == stream]


def resends(cabinet, stream="tx"):
    return [e["body"]["from_seq"] for e in cabinet.envelopes("cmd")
            if e["type"] == "resend" and e["body"]["stream"] == stream]


def new_hub(hub_dsn, port, **options):
    """A started hub with CABINET registered at TENANT/SITE."""
    hub = Hub(hub_dsn, "127.0.0.1", port, **dict(dict(grace_s=GRACE_S), **options)).start()
    hub.register(CABINET, KEY, tenant=TENANT, site=SITE)
    return hub


@pytest.fixture
def cloud(broker, hub_dsn):  # noqa: F811
    hub = new_hub(hub_dsn, broker.port)
    yield hub
    hub.stop()


@pytest.fixture
def cabinet(broker):  # noqa: F811
    peer = CabinetPeer(broker.port)
    yield peer
    peer.close()


def received(cloud, count):
    """Until the receiver has handled `count` up messages (stored or rejected)."""
    assert cloud.wait_for(lambda: cloud.stats.received >= count, WAIT_S), cloud.stats


# -- the tests ----------------------------------------------------------------------------------------------
def test_the_schemas_are_there():
    for name in ("status", "birth", "tx_batch", "event_batch", "inventory"):
        assert (SCHEMAS_DIR / (name + ".json")).is_file(), name


def test_a_tx_batch_is_stored_and_acked_with_a_signed_envelope(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:3]))
    ack = cabinet.wait_envelope("ack")                  # envelope.check has accepted it with the cabinet's key
    assert ack["type"] == "ack" and ack["cabinet"] == CABINET and ack["body"] == {"stream": "tx", "upto_seq": 3,
                                                                                  "hash": ROWS[2]["hash"]}
    assert cloud.rows(CABINET) == ROWS[0:3] and cloud.watermark(CABINET, "tx") == 3
    with pytest.raises(envelope.Refused, match="bad_signature"):
        cabinet.envelopes("ack", key=bytes(32))
    assert cloud.stats.acks == 1 and cloud.stats.stored == 3 and cloud.chain_breaks() == []


def test_a_duplicate_batch_changes_nothing_and_is_counted(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:3]))
    cabinet.wait_envelope("ack")
    before = (cloud.rows(CABINET), cloud.watermark(CABINET, "tx"))
    cabinet.publish("tx", tx_batch(ROWS[0:3], backlog=True))
    received(cloud, 2)
    assert (cloud.rows(CABINET), cloud.watermark(CABINET, "tx")) == before
    assert cloud.stats.duplicates == 3 and cloud.stats.stored == 3 and cloud.chain_breaks() == []
    # A batch holding nothing new means the cabinet missed our ack: it gets the same ack again.
    cabinet.wait_envelope("ack", lambda e: len(acks(cabinet)) == 2)
    assert acks(cabinet) == [3, 3]


def test_a_batch_beyond_a_hole_gets_a_resend_and_the_ack_waits_for_the_hole(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:2]))
    cabinet.wait_envelope("ack")
    cabinet.publish("tx", tx_batch(ROWS[4:6]))          # 3 and 4 lost on the way
    resend = cabinet.wait_envelope("cmd", lambda e: e["type"] == "resend")
    assert resend["body"] == {"stream": "tx", "from_seq": 3}
    assert cloud.watermark(CABINET, "tx") == 2 and acks(cabinet) == [2]
    cabinet.publish("tx", tx_batch(ROWS[2:4], backlog=True))
    cabinet.wait_envelope("ack", lambda e: e["body"]["upto_seq"] == 6)
    assert acks(cabinet) == [2, 6] and [r["seq"] for r in cloud.rows(CABINET)] == list(range(1, 7))
    assert cloud.chain_breaks() == []                   # 4 -> 5 checked when 4 came, after 5


def test_a_hole_that_stays_past_the_grace_period_gets_a_resend(cloud, cabinet):
    cabinet.publish("status", status("online", 1))
    cabinet.publish("birth", birth(tx=(6, 0)))
    cabinet.publish("tx", tx_batch(ROWS[0:2]))          # the cabinet said it has 6; 3..6 never come
    resend = cabinet.wait_envelope("cmd", lambda e: e["type"] == "resend", timeout=GRACE_S * 10)
    assert resend["body"] == {"stream": "tx", "from_seq": 3}
    cabinet.publish("tx", tx_batch(ROWS[2:6], backlog=True))
    cabinet.wait_envelope("ack", lambda e: e["body"]["upto_seq"] == 6)


@pytest.mark.parametrize("name, payload, reason", [
    ("not JSON", b"{not json", "not JSON"),
    ("a row without its hash", tx_batch([{k: v for k, v in ROWS[0].items() if k != "hash"}]), "hash"),
    ("an unknown kind", tx_batch([dict(ROWS[0], kind="theft")]), "theft"),
    ("another cabinet in the payload", tx_batch(ROWS[0:1], cabinet="CAB-2"), "'CAB-2' in the payload"),
    ("seqs not contiguous", dict(tx_batch(ROWS[0:3]), rows=[ROWS[0], ROWS[2]]), "not contiguous"),
])
def test_an_invalid_payload_is_rejected_with_a_reason_and_not_stored(cloud, cabinet, name, payload, reason):
    cabinet.publish("tx", payload)
    received(cloud, 1)
    rejected = cloud.rejected()
    assert len(rejected) == 1 and reason in rejected[0]["reason"], rejected
    assert rejected[0]["topic"] == cabinet.topics.tx and cloud.stats.rejected == 1
    assert cloud.rows(CABINET) == [] and cloud.watermark(CABINET, "tx") == 0
    cabinet.publish("tx", tx_batch(ROWS[0:1]))          # the next good one is taken, and is the first ack
    cabinet.wait_envelope("ack")
    assert acks(cabinet) == [1]


def test_a_cabinet_not_registered_is_rejected(cloud, broker):  # noqa: F811
    stranger = CabinetPeer(broker.port, cabinet="CAB-9")
    try:
        stranger.publish("tx", tx_batch(ROWS[0:1], cabinet="CAB-9"))
        received(cloud, 1)
        assert "not registered" in cloud.rejected()[0]["reason"] and cloud.rows("CAB-9") == []
        assert stranger.down == []                      # nothing acknowledged
    finally:
        stranger.close()


def test_a_registered_cabinet_publishing_under_another_site_is_rejected(cloud, broker):  # noqa: F811
    elsewhere = CabinetPeer(broker.port, site="plant2")
    try:
        elsewhere.publish("tx", tx_batch(ROWS[0:1]))
        received(cloud, 1)
        assert "registered at acme/plant1, not acme/plant2" in cloud.rejected()[0]["reason"]
        assert cloud.rows(CABINET) == [] and elsewhere.down == []
    finally:
        elsewhere.close()


def test_a_chain_break_is_flagged_not_rejected(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:3]))
    forged = chain(4, 5, prev_hash="ab" * 32)           # self-consistent rows that do not follow seq 3
    edited = dict(ROWS[5], quantity=99)                 # contents changed, hash left as it was
    cabinet.publish("tx", tx_batch(forged))
    cabinet.publish("tx", tx_batch([edited]))
    cabinet.publish("tx", tx_batch([dict(ROWS[0], quantity=7, hash="cd" * 32)]))  # seq 1 again, rewritten
    received(cloud, 4)
    breaks = {(b["seq"], b["kind"]) for b in cloud.chain_breaks(CABINET)}
    assert breaks == {(4, "prev_hash"), (6, "hash"), (6, "prev_hash"), (1, "rewritten")}
    assert [r["seq"] for r in cloud.rows(CABINET)] == list(range(1, 7)) and cloud.rows(CABINET)[0] == ROWS[0]
    assert cloud.watermark(CABINET, "tx") == 6 and cloud.rejected() == []


def test_after_a_chain_break_tx_acks_stall_below_it_with_the_reason_and_an_alert(cloud, cabinet):
    """The issue's reproduction: the cloud noticed the break on synced rows but kept acking."""
    cabinet.publish("tx", tx_batch(ROWS[0:3]))
    cabinet.wait_envelope("ack")
    forged = chain(4, 6, prev_hash="ab" * 32)           # self-consistent rows that do not follow seq 3
    cabinet.publish("tx", tx_batch(forged))
    cabinet.publish("tx", tx_batch(chain(7, 8, prev_hash=forged[-1]["hash"])))
    cabinet.publish("events", event_batch([alert(1)]))
    cabinet.wait_envelope("ack", lambda e: e["body"] == {"stream": "events", "upto_seq": 1})
    assert cloud.watermark(CABINET, "tx") == 8          # stored: the evidence
    assert acks(cabinet) == [3, 3, 3]                   # but never acknowledged past the break
    stalled = [e["body"] for e in cabinet.envelopes("ack") if e["body"]["stream"] == "tx"][1:]
    assert all(b["chain_break"]["seq"] == 4 and b["chain_break"]["kind"] == "prev_hash" and
               b["hash"] == ROWS[2]["hash"] for b in stalled)
    (raised,) = cloud.alerts(CABINET)
    assert raised["kind"] == "chain_break" and raised["detail"].startswith("tx 4 (prev_hash)")
    # Someone has looked (the cabinet's ledger restored, or its rows accepted): the acks go on.
    cloud.clear_chain_break(CABINET)
    cabinet.publish("tx", tx_batch(chain(7, 8, prev_hash=forged[-1]["hash"]), backlog=True))
    cabinet.wait_envelope("ack", lambda e: e["body"].get("upto_seq") == 8)
    assert cloud.alerts(CABINET) == []


def test_a_birth_whose_head_went_back_below_what_we_hold_is_a_rolled_back_chain(cloud, cabinet):
    cabinet.publish("birth", birth(tx=(6, 0), session=1))
    cabinet.publish("tx", tx_batch(ROWS[0:6]))
    cabinet.wait_envelope("ack", lambda e: e["body"].get("upto_seq") == 6)
    cabinet.publish("birth", birth(tx=(4, 4), session=2))      # rows 5-6 deleted, next_seq rolled back
    stalled = cabinet.wait_envelope("ack", lambda e: "chain_break" in e["body"])["body"]
    assert stalled == {"stream": "tx", "upto_seq": 4, "hash": ROWS[3]["hash"], "chain_break": {
        "seq": 5, "kind": "rolled_back", "detail": "the cabinet's head is seq 4, but seq 5 to 6 were received from it"}}
    assert [a["kind"] for a in cloud.alerts(CABINET)] == ["chain_break"]


def test_a_birth_whose_head_hash_is_not_the_row_we_hold_is_a_rewritten_chain(cloud, cabinet):
    """A consistent rewrite of rows the cloud already holds shows at the next connection, unsent."""
    cabinet.publish("tx", tx_batch(ROWS[0:6]))
    cabinet.wait_envelope("ack", lambda e: e["body"].get("upto_seq") == 6)
    same = birth(tx=(6, 6), session=2)
    same["streams"]["tx"]["head_hash"] = ROWS[5]["hash"]
    cabinet.publish("birth", same)
    received(cloud, 2)
    assert cloud.chain_breaks(CABINET) == []
    rewritten = birth(tx=(6, 6), session=3)
    rewritten["streams"]["tx"]["head_hash"] = "ef" * 32
    cabinet.publish("birth", rewritten)
    received(cloud, 3)
    assert [(b["seq"], b["kind"]) for b in cloud.chain_breaks(CABINET)] == [(6, "rewritten")]
    assert [a["kind"] for a in cloud.alerts(CABINET)] == ["chain_break"]


def test_events_and_command_results_are_stored_and_acked(cloud, cabinet):
    result = {"seq": 2, "type": "command_result", "wall": "2026-11-23T10:00:03.400+00:00", "clock_synced": False,
              "ledger_seq": None, "command_id": "b96e9e87-1859-5ab4-8ad6-560c96cbf694", "command_type": "unlock",
              "status": "refused", "reason": "expired", "detail": "this cabinet's clock is not synchronised"}
    cabinet.publish("events", event_batch([alert(1), result]))
    cabinet.wait_envelope("ack", lambda e: e["body"] == {"stream": "events", "upto_seq": 2})
    assert [e["type"] for e in cloud.events(CABINET)] == ["alert_raised", "command_result"]
    (stored,) = cloud.command_results(CABINET)
    assert (stored["command_id"], stored["status"], stored["reason"]) == (result["command_id"], "refused", "expired")
    assert cloud.watermark(CABINET, "tx") == 0


def test_a_fresh_receiver_starts_from_the_births_acked(cloud, cabinet):
    cabinet.publish("status", status("online", 5))
    cabinet.publish("birth", birth(tx=(12, 8), events=(3, 3), session=5))   # an earlier cloud acked tx 1..8
    cabinet.publish("tx", tx_batch(ROWS[8:12], backlog=True))
    cabinet.wait_envelope("ack", lambda e: e["body"] == {"stream": "tx", "upto_seq": 12, "hash": ROWS[11]["hash"]})
    assert cloud.watermark(CABINET, "tx") == 12 and cloud.watermark(CABINET, "events") == 3
    assert resends(cabinet) == [] and cloud.chain_breaks() == []            # 9's predecessor is not ours to check
    assert cloud.birth(CABINET)["streams"]["tx"] == {"head": 12, "acked": 8}


def test_without_a_birth_a_batch_beyond_seq_1_asks_for_everything(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[8:12]))
    assert cabinet.wait_envelope("cmd", lambda e: e["type"] == "resend")["body"] == {"stream": "tx", "from_seq": 1}
    assert cloud.watermark(CABINET, "tx") == 0 and acks(cabinet) == []


def test_a_birth_below_our_watermark_is_acked_again(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:4]))
    cabinet.wait_envelope("ack")
    cabinet.publish("birth", birth(tx=(4, 2), session=2))                  # it never got our ack of 4
    cabinet.wait_envelope("ack", lambda e: len(acks(cabinet)) == 2)
    assert acks(cabinet) == [4, 4]


def test_a_restored_database_asks_for_missing_rows_but_not_for_pruned_events(cloud, cabinet):
    cabinet.publish("tx", tx_batch(ROWS[0:2]))
    cabinet.publish("events", event_batch([alert(1)]))
    received(cloud, 2)
    cabinet.publish("status", status("online", 2))
    cabinet.publish("birth", birth(tx=(6, 4), events=(5, 5), session=2))   # acks from a newer copy of us
    cabinet.publish("tx", tx_batch(ROWS[4:6], backlog=True))                # it sends from its ack
    assert cabinet.wait_envelope("cmd", lambda e: e["type"] == "resend")["body"] == {"stream": "tx", "from_seq": 3}
    assert cloud.watermark(CABINET, "events") == 5 and resends(cabinet, "events") == []


def test_an_old_sessions_last_will_does_not_mark_the_cabinet_offline(cloud, cabinet):
    cabinet.publish("status", status("online", 8))
    cabinet.publish("status", status("offline", 7))     # the previous connection's will, delivered late
    received(cloud, 2)
    assert (cloud.status(CABINET)["state"], cloud.status(CABINET)["session"]) == ("online", 8)
    cabinet.publish("status", status("offline", 8))
    received(cloud, 3)
    assert cloud.status(CABINET)["state"] == "offline"


def test_send_command_publishes_a_correctly_signed_command(cloud, cabinet):
    with pytest.raises(LookupError, match="not registered"):
        cloud.send_command("CAB-9", "unlock", {"door": 2, "reason": "driver lost badge"})
    command_id = cloud.send_command(CABINET, "unlock", {"door": 2, "reason": "driver lost badge"}, lifetime_s=60)
    command = cabinet.wait_envelope("cmd", lambda e: e["id"] == command_id)
    assert command["type"] == "unlock" and command["body"] == {"door": 2, "reason": "driver lost badge"}
    lifetime = envelope.instant(command["expires"]) - envelope.instant(command["issued"])
    assert lifetime == datetime.timedelta(seconds=60)
    with pytest.raises(envelope.Refused, match="wrong_cabinet"):
        envelope.check(json.dumps(command).encode(), KEY, "CAB-2", now())


def test_desired_state_is_published_retained_and_signed(cloud, cabinet, broker):  # noqa: F811
    cabinet.publish("status", status("online", 1))
    received(cloud, 1)
    cloud.publish_desired(CABINET, "catalog", 4, {"skus": [{"part_number": "P-100"}],
                                                  "locations": [{"id": "L3", "sku": "P-100", "min": 2, "max": 10}]})
    # A cabinet connecting afterwards still gets it: it is retained.
    got = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-t", cabinet.topics.desired_catalog,
                          "-C", "1", "-W", str(WAIT_S)], capture_output=True, timeout=WAIT_S + 5)
    catalog = envelope.check(got.stdout.strip(), KEY, CABINET, now())
    assert catalog["type"] == "catalog" and catalog["body"]["version"] == 4


@pytest.mark.parametrize("missing, said", [("inventory.json", "inventory.json"), ("common.json", "common.json")])
def test_a_missing_schema_is_a_configuration_error_at_start(broker, hub_dsn, tmp_path, missing, said):  # noqa: F811
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, schemas)
    (schemas / missing).unlink()
    hub = Hub(hub_dsn, "127.0.0.1", broker.port, schemas_dir=schemas)
    with pytest.raises(ContractError, match=said):
        hub.start()


def test_what_comes_while_the_hub_is_away_waits_in_its_session(broker, cabinet, hub_dsn):  # noqa: F811
    first = new_hub(hub_dsn, broker.port)
    cabinet.publish("tx", tx_batch(ROWS[0:2]))
    cabinet.wait_envelope("ack")
    first.stop()
    cabinet.publish("tx", tx_batch(ROWS[2:5]))          # nobody is listening now; the broker keeps it for us
    again = Hub(hub_dsn, "127.0.0.1", broker.port).start()   # the same worker id: its session
    try:
        cabinet.wait_envelope("ack", lambda e: e["body"]["upto_seq"] == 5)
        assert [r["seq"] for r in again.rows(CABINET)] == [1, 2, 3, 4, 5]
    finally:
        again.stop()


def test_the_cli_prints_what_it_stores_and_stops_cleanly_on_sigterm(broker, cabinet, cloud, hub_dsn):  # noqa: F811
    cloud.stop(leave=True)                              # the fixture registered the cabinet; the CLI serves
    proc = subprocess.Popen([LOCKER_HUB, "--db", hub_dsn, "serve", "--broker", "127.0.0.1:%d" % broker.port,
                             "--worker-id", "cli-worker", "--verbose", "--leave"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:                        # wait for its subscription before publishing
            lines.append(line)
            if " subscribed to " in line:
                break
        cabinet.publish("tx", tx_batch(ROWS[0:2]))
        cabinet.wait_envelope("ack")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=WAIT_S)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "CAB-1 tx 1-2: 2 new, 0 duplicate; watermark 2" in text and "stopped: 1 messages, 2 stored" in text
    help_text = subprocess.run([LOCKER_HUB, "serve", "--help"], capture_output=True, text=True).stdout
    assert "--worker-id ID" in help_text and "--broker HOST:PORT" in help_text
