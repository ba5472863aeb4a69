"""An order's lifecycle: proposed -> sent -> confirmed -> delivered, or cancelled before it is delivered.
Each move is stamped (the state's *_at column) and recorded in order_transitions with who or what made it.
A step may be skipped (an ERP that never confirms; a driver who loaded before the ERP's answer); nothing
moves back. Moving to the state the order is in is a no-op, so an ERP retrying its confirmation is harmless.

Cancelling writes a cancel message to the outbox in the same transaction (the ERP then receives the order
with type="delete"); delivering and cancelling release the order's needs for later orders."""

STATES = ("proposed", "sent", "confirmed", "delivered", "cancelled")
OPEN = ("proposed", "sent", "confirmed")
NEXT = {"proposed": ("sent", "confirmed", "delivered", "cancelled"), "sent": ("confirmed", "delivered", "cancelled"),
        "confirmed": ("delivered", "cancelled"), "delivered": (), "cancelled": ()}
STAMP = {"sent": "sent_at", "confirmed": "confirmed_at", "delivered": "delivered_at", "cancelled": "cancelled_at"}


class OrderError(ValueError):
    """A move that is not allowed, or an order that does not exist; the text says which."""


def get(conn, order_id, tenant=None, lock=False):
    found = conn.execute("SELECT * FROM orders WHERE id = %%s AND (%%s::text IS NULL OR tenant = %%s)%s"
                         % (" FOR UPDATE" if lock else ""), [order_id, tenant, tenant]).fetchone()
    if found is None:
        raise OrderError("no order %s%s" % (order_id, " at tenant %s" % tenant if tenant else ""))
    return found


def _watermark(conn, cabinet):
    found = conn.execute("SELECT watermark FROM streams WHERE cabinet = %s AND stream = 'tx'", [cabinet]).fetchone()
    return found["watermark"] if found else 0


def release_needs(conn, order_id, blocks_from=None):
    """The order's needs no longer block their locations, except for evidence before `blocks_from` (default:
    the stock each cabinet has reported so far: a location is ordered again once its stock moved)."""
    for need in conn.execute("SELECT cabinet, location, seen_seq FROM order_needs WHERE order_id = %s AND open",
                             [order_id]).fetchall():
        until = blocks_from.get((need["cabinet"], need["location"])) if blocks_from else None
        if until is None:
            until = max(need["seen_seq"], _watermark(conn, need["cabinet"])) + 1
        conn.execute("UPDATE order_needs SET open = false, blocks_from = %s WHERE order_id = %s AND cabinet = %s "
                     "AND location = %s", [until, order_id, need["cabinet"], need["location"]])


def move(conn, order_id, to, now, by, note=None, erp_ref=None, tenant=None, only_from=None, blocks_from=None):
    """Move the order to `to` (in the caller's transaction, or its own). Returns True when it moved, False when
    it was already there or (with only_from) not in one of those states; OrderError when the move is not
    allowed."""
    from hub.orders import outbox
    if to not in STATES:
        raise OrderError("state %r is not one of %s" % (to, ", ".join(STATES)))
    with conn.transaction():
        order = get(conn, order_id, tenant, lock=True)
        state = order["state"]
        if state == to or (only_from is not None and state not in only_from):
            if erp_ref and state == to and not order["erp_ref"]:
                conn.execute("UPDATE orders SET erp_ref = %s WHERE id = %s", [erp_ref, order_id])
            return False
        if to not in NEXT[state]:
            raise OrderError("order %s is %s: it cannot become %s" % (order_id, state, to))
        conn.execute("UPDATE orders SET state = %%s, %s = %%s, erp_ref = coalesce(%%s, erp_ref) WHERE id = %%s"
                     % STAMP[to], [to, now, erp_ref, order_id])
        conn.execute("INSERT INTO order_transitions (order_id, state_from, state_to, at, by, note) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", [order_id, state, to, now, by, note])
        if to in ("delivered", "cancelled"):
            release_needs(conn, order_id, blocks_from)
        if to == "cancelled":
            outbox.enqueue(conn, order_id, order["tenant"], "cancel", now)
    return True


def transitions(conn, order_id):
    return conn.execute("SELECT * FROM order_transitions WHERE order_id = %s ORDER BY id", [order_id]).fetchall()


def lines(conn, order_id):
    return conn.execute("SELECT * FROM order_lines WHERE order_id = %s ORDER BY line", [order_id]).fetchall()


def needs(conn, order_id):
    return conn.execute("SELECT * FROM order_needs WHERE order_id = %s ORDER BY cabinet, location", [order_id]).fetchall()


def orders(conn, tenant=None, sites=None, state=None, limit=200):
    """Orders newest first; sites: only these site ids (a customer's), None: all of the tenant's."""
    return conn.execute(
        "SELECT o.*, s.name AS site_name, s.customer, (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) "
        "AS line_count, (SELECT sum(l.units * coalesce(l.unit_cost, 0)) FROM order_lines l WHERE l.order_id = o.id) "
        "AS total_cents FROM orders o JOIN sites s ON s.tenant = o.tenant AND s.id = o.site "
        "WHERE (%(t)s::text IS NULL OR o.tenant = %(t)s) AND (%(sites)s::text[] IS NULL OR o.site = ANY(%(sites)s)) "
        "AND (%(state)s::text IS NULL OR o.state = %(state)s) ORDER BY o.id DESC LIMIT %(limit)s",
        {"t": tenant, "sites": sites, "state": state, "limit": limit}).fetchall()
