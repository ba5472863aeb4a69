"""The cloud link cannot be poisoned (issue 14, item 7): a down message the agent cannot take is refused, with
its command's id whenever the envelope could be read, and the link goes on; size and nesting are judged on
the bytes before any parsing; every body is held to its schema; and refusals of one kind are coalesced, so
a cloud with the wrong key cannot flood the cabinet's outbox. Real ledgers, the agent's real checks; the
last test runs the agent process against a real Mosquitto and the hub."""
import copy
import datetime
import json
import threading
import time

import pytest

from edge_agent.cloud import envelope, outbox
from edge_agent.ledger import coalesce
from edge_agent.cloud.commands import BODY_KEYS, Commands
from hub.contract import body_schema, errors, schema
from tests.test_cloud_commands import CABINET, KEY, NOW, down  # noqa: F401 - down: the fixture
from tests.agent_process import ledger_of
from tests.test_cloud_sync import CABINET as SITE_CABINET, WAIT_S, Site
from tests.test_mqtt_contract import EXAMPLES, MD

NESTED = b"[" * 1000 + b"]" * 1000
LEAVES = {"ack": "ack", "resend": "cmd", "unlock": "cmd", "users_delta": "cmd", "config": "cmd",
          "users": "desired/users", "catalog": "desired/catalog"}
EXAMPLE = {"ack": "ack", "resend": "cmd_resend", "unlock": "cmd_unlock", "users_delta": "cmd_users_delta",
           "config": "cmd_config", "users": "desired_users", "catalog": "desired_catalog"}


def results(ledger):
    batch = outbox.read_batch(ledger, "events", 0, 100000)
    return [e for e in (batch.items if batch else []) if e["type"] == "command_result"]


@pytest.mark.parametrize("leaf", ["cmd", "desired/users", "ack"])
def test_a_thousand_deep_array_is_refused_and_the_next_message_still_applies(down, leaf):
    down(leaf, raw=NESTED)                       # on 3915619: RecursionError out of the sync thread
    down(leaf, raw=b"[" * 1000)                  # unbalanced, as deep
    down(leaf, raw=b'{"a": "' + b"x" * (envelope.MAX_BYTES) + b'"}')
    assert [(r["status"], r["reason"], r["command_id"]) for r in results(down.ledger)] == [
        ("refused", "malformed", None)] * 3
    assert "deeper than" in results(down.ledger)[0]["detail"] and "over the limit" in results(down.ledger)[2]["detail"]
    down("cmd", "config", {"lockout_s": 600})
    assert outbox.settings(down.ledger) == {"lockout_s": 600}


def test_a_signed_envelope_nesting_deep_inside_its_body_is_refused_before_parsing(down):
    deep = {"x": 1}
    for _ in range(envelope.MAX_DEPTH):
        deep = [deep]
    down("desired/users", "users", {"version": 1, "users": [], "extra": deep})
    assert [(r["reason"], r["command_id"]) for r in results(down.ledger)] == [("malformed", None)]
    assert outbox.applied_versions(down.ledger)["users"] is None


def test_any_failure_while_applying_is_a_refusal_naming_the_command(down):
    for op in ("INSERT", "UPDATE"):                               # the ledger fails under the command
        down.ledger.db.execute("CREATE TRIGGER fail_%s BEFORE %s ON cloud_state BEGIN "
                               "SELECT RAISE(ABORT, 'disk on fire'); END" % (op, op))
    env = down("cmd", "config", {"lockout_s": 600})
    assert [(r["status"], r["reason"], r["command_id"]) for r in results(down.ledger)] == [
        ("refused", "error", env["id"])]


def _unsigned(env):
    del env["sig"]
    return env


@pytest.mark.parametrize("tamper", [
    dict(key=bytes(32)), dict(cabinet="CAB-2"), dict(now=NOW - datetime.timedelta(hours=2)),
    dict(lifetime_s=3 * 86400), dict(edit=_unsigned), dict(edit=lambda e: dict(e, v=2)),
    dict(edit=lambda e: dict(e, issued="yesterday")), dict(body={"door": 1}), dict(body={"door": 1, "reason": 5}),
    dict(body={"door": 1, "reason": "x", "force": True}), dict(leaf="ack"),
])
def test_every_refusal_names_the_command_whenever_the_envelope_could_be_read(down, tamper):
    """On 3915619 9 of 17 refusals came back with command_id null, so the cloud could not match them."""
    key, now = tamper.get("key", KEY), tamper.get("now", NOW)
    env = envelope.sign(key, tamper.get("cabinet", CABINET), "unlock", tamper.get("body", {"door": 1, "reason": "x"}),
                        now, tamper.get("lifetime_s", 300))
    env = tamper.get("edit", lambda e: e)(env)
    down(tamper.get("leaf", "cmd"), raw=json.dumps(env).encode())
    [result] = results(down.ledger)
    assert (result["status"], result["command_id"], result["command_type"]) == ("refused", env["id"], "unlock")


def test_a_signed_unlock_without_a_reason_is_refused_as_malformed(down):
    """On 3915619 it went on to the door (here, with no cabinet: refused as not_available)."""
    env = down("cmd", "unlock", {"door": 1})
    [result] = results(down.ledger)
    assert (result["reason"], result["command_id"]) == ("malformed", env["id"]) and "reason" in result["detail"]
    assert outbox.command_status(down.ledger, env["id"]) == "refused"


@pytest.mark.parametrize("type_", sorted(LEAVES))
def test_every_body_is_held_to_its_schema(down, type_):
    """For each down type, its example and its mutations (a key left out, a key the schema does not know, the
    wrong type, an unknown key in an entry): the agent refuses as malformed exactly what the schema refuses."""
    assert set(schema(body_schema(type_))["properties"]) == set(sum(BODY_KEYS[type_], ()))
    body = json.loads((EXAMPLES / (EXAMPLE[type_] + ".json")).read_text())["body"]
    mutants = [dict(body, unknown=1)] + [{k: v for k, v in body.items() if k != name} for name in body]
    mutants += [dict(body, **{name: [] if not isinstance(value, list) else "text"}) for name, value in body.items()]
    for entry_list in ("users", "upsert", "skus", "locations"):
        if body.get(entry_list):
            mutated = copy.deepcopy(body)
            mutated[entry_list][0]["unknown"] = 1
            mutants.append(mutated)
    refused = 0
    for i, mutant in enumerate(mutants + [body]):
        if isinstance(mutant.get("version"), int):   # each a new version: one taken (an optional key left out)
            mutant = dict(mutant, version=mutant["version"] + i)    # must not make the next a redelivery
        down.sync.commands = Commands(down.sync)                   # (a fresh coalescer: every result recorded)
        before = len(results(down.ledger))
        down(LEAVES[type_], type_, mutant)
        malformed = any(r["reason"] == "malformed" for r in results(down.ledger)[before:])
        assert malformed == bool(errors(body_schema(type_), mutant)), (type_, mutant)   # agent and schema agree
        refused += malformed
    assert refused >= 2                                             # the unknown key and a wrong type at least


@pytest.mark.parametrize("type_, path, value", [
    ("users", ("users", 0, "name"), "N" * 201), ("users", ("users", 0, "department"), "Ops\x1b[2J"),
    ("users_delta", ("remove",), ["x" * 201]), ("catalog", ("skus", 0, "description"), "d" * 10_000),
    ("catalog", ("skus", 0, "unit_cost"), 2 ** 64), ("catalog", ("locations", 0, "max"), 10 ** 12),
    ("unlock", ("reason",), "r" * 5000)])
def test_desired_state_is_held_to_the_ceilings_of_an_import(down, type_, path, value):
    """On 3915619 a 10,000-character description or a control character was stored as sent, and a max of 10^12
    was taken (2^64 failed in SQLite as an error): a cloud push is bounded as a CSV import of the same table.
    An unlock's reason goes on the record too: at most 200 characters."""
    body = json.loads((EXAMPLES / (EXAMPLE[type_] + ".json")).read_text())["body"]
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    down(LEAVES[type_], type_, body)
    [result] = results(down.ledger)
    assert result["reason"] == "malformed" and errors(body_schema(type_), body)      # the schema says so too
    assert down.ledger.db.execute("SELECT count(*) FROM skus WHERE length(description) > 200").fetchone()[0] == 0


@pytest.mark.parametrize("type_", envelope.NEEDS_CLOCK)
def test_every_command_that_acts_now_is_refused_once_expired_or_while_the_clock_is_unsynchronised(down, type_):
    body = {"door": 1, "reason": "stuck"} if type_ == "unlock" else {"lockout_s": 600}
    expired = down("cmd", type_, body, now=NOW - datetime.timedelta(seconds=301))
    down.clock.synced = False
    unsynced = down("cmd", type_, body)
    assert [(r["reason"], r["command_id"]) for r in results(down.ledger)] == [
        ("expired", expired["id"]), ("expired", unsynced["id"])]
    assert outbox.settings(down.ledger) == {}


@pytest.mark.parametrize("type_", sorted(LEAVES))
def test_every_type_is_refused_with_a_lifetime_over_a_day(down, type_):
    body = json.loads(json.dumps({"ack": {"stream": "tx", "upto_seq": 1}}.get(type_, {})))
    env = down(LEAVES[type_], type_, body, lifetime_s=86400 + 1)
    [result] = results(down.ledger)
    assert (result["reason"], result["command_id"]) == ("expired", env["id"]) and outbox.acked(down.ledger, "tx") == 0


def test_refusals_from_a_cloud_with_the_wrong_key_are_coalesced_and_counted(down):
    """A cloud holding the wrong key sends ten a second for ten minutes: on 3915619, 6,000 event rows."""
    sent = []
    for _ in range(6000):
        sent.append(down("cmd", "resend", {"stream": "tx", "from_seq": 1}, key=bytes(32))["id"])
        down.clock.advance(100)
        down.sync.commands.flush()
    rows = results(down.ledger)
    minutes = 10
    assert len(rows) <= coalesce.BURST + minutes * 60 * coalesce.RATE_PER_S + 1    # under 1 row per 5 s
    down.sync.commands.flush(everything=True)                  # at a stop: what is pending is recorded
    rows = results(down.ledger)
    assert sum(r.get("count", 1) for r in rows) == len(sent)   # every refusal is counted, none lost
    assert {r["reason"] for r in rows} == {"bad_signature"} and rows[0]["command_id"] == sent[0]
    summary = rows[-1]
    assert summary["command_id"] == sent[-1] and summary["first"] < summary["last"]
    batch = {"v": 1, "cabinet": CABINET, "session": 1, "sent_wall": summary["last"], "clock_synced": True,
             "stream": "events", "first_seq": rows[0]["seq"], "last_seq": rows[-1]["seq"], "backlog": False,
             "events": rows}
    assert errors("event_batch", batch) == []                  # the coalesced rows are in the contract


def test_the_limits_are_the_ones_the_contract_states():
    limits = MD.split("### Limits", 1)[1].split("\n## ", 1)[0]
    assert "**1 MiB** (%s bytes)" % format(envelope.MAX_BYTES, ",") in limits
    assert "more than **%d** levels" % envelope.MAX_DEPTH in limits
    assert "the first %d are recorded" % coalesce.BURST in limits
    assert "one row per %d s" % (1 / coalesce.RATE_PER_S) in limits


def test_a_poisoned_cabinet_keeps_syncing_also_after_a_restart(tmp_path, hub_dsn):
    """A 1,000-level array on {root}/cmd and retained on desired/users, and a signed unlock with no reason,
    through a real Mosquitto to the agent process: refused, and transactions keep reaching the cloud, also
    after the agent restarts and the broker delivers the retained poison again."""
    site = Site(tmp_path, hub_dsn)
    try:
        site.broker.start()
        cloud = site.start_cloud()
        site.start_agent()
        cloud.publish_raw(SITE_CABINET, "desired/users", NESTED, retain=True).wait_for_publish(10)
        cloud.publish_raw(SITE_CABINET, "cmd", NESTED).wait_for_publish(10)
        unlock = cloud.send_command(SITE_CABINET, "unlock", {"door": 1})
        site.issue(3)
        site.wait_delivered()
        refused = [(r["command_id"], r["reason"]) for r in cloud.command_results(SITE_CABINET)]
        assert (unlock, "malformed") in refused and refused.count((None, "malformed")) >= 2, refused
        site.agent.stop()
        site.start_agent()                             # the broker hands it the retained poison again
        site.issue(2)
        site.check_complete()
        again = [(r["command_id"], r["reason"]) for r in cloud.command_results(SITE_CABINET)]
        assert again.count((None, "malformed")) == refused.count((None, "malformed")) + 1, again
        assert "stopped by an error" not in site.agent.log()
    finally:
        site.close()


def test_an_error_outside_any_message_drops_the_connection_and_sync_goes_on(tmp_path, hub_dsn):
    """A bug anywhere in the sync loop (here: an outbox row whose body is not an object, as a bug could write) stopped
    cloud sync for good on 3915619; now the connection is dropped and made again, and once the cause is gone
    everything is delivered."""
    site = Site(tmp_path, hub_dsn)
    try:
        site.broker.start()
        site.start_cloud()
        site.start_agent()
        site.issue(2)
        site.wait_delivered()
        with ledger_of(site.folder) as ledger, ledger.transaction():
            seq = ledger.db.execute("INSERT INTO outbox_events (type, wall, clock_synced, ledger_seq, body) VALUES "
                                    "('command_result', '2026-01-01T00:00:00.000+00:00', 1, NULL, '[1]')"
                                    ).lastrowid
        end = time.monotonic() + WAIT_S
        while "an error" not in site.agent.log():
            assert time.monotonic() < end, site.agent.log()[-3000:]
            threading.Event().wait(0.05)
        with ledger_of(site.folder) as ledger, ledger.transaction():
            ledger.db.execute("UPDATE outbox_events SET body = ? WHERE seq = ?", [json.dumps(
                {"command_id": None, "command_type": None, "status": "refused", "reason": "error"}), seq])
        site.issue(2)
        site.check_complete()
    finally:
        site.close()
