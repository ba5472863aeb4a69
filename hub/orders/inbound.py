"""What the ERP sends back: its confirmation of an order, as a signed JSON call (docs/hub/orders.md "The
ERP confirms"). The same signature as the webhook's (signing.py), with the tenant's secret; the hub's clock
judges the signature's time. Confirming twice is harmless (the order is confirmed already: 200)."""
import json

from hub.orders import erp, lifecycle, signing


class Refused(Exception):
    def __init__(self, status, words):
        super().__init__(words)
        self.status = status


def confirm(conn, tenant, order_id, headers, body, now):
    """Check the call and confirm the order; returns (moved, order). Refused(status, words) otherwise."""
    secret = erp.secret_of(conn, tenant)
    if secret is None:
        raise Refused(404, "tenant %s takes no ERP calls (no endpoint set)" % tenant)
    try:
        signing.verify(secret, headers.get(signing.HEADER.lower()), body, now.timestamp())
    except signing.SignatureError as e:
        raise Refused(401, str(e)) from None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    ref = data.get("erp_ref")
    if ref is not None and (not isinstance(ref, str) or not 0 < len(ref) <= 100):
        raise Refused(400, "erp_ref must be text of 1 to 100 characters")
    try:
        moved = lifecycle.move(conn, order_id, "confirmed", now, "erp", data.get("note") if isinstance(
            data.get("note"), str) else None, erp_ref=ref, tenant=tenant)
    except lifecycle.OrderError as e:
        raise Refused(404 if str(e).startswith("no order") else 409, str(e)) from None
    return moved, lifecycle.get(conn, order_id, tenant)
