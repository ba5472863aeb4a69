"""One report per customer (hub/customer_report, `locker-hub report`): the monthly report across a customer's
cabinets and sites, built by the agent's own report code from the hub's copy of the cabinets.

The cabinets are real agent ledgers written through the Ledger API with a ManualClock (the October story of
tests/test_reports.py, worked out by hand there), and copied to the hub as the hub stores what a cabinet
sends: the rows and events of the agent's own outbox batches (edge_agent/cloud/outbox.read_batch) inserted
with the ingest's statements, the inventory snapshot the agent publishes, the desired catalog and users made
by hub/desired.import_folder from the same CSV files the ledger was imported from.
"""
import dataclasses
import json

import psycopg
import pytest

from edge_agent.cloud import outbox
from edge_agent.reports import build_report
from hub import desired, history, registry
from tests.test_reports import AFTER, OCTOBER, october

KEY = bytes(range(32))


def connect(dsn):
    return psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row)


def store_ledger(conn, ledger, cabinet, tenant="acme", site="plant1", customer="Customer A", catalog_folder=None):
    """Put the ledger's cabinet on the hub as the ingest stores it: tx_rows, events, the inventory snapshot,
    and (when catalog_folder holds its CSV files) its desired users and catalog."""
    conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant])
    conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 [tenant, site, site, customer])
    registry.add_cabinet(conn, tenant, site, cabinet, KEY)
    for stream in ("tx", "events"):
        after = 0
        while (batch := outbox.read_batch(ledger, stream, after)) is not None:
            if stream == "tx":      # the statement of hub/ingest.py _store_tx
                conn.execute("INSERT INTO tx_rows (cabinet, seq, hash, prev_hash, body) SELECT %(cab)s, "
                             "(r->>'seq')::bigint, decode(r->>'hash', 'hex'), decode(r->>'prev_hash', 'hex'), "
                             "r - 'seq' - 'hash' - 'prev_hash' FROM jsonb_array_elements(%(rows)s::jsonb) r "
                             "ON CONFLICT DO NOTHING", {"cab": cabinet, "rows": json.dumps(batch.items)})
            else:                   # _store_events
                conn.execute("INSERT INTO events (cabinet, seq, type, body) SELECT %(cab)s, (e->>'seq')::bigint, "
                             "e->>'type', e FROM jsonb_array_elements(%(events)s::jsonb) e ON CONFLICT DO NOTHING",
                             {"cab": cabinet, "events": json.dumps(batch.items)})
            after = batch.last_seq
    names = ("id", "kind", "sku", "on_hand", "min", "max", "quarantine", "capacity")    # cloud/sync.py _inventory
    locations = [dict(zip(names, r)) for r in
                 ledger.db.execute("SELECT %s FROM locations ORDER BY id" % ", ".join(names)).fetchall()]
    as_of = outbox.head(ledger, "tx")
    conn.execute("INSERT INTO inventory (cabinet, session, as_of_seq, body) VALUES (%s, 1, %s, %s)",
                 [cabinet, as_of, json.dumps({"cabinet": cabinet, "as_of_seq": as_of, "locations": locations})])
    if catalog_folder is not None:
        desired.import_folder(conn, catalog_folder, [cabinet])


def plain(report):
    return dataclasses.asdict(report)


@pytest.fixture
def october_ledger(tmp_path):
    with october(tmp_path) as ledger:
        yield ledger, tmp_path


def test_the_hub_report_of_one_cabinet_is_the_cabinets_own_report(hub_dsn, october_ledger):
    """One implementation: the hub's report of CAB-7 for October has every figure of CAB-7's own report."""
    ledger, folder = october_ledger
    own = build_report(ledger, *OCTOBER, now=AFTER)
    with connect(hub_dsn) as conn:
        store_ledger(conn, ledger, "CAB-7", catalog_folder=folder)
        hub = build_report(history.source(conn, ["CAB-7"]), *OCTOBER, now=AFTER)
    assert own.totals.billable_cents == 3 * 45 + 5 * 420 + 3 * 1250 + 3 * 45     # as tests/test_reports.py
    assert plain(hub) == plain(own)


def test_read_movements_replays_the_hubs_rows_as_the_agent_does(hub_dsn, october_ledger):
    ledger, folder = october_ledger
    from edge_agent.reports.history import read_movements
    with connect(hub_dsn) as conn:
        store_ledger(conn, ledger, "CAB-7")
        moves = history.read_movements(conn, ["CAB-7", "CAB-NONE"])
    assert moves["CAB-NONE"] == []
    own = read_movements(ledger)
    assert [dataclasses.replace(m, cabinet=None) for m in moves["CAB-7"]] == own
    assert {m.cabinet for m in moves["CAB-7"]} == {"CAB-7"}
