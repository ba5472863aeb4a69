"""The job that marks orders delivered from what the cabinets report: each open need's location counts the
units its refill visits loaded (refill_visit events whose ledger_seq is past the need's seen_seq, lines of
the need's location and SKU); an order whose every need was loaded is delivered, by the visits that did it.
Counting is recomputed from the events each run, so running it twice (or in two processes) adds nothing."""
from hub.orders import idle, lifecycle

LOADED = """SELECT n.order_id, n.cabinet, n.location, v.loaded, v.visit_seq, v.visits
  FROM order_needs n JOIN orders o ON o.id = n.order_id
  CROSS JOIN LATERAL (SELECT coalesce(sum((l->>'loaded')::int), 0) AS loaded,
        max((e.body->>'ledger_seq')::bigint) AS visit_seq, string_agg(DISTINCT e.body->>'visit_id', ',') AS visits
      FROM events e, jsonb_array_elements(e.body->'summary'->'lines') l
      WHERE e.cabinet = n.cabinet AND e.type = 'refill_visit' AND (e.body->>'ledger_seq')::bigint > n.seen_seq
        AND l->>'location' = n.location AND l->>'sku' = n.sku AND (l->>'loaded')::int > 0) v
  WHERE n.open AND o.state IN ('proposed', 'sent', 'confirmed')"""


def run_due(conn, now):
    """The job: update what was loaded per need; deliver the orders fully loaded. How many were delivered."""
    idle(conn)
    with conn.transaction():
        loaded = conn.execute(LOADED).fetchall()
    by_order = {}
    for row in loaded:
        by_order.setdefault(row["order_id"], []).append(row)
    delivered = 0
    for order_id, rows in sorted(by_order.items()):
        with conn.transaction():
            for r in rows:
                conn.execute("UPDATE order_needs SET loaded = %s WHERE order_id = %s AND cabinet = %s AND location = %s "
                             "AND open AND loaded <> %s", [r["loaded"], order_id, r["cabinet"], r["location"], r["loaded"]])
            total = conn.execute("SELECT count(*) AS n FROM order_needs WHERE order_id = %s", [order_id]).fetchone()["n"]
            done = [r for r in rows if r["loaded"] > 0]
            if len(done) < total:
                continue
            visits = sorted({(r["cabinet"], v) for r in done for v in (r["visits"] or "").split(",") if v})
            blocks = {(r["cabinet"], r["location"]): r["visit_seq"] for r in done}
            if lifecycle.move(conn, order_id, "delivered", now,
                              "cabinet:" + ",".join(sorted({c for c, _ in visits})),
                              "loaded at refill visit%s %s" % ("s" if len(visits) > 1 else "",
                                                               ", ".join("%s #%s" % cv for cv in visits)),
                              only_from=lifecycle.OPEN, blocks_from=blocks):
                delivered += 1
    return delivered
