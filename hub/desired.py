"""Desired state made at the hub from the CSV files an admin imports on the Pi today (docs/admin.md), kept per
cabinet and version in PostgreSQL, published signed and retained (docs/mqtt.md "Desired state"), and what each
cabinet reported back (docs/hub.md "Running a site from the hub").

A site's folder holds users.csv, skus.csv and optionally allows.csv, limits.csv, charge_lists.csv; each
cabinet's locations.csv is in a sub-folder named after the cabinet (a one-cabinet import may have it at the
top). The files are read by the agent's own reader and parsers (rules/csv_rows.py), so a file the Pi would
refuse is refused here with the same words; what depends on a cabinet's ledger (units, capacity on record)
is judged by the cabinet, which reports it.

Users are the site's full set (everyone not in users.csv is removed at the cabinet: the file is the list);
a blank PIN keeps the hash of the hub's previous version. Each cabinet's catalog holds only the SKUs its
locations hold, and the allows and limits that name them or their categories: a catalog of every SKU of a
large site is past the broker's message limit (bench/desired_size.py).
"""
import datetime
import json
from pathlib import Path

from edge_agent.cloud import envelope
from edge_agent.cloud.topics import Topics
from edge_agent.rules import csv_io, pin_hashing
from edge_agent.rules.charge_lists import LISTS
from edge_agent.rules.csv_rows import read_rows, refuse_if
from hub import queries

LIFETIME_S = 86400               # an envelope's longest life (as hub/service.py): publish again at least daily
ENVELOPE_ROOM = 600              # the envelope around a body: ids, times, type, signature (docs/mqtt.md)
WHAT = ("users", "catalog")      # the order they are published in: a catalog's limits name the users
SITE_FILES = {"users": csv_io.USER_COLUMNS, "skus": csv_io.SKU_COLUMNS, "allows": csv_io.ROLE_ALLOW_COLUMNS,
              "limits": csv_io.USER_LIMIT_COLUMNS, "charge_lists": csv_io.CHARGE_LIST_COLUMNS}
REQUIRED_FILES = ("users", "skus")
# How the CSV files are named on the Pi (docs/admin.md), then the plain name.
FILE_NAMES = {"allows": ("allows.csv", "role_allows.csv"), "limits": ("limits.csv", "user_limits.csv")}


class DesiredError(Exception):
    """A folder that cannot be imported (a file missing, a cabinet not registered); nothing was stored."""


def _file(folder, what):
    for name in FILE_NAMES.get(what, ("%s.csv" % what,)):
        if (folder / name).exists():
            return folder / name
    return None


# The checks of the Pi's import that need no ledger (those that do, the cabinet makes and reports).
CHECKS = {"users": csv_io.check_user_rows, "skus": csv_io.check_skus, "charge_lists": csv_io.check_charge_lists}


def _read(path, columns, check=None):
    rows, problems = read_rows(path, columns)
    if check is not None and not problems:
        check(rows, problems)
    refuse_if(path, problems)
    return [record for _, record in rows]


def read_site(folder):
    """{what: [record]} for the site-wide files of `folder`, parsed and checked as the Pi's import does
    (ImportRefused naming file, row and field)."""
    folder = Path(folder)
    found = {}
    for what, columns in SITE_FILES.items():
        path = _file(folder, what)
        if path is None:
            if what in REQUIRED_FILES:
                raise DesiredError("%s has no %s.csv" % (folder, what))
            continue
        found[what] = _read(path, columns, CHECKS.get(what))
    return found


def read_locations(folder, cabinet):
    """The cabinet's locations.csv rows (its sub-folder, else the folder's own), without on_hand: stock is
    counted at the cabinet, never set by the hub."""
    folder = Path(folder)
    path = folder / cabinet / "locations.csv"
    if not path.exists():
        path = folder / "locations.csv"
    if not path.exists():
        raise DesiredError("no locations.csv for %s in %s (nor %s/)" % (cabinet, folder, folder / cabinet))
    return [{k: v for k, v in record.items() if k != "on_hand"} for record in _read(path, csv_io.LOCATION_COLUMNS)]


def users_body(site, previous=None):
    """The desired users: the CSV's PINs hashed here (never stored or sent in clear); a blank PIN keeps the
    hash `previous` (the last users body) had."""
    kept = {u["id"]: u.get("pin_hash") for u in (previous or {}).get("users", [])}
    users = []
    for record in site["users"]:
        user = {k: v for k, v in record.items() if k not in ("pin", "badges") and v is not None}
        user["badges"] = record.get("badges") or []
        pin = record.get("pin")
        pin_hash = pin_hashing.hash_pin(pin) if pin else kept.get(record["id"])
        if pin_hash:
            user["pin_hash"] = pin_hash
        users.append(user)
    return {"users": users}


def _json_sku(record):
    sku = {}
    for name, value in record.items():
        if name in csv_io.REQUIREMENT_COLUMNS and value is not None:
            value = bool(value)
        sku[name] = value
    return sku


def catalog_body(site, locations, users_version):
    """One cabinet's catalog: its locations, the SKUs they hold, the charge-to lists, and the allows and
    limits that name those SKUs or their categories."""
    skus = {r["part_number"]: r for r in site["skus"]}
    held = {r["sku"] for r in locations if r.get("sku")}
    unknown = sorted(held - set(skus))
    if unknown:
        raise DesiredError("locations name SKUs not in skus.csv: %s" % ", ".join(unknown))
    categories = {skus[s].get("category") for s in held} - {None}
    body = {"skus": [_json_sku(skus[s]) for s in sorted(held)],
            "locations": [{k: (bool(v) if k == "returnable" and v is not None else v) for k, v in r.items()}
                          for r in locations],
            "users_version": users_version}

    def ours(rule):
        return rule.get("sku") in held or rule.get("category") in categories
    for what in ("allows", "limits"):
        if what in site:
            body[what] = [{k: v for k, v in r.items() if v is not None} for r in site[what] if ours(r)]
    if "charge_lists" in site:
        lists = {name: [] for name in LISTS}
        for r in site["charge_lists"]:
            lists[r["list"]].append({"value": r["value"], "description": r.get("description")})
        body["charge_lists"] = lists
    return body


# -- the database --------------------------------------------------------------------------------------------
def cabinets_of(conn, cabinet=None, site=None):
    """The cabinets named: one (--cabinet) or every cabinet of a site ("tenant/site"), in id order."""
    if cabinet is not None:
        found = conn.execute("SELECT id FROM cabinets WHERE id = %s", [cabinet]).fetchall()
    else:
        tenant, _, site_id = site.partition("/")
        found = conn.execute("SELECT id FROM cabinets WHERE tenant = %s AND site = %s ORDER BY id",
                             [tenant, site_id]).fetchall()
    if not found:
        raise DesiredError("no registered cabinet %s" % (cabinet or "at site %s" % site))
    return [r["id"] for r in found]


def latest(conn, cabinet, what, version=None):
    """(version, body) of the cabinet's newest desired `what` (or of that version), or (0, None)."""
    found = conn.execute("SELECT version, body FROM desired_docs WHERE cabinet = %s AND what = %s AND "
                         "(%s::integer IS NULL OR version = %s) ORDER BY version DESC LIMIT 1",
                         [cabinet, what, version, version]).fetchone()
    return (found["version"], found["body"]) if found else (0, None)


def check_size(cabinet, what, body):
    """DesiredError when the signed message would be past what a cabinet takes (envelope.MAX_BYTES, 1 MiB):
    said here, at import, rather than refused by the cabinet (bench/desired_size.py: about 2,900 SKUs)."""
    size = len(json.dumps(dict(body, version=2 ** 31)).encode()) + ENVELOPE_ROOM
    if size > envelope.MAX_BYTES:
        raise DesiredError("the %s of %s would be %d bytes, past the %d a cabinet takes: %s" % (
            what, cabinet, size, envelope.MAX_BYTES, "hold fewer SKUs at this cabinet" if what == "catalog"
            else "fewer people (or a shorter users.csv) per site"))


def store(conn, cabinet, what, body, source):
    """Store `body` as the cabinet's next version of `what` (one more than its newest); returns it."""
    check_size(cabinet, what, body)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["desired:%s:%s" % (cabinet, what)])
    version = latest(conn, cabinet, what)[0] + 1
    conn.execute("INSERT INTO desired_docs (cabinet, what, version, body, source) VALUES (%s, %s, %s, %s, %s)",
                 [cabinet, what, version, json.dumps(body), str(source)])
    return version


def import_folder(conn, folder, cabinets):
    """Read the folder (ImportRefused / DesiredError before anything is stored), then store a new users and
    catalog version for each cabinet in one transaction. Returns {cabinet: (users_version, catalog_version)}."""
    site = read_site(folder)
    locations = {cabinet: read_locations(folder, cabinet) for cabinet in cabinets}
    made = {}
    with conn.transaction():
        for cabinet in cabinets:
            users = users_body(site, latest(conn, cabinet, "users")[1])
            users_version = store(conn, cabinet, "users", users, folder)
            catalog_version = store(conn, cabinet, "catalog", catalog_body(site, locations[cabinet], users_version),
                                    folder)
            made[cabinet] = (users_version, catalog_version)
    return made


def publish(conn, send, cabinet, lifetime_s=LIFETIME_S, versions=None):
    """(`conn` in autocommit: each publication is committed before it is sent, so the cabinet's answer finds
    it.) Sign the cabinet's newest users, then catalog, record them as sent, and hand each to
    send(topic, envelope) to publish retained (QoS 1). versions {what: N}: that version instead (an older one
    is refused by the cabinet as stale_version: to go back, import the old files again as a new version).
    Returns [(what, version)] published."""
    done = []
    for what in WHAT:
        version, body = latest(conn, cabinet, what, (versions or {}).get(what))
        if body is None:
            continue
        with conn.transaction():
            tenant, site, key = queries.where(conn, cabinet)
            env = envelope.sign(key, cabinet, what, dict(body, version=version),
                                datetime.datetime.now(datetime.timezone.utc), lifetime_s)
            queries.record_sent(conn, env)
            conn.execute("UPDATE desired_docs SET published_at = now(), published_id = %s WHERE cabinet = %s AND "
                         "what = %s AND version = %s", [env["id"], cabinet, what, version])
        send(Topics(tenant, site, cabinet).root + "/desired/" + what, env)
        done.append((what, version))
    return done


# -- what cabinets report (hub/ingest.py calls record_reports with each batch's new events) ------------------
def record_reports(conn, cabinet, events):
    """Keep desired_applied events and the command_results of desired state (applied or refused: a refusal's
    version is that of the envelope this hub published with that id)."""
    rows = []
    for e in events:
        if e["type"] == "desired_applied":
            rows.append((e["seq"], e["what"], e["version"], "applied", None, None, None))
        elif e["type"] == "command_result" and e.get("command_type") in WHAT and e["status"] == "refused":
            rows.append((e["seq"], e["command_type"], None, "refused", e.get("reason"), e.get("detail"),
                         e.get("command_id")))
    for seq, what, version, status, reason, detail, envelope_id in rows:
        conn.execute(
            "INSERT INTO desired_reports (cabinet, seq, what, version, status, reason, detail) VALUES (%s, %s, %s, "
            "coalesce(%s, (SELECT version FROM desired_docs WHERE cabinet = %s AND published_id = %s)), %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [cabinet, seq, what, version, cabinet, envelope_id, status, reason, detail])


def reports(conn, cabinet):
    return conn.execute("SELECT * FROM desired_reports WHERE cabinet = %s ORDER BY seq", [cabinet]).fetchall()


def overview(conn, cabinet):
    """Per what: the newest version, when it was published, the newest the cabinet applied, its last refusal."""
    found = []
    for what in WHAT:
        doc = conn.execute("SELECT version, published_at FROM desired_docs WHERE cabinet = %s AND what = %s "
                           "ORDER BY version DESC LIMIT 1", [cabinet, what]).fetchone()
        applied = conn.execute("SELECT max(version) AS v FROM desired_reports WHERE cabinet = %s AND what = %s AND "
                               "status = 'applied'", [cabinet, what]).fetchone()["v"]
        refused = conn.execute("SELECT version, reason, detail FROM desired_reports WHERE cabinet = %s AND what = %s "
                               "AND status = 'refused' ORDER BY seq DESC LIMIT 1", [cabinet, what]).fetchone()
        found.append({"what": what, "version": doc["version"] if doc else None,
                      "published_at": doc["published_at"] if doc else None, "applied": applied, "refused": refused})
    return found

