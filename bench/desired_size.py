"""How big a cabinet's desired catalog and a site's desired users get, against the 1 MiB a down message may be
(docs/mqtt.md "Limits"; the shipped broker's max_packet_size), and how long the agent takes to apply them.

A catalog of --skus SKUs, each at a scan-only bin of its own (S1..Sn: a cabinet's lanes, doors and bins are
at most 255 each, so a catalog this large is a site's stock room), with realistic text (descriptions of 40
characters, a category, a supplier, a cost, requirements), capacity and min/max; one allow per category for
technicians and contractors; --users people each with a badge, a PIN hash and two limits. Sizes are of the
signed envelope as hub/desired.py publishes it (json.dumps). Apply: desired.apply_catalog / apply_users on a
real ledger file, in one transaction, as the agent's cloud sync does. The last line is JSON.
Usage: .venv/bin/python bench/desired_size.py [--skus N] [--users N] [--dir DIR]"""
import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.cloud import desired, envelope  # noqa: E402
from edge_agent.ledger import ManualClock  # noqa: E402
from edge_agent.ledger.db import open_ledger  # noqa: E402
from edge_agent.rules import pin_hashing  # noqa: E402

LIMIT = 1_048_576          # docs/mqtt.md: a down message is at most 1 MiB
KEY = bytes(range(32))
CATEGORIES = 40


def catalog(skus, users):
    body = {"skus": [], "locations": [], "users_version": 1}
    for n in range(1, skus + 1):
        body["skus"].append({"part_number": "PN-%07d" % n, "description": ("Hex bolt M%d x %d zinc plated DIN933 " % (
            n % 24 + 3, n % 90 + 10))[:40], "category": "category-%02d" % (n % CATEGORIES), "unit_cost": 100 + n % 5000,
            "supplier": "Wurth", "needs_approval": n % 50 == 0, "needs_work_order": n % 7 == 0,
            "needs_machine_id": False})
        body["locations"].append({"id": "S%d" % n, "kind": "scan", "sku": "PN-%07d" % n, "min": 5, "max": 20,
                                  "refill_pack": 5, "capacity": 40, "returnable": False})
    body["allows"] = [{"role": role, "category": "category-%02d" % c} for role in ("technician", "contractor")
                      for c in range(min(CATEGORIES, skus))]
    body["limits"] = [{"user_id": "U%05d" % u, "category": "category-%02d" % (u % min(CATEGORIES, skus)),
                       "period": period, "max_quantity": 10} for u in range(users) for period in ("shift", "day")]
    return body


def people(users):
    pin_hash = pin_hashing.hash_pin("583014")       # one hash for all: hashing thousands would time scrypt
    return {"users": [{"id": "U%05d" % u, "name": "Firstname Lastname %d" % u, "role": "technician",
                       "department": "Maintenance", "cost_center": "CC-%03d" % (u % 100),
                       "badges": ["04%06X" % u], "pin_hash": pin_hash} for u in range(users)]}


def signed_size(type_, body):
    env = envelope.sign(KEY, "CAB-1", type_, dict(body, version=1), datetime.datetime.now(datetime.timezone.utc),
                        86400)
    return len(json.dumps(env).encode())


def applied_ms(folder, users_body, catalog_body):
    ledger = open_ledger(Path(folder) / "ledger.db", ManualClock())
    try:
        start = time.perf_counter()
        with ledger.transaction():
            desired.apply_users(ledger, users_body["users"], 1)
        users_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        with ledger.transaction():
            desired.apply_catalog(ledger, catalog_body, 1)
        return users_ms, (time.perf_counter() - start) * 1000
    finally:
        ledger.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=5000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--dir", default=None, help="where the temporary ledger goes")
    args = ap.parse_args()
    users_body, catalog_body = people(args.users), catalog(args.skus, args.users)
    sizes = {"catalog": signed_size("catalog", catalog_body), "users": signed_size("users", users_body),
             "catalog_without_rules": signed_size("catalog", dict(catalog_body, allows=[], limits=[]))}
    per_sku = (sizes["catalog_without_rules"] - signed_size("catalog", catalog(0, 0))) / max(args.skus, 1)
    per_user = (sizes["users"] - signed_size("users", people(0))) / max(args.users, 1)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        users_ms, catalog_ms = applied_ms(folder, users_body, catalog_body)
    out = {"bench": "desired_size", "skus": args.skus, "users": args.users, "bytes": sizes,
           "bytes_per_sku": round(per_sku), "bytes_per_user": round(per_user), "limit": LIMIT,
           "skus_that_fit": int((LIMIT - 2000) // per_sku) if per_sku else None,
           "users_that_fit": int((LIMIT - 2000) // per_user) if per_user else None,
           "fits": {k: v <= LIMIT for k, v in sizes.items()},
           "apply_ms": {"users": round(users_ms, 1), "catalog": round(catalog_ms, 1)}}
    print("catalog of %d SKUs at their locations: %d bytes (%d without allows and %d limits), %d bytes a SKU"
          % (args.skus, sizes["catalog"], sizes["catalog_without_rules"], len(catalog_body["limits"]), per_sku))
    print("users, %d people with a badge and a PIN hash: %d bytes, %d bytes a person"
          % (args.users, sizes["users"], per_user))
    print("1 MiB holds about %s SKUs (no rules) or %s people; applied in %.0f ms (users) and %.0f ms (catalog)"
          % (out["skus_that_fit"], out["users_that_fit"], users_ms, catalog_ms))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
