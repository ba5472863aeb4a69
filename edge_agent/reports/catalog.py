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
        return sorted(ids, key=lambda k: (k[0], int(k[1:]) if k[1:].isdigit() else 0))
