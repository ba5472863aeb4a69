"""The tenant's ERP endpoint: where the webhook goes, the shared secret, and the body's format."""
import secrets
from urllib.parse import urlparse

FORMATS = {"cxml": "a cXML OrderRequest (text/xml)", "json": "the order as JSON (application/json)"}


class ErpError(ValueError):
    pass


def set_endpoint(conn, tenant, url, now, fmt="cxml", currency="USD", rotate=False):
    """Set (or change) the tenant's endpoint; a new secret when there is none or `rotate`. Returns the secret
    when it was made (to show once), else None."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ErpError("the ERP's URL %r is not http(s)://host/..." % url)
    if fmt not in FORMATS:
        raise ErpError("format %r is not one of %s" % (fmt, ", ".join(FORMATS)))
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", [tenant]).fetchone() is None:
        raise ErpError("no tenant %s" % tenant)
    current = endpoint(conn, tenant)
    secret = secrets.token_bytes(32) if current is None or rotate else None
    conn.execute("INSERT INTO erp_endpoints (tenant, url, secret, format, currency, updated_at) VALUES "
                 "(%(t)s, %(u)s, %(s)s, %(f)s, %(c)s, %(now)s) ON CONFLICT (tenant) DO UPDATE SET url = EXCLUDED.url, "
                 "secret = coalesce(%(new)s, erp_endpoints.secret), format = EXCLUDED.format, "
                 "currency = EXCLUDED.currency, updated_at = EXCLUDED.updated_at",
                 {"t": tenant, "u": url, "s": secret or bytes(current["secret"]), "f": fmt, "c": currency,
                  "now": now, "new": secret})
    return secret


def endpoint(conn, tenant):
    return conn.execute("SELECT * FROM erp_endpoints WHERE tenant = %s", [tenant]).fetchone()


def secret_of(conn, tenant):
    found = endpoint(conn, tenant)
    return bytes(found["secret"]) if found else None
