"""The hub's copy of cabinets read as the agent's report reads a ledger (edge_agent/reports/source.py), so a
figure the hub shows comes from the same code as the cabinet's own report (one implementation):

    from hub import history
    moves = history.read_movements(conn, ["CAB-1", "CAB-2"])   # {cabinet: [Movement]} as the agent replays them
    src = history.source(conn, ["CAB-1", "CAB-2"])            # one report source over the cabinets
    report = edge_agent.reports.build_report(src, start, end, now=now)

Where each part comes from:
- movements and the period's rows: tx_rows (the ledger's transaction rows as received, replayed from seq 1
  by edge_agent/reports/history.replay; the intent's reason joined as the ledger's query does);
- refill tasks: refill_task_opened / refill_task_closed events (the quantity followed down the replayed stock
  as the agent's minmax does); alerts: alert_raised / alert_cleared events
  (the detail of the last alert_updated);
- the catalog: the cabinet's inventory snapshot (what the cabinet holds now: on-hand as of its as_of_seq, min,
  max, capacity, SKU) completed by its newest desired catalog (descriptions, unit costs, ownership, refill
  packs, returnable doors) and desired users (names, departments). A cabinet not run from the hub has no
  desired catalog: its SKUs are then known only by part number, taken as consignment at the unit cost on
  their last transaction, and the method section says so."""
from psycopg.rows import tuple_row

from edge_agent.ledger.effects import MOVES_STOCK_ON_OUTCOME
from edge_agent.ledger.minmax import refill_quantity
from edge_agent.ledger.schema_v1 import LOCATION_KINDS
from edge_agent.reports.catalog import Catalog
from edge_agent.reports.history import MOVEMENT_COLUMNS, MOVEMENT_KINDS, replay
from edge_agent.reports.source import ROW_COLUMNS, combine

_KIND_OF_LETTER = {letter: kind for kind, letter in LOCATION_KINDS.items()}
_INTEGERS = ("seq", "clock_synced", "quantity", "unit_cost")

MOVEMENTS_SQL = (
    "SELECT t.cabinet, t.seq, %s, i.body->>'reason' FROM tx_rows t "
    "LEFT JOIN tx_rows i ON i.cabinet = t.cabinet AND i.seq = (t.body->>'intent_seq')::bigint "
    "WHERE t.cabinet = ANY(%%(cabinets)s) AND (t.body->>'kind' = ANY(%%(kinds)s) "
    "OR (t.body->>'kind' = 'outcome' AND t.body->>'action' = ANY(%%(actions)s))) ORDER BY t.cabinet, t.seq"
    % ", ".join("(t.body->>'%s')::bigint" % c if c in _INTEGERS else "t.body->>'%s'" % c
                for c in MOVEMENT_COLUMNS[1:-1]))


def read_movements(conn, cabinets):
    """{cabinet: [Movement]}: every stock movement of each cabinet the hub holds, replayed from seq 1 in seq
    order exactly as the agent's report replays its ledger (Movement.cabinet set). A cabinet with no rows maps
    to []."""
    found = {c: [] for c in cabinets}
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(MOVEMENTS_SQL, {"cabinets": list(cabinets), "kinds": list(MOVEMENT_KINDS),
                                    "actions": list(MOVES_STOCK_ON_OUTCOME)})
        rows = cur.fetchall()
    by_cabinet = {}
    for row in rows:
        by_cabinet.setdefault(row[0], []).append(row[1:])
    for cabinet, cab_rows in by_cabinet.items():
        found[cabinet] = replay(cab_rows, cabinet)
    return found


class HubCabinet:
    """One cabinet as the hub holds it: a report source (edge_agent/reports/source.py)."""

    def __init__(self, conn, cabinet, movements=None):
        self.conn = conn
        self.cabinet_id = cabinet
        self.cabinets = [cabinet]
        self._moves = movements
        self.notes = []
        self.catalog = self._catalog()

    def movements(self):
        if self._moves is None:
            self._moves = read_movements(self.conn, [self.cabinet_id])[self.cabinet_id]
        return self._moves

    def rows_near(self, lo, hi):
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute("SELECT seq, body FROM tx_rows WHERE cabinet = %s AND body->>'wall_time' >= %s "
                        "AND body->>'wall_time' < %s ORDER BY seq", [self.cabinet_id, lo, hi])
            return [dict({c: body.get(c) for c in ROW_COLUMNS}, seq=seq) for seq, body in cur]

    def refill_tasks(self):
        tasks = self._query(
            "SELECT o.body->>'location' AS location, o.body->>'sku' AS sku, (o.body->>'quantity')::int AS quantity, "
            "o.body->>'wall' AS opened_wall, c.body->>'wall' AS closed_wall, "
            "(o.body->>'ledger_seq')::bigint AS opened_seq, (c.body->>'ledger_seq')::bigint AS closed_seq "
            "FROM events o LEFT JOIN events c ON c.cabinet = o.cabinet AND c.type = 'refill_task_closed' "
            "AND c.body->>'task_id' = o.body->>'task_id' "
            "WHERE o.cabinet = %s AND o.type = 'refill_task_opened' ORDER BY (o.body->>'task_id')::bigint")
        for task in tasks:
            task["quantity"] = self._task_quantity(task)
        return tasks

    def _task_quantity(self, task):
        """A refill task's quantity as the ledger holds it: the agent's minmax.evaluate sets it again at every
        movement that leaves the location below min while the task is open ("it follows the stock down"),
        which no event reports; the same rule (minmax.refill_quantity) is applied here to the replayed
        on-hand, with the location's min, max and refill pack as the hub knows them now."""
        row = self.catalog.locations.get(task["location"])
        if row is None or task["opened_seq"] is None:
            return task["quantity"]
        quantity = task["quantity"]
        for m in self._at(task["location"]):
            if m.seq <= task["opened_seq"]:
                continue
            if task["closed_seq"] is not None and m.seq >= task["closed_seq"]:
                break
            if m.on_hand_after < row["min"]:
                quantity = refill_quantity(m.on_hand_after, row["max"], row["refill_pack"], row["min"])
        return quantity

    def alerts(self):
        return self._query(
            "SELECT r.body->>'location' AS location, r.body->>'kind' AS kind, coalesce(("
            "SELECT u.body->>'detail' FROM events u WHERE u.cabinet = r.cabinet AND u.type = 'alert_updated' "
            "AND u.body->>'alert_id' = r.body->>'alert_id' ORDER BY u.seq DESC LIMIT 1), r.body->>'detail') AS detail, "
            "r.body->>'wall' AS raised_wall, c.body->>'wall' AS cleared_wall FROM events r "
            "LEFT JOIN events c ON c.cabinet = r.cabinet AND c.type = 'alert_cleared' "
            "AND c.body->>'alert_id' = r.body->>'alert_id' "
            "WHERE r.cabinet = %s AND r.type = 'alert_raised' ORDER BY (r.body->>'alert_id')::bigint")

    def default_now(self):
        return None          # the hub has no cabinet clock: the caller says when the figures are judged

    def cabinet_of(self, location):
        return self.cabinet_id

    def _at(self, location):
        """The movements at one location, in seq order (indexed once)."""
        if getattr(self, "_by_location", None) is None:
            self._by_location = {}
            for m in self.movements():
                self._by_location.setdefault(m.location, []).append(m)
        return self._by_location.get(location, [])

    def _query(self, sql):
        return [dict(r) for r in self.conn.execute(sql, [self.cabinet_id]).fetchall()]

    # -- the catalog ---------------------------------------------------------------------------------------
    def _desired(self, what):
        """The newest desired `what` the cabinet applied, else the newest made for it; None without any."""
        row = self.conn.execute(
            "SELECT d.body FROM desired_docs d WHERE d.cabinet = %s AND d.what = %s ORDER BY EXISTS ("
            "SELECT 1 FROM desired_reports r WHERE r.cabinet = d.cabinet AND r.what = d.what "
            "AND r.version = d.version AND r.status = 'applied') DESC, d.version DESC LIMIT 1",
            [self.cabinet_id, what]).fetchone()
        return row["body"] if row else None

    def _catalog(self):
        doc = self._desired("catalog") or {}
        people = self._desired("users") or {}
        snap = self.conn.execute("SELECT as_of_seq, body FROM inventory WHERE cabinet = %s",
                                 [self.cabinet_id]).fetchone()
        skus = {s["part_number"]: _sku(s) for s in doc.get("skus", [])}
        locations = {}
        for row in doc.get("locations", []):
            locations[row["id"]] = _location(row)
        if snap:
            for row in snap["body"].get("locations", []):
                loc = locations.setdefault(row["id"], _location({"id": row["id"]}))
                for k in ("kind", "sku", "min", "max", "capacity", "quarantine"):
                    if row.get(k) is not None:
                        loc[k] = row[k]
                loc["on_hand"] = row.get("on_hand") or 0
                loc["as_of_seq"] = snap["as_of_seq"]
        if not doc:
            self.notes.append(("Catalog of %s" % self.cabinet_id, (
                "No desired catalog for this cabinet at the hub: %s. Part numbers without a description are "
                "taken as consignment at the unit cost recorded on their transactions."
                % ("its locations are those of its last inventory snapshot (as of transaction %d)"
                   % snap["as_of_seq"] if snap else "no inventory snapshot either: its locations are the ones "
                   "its transactions name, with min and max unknown (0)"))))
        for m in self.movements():          # locations and SKUs only the transactions name
            if m.location not in locations:
                locations[m.location] = _location({"id": m.location, "sku": m.sku})
            if m.location in locations and not locations[m.location].get("as_of_seq"):
                locations[m.location]["on_hand"] = m.on_hand_after
            if m.sku and m.sku not in skus:
                skus[m.sku] = _sku({"part_number": m.sku})
            if m.sku in skus and m.unit_cost is not None and skus[m.sku].get("_from_rows"):
                skus[m.sku]["unit_cost"] = m.unit_cost
        for s in skus.values():
            s.pop("_from_rows", None)
        users = {u["id"]: _user(u) for u in people.get("users", [])}
        return Catalog.from_rows(skus, locations, users)


def _sku(row):
    sku = {"part_number": row["part_number"], "description": "", "category": None, "package_size": 1,
           "unit_cost": 0, "criticality": None, "supplier": None, "ownership": "consignment"}
    sku.update({k: v for k, v in row.items() if v is not None})
    if set(row) == {"part_number"}:
        sku["_from_rows"] = True        # known only from transactions: its unit cost is theirs
    return sku


def _location(row):
    loc = {"id": row["id"], "kind": _KIND_OF_LETTER.get(row["id"][:1], "lane"), "unit": None, "sku": None,
           "on_hand": 0, "min": 0, "max": 0, "refill_pack": 1, "quarantine": 0, "returnable": False,
           "capacity": None, "loan_hours": None}
    loc.update({k: v for k, v in row.items() if v is not None})
    return loc


def _user(row):
    return {"id": row["id"], "name": row.get("name") or "", "role": row.get("role"),
            "department": row.get("department"), "cost_center": row.get("cost_center"),
            "supplier": row.get("supplier")}


def cabinet_sources(conn, cabinets):
    """A HubCabinet per cabinet (movements read in one query for all of them)."""
    moves = read_movements(conn, cabinets)
    return [HubCabinet(conn, c, moves[c]) for c in cabinets]


def source(conn, cabinets):
    """One report source over the cabinets: the cabinet itself when one (its location ids as the cabinet's
    own report has them), else several read as one (ids qualified "CAB-1/L3": source.Combined)."""
    return combine(cabinet_sources(conn, list(cabinets)))
