"""What the cabinet reports for what the cloud sends, as docs/mqtt.md ("Desired state: what the cabinet
reports", the command_result row) says: through the agent's real checks on a real ledger file (the `down`
fixture of test_cloud_commands.py). One word for a message received twice (`duplicate`), older desired state
refused as `stale_version`, and ledger_seq naming the ledger row a command wrote."""
import json
import re
from pathlib import Path

from edge_agent.cloud import outbox
from tests.test_cloud_commands import USER, down, events  # noqa: F401 - down is a fixture

DOCS = Path(__file__).resolve().parent.parent / "docs"


def reported(ledger, since=0):
    return [{k: e.get(k) for k in ("type", "status", "reason", "what", "version", "ledger_seq", "command_type")}
            for e in events(ledger) if e["seq"] > since and e["type"] in ("command_result", "desired_applied")]


def admin_row(ledger, seq):
    row = ledger.transaction_row(seq)
    assert row["kind"] == "admin"
    return row


def test_desired_users_newer_same_and_older_versions_report_as_the_doc_says(down):  # noqa: F811
    down("desired/users", "users", {"version": 2, "users": [USER]})
    applied, result = reported(down.ledger)
    assert applied["type"] == "desired_applied" and (applied["what"], applied["version"]) == ("users", 2)
    assert (result["status"], result["reason"], result["command_type"]) == ("applied", None, "users")
    assert applied["ledger_seq"] == result["ledger_seq"] == outbox.head(down.ledger, "tx")
    assert admin_row(down.ledger, applied["ledger_seq"])["reason"] == "desired users"
    last = events(down.ledger)[-1]["seq"]
    down("desired/users", "users", {"version": 2, "users": []})        # the same version: nothing, no event
    assert reported(down.ledger, last) == []
    down("desired/users", "users", {"version": 1, "users": []})        # older: refused, nothing written
    assert reported(down.ledger, last) == [{"type": "command_result", "status": "refused", "reason": "stale_version",
                                            "what": None, "version": None, "ledger_seq": None,
                                            "command_type": "users"}]
    assert [u["id"] for u in down.ledger.db["users"].rows] == [USER["id"]]


def test_an_older_catalog_is_refused_as_stale_too(down):  # noqa: F811
    catalog = {"skus": [], "locations": [{"id": "L1", "min": 1, "max": 4}]}
    down("desired/catalog", "catalog", dict(catalog, version=5))
    down("desired/catalog", "catalog", dict(catalog, version=4, locations=[{"id": "L1", "min": 2, "max": 3}]))
    assert [(r["type"], r["status"], r["reason"]) for r in reported(down.ledger)] == [
        ("desired_applied", None, None), ("command_result", "applied", None),
        ("command_result", "refused", "stale_version")]
    assert down.ledger.db["locations"].get("L1")["max"] == 4 and outbox.applied_versions(down.ledger)["catalog"] == 5


def test_a_users_delta_applied_carries_its_admin_row_and_one_off_base_is_stale(down):  # noqa: F811
    down("desired/users", "users", {"version": 1, "users": [USER]})
    last = events(down.ledger)[-1]["seq"]
    down("cmd", "users_delta", {"base_version": 1, "version": 2, "upsert": [], "remove": []})
    applied, result = reported(down.ledger, last)
    assert applied["ledger_seq"] == result["ledger_seq"]
    assert admin_row(down.ledger, result["ledger_seq"])["reason"] == "users delta"
    down("cmd", "users_delta", {"base_version": 1, "version": 3, "upsert": [], "remove": []})
    assert reported(down.ledger)[-1]["reason"] == "stale_version"


def test_a_message_received_twice_is_a_duplicate_and_replayed_is_no_word_of_the_contract(down):  # noqa: F811
    env = down("cmd", "config", {"lockout_s": 600})
    down("cmd", raw=json.dumps(env).encode())                          # the same message again (a replay)
    first, again = reported(down.ledger)
    assert (first["status"], again["status"], again["reason"]) == ("applied", "duplicate", None)
    assert admin_row(down.ledger, first["ledger_seq"])["reason"] == "config"
    assert "`replayed`" not in (DOCS / "mqtt.md").read_text().replace("there is no `replayed` reason", "")
    for path in [DOCS / "mqtt/asyncapi.json"] + sorted((DOCS / "mqtt/schemas").glob("*.json")):
        assert "replayed" not in path.read_text(), path


def test_the_refusal_reasons_the_doc_and_the_schema_list_are_the_same():
    doc = (DOCS / "mqtt.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `command_result` |"))
    in_doc = re.findall(r"`(\w+)`", row.split("when refused:")[1].split("or the flow")[0])
    schema = json.loads((DOCS / "mqtt/schemas/event_batch.json").read_text())
    words = schema["$defs"]["command_result"]["description"] if "$defs" in schema else ""
    words = words or json.dumps(schema)
    listed = re.search(r"A refusal names its reason: ([\w, ]+), or the flow", words).group(1)
    assert in_doc == [w.strip() for w in listed.split(",")]
    assert "duplicate" not in in_doc


def test_the_doc_says_the_client_id_is_the_cabinet_id_and_the_shipped_broker_enforces_it():
    """The agent connecting as its cabinet id: test_cloud_sync (the broker's log); another cabinet's
    credentials not taking the session over: test_broker_acl."""
    assert "**The MQTT client id is the cabinet id**" in (DOCS / "mqtt.md").read_text()
    conf = (DOCS.parent / "deploy/broker/mosquitto.conf").read_text().splitlines()
    assert "use_username_as_clientid true" in conf
