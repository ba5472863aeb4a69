"""The hash chain as docs/mqtt.md words it, written from the doc alone (sim/fleet/contract.py, the contract
fleet's cabinets: no edge_agent import), must reproduce the hashes of the rows in
docs/mqtt/examples/tx_batch.json, which come from a real ledger (make_examples.py). A cloud written from the
doc then checks the chain the agent writes."""
import hashlib
import json
from pathlib import Path

from sim.fleet.contract import row_hash as doc_recipe_hash

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_docs_recipe_reproduces_every_example_rows_hash_from_the_genesis_value():
    batch = json.loads((DOCS / "mqtt/examples/tx_batch.json").read_text())
    assert batch["first_seq"] == 1 and len(batch["rows"]) >= 3
    prev = "0" * 64                                           # the genesis value, for seq 1
    for row in batch["rows"]:
        assert row["prev_hash"] == prev, row["seq"]
        assert row["hash"] == doc_recipe_hash(prev, row), row["seq"]
        prev = row["hash"]


def test_the_recipe_is_in_the_docs_prose():
    text = " ".join((DOCS / "mqtt.md").read_text().split())
    for words in ("every field of the row **except `hash` and `prev_hash`**", "**null fields left out**",
                  "keys sorted, separators `,` and `:`", "ensure_ascii=True", "64 lowercase hex characters, ASCII",
                  "the genesis value, 64 `0` characters"):
        assert words in text, words


def test_a_row_with_a_non_ascii_text_hashes_with_escapes_and_an_edit_changes_the_hash():
    row = {"seq": 1, "kind": "refusal", "user_id": "Søren", "quantity": None, "clock_synced": 1}
    canonical = b'{"clock_synced":1,"kind":"refusal","seq":1,"user_id":"S\\u00f8ren"}'
    assert doc_recipe_hash("0" * 64, row) == hashlib.sha256(b"0" * 64 + canonical).hexdigest()
    assert doc_recipe_hash("0" * 64, dict(row, user_id="Soren")) != doc_recipe_hash("0" * 64, row)
