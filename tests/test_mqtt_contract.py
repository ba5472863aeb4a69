"""The machine-readable cloud contract (docs/mqtt/) against the prose (docs/mqtt.md) and the code.

Every example validates against its schema (a down example: its envelope, its body, and the agent's own
envelope.check, which verifies the real signature); the counter-examples are refused with the reason their
name says; every topic, event type and down type of docs/mqtt.md has a schema and an example; the AsyncAPI
document names every topic of edge_agent/cloud/topics.py and refers only to files that exist; and a row
read back from a real ledger validates as a tx row, so a ledger column added without the schema fails here.
"""
import copy
import datetime
import importlib.util
import json
import re
from pathlib import Path

import pytest

from edge_agent.app.config import CloudConfig
from edge_agent.cloud import envelope, topics
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.ledger.chain import verify_rows
from hub.contract import BadBatch, body_schema, check_batch, errors, schema, schema_names, validator

ROOT = Path(__file__).resolve().parent.parent
MQTT = ROOT / "docs" / "mqtt"
EXAMPLES = MQTT / "examples"
MD = (ROOT / "docs" / "mqtt.md").read_text()
ASYNCAPI = json.loads((MQTT / "asyncapi.json").read_text())


def _load_make_examples():
    spec = importlib.util.spec_from_file_location("make_examples", MQTT / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EX = _load_make_examples()


def _table_rows(heading):
    """Rows (lists of cells) of the first markdown table after `heading` in docs/mqtt.md, header row left out.
    Only the first cells are used: a later cell may hold an escaped pipe."""
    section = MD.split(heading, 1)[1]
    rows, started = [], False
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            started = True
            if not set(line) <= set("|- "):
                rows.append([c.strip() for c in line.strip("|").split("|")])
        elif started or line.startswith("#"):
            break
    return rows[1:]


def _ticked(cell):
    return re.match(r"`([^`]+)`", cell).group(1)


TOPIC_ROWS = {_ticked(r[0]).replace("{root}/", ""): r for r in _table_rows("## Topics")}
EVENT_TYPES = [_ticked(r[0]) for r in _table_rows("### events: event batches")]
DOWN_TYPES = {_ticked(r[0]): _ticked(r[1]) for r in _table_rows("## Down: what the cloud sends")}
REFUSALS = ("unsigned", "bad_signature", "expired", "malformed", "wrong_cabinet", "stale_version", "duplicate")


def _examples(folder=EXAMPLES):
    return sorted(folder.glob("*.json"))


def _down_leaf(stem):
    """The topic leaf a down example is published on, from its name: ack, cmd_*, desired_*; None if up."""
    if stem == "ack" or stem.startswith("ack_"):
        return "ack"
    if stem.startswith("cmd_"):
        return "cmd"
    if stem.startswith("desired_"):
        return "desired/" + stem[len("desired_"):]
    return None


def _up_schema(stem):
    """status_offline -> status, event_batch_alerts -> event_batch: the longest schema name it starts with."""
    names = [n for n in schema_names() if stem == n or stem.startswith(n + "_")]
    assert names, "%s.json: no schema for it" % stem
    return max(names, key=len)


UP_EXAMPLES = [p for p in _examples() if _down_leaf(p.stem) is None]
DOWN_EXAMPLES = [p for p in _examples() if _down_leaf(p.stem) is not None]
INVALID_EXAMPLES = _examples(EXAMPLES / "invalid")


def _load(path):
    return json.loads(path.read_text())


# -- the schemas themselves ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", schema_names())
def test_every_schema_is_draft_2020_12_and_loads_with_its_references(name):
    document = schema(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == "https://locker.example/mqtt/v1/%s.json" % name
    validator(name)    # check_schema, and the registry holds every schema it refers to
    for ref in re.findall(r'"\$ref": "([^"#]+)#', json.dumps(document)):
        assert (MQTT / "schemas" / ref).exists(), ref


def test_the_schemas_are_the_ones_asked_for():
    expected = {"common", "status", "birth", "tx_batch", "event_batch", "inventory", "envelope"}
    expected |= {body_schema(t) for t in DOWN_TYPES}
    assert set(schema_names()) == expected


# -- examples -----------------------------------------------------------------------------------------------
def test_the_examples_are_what_make_examples_writes():
    """Regenerate with `.venv/bin/python docs/mqtt/make_examples.py` after changing the contract."""
    built = EX.build()
    on_disk = {str(p.relative_to(EXAMPLES)): p.read_text() for p in EXAMPLES.rglob("*.json")}
    assert set(on_disk) == set(built)
    for name, value in built.items():
        assert on_disk[name] == EX.text(value), "%s is out of date: run docs/mqtt/make_examples.py" % name


@pytest.mark.parametrize("path", UP_EXAMPLES, ids=lambda p: p.stem)
def test_up_examples_validate(path):
    payload = _load(path)
    name = _up_schema(path.stem)
    assert errors(name, payload) == []
    assert payload["cabinet"] == EX.CABINET
    if name in ("tx_batch", "event_batch"):
        check_batch(payload)


def test_the_example_tx_rows_are_a_real_hash_chain():
    rows = _load(EXAMPLES / "tx_batch.json")["rows"]
    assert rows[0]["seq"] == 1
    assert verify_rows(rows).ok


@pytest.mark.parametrize("path", DOWN_EXAMPLES, ids=lambda p: p.stem)
def test_down_examples_validate_and_the_agent_accepts_them(path):
    raw = path.read_bytes()
    message = json.loads(raw)
    assert errors("envelope", message) == []
    assert errors(body_schema(message["type"]), message["body"]) == []
    assert DOWN_TYPES[message["type"]] == _down_leaf(path.stem), "%s on the wrong topic" % path.stem
    now = envelope.instant(message["issued"]) + datetime.timedelta(seconds=1)
    assert envelope.check(raw, EX.KEY, EX.CABINET, now) == message
    # A cabinet whose clock is not synchronised refuses what needs the clock, and applies the rest.
    if message["type"] in envelope.NEEDS_CLOCK:
        with pytest.raises(envelope.Refused) as refused:
            envelope.check(raw, EX.KEY, EX.CABINET, now, clock_synced=False)
        assert refused.value.reason == "expired"
    else:
        assert envelope.check(raw, EX.KEY, EX.CABINET, now - datetime.timedelta(days=30), clock_synced=False)


@pytest.mark.parametrize("path", INVALID_EXAMPLES, ids=lambda p: p.stem)
def test_invalid_examples_are_refused_with_the_reason_in_their_name(path):
    reason = max((r for r in REFUSALS if path.stem == r or path.stem.startswith(r + "_")), key=len)
    with pytest.raises(envelope.Refused) as refused:
        envelope.check(path.read_bytes(), EX.KEY, EX.CABINET, EX.INVALID_NOW)
    assert refused.value.reason == reason


def test_there_are_unsigned_and_expired_counter_examples():
    assert {"unsigned", "expired"} <= {p.stem for p in INVALID_EXAMPLES}


# -- the prose's tables ----------------------------------------------------------------------------------------
def test_the_topic_table_is_the_code_topic_layout():
    assert set(TOPIC_ROWS) == set(topics.UP) | set(topics.DOWN)
    for leaf, row in TOPIC_ROWS.items():
        assert row[1] == ("up" if leaf in topics.UP else "down"), leaf


@pytest.mark.parametrize("leaf", topics.UP)
def test_every_up_topic_has_a_schema_and_an_example(leaf):
    name = _ticked(TOPIC_ROWS[leaf][4])
    assert name in schema_names()
    assert any(_up_schema(p.stem) == name for p in UP_EXAMPLES), "no example of %s" % name


def test_every_event_type_has_a_schema_and_an_example():
    assert set(EVENT_TYPES) == set(schema("event_batch")["$defs"]["event"]["properties"]["type"]["enum"])
    branches = schema("event_batch")["$defs"]["event"]["allOf"]
    assert [b["if"]["properties"]["type"]["const"] for b in branches] == EVENT_TYPES
    shown = {e["type"] for p in UP_EXAMPLES if p.stem.startswith("event_batch") for e in _load(p)["events"]}
    assert shown == set(EVENT_TYPES)


def test_every_event_types_fields_are_the_tables():
    """The fields each event type's row of the table names (what is in parentheses left out)."""
    table = {_ticked(r[0]): r[1] for r in _table_rows("### events: event batches")}
    defs = schema("event_batch")["$defs"]
    for type_, cell in table.items():
        named = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cell))
        assert set(defs[type_]["properties"]) == set(named), type_


def test_every_down_type_has_a_body_schema_and_an_example_on_its_topic():
    assert set(DOWN_TYPES) == set(schema("envelope")["properties"]["type"]["enum"])
    assert set(DOWN_TYPES.values()) == set(topics.DOWN)
    shown = {(_load(p)["type"], _down_leaf(p.stem)) for p in DOWN_EXAMPLES}
    assert shown == set(DOWN_TYPES.items())
    for type_, leaf in DOWN_TYPES.items():
        assert body_schema(type_) in schema_names()
        assert _ticked(TOPIC_ROWS[leaf][4]) == "envelope"


# -- strictness ---------------------------------------------------------------------------------------------
def _mutated(path, change):
    value = copy.deepcopy(_load(EXAMPLES / path))
    change(value)
    return value


BAD = [
    ("status.json", "status", lambda m: m.update(v=2)),
    ("status.json", "status", lambda m: m.update(v=True)),
    ("status.json", "status", lambda m: m.update(clock_synced=1)),
    ("status.json", "status", lambda m: m.update(sent_wall="2026-11-23T10:00:00")),      # no offset
    ("status.json", "status", lambda m: m.update(sent_wall="2026-11-23 10:00:00Z")),
    ("status.json", "status", lambda m: m.update(session=0)),
    ("status.json", "status", lambda m: m.update(cabinet="CAB 1")),
    ("status.json", "status", lambda m: m.update(extra=1)),
    ("birth.json", "birth", lambda m: m.pop("streams")),
    ("birth.json", "birth", lambda m: m["streams"]["tx"].update(head=-1)),
    ("tx_batch.json", "tx_batch", lambda m: m.update(rows=[])),
    ("tx_batch.json", "tx_batch", lambda m: m.update(first_seq=0)),
    ("tx_batch.json", "tx_batch", lambda m: m.update(last_seq=2 ** 63)),
    ("tx_batch.json", "tx_batch", lambda m: m.update(stream="events")),
    ("tx_batch.json", "tx_batch", lambda m: m["rows"][0].update(sku=None)),               # nulls are left out
    ("tx_batch.json", "tx_batch", lambda m: m["rows"][0].update(clock_synced=True)),      # as stored: 0 or 1
    ("tx_batch.json", "tx_batch", lambda m: m["rows"][0].update(colour="red")),
    ("tx_batch.json", "tx_batch", lambda m: m["rows"][0].pop("hash")),
    ("tx_batch.json", "tx_batch", lambda m: m["rows"][0].update(kind="theft")),
    ("event_batch_alerts.json", "event_batch", lambda m: m["events"][0].update(colour="red")),
    ("event_batch_alerts.json", "event_batch", lambda m: m["events"][0].update(type="alert_exploded")),
    ("event_batch_alerts.json", "event_batch", lambda m: m["events"][0].pop("alert_id")),
    ("event_batch_alerts.json", "event_batch", lambda m: m["events"][2].update(detail="cleared has none")),
    ("event_batch_alerts.json", "event_batch", lambda m: m["events"][0].pop("ledger_seq")),
    ("event_batch_command_results.json", "event_batch", lambda m: m["events"][1].pop("reason")),
    ("event_batch_command_results.json", "event_batch", lambda m: m["events"][0].update(status="done")),
    ("event_batch_desired_applied.json", "event_batch", lambda m: m["events"][0].update(what="skus")),
    ("event_batch_commissioning_report.json", "event_batch", lambda m: m["events"][0]["checks"][0].update(status="ok")),
    ("event_batch_commissioning_report.json", "event_batch", lambda m: m["events"][0]["checks"][3].pop("counts_per_g")),
    ("inventory.json", "inventory", lambda m: m["locations"][0].update(id="X1")),
    ("cmd_unlock.json", "envelope", lambda m: m.update(extra=1)),
    ("cmd_unlock.json", "envelope", lambda m: m.update(type="reboot")),
    ("cmd_unlock.json", "envelope", lambda m: m.update(id="42")),
    ("cmd_unlock.json", "envelope", lambda m: m.pop("sig")),
    ("cmd_unlock.json", "body_unlock", lambda m: m["body"].update(door="2")),
    ("cmd_config.json", "body_config", lambda m: m["body"].update(pin="1234")),
    ("cmd_resend.json", "body_resend", lambda m: m["body"].update(from_seq=0)),
    ("desired_users.json", "body_users", lambda m: m["body"]["users"][0].update(pin_hash="4711")),
    ("desired_users.json", "body_users", lambda m: m["body"]["users"][0].update(badges=["04:a1:b2:c3"])),
    ("desired_users.json", "body_users", lambda m: m["body"]["users"][0].update(role="boss")),
    ("desired_catalog.json", "body_catalog", lambda m: m["body"]["skus"][0].update(unit_cost=12.5)),
]


@pytest.mark.parametrize("path,name,change", BAD, ids=["%s-%d" % (b[1], i) for i, b in enumerate(BAD)])
def test_the_schemas_refuse_what_the_contract_does_not_allow(path, name, change):
    value = _mutated(path, change)
    instance = value["body"] if name.startswith("body_") else value
    assert errors(name, instance) != []


@pytest.mark.parametrize("change", [lambda m: m.update(first_seq=5, last_seq=4),
                                    lambda m: m["rows"].pop(1),
                                    lambda m: m.update(first_seq=2)])
def test_check_batch_refuses_what_a_schema_cannot_see(change):
    with pytest.raises(BadBatch):
        check_batch(_mutated("tx_batch.json", change))


# -- the AsyncAPI document -----------------------------------------------------------------------------------
def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _pointer(document, ref):
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_asyncapi_names_every_topic_with_its_direction_qos_and_retain():
    assert ASYNCAPI["asyncapi"].startswith("3.")
    prefix = "locker/v1/{tenant}/{site}/{cabinet}/"
    by_leaf = {}
    for key, channel in ASYNCAPI["channels"].items():
        assert channel["address"].startswith(prefix)
        assert set(channel["parameters"]) == {"tenant", "site", "cabinet"}
        by_leaf[channel["address"][len(prefix):]] = key
    assert set(by_leaf) == set(topics.UP) | set(topics.DOWN)
    for operation in ASYNCAPI["operations"].values():
        leaf = next(lf for lf, key in by_leaf.items() if operation["channel"]["$ref"] == "#/channels/" + key)
        row = TOPIC_ROWS[leaf]
        assert operation["action"] == ("send" if leaf in topics.UP else "receive"), leaf
        mqtt = operation["bindings"]["mqtt"]
        assert mqtt["qos"] == int(row[2]) and mqtt["retain"] == row[3].startswith("yes"), leaf
    operated = {op["channel"]["$ref"] for op in ASYNCAPI["operations"].values()}
    assert operated == {"#/channels/" + key for key in by_leaf.values()}
    for leaf in topics.DOWN:
        messages = ASYNCAPI["channels"][by_leaf[leaf]]["messages"]
        assert set(messages) == {t for t, lf in DOWN_TYPES.items() if lf == leaf}
    assert {s["protocol"] for s in ASYNCAPI["servers"].values()} == {"mqtt", "secure-mqtt"}


def test_asyncapi_references_resolve_and_name_every_payload_schema():
    files = set()
    for ref in _refs(ASYNCAPI):
        if ref.startswith("#/"):
            _pointer(ASYNCAPI, ref)           # KeyError if it points nowhere
        else:
            assert (MQTT / ref).is_file(), ref
            files.add(Path(ref).stem)
    assert files == set(schema_names()) - {"common"}
    for message in ASYNCAPI["components"]["messages"].values():
        assert message["payload"]["schemaFormat"] == "application/schema+json;version=draft-2020-12"


# -- the ledger's rows ----------------------------------------------------------------------------------------
def _columns(ledger):
    return {row[1]: row for row in ledger.db.execute("PRAGMA table_info(transactions)").fetchall()}


def test_tx_rows_from_a_real_ledger_validate(tmp_path):
    clock = ManualClock(start="2026-11-23T09:00:00.000+00:00")
    with open_ledger(tmp_path / "ledger.db", clock, cabinet_id="CAB-1") as ledger:
        ledger.db["skus"].insert({"part_number": "T-9", "description": "torque wrench", "unit_cost": 23900})
        ledger.db["locations"].insert({"id": "D2", "kind": "door", "unit": 2, "sku": "T-9", "min": 0, "max": 2})
        ledger.append("refill", location="D2", quantity=2, user_id="driver-1")
        seq, _ = ledger.record_intent("issue", location="D2", quantity=1, user_id="u-1", badge_id="04A1B2C3",
                                      work_order="WO-1", machine_id="M-1", cost_center="CC-1",
                                      approver_id="sup-1", fw_boot=7)
        clock.advance(1500)
        ledger.record_outcome(seq, "done", 1)
        clock.set_wall("2026-11-01T00:00:00.000+00:00", synced=False)   # a Pi that booted weeks behind
        ledger.append("return", location="D2", quantity=1, user_id="u-1", condition="damaged", weight_mg=-1250,
                      reason="handle cracked")
        ledger.append("adjustment", location="D2", quantity=-1, user_id="sup-1", reason="written off")
        rows = [{k: v for k, v in row.items() if v is not None} for row in ledger.transactions()]
    batch = {"v": 1, "cabinet": "CAB-1", "session": 1, "sent_wall": "2026-11-01T00:00:01.000+00:00",
             "clock_synced": False, "stream": "tx", "first_seq": rows[0]["seq"], "last_seq": rows[-1]["seq"],
             "backlog": False, "rows": rows}
    assert errors("tx_batch", batch) == []
    check_batch(batch)
    assert {name for row in rows for name in row} >= {"approver_id", "fw_boot", "condition", "weight_mg"}
    assert {row["clock_synced"] for row in rows} == {0, 1}


def test_the_tx_row_schema_lists_exactly_the_ledgers_columns(tmp_path):
    with open_ledger(tmp_path / "ledger.db", ManualClock()) as ledger:
        columns = _columns(ledger)
    row = schema("tx_batch")["$defs"]["row"]
    assert set(row["properties"]) == set(columns), "a ledger column and the tx row schema disagree"
    not_null = {name for name, info in columns.items() if info[3] or info[5]}   # notnull, or the primary key
    assert set(row["required"]) == not_null
    named = re.findall(r"`([a-z_]+)`", MD.split("### tx: transaction batches", 1)[1].split("###", 1)[0])
    assert set(columns) <= set(named), "docs/mqtt.md's tx section does not name every column"


def _issue_15_events(ledger):
    """An alert's words updated and a supervisor's acknowledgement through the real alert code; the count task
    through the ledger's count_tasks and a real count; a refill visit through the refill flow: a driver's
    count that differs, then Finish."""
    from edge_agent.flows.alerts import acknowledge
    from edge_agent.ledger import count_tasks
    from edge_agent.ledger.alerts import raise_alert
    from edge_agent.rules.access import Person
    db, wall = ledger.db, ledger.clock.wall()[0]
    with ledger.transaction():                                   # alert_updated: the words changed
        raise_alert(db, "L3", "unknown_outcome", "intent 1: outcome unknown, count the location", None, wall)
        raise_alert(db, "L3", "unknown_outcome", "intent 2: outcome unknown, count the location", None, wall)
    alert_id = db.execute("SELECT id FROM alerts WHERE kind = 'unknown_outcome'").fetchone()[0]
    acknowledge(ledger, Person("sup-1", "Dee", "supervisor", None, None, None), alert_id, "seen")
    with ledger.transaction():
        count_tasks.open_count_task(db, "L3", "suspected empty", None, wall)     # as actuation.suspect_empty
        ledger.append("count", location="L3", quantity=ledger.on_hand("L3"), user_id="sup-1")   # closes it
    from edge_agent.flows.refill import confirm_refill
    from edge_agent.flows.refill_visits import close_visit
    driver = Person("driver-1", "Bo", "supervisor", None, None, None)
    confirm_refill(ledger, driver, "L3", 1, counted=ledger.on_hand("L3"))       # one loaded, none more counted
    assert close_visit(ledger, "driver-1")["differences"] == 1


# -- what the agent really publishes --------------------------------------------------------------------------
def test_the_agents_own_payloads_validate(tmp_path):
    """The outbox's batches of both streams (every event type) and CloudSync's status, birth and inventory."""
    from types import SimpleNamespace

    from edge_agent.cli import commissioning
    from edge_agent.cloud import outbox
    from edge_agent.cloud.sync import CloudSync
    from edge_agent.ledger import refusal_tally
    from edge_agent.rules.refusal import Refusal

    clock = ManualClock(start="2026-11-23T09:00:00.000+00:00")
    with open_ledger(tmp_path / "ledger.db", clock, cabinet_id="CAB-1") as ledger:
        ledger.db["skus"].insert({"part_number": "P-1", "unit_cost": 100})
        ledger.db["locations"].insert({"id": "L3", "kind": "lane", "unit": 3, "sku": "P-1", "min": 2, "max": 5})
        ledger.append("refill", location="L3", quantity=3, user_id="driver-1")
        for _ in range(2):                                   # below min: a refill task and a low_stock alert
            seq, _ = ledger.record_intent("issue", location="L3", quantity=1, user_id="u-1")
            ledger.record_outcome(seq, "done", 1)
        clock.set_wall("2026-10-01T00:00:00.000+00:00", synced=False)
        ledger.append("refill", location="L3", quantity=4, user_id="driver-1")   # closes and clears them
        _issue_15_events(ledger)
        outbox.record_event(ledger, "command_result", command_id=None, command_type=None, status="refused",
                            reason="malformed", detail="not JSON")
        outbox.record_event(ledger, "command_result", command_id=EX.message_id("cmd_unlock"),
                            command_type="unlock", status="duplicate", reason=None, detail=None)
        outbox.record_event(ledger, "desired_applied", what="users", version=3)
        commissioning.record_report(ledger, commissioning.build_report(
            "CAB-1", None, "kari", ["lanes"], 500000, 2500, "2026-11-23T09:00:00.000+00:00",
            "2026-11-23T09:01:00.000+00:00", [commissioning.Check("lane", 3, "L3", "failed", "lane 3: jammed")]))

        for n in range(refusal_tally.BURST + 2):            # past the first few unknown badges: a count
            Refusal("unknown_badge", "not registered").record(ledger, badge_id="DEAD%04X" % n)
        clock.advance(refusal_tally.WINDOW_S * 1000)
        assert refusal_tally.flush(ledger) == 1

        sync = CloudSync(lambda: None, SimpleNamespace(cabinet_id="CAB-1", source=None),
                         CloudConfig(host="127.0.0.1", tenant="acme", site="plant1", key_file=None))
        sync.ledger, sync.session = ledger, outbox.next_session(ledger)
        shown = set()
        for stream, key in (("tx", "rows"), ("events", "events")):
            batch = outbox.read_batch(ledger, stream, 0)
            payload = dict(sync._envelope(), stream=stream, first_seq=batch.first_seq, last_seq=batch.last_seq,
                           backlog=False, **{key: batch.items})
            assert errors("tx_batch" if stream == "tx" else "event_batch", payload) == []
            check_batch(payload)
            shown |= {item["type"] for item in batch.items if stream == "events"}
        assert shown == set(EVENT_TYPES)
        assert errors("status", json.loads(sync._status("online"))) == []
        assert errors("status", json.loads(sync._status("offline"))) == []
        assert errors("birth", sync._birth()) == []
        assert errors("inventory", sync._inventory()) == []
