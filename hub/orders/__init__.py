"""Reorders to the ERP (docs/hub/orders.md): what a site needs (needs.py), when it becomes an order (rules.py,
propose.py), the order's lifecycle (lifecycle.py), and its delivery to the supplier's ERP as a signed webhook
from an outbox (signing.py, outbox.py) carrying a cXML OrderRequest (cxml.py) or JSON."""
from psycopg.pq import TransactionStatus


def idle(conn):
    """Make sure the jobs' units of work are transactions of their own: a connection the caller left inside a
    transaction (psycopg's non-autocommit mode opens one at the first statement) is committed first, one left
    in a failed transaction rolled back. Each `with conn.transaction()` after this commits on its own."""
    status = conn.info.transaction_status
    if status == TransactionStatus.INTRANS:
        conn.commit()
    elif status == TransactionStatus.INERROR:
        conn.rollback()
