"""A tenant's site as the hub holds it after its cabinets reported (tests of docs/hub/orders.md): the
registered cabinets, the catalog the hub published (desired_docs), the latest inventory snapshot and the
events the cabinets sent (refill tasks, refill visits), written as the ingest stores them."""
import datetime
import json

from hub import registry

TENANT, SITE = "ACME", "PLANT1"
CAB = "CAB-1"
UTC = datetime.timezone.utc
SKUS = [{"part_number": "GLV", "description": "Nitrile gloves", "supplier": "Ansell", "package_size": 12,
         "unit_cost": 120, "category": "ppe"},
        {"part_number": "BLD", "description": "Utility blade", "supplier": "Stanley", "package_size": 10,
         "unit_cost": 305},
        {"part_number": "PIP", "description": "Copper pipe", "supplier": "Ansell", "package_size": 1, "unit_cost": 900},
        {"part_number": "DRL", "description": "Drill", "supplier": "Makita", "package_size": 1, "unit_cost": 12990}]
LOCATIONS = [{"id": "L1", "kind": "lane", "sku": "GLV", "min": 10, "max": 40, "refill_pack": 1},
             {"id": "L2", "kind": "lane", "sku": "BLD", "min": 2, "max": 20, "refill_pack": 1},
             {"id": "L3", "kind": "lane", "sku": "PIP", "min": 1, "max": 5, "refill_pack": 1},
             {"id": "L4", "kind": "lane", "sku": "GLV", "min": 5, "max": 30, "refill_pack": 1},
             {"id": "D1", "kind": "door", "sku": "DRL", "min": 1, "max": 1, "returnable": True}]
STOCK = {"L1": 8, "L2": 2, "L3": 1, "L4": 3, "D1": 0}


def at(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_site(conn, cabinets=(CAB,), customer="Globex", catalog=True, site=SITE):
    """Register the site's cabinets, with a tenant named "Acme Supply"; the hub's catalog for each unless not
    `catalog`."""
    for cabinet in cabinets:
        registry.add_cabinet(conn, TENANT, site, cabinet, bytes(32), tenant_name="Acme Supply",
                             site_name="Plant %s" % site[-1])
        if catalog:
            conn.execute("INSERT INTO desired_docs (cabinet, what, version, body, source) VALUES (%s, 'catalog', 1, %s, "
                         "'test')", [cabinet, json.dumps({"skus": SKUS, "locations": LOCATIONS, "users_version": 1})])
    conn.execute("UPDATE sites SET customer = %s WHERE tenant = %s AND id = %s", [customer, TENANT, site])


def snapshot(conn, cabinet=CAB, stock=None, as_of_seq=100):
    """The cabinet's latest inventory snapshot: STOCK (or `stock`) on hand at the catalog's locations."""
    stock = dict(STOCK, **(stock or {}))
    locations = [{"id": loc["id"], "kind": loc["kind"], "sku": loc["sku"], "on_hand": stock[loc["id"]],
                  "min": loc["min"], "max": loc["max"], "quarantine": 0, "capacity": None} for loc in LOCATIONS]
    body = {"v": 1, "cabinet": cabinet, "session": 1, "sent_wall": "2026-12-07T05:00:00Z", "clock_synced": True,
            "as_of_seq": as_of_seq, "locations": locations}
    conn.execute("INSERT INTO inventory (cabinet, session, as_of_seq, body) VALUES (%s, 1, %s, %s) ON CONFLICT (cabinet) "
                 "DO UPDATE SET as_of_seq = EXCLUDED.as_of_seq, body = EXCLUDED.body",
                 [cabinet, as_of_seq, json.dumps(body)])
    conn.execute("INSERT INTO streams (cabinet, stream, base, watermark, head, progress_at) VALUES (%s, 'tx', 0, %s, %s, 0) "
                 "ON CONFLICT (cabinet, stream) DO UPDATE SET watermark = EXCLUDED.watermark, head = EXCLUDED.head",
                 [cabinet, as_of_seq, as_of_seq])


def event(conn, type_, ledger_seq, cabinet=CAB, **fields):
    """One event as the ingest stores it (the next seq of the cabinet's events stream)."""
    seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 AS seq FROM events WHERE cabinet = %s", [cabinet]).fetchone()["seq"]
    body = dict(fields, seq=seq, type=type_, wall="2026-12-07T05:00:00Z", clock_synced=True, ledger_seq=ledger_seq)
    conn.execute("INSERT INTO events (cabinet, seq, type, body) VALUES (%s, %s, %s, %s)",
                 [cabinet, seq, type_, json.dumps(body)])
    return seq


def task_opened(conn, task_id, location, sku, quantity, ledger_seq, cabinet=CAB):
    return event(conn, "refill_task_opened", ledger_seq, cabinet, task_id=task_id, location=location, sku=sku,
                 quantity=quantity)


def task_closed(conn, task_id, location, sku, ledger_seq, cabinet=CAB):
    return event(conn, "refill_task_closed", ledger_seq, cabinet, task_id=task_id, location=location, sku=sku)


def refill_visit(conn, visit_id, ledger_seq, loaded, cabinet=CAB):
    """loaded: {location: (sku, units)}."""
    lines = [{"location": loc, "sku": sku, "loaded": units, "counted": None, "expected": units, "difference": 0}
             for loc, (sku, units) in loaded.items()]
    return event(conn, "refill_visit", ledger_seq, cabinet, visit_id=visit_id, user_id="D1", opened_wall="x",
                 summary={"lines": lines, "loaded": sum(u for _, u in loaded.values()), "counted": 0, "differences": 0})
