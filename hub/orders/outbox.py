"""Messages to the tenant's ERP: written in the same transaction as the order's move (enqueue), posted by the
job (run_due) with the signature and an Idempotency-Key header, oldest first per order, retried with
exponential backoff while the ERP is down or answers other than 2xx. Nothing is lost (the row stays until a
2xx) and nothing is posted by two hub processes at once (the row is locked FOR UPDATE SKIP LOCKED while it is
posted); a 2xx whose commit then failed is posted again with the same key, which the ERP drops.

A 2xx for a new order moves it from proposed to sent, in the same transaction that marks the row delivered."""
import datetime
import json
import urllib.error
import urllib.request

from hub.orders import cxml, erp, idle, signing

BACKOFF_S = 30               # the wait after the first failure; doubled after each next one
BACKOFF_MAX_S = 3600
TIMEOUT_S = 10
IDEMPOTENCY_HEADER = "Idempotency-Key"
JSON_TYPE = "application/json"


def backoff(attempts):
    """Seconds to wait after the attempts-th failure in a row: 30, 60, 120 ... at most an hour."""
    return min(BACKOFF_S * 2 ** (attempts - 1), BACKOFF_MAX_S)


def order_json(order, lines, site, kind):
    return {"order_id": cxml.order_id(order), "type": kind, "tenant": order["tenant"], "site": site["id"],
            "site_name": site["name"], "customer": site["customer"], "supplier": order["supplier"],
            "proposed_at": order["proposed_at"].isoformat(), "currency": order["currency"],
            "lines": [{"line": ln["line"], "sku": ln["sku"], "description": ln["description"], "packs": ln["packs"],
                       "package_size": ln["package_size"], "units": ln["units"], "unit_cost_cents": ln["unit_cost"]}
                      for ln in lines]}


def render(conn, order_id, kind, key, now):
    """(content type, body bytes) of the message, in the tenant's format (cXML when no endpoint is set)."""
    order = conn.execute("SELECT * FROM orders WHERE id = %s", [order_id]).fetchone()
    lines = conn.execute("SELECT * FROM order_lines WHERE order_id = %s ORDER BY line", [order_id]).fetchall()
    site = conn.execute("SELECT * FROM sites WHERE tenant = %s AND id = %s", [order["tenant"], order["site"]]).fetchone()
    found = erp.endpoint(conn, order["tenant"])
    if found is not None and found["format"] == "json":
        body = json.dumps(order_json(order, lines, site, kind), sort_keys=True).encode()
        return JSON_TYPE, body
    return cxml.CONTENT_TYPE, cxml.build(order, lines, site, key, now, "delete" if kind == "cancel" else "new")


def enqueue(conn, order_id, tenant, kind, now):
    """Write the message for the order's move (in the caller's transaction); once per (order, kind)."""
    key = "%s-order-%d-%s" % (tenant, order_id, kind)
    content_type, body = render(conn, order_id, kind, key, now)
    conn.execute("INSERT INTO order_outbox (tenant, order_id, kind, idempotency_key, content_type, body, created_at, "
                 "next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 [tenant, order_id, kind, key, content_type, body, now, now])


def post(url, secret, row, now):
    """POST one message; None on a 2xx, else why not (words for the order's page)."""
    body = bytes(row["body"])
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": row["content_type"], IDEMPOTENCY_HEADER: row["idempotency_key"],
        signing.HEADER: signing.header(secret, int(now.timestamp()), body), "User-Agent": "locker-hub"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            answer.read()
            return None
    except urllib.error.HTTPError as e:
        return "HTTP %d %s" % (e.code, e.reason)
    except (urllib.error.URLError, OSError) as e:
        return "cannot reach the ERP: %s" % getattr(e, "reason", e)


def _next(conn, now):
    """The oldest due message whose order has no older one undelivered, locked; None when there is none."""
    return conn.execute(
        "SELECT m.*, e.url, e.secret FROM order_outbox m JOIN erp_endpoints e ON e.tenant = m.tenant "
        "WHERE m.delivered_at IS NULL AND m.next_attempt_at <= %(now)s AND NOT EXISTS (SELECT 1 FROM order_outbox p "
        "WHERE p.order_id = m.order_id AND p.id < m.id AND p.delivered_at IS NULL) "
        "ORDER BY m.next_attempt_at, m.id LIMIT 1 FOR UPDATE OF m SKIP LOCKED", {"now": now}).fetchone()


def deliver_one(conn, now):
    """Post the next due message; True when one was tried (delivered or not), False when none was due."""
    from hub.orders import lifecycle
    with conn.transaction():
        row = _next(conn, now)
        if row is None:
            return False
        failed = post(row["url"], bytes(row["secret"]), row, now)
        if failed is None:
            conn.execute("UPDATE order_outbox SET delivered_at = %s, last_attempt_at = %s, attempts = attempts + 1, "
                         "last_error = NULL WHERE id = %s", [now, now, row["id"]])
            if row["kind"] == "new":
                lifecycle.move(conn, row["order_id"], "sent", now, "erp-webhook",
                               "the ERP acknowledged %s" % row["idempotency_key"], only_from=("proposed",))
        else:
            attempts = row["attempts"] + 1
            conn.execute("UPDATE order_outbox SET attempts = %s, last_attempt_at = %s, last_error = %s, "
                         "next_attempt_at = %s WHERE id = %s",
                         [attempts, now, failed, now + datetime.timedelta(seconds=backoff(attempts)), row["id"]])
        return True


def run_due(conn, now, limit=100):
    """The job: post every message due at `now`; how many were tried. A failed one is due again only after its
    backoff, so each is tried at most once per run."""
    idle(conn)
    tried = 0
    while tried < limit and deliver_one(conn, now):
        tried += 1
    return tried


def pending(conn, order_id):
    return conn.execute("SELECT id, kind, idempotency_key, attempts, next_attempt_at, last_attempt_at, last_error, "
                        "delivered_at, created_at FROM order_outbox WHERE order_id = %s ORDER BY id", [order_id]).fetchall()
