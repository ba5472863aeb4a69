"""The contract fleet (`locker-sim fleet --model contract`, sim/fleet/): cabinets written from docs/mqtt.md
alone, against a real Mosquitto, real `locker-hub serve` processes and a real PostgreSQL. Its recipes must
reproduce the doc's examples, and a run must end with every cabinet's rows in the hub once and acked."""
import json
import subprocess
import sys
from pathlib import Path

from sim.fleet import contract
from sim.fleet.cabinet import Cabinet

DOCS = Path(__file__).resolve().parent.parent / "docs" / "mqtt" / "examples"
LOCKER_SIM = str(Path(sys.executable).parent / "locker-sim")
EXAMPLE_KEY = bytes(range(32))       # docs/mqtt/make_examples.py: the documented example key


def test_the_doc_only_recipes_verify_the_docs_signed_examples_and_refuse_a_changed_one():
    for name in ("ack.json", "cmd_resend.json", "cmd_unlock.json", "desired_users.json"):
        env = json.loads((DOCS / name).read_text())
        assert contract.signed_by(EXAMPLE_KEY, env, "CAB-1"), name
        assert not contract.signed_by(EXAMPLE_KEY, dict(env, expires="2099-01-01T00:00:00Z"), "CAB-1"), name
        assert not contract.signed_by(EXAMPLE_KEY, env, "CAB-2"), name


def test_a_cabinet_sends_from_its_last_ack_again_after_a_resend_and_after_a_reconnect():
    now = [0.0]
    cab = Cabinet("CAB-1", "acme", "plant1", EXAMPLE_KEY, rows_per_s=0, backlog_rows=5, clock_wall=lambda: 1.8e9)
    cab.connected(now[0])
    sent = cab.step(now[0])
    assert [m[1]["first_seq"] for m in sent] == [1] and sent[0][1]["last_seq"] == 5 and sent[0][1]["backlog"]
    assert cab.step(now[0]) == []                                  # nothing twice without a reason
    for row in sent[0][1]["rows"]:
        assert row["hash"] == contract.row_hash(row["prev_hash"], row)
    ack = {"v": 1, "id": "a1", "cabinet": "CAB-1", "type": "ack", "issued": "2027-01-15T08:00:00Z",
           "expires": "2027-01-15T08:05:00Z", "body": {"stream": "tx", "upto_seq": 3}}
    forged = dict(ack, body={"stream": "tx", "upto_seq": 5}, sig="00" * 32)
    cab.received("ack", json.dumps(forged), now[0])
    assert cab.acked == 0                                          # an ack not signed with its key is ignored
    wrong = dict(ack, body={"stream": "tx", "upto_seq": 3, "hash": "ab" * 32})
    cab.received("ack", json.dumps(dict(wrong, sig=contract.signature(EXAMPLE_KEY, wrong))), now[0])
    assert cab.acked == 0 and cab.bad_ack_hashes == 1              # the cloud anchors a row we never wrote
    right = dict(ack, body={"stream": "tx", "upto_seq": 3, "hash": sent[0][1]["rows"][2]["hash"]})
    cab.received("ack", json.dumps(dict(right, sig=contract.signature(EXAMPLE_KEY, right))), now[0])
    assert cab.acked == 3
    resend = dict(ack, id="r1", type="resend", body={"stream": "tx", "from_seq": 4})
    cab.received("cmd", json.dumps(dict(resend, sig=contract.signature(EXAMPLE_KEY, resend))), now[0])
    again = cab.step(now[0])
    assert [m[1]["first_seq"] for m in again] == [4] and again[0][1]["backlog"]     # sent again: backlog
    topics = [m[0] for m in cab.connected(1.0)]
    assert topics == ["locker/v1/acme/plant1/CAB-1/status", "locker/v1/acme/plant1/CAB-1/birth"]
    assert [m[1]["first_seq"] for m in cab.step(1.0)] == [4]       # a new connection: from the last ack


def test_a_small_fleet_with_two_hub_workers_ends_with_every_row_stored_once_and_acked(tmp_path):
    result = subprocess.run([LOCKER_SIM, "fleet", "--model", "contract", "--cabinets", "20", "--workers", "2",
                             "--rate", "2", "--seconds", "3", "--backlog", "30", "--json", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["valid"] and figures["rows_stored"] == figures["rows_written"] >= 20 * 30
    assert all(n > 0 for n in figures["rows_stored_per_worker"])              # both workers took a share
    assert sum(figures["rows_stored_per_worker"]) == figures["rows_stored"]
    assert figures["ack_latency_s"]["samples"] > 0 and figures["backlog_rows_per_s"] > 0
    assert "every cabinet acked to its head" in result.stdout


def test_a_fleet_with_nothing_to_send_is_refused_in_words(tmp_path):
    result = subprocess.run([LOCKER_SIM, "fleet", "--model", "contract", "--rate", "0", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "a --rate or a --backlog" in result.stderr
