"""The job that turns needs into orders: for every site whose rule is due (rules.py), one order per supplier
with what the site needs (needs.py), its lines summed by SKU in whole packs, and its message to the ERP in
the outbox, all in one transaction.

Several hub processes may run it at once: a site's rule row is taken FOR UPDATE SKIP LOCKED (one process
batches a site, the others skip it), and a location already on an open order cannot be claimed twice (the
partial unique index on order_needs)."""
from hub.orders import idle, needs as needs_of, outbox, rules

BY = "job:hub.orders.propose"


def lines_of(found):
    """order_lines rows for one supplier's needs: per SKU, the units summed and rounded up to whole packs."""
    by_sku = {}
    for n in found:
        line = by_sku.setdefault(n.sku, {"sku": n.sku, "description": n.description, "category": n.category,
                                         "package_size": n.package_size,
                                         "unit_cost": n.unit_cost, "needed": 0})
        line["needed"] += n.units
    result = []
    for number, sku in enumerate(sorted(by_sku), 1):
        line = by_sku[sku]
        packs = -(-line.pop("needed") // line["package_size"])
        result.append(dict(line, line=number, packs=packs, units=packs * line["package_size"]))
    return result


def create(conn, tenant, site, supplier, found, rule, now, by=BY):
    """One proposed order for `found` (Needs of one supplier at one site), its lines, needs, first transition
    and outbox message, in the caller's transaction. Returns the order id."""
    endpoint = conn.execute("SELECT currency FROM erp_endpoints WHERE tenant = %s", [tenant]).fetchone()
    order_id = conn.execute(
        "INSERT INTO orders (tenant, site, supplier, rule, proposed_at, currency) VALUES (%s, %s, %s, %s, %s, %s) "
        "RETURNING id", [tenant, site, supplier, rule, now, endpoint["currency"] if endpoint else "USD"]).fetchone()["id"]
    for line in lines_of(found):
        conn.execute("INSERT INTO order_lines (order_id, line, sku, description, category, package_size, packs, units, "
                     "unit_cost) VALUES (%(o)s, %(line)s, %(sku)s, %(description)s, %(category)s, %(package_size)s, "
                     "%(packs)s, %(units)s, "
                     "%(unit_cost)s)", dict(line, o=order_id))
    for n in found:
        conn.execute("INSERT INTO order_needs (order_id, cabinet, location, sku, task_id, units, seen_seq, blocks_from) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                     [order_id, n.cabinet, n.location, n.sku, n.task_id, n.units, n.seen_seq, n.seen_seq + 1])
    fallback = sorted({n.cabinet for n in found if n.fallback})
    note = "no catalog at the hub for %s: supplier, pack size and cost from the snapshot" % ", ".join(fallback) \
        if fallback else None
    conn.execute("INSERT INTO order_transitions (order_id, state_from, state_to, at, by, note) "
                 "VALUES (%s, NULL, 'proposed', %s, %s, %s)", [order_id, now, by, note])
    outbox.enqueue(conn, order_id, tenant, "new", now)
    return order_id


def batch_site(conn, rule, now, by=BY):
    """Propose the site's orders now (in the caller's transaction); the new order ids."""
    made = []
    for supplier, found in sorted(needs_of.of_site(conn, rule["tenant"], rule["site"]).items()):
        made.append(create(conn, rule["tenant"], rule["site"], supplier, found, rule["rule"], now, by))
    return made


def run_due(conn, now):
    """The job: every site whose rule is due at `now` gets its orders; how many orders were proposed."""
    idle(conn)
    with conn.transaction():
        rules.add_defaults(conn, now)
        sites = conn.execute("SELECT tenant, site FROM site_order_rules ORDER BY tenant, site").fetchall()
    made = 0
    for key in sites:
        with conn.transaction():
            rule = conn.execute("SELECT * FROM site_order_rules WHERE tenant = %s AND site = %s "
                                "FOR UPDATE SKIP LOCKED", [key["tenant"], key["site"]]).fetchone()
            if rule is None or not rules.is_due(conn, rule, now):
                continue
            made += len(batch_site(conn, rule, now))
            conn.execute("UPDATE site_order_rules SET last_run_at = %s WHERE tenant = %s AND site = %s",
                         [now, rule["tenant"], rule["site"]])
    return made


def propose_now(conn, tenant, site, now, by):
    """Propose the site's orders at once, whatever its rule (the CLI's `order propose`)."""
    with conn.transaction():
        rule = conn.execute("SELECT * FROM site_order_rules WHERE tenant = %s AND site = %s FOR UPDATE",
                            [tenant, site]).fetchone() or dict(rules.DEFAULT, tenant=tenant, site=site)
        return batch_site(conn, rule, now, by)
