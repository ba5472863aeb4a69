"""The hub's books: supplier tenants, their customers' sites, the cabinets registered there with their command
keys, certificates and broker password hashes, and the broker's hub users (docs/hub.md, "Tenants, sites and
cabinet registration"). The supplier's office uses them through `locker-hub tenant|site|cabinet|broker`;
tests and the fleet simulation call add_cabinet directly.

Every refusal is a RegistryError with words, raised before anything is written."""
import re

from edge_agent.cloud.envelope import KEY_BYTES

ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")       # hub_id in 0001_core.sql: the contract's topic levels


class RegistryError(ValueError):
    pass


def check_id(what, value):
    if not isinstance(value, str) or not ID.match(value):
        raise RegistryError("%s %r is not an id: 1 to 64 of A-Z a-z 0-9 _ - (it is an MQTT topic level)"
                            % (what, value))
    return value


def check_key(cabinet, key):
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise RegistryError("the command key of %s must be %d bytes" % (cabinet, KEY_BYTES))


def add_cabinet(conn, tenant, site, cabinet, key, tenant_name=None, site_name=None):
    """Register (or re-key) `cabinet` at tenant/site, creating the tenant and site when they are new."""
    check_key(cabinet, key)
    with conn.transaction():
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", [tenant, tenant_name or tenant])
        conn.execute("INSERT INTO sites (tenant, id, name) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     [tenant, site, site_name or site])
        conn.execute("INSERT INTO cabinets (id, tenant, site, command_key) VALUES (%s, %s, %s, %s) ON CONFLICT (id) "
                     "DO UPDATE SET tenant = EXCLUDED.tenant, site = EXCLUDED.site, command_key = EXCLUDED.command_key",
                     [cabinet, tenant, site, key])


# -- tenants and sites -----------------------------------------------------------------------------------------
def add_tenant(conn, tenant, name=None):
    check_id("tenant", tenant)
    with conn.transaction():
        if conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING id",
                        [tenant, name or tenant]).fetchone() is None:
            raise RegistryError("tenant %s already exists" % tenant)


def tenants(conn):
    return conn.execute("SELECT t.id, t.name, (SELECT count(*) FROM sites s WHERE s.tenant = t.id) AS sites, "
                        "(SELECT count(*) FROM cabinets c WHERE c.tenant = t.id) AS cabinets "
                        "FROM tenants t ORDER BY t.id").fetchall()


def need_tenant(conn, tenant):
    check_id("tenant", tenant)
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", [tenant]).fetchone() is None:
        raise RegistryError("no tenant %s (add it first: locker-hub tenant add %s)" % (tenant, tenant))


def add_site(conn, tenant, site, name=None, customer=""):
    check_id("site", site)
    with conn.transaction():
        need_tenant(conn, tenant)
        if conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING "
                        "RETURNING id", [tenant, site, name or site, customer or ""]).fetchone() is None:
            raise RegistryError("site %s of tenant %s already exists" % (site, tenant))


def sites(conn, tenant=None):
    return conn.execute("SELECT s.tenant, s.id, s.name, s.customer, (SELECT count(*) FROM cabinets c WHERE "
                        "c.tenant = s.tenant AND c.site = s.id) AS cabinets FROM sites s "
                        "WHERE %(t)s::text IS NULL OR s.tenant = %(t)s ORDER BY s.tenant, s.id", {"t": tenant}).fetchall()


def need_site(conn, tenant, site):
    need_tenant(conn, tenant)
    check_id("site", site)
    if conn.execute("SELECT 1 FROM sites WHERE tenant = %s AND id = %s", [tenant, site]).fetchone() is None:
        raise RegistryError("tenant %s has no site %s (add it first: locker-hub site add --tenant %s %s)"
                            % (tenant, site, tenant, site))


# -- cabinets --------------------------------------------------------------------------------------------------
def register_cabinet(conn, tenant, site, cabinet, key, csr=None, certificate=None, broker_hash=None):
    """Put a cabinet on the books at an existing tenant and site with what `locker-agent register` made (its
    command key and CSR) and what the hub issued (certificate, broker password hash). The same tenant may
    register it again (new keys: the Pi ran register --force, or it moved site); another tenant may not."""
    check_id("cabinet", cabinet)
    check_key(cabinet, key)
    with conn.transaction():
        need_site(conn, tenant, site)
        if conn.execute("SELECT 1 FROM broker_users WHERE name = %s", [cabinet]).fetchone():
            raise RegistryError("%s is a hub user of the broker; a cabinet cannot have its name" % cabinet)
        held = conn.execute("SELECT tenant FROM cabinets WHERE id = %s FOR UPDATE", [cabinet]).fetchone()
        if held and held["tenant"] != tenant:
            raise RegistryError("cabinet %s is registered at another tenant; a cabinet id is unique on the broker"
                                % cabinet)
        conn.execute("INSERT INTO cabinets (id, tenant, site, command_key, csr, certificate, broker_hash) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET site = EXCLUDED.site, "
                     "command_key = EXCLUDED.command_key, csr = EXCLUDED.csr, certificate = EXCLUDED.certificate, "
                     "broker_hash = EXCLUDED.broker_hash, registered_at = now()",
                     [cabinet, tenant, site, key, csr, certificate, broker_hash])
    return bool(held)


def cabinets(conn, tenant=None, site=None):
    return conn.execute("SELECT id, tenant, site, registered_at, certificate IS NOT NULL AS certified, "
                        "broker_hash IS NOT NULL AS on_broker FROM cabinets "
                        "WHERE (%(t)s::text IS NULL OR tenant = %(t)s) AND (%(s)s::text IS NULL OR site = %(s)s) "
                        "ORDER BY tenant, site, id", {"t": tenant, "s": site}).fetchall()


def cabinet(conn, cabinet_id):
    check_id("cabinet", cabinet_id)
    row = conn.execute("SELECT c.*, s.name AS site_name, s.customer FROM cabinets c JOIN sites s "
                       "ON s.tenant = c.tenant AND s.id = c.site WHERE c.id = %s", [cabinet_id]).fetchone()
    if row is None:
        raise RegistryError("no cabinet %s" % cabinet_id)
    return row


# -- settings and the broker's users ---------------------------------------------------------------------------
def setting(conn, name):
    row = conn.execute("SELECT value FROM hub_settings WHERE name = %s", [name]).fetchone()
    return row["value"] if row else None


def set_setting(conn, name, value):
    conn.execute("INSERT INTO hub_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET "
                 "value = EXCLUDED.value, updated_at = now()", [name, value])


def add_broker_user(conn, name, broker_hash):
    """A hub worker's broker user (or a new password for it); never a cabinet's name."""
    check_id("user", name)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM cabinets WHERE id = %s", [name]).fetchone():
            raise RegistryError("%s is a cabinet; a hub user cannot have its name" % name)
        conn.execute("INSERT INTO broker_users (name, broker_hash) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                     "SET broker_hash = EXCLUDED.broker_hash", [name, broker_hash])


def broker_users(conn):
    """({cabinet: hash}, {hub user: hash}): who the broker lets in."""
    cabs = {r["id"]: r["broker_hash"] for r in
            conn.execute("SELECT id, broker_hash FROM cabinets WHERE broker_hash IS NOT NULL")}
    hub = {r["name"]: r["broker_hash"] for r in conn.execute("SELECT name, broker_hash FROM broker_users")}
    return cabs, hub


def remove_broker_user(conn, name):
    """Take a cabinet's or hub user's name off the broker (the next `broker write` leaves it out)."""
    check_id("user", name)
    with conn.transaction():
        gone = conn.execute("UPDATE cabinets SET broker_hash = NULL WHERE id = %s AND broker_hash IS NOT NULL "
                            "RETURNING id", [name]).fetchone() or \
            conn.execute("DELETE FROM broker_users WHERE name = %s RETURNING name", [name]).fetchone()
        if gone is None:
            raise RegistryError("%s is no user of the broker" % name)
