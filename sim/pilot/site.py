"""The site a pilot starts from: the cabinet (as a raw config dict with its [sim] table), the catalog with
each SKU's demand rate, the people, the role rules and every location's min/max and starting stock. Written
as the CSV files an installer imports (docs/admin.md) and imported into the ledger through the same
importers, so the pilot's ledger is set up exactly as a real one is.

The cabinet for N locations: up to 40 spiral lanes (a 5 x 8 motor matrix), 3 locker doors and 2 weigh bins
on a Pico (that uses every usable GPIO), and scan-only bins for the rest. The default 60 is 40 lanes,
3 doors, 2 bins and 15 scan-only bins."""
import contextlib
import csv
import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from firmware.config import normalize

SUPPLIER = "Acme Industrial"
# Pico pins for the biggest cabinet: uart 0-1, doors 2-4 / 6-8, lanes rows + cols, home 17, drop 18,
# HX711 sck 19, dout 20-21, LED 25. Every usable GPIO is taken.
LANE_ROWS = [10, 11, 12, 5, 9]
LANE_COLS = [13, 14, 15, 16, 22, 26, 27, 28]
MAX_LANES = len(LANE_ROWS) * len(LANE_COLS)
MAX_DOORS, MAX_BINS = 3, 2
MIN_LOCATIONS, MAX_LOCATIONS = 4, 1000

# What one location physically holds.
CAPACITY = {"lane": 15, "door": 4, "bin": 300, "scan": 400}
# Weekday takes per SKU by demand class (low, high); a take is one or more units.
RATES = {"fast": (1.5, 2.5), "medium": (0.6, 1.5), "slow": (0.1, 0.4), "critical": (0.03, 0.1)}
# Cover the pilot's min/max are sized for: twice-weekly visits leave at most ~3 working days between them.
PILOT_COVER_DAYS = 3.0
PILOT_GAP_DAYS = 4            # the longest gap of the default schedule (Friday to Tuesday): PILOT_COVER_DAYS
WEEK_WORKDAYS = 5.4           # Monday to Friday and a little weekend work (demand.WEEKDAY_FACTORS)
SAFETY_Z = 1.65               # ~95 % cover of the demand over the cover period

# (description, category, unit cost, units per take (lo, hi), class, criticality, needs work order,
#  needs approval, refill pack); sizes are appended to fill more locations.
LANE_ITEMS = [
    ("Nitrile gloves, large (pair)", "ppe", "0.45", (1, 2), "fast", "low", False, False, 5),
    ("Nitrile gloves, medium (pair)", "ppe", "0.45", (1, 2), "fast", "low", False, False, 5),
    ("Earplugs (pair)", "ppe", "0.30", (1, 2), "fast", "low", False, False, 5),
    ("Safety glasses, clear", "ppe", "3.10", (1, 1), "medium", "low", False, False, 2),
    ("Dust mask FFP2", "ppe", "1.90", (1, 2), "medium", "low", False, False, 5),
    ("Cut-resistant gloves (pair)", "ppe", "6.50", (1, 1), "medium", "low", False, False, 2),
    ("Cutting disc 125 mm", "abrasives", "2.40", (1, 2), "fast", "low", False, False, 5),
    ("Flap disc 125 mm", "abrasives", "4.80", (1, 1), "medium", "low", False, False, 2),
    ("HSS drill bit %d mm", "cutting", "4.20", (1, 1), "medium", "medium", True, False, 1),
    ("Carbide insert CNMG 120408 (box of 10)", "cutting", "61.00", (1, 1), "slow", "high", True, True, 1),
    ("Utility knife blades (10)", "tools", "3.50", (1, 1), "medium", "low", False, False, 2),
    ("AA batteries (4)", "electrical", "3.20", (1, 1), "medium", "low", False, False, 2),
    ("Fuse %d A (5)", "electrical", "2.80", (1, 1), "slow", "medium", True, False, 1),
    ("Lubricant spray 400 ml", "chemicals", "7.80", (1, 1), "medium", "low", False, False, 2),
    ("Contact cleaner 400 ml", "chemicals", "9.20", (1, 1), "slow", "low", False, False, 1),
    ("Thread-locker %d ml", "chemicals", "12.50", (1, 1), "slow", "medium", True, False, 1),
    ("Marking paint, %d", "consumables", "6.20", (1, 1), "slow", "low", False, False, 1),
]
DOOR_ITEMS = [
    ("Ball bearing 62%02d-2RS", "spares", "18.50", (1, 1), "critical", "high", True, False, 1),
    ("V-belt SPZ %d", "spares", "24.00", (1, 1), "critical", "high", True, False, 1),
    ("Proximity sensor M18 (%d)", "spares", "45.00", (1, 1), "critical", "high", True, True, 1),
]
BIN_ITEMS = [   # piece weight in mg follows the take range
    ("Socket screw M8x%d (pc)", "fasteners", "0.12", (2, 8), "fast", "low", False, False, 50, 12500),
    ("Hex nut M8, size %d (pc)", "fasteners", "0.05", (2, 8), "medium", "low", False, False, 50, 5200),
]
SCAN_ITEMS = [
    ("Cable ties 200 mm (bag of 100), %d", "consumables", "4.90", (1, 1), "medium", "low", False, False, 5),
    ("Shop rags (kg), grade %d", "consumables", "3.40", (1, 2), "medium", "low", False, False, 5),
    ("Absorbent pads (10), type %d", "consumables", "8.90", (1, 1), "slow", "low", False, False, 2),
]

# (id, name, role, department, cost center, shift): shifts are day 06-14, late 14-22, night 22-06.
PEOPLE = [
    ("T100", "Ana Technician", "technician", "Maintenance", "CC-410", "day"),
    ("T101", "Ben Fitter", "technician", "Maintenance", "CC-410", "day"),
    ("T102", "Cleo Electrician", "technician", "Maintenance", "CC-410", "day"),
    ("T103", "Dan Millwright", "technician", "Maintenance", "CC-410", "day"),
    ("T104", "Eva Operator", "technician", "Production", "CC-420", "day"),
    ("T105", "Finn Operator", "technician", "Production", "CC-420", "day"),
    ("T106", "Gus Setter", "technician", "Production", "CC-420", "day"),
    ("T107", "Hana Facilities", "technician", "Facilities", "CC-430", "day"),
    ("T108", "Ivo Technician", "technician", "Maintenance", "CC-410", "late"),
    ("T109", "Jo Operator", "technician", "Production", "CC-420", "late"),
    ("T110", "Kai Setter", "technician", "Production", "CC-420", "late"),
    ("T111", "Lea Facilities", "technician", "Facilities", "CC-430", "late"),
    ("T112", "Max Technician", "technician", "Maintenance", "CC-410", "night"),
    ("T113", "Nia Operator", "technician", "Production", "CC-420", "night"),
]
SUPERVISOR = ("S200", "Dee Supervisor", "supervisor", "Maintenance", "CC-400")
DRIVER = ("R300", "Ray Driver", "route_driver", SUPPLIER)
TECH_CATEGORIES = ("ppe", "abrasives", "cutting", "tools", "electrical", "chemicals", "consumables", "spares",
                   "fasteners")


@dataclass
class Location:
    id: str
    kind: str                  # lane, door, bin, scan
    unit: Optional[int]        # lane / door / bin number on the cabinet link; None for scan-only
    sku: str
    description: str
    category: str
    unit_cost_cents: int
    criticality: str
    rate: float                # weekday takes (demand.py scales it by weekday, hour and bursts)
    take: tuple                # units per take (lo, hi)
    needs_work_order: bool
    needs_approval: bool
    pack: int
    capacity: int
    minimum: int = 0
    maximum: int = 0
    par: int = 0               # the baseline's weekly top-up level
    piece_mg: Optional[int] = None

    @property
    def critical(self):
        return self.criticality == "high"

    @property
    def units_per_day(self):
        lo, hi = self.take
        return self.rate * (lo + hi) / 2


@dataclass
class Site:
    locations: List[Location]
    cabinet_config: dict       # the raw cabinet config, [sim] table included
    people: list = field(default_factory=lambda: list(PEOPLE))

    def location(self, location_id):
        for loc in self.locations:
            if loc.id == location_id:
                return loc
        raise KeyError(location_id)

    @property
    def counts(self):
        out = {"lane": 0, "door": 0, "bin": 0, "scan": 0}
        for loc in self.locations:
            out[loc.kind] += 1
        return out


def badge_of(user_id):
    """Each person's badge UID (8 hex digits, as a MIFARE Classic card reads): the pilot's people badge in."""
    return "04%06X" % (int.from_bytes(user_id.encode(), "big") % (1 << 24))


def hardware_for(locations):
    """(doors, lanes, bins, scan) for a cabinet of this many locations."""
    if not MIN_LOCATIONS <= locations <= MAX_LOCATIONS:
        raise ValueError("--locations must be between %d and %d, got %d" % (MIN_LOCATIONS, MAX_LOCATIONS, locations))
    doors = min(MAX_DOORS, max(1, locations // 10))
    bins = min(MAX_BINS, max(1, locations // 10))
    scan = max(locations - doors - bins - MAX_LANES, locations // 12)
    return doors, locations - doors - bins - scan, bins, scan


def cabinet_config(doors, lanes, bins):
    """A raw cabinet config (as read from TOML) with that many units and no stock loaded yet."""
    raw = {
        "cabinet": {"name": "Pilot cabinet", "board": "pico"},
        "link": {"baud": 115200},
        "door": [{"number": n} for n in range(1, doors + 1)],
        "lane": [{"number": n} for n in range(1, lanes + 1)],
        "bin": [{"number": n, "report_mg": 1000} for n in range(1, bins + 1)],
        "scale": {"window": 8, "stable_ms": 400},
        # People close a door themselves in the pilot (station.py), so doors are left open by the model.
        "sim": {"door_leave_open": True, "lane_items": 0, "bin_pieces": 0},
    }
    if lanes:
        raw["lane_matrix"] = {"turn_ms": 2000, "retry_turns": 1, "settle_ms": 600,
                              "rows": LANE_ROWS, "cols": LANE_COLS}
    normalize(raw)             # refuse a cabinet the firmware would refuse, here and now
    return raw


def units_of(raw):
    """(doors, lanes, bins) numbers of a raw cabinet config (an installer's --config file)."""
    config = normalize(raw)
    return ([d["number"] for d in config["doors"]], [u["number"] for u in config["lanes"]["units"]],
            [u["number"] for u in config["bins"]["units"]])


def _sized(description, index, base):
    return description % (base + index) if "%" in description else description


def _cover(loc, days):
    """Units to hold for `days` working days at a service level of SAFETY_Z: the mean plus SAFETY_Z
    standard deviations of Poisson takes (of lo..hi units each) whose daily rate itself varies (gamma)."""
    from sim.pilot.demand import GAMMA_SHAPE
    lo, hi = loc.take
    size = (lo + hi) / 2
    size_sq = sum(k * k for k in range(lo, hi + 1)) / (hi - lo + 1)
    mean = loc.rate * size * days
    var = loc.rate * days * size_sq + mean * mean / (GAMMA_SHAPE * days)
    return mean, math.ceil(mean + SAFETY_Z * math.sqrt(var))


def _min_max(loc, cover_days=PILOT_COVER_DAYS):
    """Pilot min/max: min covers the demand until the next visit with safety stock, max adds one more cover
    period of average demand; both within what the location holds. The baseline's par covers a week with
    the same safety, within what the location holds."""
    mean, minimum = _cover(loc, cover_days)
    maximum = minimum + math.ceil(mean)
    _, par = _cover(loc, WEEK_WORKDAYS)
    cap = loc.capacity
    loc.maximum = max(1, min(cap, maximum))
    loc.minimum = max(1, min(loc.maximum - 1, minimum)) if loc.maximum > 1 else 1
    loc.par = max(1, min(cap, par))


def par_for(loc, gap_days):
    """The baseline's top-up level for visits at most `gap_days` apart: the demand of that many days
    (working days: WEEK_WORKDAYS a week) with the same safety stock, within what the location holds.
    A weekly visit is loc.par."""
    if gap_days >= 7:
        return loc.par
    _, par = _cover(loc, gap_days * WEEK_WORKDAYS / 7)
    return max(1, min(loc.capacity, par))


def build_site(seed, locations=60, raw_config=None, gap_days=PILOT_GAP_DAYS):
    """The site for a seed: with raw_config, that cabinet's doors, lanes and bins (scan-only bins fill up to
    `locations`); otherwise a cabinet sized by hardware_for(locations). gap_days: the longest gap between
    the pilot driver's scheduled visits; min/max cover PILOT_COVER_DAYS working days per PILOT_GAP_DAYS."""
    cover_days = PILOT_COVER_DAYS * gap_days / PILOT_GAP_DAYS
    rng = random.Random("site-%d" % seed)
    if raw_config is None:
        doors, lanes, bins, scan = hardware_for(locations)
        raw = cabinet_config(doors, lanes, bins)
        door_units, lane_units, bin_units = list(range(1, doors + 1)), list(range(1, lanes + 1)), \
            list(range(1, bins + 1))
    else:
        raw = dict(raw_config)
        door_units, lane_units, bin_units = units_of(raw)
        hardware = len(door_units) + len(lane_units) + len(bin_units)
        if hardware == 0:
            raise ValueError("the cabinet config has no doors, lanes or bins")
        scan = max(0, locations - hardware)
        raw["sim"] = dict(raw.get("sim") or {}, door_leave_open=True, lane_items=0, bin_pieces=0)
    out = []
    serial = {"lane": 0, "door": 0, "bin": 0, "scan": 0}

    def add(kind, unit, template, number):
        desc, category, cost, take, klass, criticality, needs_wo, needs_ok, pack = template[:9]
        index = serial[kind]
        serial[kind] += 1
        round_ = index // len(template_list[kind])
        description = _sized(desc, round_, {"lane": 3, "door": 5, "bin": 16, "scan": 1}[kind])
        if "%" not in desc and round_:
            description = "%s (%d)" % (desc, round_ + 1)
        lo, hi = RATES[klass]
        loc = Location(id="%s%d" % (kind[0].upper(), number), kind=kind, unit=unit if kind != "scan" else None,
                       sku="%s-%03d" % (category[:3].upper(), sum(serial.values())), description=description,
                       category=category, unit_cost_cents=int(round(float(cost) * 100)), criticality=criticality,
                       rate=round(rng.uniform(lo, hi), 3), take=take, needs_work_order=needs_wo,
                       needs_approval=needs_ok, pack=pack, capacity=CAPACITY[kind],
                       piece_mg=template[9] if kind == "bin" else None)
        _min_max(loc, cover_days)
        out.append(loc)

    template_list = {"lane": LANE_ITEMS, "door": DOOR_ITEMS, "bin": BIN_ITEMS, "scan": SCAN_ITEMS}
    for i, n in enumerate(lane_units):
        add("lane", n, LANE_ITEMS[i % len(LANE_ITEMS)], n)
    for i, n in enumerate(door_units):
        add("door", n, DOOR_ITEMS[i % len(DOOR_ITEMS)], n)
    for i, n in enumerate(bin_units):
        add("bin", n, BIN_ITEMS[i % len(BIN_ITEMS)], n)
    for i in range(scan):
        add("scan", None, SCAN_ITEMS[i % len(SCAN_ITEMS)], i + 1)
    # What is physically loaded on day one: every location at its max, as the installer fills it.
    sim = raw["sim"]
    sim["lane"] = [{"number": l.unit, "items": l.maximum} for l in out if l.kind == "lane"]
    sim["bin"] = [{"number": l.unit, "pieces": l.maximum, "piece_weight_g": l.piece_mg / 1000}
                  for l in out if l.kind == "bin"]
    return Site(out, raw)


# -- the installer's CSV files and their import -----------------------------------------------------------------
def _csv(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _yes(flag):
    return "yes" if flag else "no"


def site_csvs(site):
    """{name: CSV text} for skus, locations, users, allows."""
    skus = _csv(["part_number", "description", "category", "package_size", "unit_cost", "criticality", "supplier",
                 "ownership", "needs_approval", "needs_work_order"],
                [[l.sku, l.description, l.category, 1, "%d.%02d" % divmod(l.unit_cost_cents, 100), l.criticality,
                  SUPPLIER, "consignment", _yes(l.needs_approval), _yes(l.needs_work_order)]
                 for l in site.locations])
    # capacity: what the location physically holds, as an installer declares it (the hub's min/max review
    # caps its recommendations there).
    locations = _csv(["id", "kind", "unit", "sku", "on_hand", "min", "max", "refill_pack", "piece_weight_mg",
                      "capacity"],
                     [[l.id, l.kind, "" if l.unit is None else l.unit, l.sku, l.maximum, l.minimum, l.maximum,
                       l.pack, l.piece_mg or "", l.capacity] for l in site.locations])
    users = [[p[0], p[1], p[2], p[3], p[4], ""] for p in site.people]
    users.append(list(SUPERVISOR) + [""])
    users.append([DRIVER[0], DRIVER[1], DRIVER[2], "", "", DRIVER[3]])
    users = _csv(["id", "name", "role", "department", "cost_center", "supplier", "badges"],
                 [u + [badge_of(u[0])] for u in users])
    present = {l.category for l in site.locations}
    allows = _csv(["role", "sku", "category"], [["technician", "", c] for c in TECH_CATEGORIES if c in present])
    return {"skus": skus, "locations": locations, "users": users, "allows": allows}


def import_site(ledger, site, directory):
    """Write the site's CSV files into directory/site/ and import them into the ledger with the installer's
    importers. Paths are given relative to `directory` (the counts' reasons name them), so the ledger does
    not depend on where the pilot writes."""
    from edge_agent.rules.csv_io import import_locations, import_role_allows, import_skus, import_users
    directory = Path(directory)
    (directory / "site").mkdir(parents=True, exist_ok=True)
    texts = site_csvs(site)
    for name, text in texts.items():
        (directory / "site" / (name + ".csv")).write_text(text)
    with contextlib.chdir(directory):
        import_skus(ledger, Path("site/skus.csv"))
        import_users(ledger, Path("site/users.csv"))
        import_role_allows(ledger, Path("site/allows.csv"))
        import_locations(ledger, Path("site/locations.csv"))
