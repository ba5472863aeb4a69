"""Who may do what on the hub's web app: one role per person, each a set of capabilities a page asks for
(viewer.require). The supplier's people see every site of their tenant; a customer's people see only the
sites of their customer; a route driver sees only the routes they drive (the routes pages check that)."""

ROLES = ("supplier_admin", "route_driver", "customer_admin", "customer_viewer")
CUSTOMER_ROLES = ("customer_admin", "customer_viewer")

CAPABILITIES = {
    "supplier_admin": frozenset({
        "fleet.view", "routes.view", "routes.edit", "orders.view", "orders.edit", "alerts.view", "alerts.ack",
        "alerts.rules", "minmax.view", "minmax.propose", "reports.view", "users.edit"}),
    "route_driver": frozenset({"routes.view", "alerts.view"}),
    "customer_admin": frozenset({
        "alerts.view", "alerts.ack", "minmax.view", "minmax.approve", "orders.view", "reports.view"}),
    "customer_viewer": frozenset({"alerts.view", "minmax.view", "orders.view", "reports.view"}),
}

ROLE_NAMES = {"supplier_admin": "Supplier admin", "route_driver": "Route driver",
              "customer_admin": "Customer admin", "customer_viewer": "Customer viewer"}


def may(role, capability):
    return capability in CAPABILITIES.get(role, ())
