"""Who does what, by role: the one list the agent, its rules and the screen (through /api/state's `may`)
all read. The roles themselves are the ledger's (schema_v1.ROLES)."""
from edge_agent.rules.refusal import Refusal

TAKERS = ("technician", "contractor", "supervisor")
UNRESTRICTED = ("supervisor",)            # no allow list, no limits, no approval needed
REFILLERS = ("route_driver", "supplier_admin", "supervisor", "customer_admin")
SUPPLIER_BOUND = ("route_driver", "supplier_admin")          # only their own supplier's locations
SUPERVISORS = ("supervisor", "customer_admin")                # counts, adjustments, quarantine, lanes
INSTALLERS = ("supervisor", "customer_admin", "supplier_admin")   # health, self-tests, bin calibration

# Each screen area, who may use it, and what someone else is told.
AREAS = {
    "take": (TAKERS, "Your role does not take items."),
    "refill": (REFILLERS, "Refilling is for route drivers and supervisors."),
    "supervise": (SUPERVISORS, "Only a supervisor can do this."),
    "install": (INSTALLERS, "Only a supervisor or an installer can do this."),
}


def capabilities(role):
    """The screen areas a role may use, for /api/state's `may` (the agent still checks every action)."""
    return [area for area, (roles, _) in AREAS.items() if role in roles]


def area_refusal(person, area):
    """None when the person's role may use the area, else the Refusal ('not_allowed') they are shown."""
    roles, words = AREAS[area]
    return None if person.role in roles else Refusal("not_allowed", words)
