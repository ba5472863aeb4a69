"""What a commissioning walk finds, unit by unit: a Check, passed or failed, and the words shared by the
walk, the report and the command."""
from dataclasses import dataclass
from typing import Optional

PASSED, FAILED = "passed", "failed"
PARTS = ("doors", "lanes", "bins")


class CommissioningError(Exception):
    """Commissioning cannot start or go on (no cabinet, port busy, no answer from the installer)."""


@dataclass
class Check:
    unit: str                         # door, lane or bin
    number: int                       # the firmware's unit number
    location: Optional[str]           # the layout's location id (None: not in the layout)
    status: str                       # passed or failed
    message: str                      # what was seen, and for a failure what to check
    counts_per_g: Optional[int] = None    # a bin's calibration factor, as the firmware computed it
    reading_mg: Optional[int] = None      # a bin's reading with the reference weight on


def grams(mg):
    return "%.1f g" % (mg / 1000)
