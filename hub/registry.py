"""Putting a cabinet on the hub's books: its tenant, site and command key (docs/hub.md). The supplier's office
does it with `locker-hub cabinet register`; tests and the fleet simulation call add_cabinet directly."""
from edge_agent.cloud.envelope import KEY_BYTES


def add_cabinet(conn, tenant, site, cabinet, key, tenant_name=None, site_name=None):
    """Register (or re-key) `cabinet` at tenant/site, creating the tenant and site when they are new."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError("the command key of %s must be %d bytes" % (cabinet, KEY_BYTES))
    with conn.transaction():
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant_name or tenant])
        conn.execute("INSERT INTO sites (tenant, id, name) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     [tenant, site, site_name or site])
        conn.execute("INSERT INTO cabinets (id, tenant, site, command_key) VALUES (%s, %s, %s, %s) ON CONFLICT (id) "
                     "DO UPDATE SET tenant = EXCLUDED.tenant, site = EXCLUDED.site, command_key = EXCLUDED.command_key",
                     [cabinet, tenant, site, key])
