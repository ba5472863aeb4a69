"""Whose cabinets a customer report covers: a customer is `sites.customer` within a tenant (the supplier); its
report covers every cabinet at every one of its sites, and no other."""
from dataclasses import dataclass
from typing import List


class ScopeError(Exception):
    """A tenant or customer the hub does not know (said in words: the CLI prints it, the web app shows it)."""


@dataclass
class Site:
    id: str
    name: str
    cabinets: List[str]


def customers(conn, tenant):
    """The tenant's customers (names as on its sites), in order, each with its number of sites."""
    return conn.execute("SELECT customer, count(*) AS sites FROM sites WHERE tenant = %s AND customer <> '' "
                        "GROUP BY customer ORDER BY customer", [tenant]).fetchall()


def sites_of(conn, tenant, customer):
    """[Site] of the customer, in id order, each with its cabinets; ScopeError when there is none."""
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", [tenant]).fetchone() is None:
        raise ScopeError("no tenant %s" % tenant)
    rows = conn.execute(
        "SELECT s.id::text AS id, s.name, array_remove(array_agg(c.id::text ORDER BY c.id), NULL) AS cabinets FROM sites s "
        "LEFT JOIN cabinets c ON c.tenant = s.tenant AND c.site = s.id "
        "WHERE s.tenant = %s AND s.customer = %s GROUP BY s.id, s.name ORDER BY s.id", [tenant, customer]).fetchall()
    if not rows:
        known = ", ".join(r["customer"] for r in customers(conn, tenant)) or "none yet"
        raise ScopeError("tenant %s has no customer %r (its customers: %s)" % (tenant, customer, known))
    return [Site(r["id"], r["name"], list(r["cabinets"])) for r in rows]
