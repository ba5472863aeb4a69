"""The ingest's short paths (hub/ingest.py: a known stream's batch in few round trips), straight through
Ingest.handle on a real PostgreSQL: what they skip must not change an answer. A cabinet re-keyed or moved after
its stream exists is seen at once (its facts are read with the stream's lock, never cached); a batch that fills
a hole moves the watermark over the rows stored beyond it; the ack's hash is the stored row's."""
import datetime
import json

import pytest

from edge_agent.cloud import envelope
from edge_agent.ledger.chain import row_hash
from hub import queries, registry
from hub.db import open_pool
from hub.ingest import Ingest
from tests.test_hub_ingest import CABINET, KEY, SITE, TENANT, chain, tx_batch

TOPIC = "locker/v1/%s/%s/%s/tx" % (TENANT, SITE, CABINET)
ROWS = chain(1, 12)


@pytest.fixture
def ingest(hub_dsn):
    pool = open_pool(hub_dsn, max_size=1, name="paths")
    with pool.connection() as conn:
        registry.add_cabinet(conn, TENANT, SITE, CABINET, KEY)
    yield Ingest(pool, grace_s=3600)
    pool.close()


def send(ingest, rows, topic=TOPIC):
    return ingest.handle(topic, json.dumps(tx_batch(rows)).encode())


def acked(out, key=KEY):
    """The body of the one ack published, its signature checked with `key`."""
    (topic, env), = [(t, e) for t, e in out if t.endswith("/ack")]
    return envelope.check(env, key, CABINET, datetime.datetime.now(datetime.timezone.utc))["body"]


def test_a_rekeyed_cabinet_is_acked_with_its_new_key_at_once(ingest):
    assert acked(send(ingest, ROWS[:4]))["upto_seq"] == 4
    new_key = bytes(range(100, 132))
    with ingest.pool.connection() as conn:
        registry.add_cabinet(conn, TENANT, SITE, CABINET, new_key)
    body = acked(send(ingest, ROWS[4:8]), key=new_key)
    assert body == {"stream": "tx", "upto_seq": 8, "hash": ROWS[7]["hash"]}


def test_a_cabinet_moved_to_another_site_is_rejected_on_its_known_stream(ingest):
    send(ingest, ROWS[:4])
    with ingest.pool.connection() as conn:
        registry.add_cabinet(conn, TENANT, "plant2", CABINET, KEY)
    assert send(ingest, ROWS[4:8]) == []
    with ingest.pool.connection() as conn:
        assert "registered at acme/plant2" in queries.rejected(conn)[0]["reason"]
        assert queries.watermark(conn, CABINET, "tx") == 4 and len(queries.rows(conn, CABINET)) == 4


def test_a_batch_filling_a_hole_moves_the_watermark_over_what_lies_beyond(ingest):
    send(ingest, ROWS[:3])
    send(ingest, ROWS[6:9])                 # beyond a hole: no ack further than 3
    send(ingest, ROWS[10:12])               # and another
    body = acked(send(ingest, ROWS[3:6]))   # fills 4-6: runs on to 9, stops at the hole at 10
    assert body == {"stream": "tx", "upto_seq": 9, "hash": ROWS[8]["hash"]}
    body = acked(send(ingest, ROWS[9:10]))
    assert body == {"stream": "tx", "upto_seq": 12, "hash": ROWS[11]["hash"]}
    with ingest.pool.connection() as conn:
        assert [r["hash"] for r in queries.rows(conn, CABINET)] == [r["hash"] for r in ROWS]
        assert queries.chain_breaks(conn) == []


def test_a_resent_batch_is_acked_again_and_a_rewritten_copy_is_a_break(ingest):
    send(ingest, ROWS[:6])
    assert acked(send(ingest, ROWS[2:5]))["upto_seq"] == 6       # nothing new: our ack was lost
    forged = [dict(r) for r in ROWS[4:6]]
    forged[0]["quantity"] = 99
    forged[0]["hash"] = row_hash(forged[0]["prev_hash"], forged[0])
    body = acked(send(ingest, forged))                          # seq 5 again, other contents and hash
    assert body["upto_seq"] == 4 and body["chain_break"]["seq"] == 5 and body["chain_break"]["kind"] == "rewritten"
