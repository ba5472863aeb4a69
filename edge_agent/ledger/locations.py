"""A stock location as every flow sees it: one row type from one query (the location with its SKU's words),
so a flow never writes its own SELECT with its own columns."""
from dataclasses import dataclass
from typing import Optional

_QUERY = ("SELECT l.id, l.kind, l.unit, l.sku, l.on_hand, l.min, l.max, l.refill_pack, l.quarantine, "
          "l.piece_weight_mg, l.weight_mg, l.returnable, l.loan_hours, "
          "s.description, s.category, s.supplier, l.capacity FROM locations l LEFT JOIN skus s ON s.part_number = l.sku")
_ORDER = " ORDER BY CASE l.kind WHEN 'lane' THEN 0 WHEN 'door' THEN 1 WHEN 'bin' THEN 2 ELSE 3 END, l.unit, l.id"
ACTUATED = ("door", "lane", "bin")     # kinds with a unit the firmware drives or weighs


@dataclass(frozen=True)
class Location:
    id: str
    kind: str                       # door, lane, bin (weigh bin) or scan (scan-only bin)
    unit: Optional[int]             # its door, lane or bin number on the cabinet
    sku: Optional[str]
    on_hand: int
    min: int
    max: int
    refill_pack: int
    quarantine: int
    piece_weight_mg: Optional[int]
    weight_mg: Optional[int]        # a weigh bin's baseline: the last stable weight on record
    returnable: bool                # a locker door lending tools
    loan_hours: Optional[int]
    description: Optional[str]
    category: Optional[str]
    supplier: Optional[str]
    capacity: Optional[int] = None  # units it physically holds; None: nobody has said

    @property
    def name(self):
        """What a person calls what is there: the SKU's description, else its part number, else the id."""
        return self.description or self.sku or self.id


def find_location(ledger, location_id):
    """The location, or None when the layout has no such id."""
    row = ledger.db.execute(_QUERY + " WHERE l.id = ?", [location_id]).fetchone()
    return _row(row)


def all_locations(ledger, kinds=None):
    """Every location (of these kinds), lanes first, then doors, weigh bins, scan-only bins; by unit."""
    where, args = "", []
    if kinds:
        where = " WHERE l.kind IN (%s)" % ", ".join("?" * len(kinds))
        args = list(kinds)
    return [_row(row) for row in ledger.db.execute(_QUERY + where + _ORDER, args).fetchall()]


def units(ledger):
    """{(kind, unit number): location id} for the cabinet's doors, lanes and weigh bins."""
    return {(loc.kind, loc.unit): loc.id for loc in all_locations(ledger, ACTUATED)}


def _row(row):
    if row is None:
        return None
    values = list(row)
    values[11] = bool(values[11])
    return Location(*values)
