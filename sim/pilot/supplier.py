"""The supplier side of a pilot on the hub: one tenant (the supplier, Acme Industrial of the pilot's catalog),
its customers, their sites, the cabinets at them, the routes its drivers drive and who gets the alert
e-mails. Made from (customers, cabinets, seed) alone, so the same numbers give the same set-up.

- Cabinets go to customers as evenly as can be (the first customers get one more), and a customer's
  cabinets to at most two sites (a plant and a warehouse, say).
- Sites go onto routes in turn, at most two routes: "north" on Tuesdays and Fridays, "south" on Mondays and
  Thursdays. A route's stops are its sites, an hour apart from 08:00; every cabinet's route driver (the
  pilot's driver.py) visits at its stop's hour on the route's weekdays.
- Alert e-mails: each customer's maintenance lead for their own sites, the supplier's service desk for every
  site, its operations manager when an alert is not acknowledged in time."""
from dataclasses import dataclass, field
from typing import List

from sim.pilot.fleet import cabinet_key

TENANT, TENANT_NAME = "acme", "Acme Industrial"
SUPPLIER_DOMAIN = "acme-supply.example"
SERVICE_DESK = "service@" + SUPPLIER_DOMAIN
OPERATIONS = "operations@" + SUPPLIER_DOMAIN
CUSTOMERS = [("northwind", "Northwind Foods"), ("contoso", "Contoso Metalworks"), ("fabrikam", "Fabrikam Plastics"),
             ("tailspin", "Tailspin Aero"), ("wingtip", "Wingtip Packaging"), ("litware", "Litware Robotics")]
SITE_KINDS = [("plant", "plant"), ("warehouse", "warehouse")]
ROUTES = [("north", "North loop", "tue,fri", "ray.driver@" + SUPPLIER_DOMAIN, "Ray Driver"),
          ("south", "South loop", "mon,thu", "sam.driver@" + SUPPLIER_DOMAIN, "Sam Driver")]
FIRST_STOP_HOUR = 8
MAX_CUSTOMERS = len(CUSTOMERS)
MAX_CABINETS = 99


@dataclass
class Cabinet:
    id: str
    customer: str
    site: str
    seed: int
    route: str
    visits: str                # the route driver's visits at this cabinet, as plan.parse_schedule reads them

    @property
    def key(self):
        return cabinet_key(self.id)


@dataclass
class Site:
    id: str
    name: str
    customer: str              # the customer's id (the hub's sites.customer holds the customer's name)
    cabinets: List[str] = field(default_factory=list)


@dataclass
class Route:
    id: str
    name: str
    weekdays: str              # mon,thu
    driver: str                # the driver's web user id (an e-mail)
    driver_name: str
    stops: List[str] = field(default_factory=list)       # site ids, in the order driven
    first_stop_hour: int = FIRST_STOP_HOUR

    def stop_hour(self, index):
        return self.first_stop_hour + index

    @property
    def depart_hour(self):
        """The van leaves the branch an hour before its first stop."""
        return max(0, self.first_stop_hour - 1)


@dataclass
class Customer:
    id: str
    name: str
    contact: str               # who gets this customer's alert e-mails
    sites: List[str] = field(default_factory=list)


@dataclass
class Supplier:
    tenant: str
    name: str
    customers: List[Customer]
    sites: List[Site]
    cabinets: List[Cabinet]
    routes: List[Route]
    service_desk: str = SERVICE_DESK
    operations: str = OPERATIONS

    def customer(self, customer_id):
        return next(c for c in self.customers if c.id == customer_id)

    def site(self, site_id):
        return next(s for s in self.sites if s.id == site_id)


def plan_supplier(customers=3, cabinets=10, seed=1):
    """The set-up for that many customers and cabinets; cabinet i has the pilot seed seed + i."""
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ValueError("--customers must be between 1 and %d, got %d" % (MAX_CUSTOMERS, customers))
    if not customers <= cabinets <= MAX_CABINETS:
        raise ValueError("--cabinets must be between --customers (%d) and %d, got %d"
                         % (customers, MAX_CABINETS, cabinets))
    base, extra = divmod(cabinets, customers)
    made_customers, sites, numbered = [], [], 0
    cabinets_of_site = {}
    for i, (cid, name) in enumerate(CUSTOMERS[:customers]):
        n = base + (1 if i < extra else 0)
        customer = Customer(cid, name, "maintenance@%s.example" % cid)
        n_sites = 1 if n < 3 else 2
        for s in range(n_sites):
            kind, words = SITE_KINDS[s]
            site = Site("%s-%s" % (cid, kind), "%s %s" % (name, words), cid)
            share = n // n_sites + (1 if s < n % n_sites else 0)
            for _ in range(share):
                numbered += 1
                site.cabinets.append("FLEET-%03d" % numbered)
            customer.sites.append(site.id)
            sites.append(site)
            cabinets_of_site[site.id] = site.cabinets
        made_customers.append(customer)
    routes = [Route(rid, name, days, driver, driver_name)
              for rid, name, days, driver, driver_name in ROUTES[:min(len(ROUTES), len(sites))]]
    for i, site in enumerate(sites):
        routes[i % len(routes)].stops.append(site.id)
    made_cabinets = []
    for route in routes:
        for index, site_id in enumerate(route.stops):
            site = next(s for s in sites if s.id == site_id)
            for cabinet in site.cabinets:
                made_cabinets.append(Cabinet(cabinet, site.customer, site.id, seed + int(cabinet[-3:]) - 1, route.id,
                                             "%s@%d" % (route.weekdays, route.stop_hour(index))))
    made_cabinets.sort(key=lambda c: c.id)
    return Supplier(TENANT, TENANT_NAME, made_customers, sites, made_cabinets, routes)


def single_cabinet(seed, schedule, cabinet_id="PILOT-1"):
    """The set-up for one pilot cabinet (`locker-sim pilot --hub`): one customer, one site, one route whose
    driver comes on the pilot's schedule (plan.Schedule)."""
    from sim.pilot.plan import DAY_NAMES
    supplier = plan_supplier(1, 1, seed)
    route, site, cabinet = supplier.routes[0], supplier.sites[0], supplier.cabinets[0]
    route.weekdays = ",".join(DAY_NAMES[d] for d in sorted(schedule.days))
    route.first_stop_hour = schedule.hour
    site.cabinets = [cabinet_id]
    cabinet.id, cabinet.seed, cabinet.visits = cabinet_id, seed, str(schedule)
    return supplier


def register(conn, supplier):
    """The tenant, its sites (with their customer) and cabinets on the hub's books (hub/registry.py)."""
    from hub import registry
    with conn.transaction():
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     [supplier.tenant, supplier.name])
        for site in supplier.sites:
            conn.execute("INSERT INTO sites (tenant, id, name, customer) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT (tenant, id) DO UPDATE SET name = EXCLUDED.name, customer = EXCLUDED.customer",
                         [supplier.tenant, site.id, site.name, supplier.customer(site.customer).name])
    for cabinet in supplier.cabinets:
        registry.add_cabinet(conn, supplier.tenant, cabinet.site, cabinet.id, cabinet.key)


def describe(supplier):
    """Lines saying what the supplier set up (the summary's head)."""
    lines = ["supplier %s (tenant %s): %d customers, %d sites, %d cabinets, %d routes" % (
        supplier.name, supplier.tenant, len(supplier.customers), len(supplier.sites), len(supplier.cabinets),
        len(supplier.routes))]
    for customer in supplier.customers:
        lines.append("  customer %s (%s): %s" % (customer.name, customer.id, "; ".join(
            "%s: %s" % (s, ", ".join(supplier.site(s).cabinets)) for s in customer.sites)))
    for route in supplier.routes:
        lines.append("  route %s (%s), driver %s: %s" % (route.id, route.weekdays, route.driver, ", ".join(
            "%s at %02d:00" % (s, route.stop_hour(i)) for i, s in enumerate(route.stops))))
    return lines
