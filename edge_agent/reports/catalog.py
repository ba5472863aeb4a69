"""The cabinet's catalog as a report reads it: its SKU, location and user rows by key, which locations
lend tools rather than hold stock, and the lookups every part of the report makes on them (description,
ownership, unit cost, department, the stocked locations in cabinet order)."""

NO_DEPARTMENT = "(none)"


class Catalog:
    def __init__(self, db):
        """db: an open ledger's database (ledger.db)."""
        self.skus = {r["part_number"]: r for r in db.query("SELECT * FROM skus")}
        self.locations = {r["id"]: r for r in db.query("SELECT * FROM locations")}
        self.users = {r["id"]: r for r in db.query("SELECT * FROM users")}
        self.tool_locations = ({k for k, r in self.locations.items() if r.get("returnable")}
                               | {r[0] for r in db.execute("SELECT DISTINCT location FROM tool_loans")})

    @classmethod
    def from_rows(cls, skus, locations, users, tool_locations=()):
        """A catalog from rows held elsewhere (the hub's desired state and inventory snapshot): skus keyed by
        part number, locations and users by id, each a dict with the ledger table's columns; a location row
        may also carry `as_of_seq`, the transaction its on_hand was read at (data quality compares the
        replay there)."""
        catalog = cls.__new__(cls)
        catalog.skus, catalog.locations, catalog.users = dict(skus), dict(locations), dict(users)
        catalog.tool_locations = ({k for k, r in catalog.locations.items() if r.get("returnable")}
                                  | set(tool_locations))
        return catalog

    def sku(self, sku):
        """The SKU's row, or {} for a part number the catalog does not know."""
        return self.skus.get(sku) or {}

    def description(self, sku):
        row = self.skus.get(sku)
        return (row["description"] if row else "") or (sku or "")

    def ownership(self, sku):
        row = self.skus.get(sku)
        return row["ownership"] if row else "consignment"

    def unit_cost(self, m):
        """A movement's unit cost: the one recorded on its row, else the SKU's."""
        if m.unit_cost is not None:
            return m.unit_cost
        row = self.skus.get(m.sku)
        return row["unit_cost"] if row else 0

    def department(self, user_id):
        row = self.users.get(user_id)
        return (row["department"] if row else None) or NO_DEPARTMENT

    def stocked_locations(self):
        """Locations holding an SKU for consumption (not tool doors), in cabinet order."""
        ids = [k for k, r in self.locations.items() if r["sku"] and k not in self.tool_locations]
        return sorted(ids, key=_cabinet_order)


def _cabinet_order(location):
    """L2 before L10; a location of a report over several cabinets ("CAB-1/L2") sorts by cabinet first."""
    cabinet, _, short = location.rpartition("/")
    return cabinet, short[:1], int(short[1:]) if short[1:].isdigit() else 0, short
