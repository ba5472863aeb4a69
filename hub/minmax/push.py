"""Approved min/max to the cabinets: the next catalog desired version of each cabinet, made in the approval's
transaction (make_versions), published by the same path as `locker-hub desired publish` (publish_pending),
and followed until the cabinet applies or refuses it (status).

The web process holds no broker connection, so an approval only stores the versions; `locker-hub minmax push
--broker` (once, or every few seconds as a service) publishes what approvals made and nobody published yet
(decision 0046). Several of them at once publish each version once: a cabinet is published under a
PostgreSQL advisory lock, and only while its newest catalog is still unpublished."""
import collections

from hub import desired
from hub.minmax import MinMaxRefused
from hub.minmax.figures import check_line

NOT_RUN_FROM_HUB = ("its site is not run from the hub: the hub holds no catalog for it (`locker-hub desired "
                    "import` the site's CSV files first); until then its min/max are set at the cabinet "
                    "(locker-agent import locations.csv)")


def refuse_unless_run_from_hub(conn, cabinets):
    """MinMaxRefused naming every cabinet the hub holds no catalog desired state for."""
    missing = [c for c in cabinets if desired.latest(conn, c, "catalog")[1] is None]
    if missing:
        raise MinMaxRefused("%s: %s" % (", ".join(missing), NOT_RUN_FROM_HUB))


def in_catalog(conn, lines):
    """(kept, left_out): the lines whose location the cabinet's catalog desired state holds, and the others (a
    location the cabinet has from an import on the Pi, not in the hub's catalog: its min/max are set there)."""
    held = {}
    kept, left_out = [], []
    for line in lines:
        if line.cabinet not in held:
            body = desired.latest(conn, line.cabinet, "catalog")[1] or {"locations": []}
            held[line.cabinet] = {loc["id"] for loc in body["locations"]}
        (kept if line.location in held[line.cabinet] else left_out).append(line)
    return kept, left_out


def make_versions(conn, proposal_id, lines):
    """For each cabinet of the proposal's lines whose proposed min/max differ from its newest catalog: that
    catalog with the proposed min/max, checked as an import checks it (and for size), stored as the next
    version, and remembered in minmax_pushes. Returns {cabinet: version}. (In the caller's transaction.)"""
    by_cabinet = collections.defaultdict(list)
    for line in lines:
        by_cabinet[line["cabinet"]].append(line)
    refuse_unless_run_from_hub(conn, sorted(by_cabinet))
    made = {}
    for cabinet, own in sorted(by_cabinet.items()):
        version, body = desired.latest(conn, cabinet, "catalog")
        locations = {loc["id"]: loc for loc in body["locations"]}
        changed = False
        for line in own:
            loc = locations.get(line["location"])
            if loc is None:
                raise MinMaxRefused("%s: catalog version %d has no location %s any more (imported since the "
                                    "proposal was made): make a new proposal" % (cabinet, version, line["location"]))
            low, high = line["proposed_min"], line["proposed_max"]
            capacity = loc.get("capacity") if loc.get("capacity") is not None else line["capacity"]
            check_line("%s %s" % (cabinet, line["location"]), low, high, capacity)
            if (loc["min"], loc["max"]) != (low, high):
                loc["min"], loc["max"] = low, high
                changed = True
        if not changed:
            continue
        made[cabinet] = desired.store(conn, cabinet, "catalog", body, "min/max proposal %d" % proposal_id)
        conn.execute("INSERT INTO minmax_pushes (proposal, cabinet, version) VALUES (%s, %s, %s)",
                     [proposal_id, cabinet, made[cabinet]])
    return made


def versions_of(conn, proposal_id):
    return {r["cabinet"]: r["version"] for r in conn.execute(
        "SELECT cabinet, version FROM minmax_pushes WHERE proposal = %s", [proposal_id])}


def pending(conn):
    """Cabinets whose newest catalog an approval made and nobody has published yet."""
    return [r["cabinet"] for r in conn.execute(
        "SELECT DISTINCT m.cabinet FROM minmax_pushes m JOIN desired_docs d USING (cabinet, what, version) "
        "WHERE d.published_at IS NULL AND d.version = (SELECT max(version) FROM desired_docs n "
        "WHERE n.cabinet = m.cabinet AND n.what = 'catalog') ORDER BY m.cabinet")]


def publish_pending(conn, send):
    """Publish (desired.publish: signed, retained) every cabinet in pending(); `conn` in autocommit, as
    desired.publish needs. Returns [(cabinet, [(what, version)])] published by this call."""
    done = []
    for cabinet in pending(conn):
        key = "minmax-push:%s" % cabinet
        if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS got", [key]).fetchone()["got"]:
            continue                       # another process is publishing it now
        try:
            if cabinet in pending(conn):   # not published by another process just before we took the lock
                done.append((cabinet, desired.publish(conn, send, cabinet)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
    return done


def status(conn, proposal_id):
    """Per cabinet of the proposal: the version the approval made and what became of it. state is one of
    'no change' (its min/max already were the approved ones), 'not published yet', 'sent, waiting for the
    cabinet', 'applied' (at: the cabinet's wall time of its desired_applied event), 'refused' (reason,
    detail), 'superseded' (a newer catalog was published before this one was applied: by, its version)."""
    cabinets = [r["cabinet"] for r in conn.execute(
        "SELECT DISTINCT cabinet FROM minmax_lines WHERE proposal = %s ORDER BY cabinet", [proposal_id])]
    made = versions_of(conn, proposal_id)
    found = []
    for cabinet in cabinets:
        version = made.get(cabinet)
        row = {"cabinet": cabinet, "version": version, "published_at": None, "at": None, "reason": None,
               "detail": None, "by": None}
        found.append(row)
        if version is None:
            row["state"] = "no change"
            continue
        row["published_at"] = conn.execute(
            "SELECT published_at FROM desired_docs WHERE cabinet = %s AND what = 'catalog' AND version = %s",
            [cabinet, version]).fetchone()["published_at"]
        report = conn.execute(
            "SELECT r.status, r.reason, r.detail, e.body->>'wall' AS wall, r.received_at FROM desired_reports r "
            "LEFT JOIN events e ON (e.cabinet, e.seq) = (r.cabinet, r.seq) WHERE r.cabinet = %s AND "
            "r.what = 'catalog' AND r.version = %s ORDER BY (r.status = 'applied') DESC, r.seq LIMIT 1",
            [cabinet, version]).fetchone()
        newer = conn.execute("SELECT min(version) AS v FROM desired_docs WHERE cabinet = %s AND what = 'catalog' AND "
                             "version > %s AND published_at IS NOT NULL", [cabinet, version]).fetchone()["v"]
        if report is not None and report["status"] == "applied":
            row.update(state="applied", at=report["wall"] or report["received_at"].isoformat())
        elif report is not None:
            row.update(state="refused", reason=report["reason"], detail=report["detail"])
        elif newer is not None:
            row.update(state="superseded", by=newer)
        elif row["published_at"] is None:
            row["state"] = "not published yet"
        else:
            row["state"] = "sent, waiting for the cabinet"
    return found
