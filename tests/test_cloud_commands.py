"""What the cloud sends down, through the agent's real checks and a real ledger file, without the network
(the same path runs over Mosquitto in test_cloud_sync.py): signatures, expiry, replays, malformed bodies,
versioned desired state, settings and resends. Every refusal leaves a command_result and changes nothing."""
import datetime
import json

import pytest

from edge_agent.rules.access import Access
from edge_agent.app.config import AgentConfig, CloudConfig
from edge_agent.cloud import envelope, outbox
from edge_agent.cloud.commands import Commands
from edge_agent.cloud.sync import CloudSync
from edge_agent.ledger import ManualClock
from tests.ledgers import ledger_from_csv

KEY = bytes(range(32))
CABINET = "CAB-1"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)     # ManualClock's start
USER = {"id": "T9", "name": "New Tech", "role": "technician", "badges": ["04:a1:b2:c3"]}


@pytest.fixture
def down(tmp_path):
    """send(leaf, type_, body, ...): sign and hand a down message to a real Commands on a real ledger (raw=
    bytes instead: those as they are); the sync loop's clock is the ledger's ManualClock (send.clock)."""
    clock = ManualClock()
    ledger = ledger_from_csv(tmp_path, clock=clock, skus="part_number,description\nGLV,Gloves\n",
                             locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,5,2,8\nL3,lane,3,GLV,5,2,8\n"
                             "B1,bin,1,GLV,5,2,8\nD2,door,2,GLV,1,0,1\n",
                             users="id,name,role\nT1,Ana,technician\n")
    key_file = tmp_path / "key"
    key_file.write_text(KEY.hex())
    cloud = CloudConfig(host="127.0.0.1", tenant="acme", site="plant1", key_file=key_file)
    sync = CloudSync(lambda: ledger, AgentConfig(cabinet_id=CABINET, ledger=tmp_path / "ledger.db",
                                                 cabinet_port="none", cloud=cloud), cloud,
                     clock=lambda: clock.monotonic_ms() / 1000)
    sync.key, sync.ledger = KEY, ledger
    sync.commands = Commands(sync)

    def send(leaf, type_=None, body=None, raw=None, key=KEY, **sign):
        env = None
        if raw is None:
            env = envelope.sign(key, sign.pop("cabinet", CABINET), type_, body, sign.pop("now", NOW), **sign)
            raw = json.dumps(env).encode()
        sync.commands.handle(sync.topics.root + "/" + leaf, raw)
        return env

    send.ledger, send.sync, send.clock = ledger, sync, clock
    yield send
    ledger.close()


def events(ledger):
    batch = outbox.read_batch(ledger, "events", 0, 1000)
    return batch.items if batch else []


def results(ledger):
    return [(e["status"], e.get("reason")) for e in events(ledger) if e["type"] == "command_result"]


def test_an_ack_moves_the_synced_mark_and_never_back(down):
    head = outbox.head(down.ledger, "tx")
    down("ack", "ack", {"stream": "tx", "upto_seq": head})
    down("ack", "ack", {"stream": "tx", "upto_seq": 1})
    assert outbox.acked(down.ledger, "tx") == head and results(down.ledger) == []


@pytest.mark.parametrize("tamper, reason", [
    (dict(key=bytes(32)), "bad_signature"),
    (dict(cabinet="CAB-2"), "wrong_cabinet"),
    (dict(now=NOW - datetime.timedelta(hours=2)), "expired"),
    (dict(lifetime_s=3 * 86400), "expired"),
])
def test_forged_foreign_or_stale_commands_are_refused_and_change_nothing(down, tamper, reason):
    down("cmd", "config", {"lockout_s": 900}, **tamper)
    assert outbox.settings(down.ledger) == {}
    assert results(down.ledger) == [("refused", reason)]


def test_a_forged_ack_is_refused_and_an_old_one_still_counts(down):
    down("ack", "ack", {"stream": "tx", "upto_seq": 1}, key=bytes(32))
    assert outbox.acked(down.ledger, "tx") == 0 and results(down.ledger) == [("refused", "bad_signature")]
    down("ack", "ack", {"stream": "tx", "upto_seq": 1}, now=NOW - datetime.timedelta(days=3))   # idempotent
    assert outbox.acked(down.ledger, "tx") == 1


def test_unsigned_and_garbage_messages_are_refused(down):
    env = envelope.sign(KEY, CABINET, "resend", {"stream": "tx", "from_seq": 1}, NOW)
    del env["sig"]
    down.sync.commands = None
    commands = Commands(down.sync)
    commands.handle(down.sync.topics.cmd, json.dumps(env).encode())
    commands.handle(down.sync.topics.cmd, b"\xff not json")
    assert results(down.ledger) == [("refused", "unsigned"), ("refused", "malformed")]


def test_a_command_on_the_wrong_topic_or_with_a_bad_body_is_malformed(down):
    down("ack", "resend", {"stream": "tx", "from_seq": 1})                   # a command on the ack topic
    down("cmd", "resend", {"stream": "logs", "from_seq": 1})
    down("cmd", "config", {"session_idle_s": -5})
    down("cmd", "config", {"lockout_s": 10 ** 12})               # the config file's range holds for pushes too
    assert results(down.ledger) == [("refused", "malformed")] * 4
    assert outbox.settings(down.ledger) == {}


def test_a_resend_rewinds_the_stream_once_and_a_replay_is_a_duplicate(down):
    down.sync.streams["tx"].sent = 9
    env = down("cmd", "resend", {"stream": "tx", "from_seq": 4})
    assert down.sync.streams["tx"].sent == 3 and down.sync.streams["tx"].resent_from == 4
    down.sync.streams["tx"].sent = 9
    down("cmd", "resend", {"stream": "tx", "from_seq": 4}, id_=env["id"])   # the same message again
    assert down.sync.streams["tx"].sent == 9
    assert results(down.ledger) == [("applied", None), ("duplicate", None)]


def test_replays_are_refused_across_a_restart(down):
    env = down("cmd", "config", {"lockout_s": 600})
    Commands(down.sync).handle(down.sync.topics.cmd, json.dumps(env).encode())   # after a restart: same ledger
    assert outbox.settings(down.ledger) == {"lockout_s": 600}
    assert results(down.ledger) == [("applied", None), ("duplicate", None)]


def test_unlock_and_config_wait_for_a_synchronised_clock(down):
    down.clock.synced = False
    down("cmd", "config", {"lockout_s": 600})
    down("ack", "ack", {"stream": "tx", "upto_seq": 1})                    # acks do not depend on time
    assert outbox.settings(down.ledger) == {} and outbox.acked(down.ledger, "tx") == 1
    assert results(down.ledger) == [("refused", "expired")]


def test_desired_users_newest_version_wins_and_is_reported(down):
    down("desired/users", "users", {"version": 2, "users": [USER, {"id": "T1", "name": "Ana", "role": "technician"}]})
    assert Access(down.ledger).by_badge("04A1B2C3").user_id == "T9"
    down("desired/users", "users", {"version": 2, "users": []})            # the same version again: nothing
    down("desired/users", "users", {"version": 1, "users": []})            # older: refused
    assert {r["id"] for r in down.ledger.db["users"].rows} == {"T1", "T9"}
    assert outbox.applied_versions(down.ledger)["users"] == 2
    assert [(e["what"], e["version"]) for e in events(down.ledger) if e["type"] == "desired_applied"] == [
        ("users", 2)]
    assert results(down.ledger) == [("applied", None), ("refused", "stale_version")]


def test_a_users_delta_applies_only_on_its_base_version(down):
    down("desired/users", "users", {"version": 1, "users": [{"id": "T1", "role": "technician"}]})
    down("cmd", "users_delta", {"base_version": 1, "version": 2, "upsert": [USER], "remove": ["T1"]})
    down("cmd", "users_delta", {"base_version": 1, "version": 3, "upsert": [], "remove": ["T9"]})
    assert {r["id"] for r in down.ledger.db["users"].rows} == {"T9"}
    assert outbox.applied_versions(down.ledger)["users"] == 2
    assert results(down.ledger)[-1] == ("refused", "stale_version")


def test_a_bad_user_refuses_the_whole_set(down):
    down("desired/users", "users", {"version": 1, "users": [USER, {"id": "X", "role": "janitor"}]})
    down("desired/users", "users", {"version": 2, "users": [{"id": "Y", "role": "technician", "pin_hash": "1234"}]})
    assert {r["id"] for r in down.ledger.db["users"].rows} == {"T1"}
    assert results(down.ledger) == [("refused", "malformed")] * 2


def test_a_catalog_sets_min_max_and_min_max_acts_at_once(down):
    down("desired/catalog", "catalog", {"version": 1, "skus": [{"part_number": "GLV", "description": "Gloves L",
                                                                "unit_cost": 45}],
                                        "locations": [{"id": "L1", "sku": "GLV", "min": 6, "max": 10}]})
    loc = down.ledger.db["locations"].get("L1")
    assert (loc["min"], loc["max"]) == (6, 10) and down.ledger.db["skus"].get("GLV")["unit_cost"] == 45
    assert [t["location"] for t in down.ledger.db["refill_tasks"].rows] == ["L1"]    # 5 on hand < min 6
    down("desired/catalog", "catalog", {"version": 2, "skus": [], "locations": [{"id": "L7", "min": 1, "max": 2}]})
    assert outbox.applied_versions(down.ledger)["catalog"] == 1 and results(down.ledger)[-1] == ("refused", "malformed")
