"""The units a cabinet has (its doors, lanes and weigh bins), read from the cabinet's config file: the TOML an
installer writes and flashes (examples/cabinet.toml, docs/config.md). Read through the firmware's own
`normalize`, so a file the firmware would refuse is refused here too, with its words.

`locker-agent import locations FILE --cabinet CABINET.toml` uses it so a location cannot name a unit the
cabinet does not have (lane 250 on a 12-lane cabinet)."""
import tomllib
from dataclasses import dataclass

from firmware.config import ConfigError, normalize

KINDS = ("door", "lane", "bin")


class CabinetFileError(ValueError):
    """The cabinet file cannot be read or the firmware would refuse it."""


@dataclass(frozen=True)
class CabinetUnits:
    path: str
    units: dict            # "door" / "lane" / "bin" -> frozenset of unit numbers

    def describe(self, kind):
        """'lanes: 1-12' or 'it has no lanes'."""
        numbers = sorted(self.units[kind])
        if not numbers:
            return "it has no %ss" % kind
        spans = []
        for number in numbers:
            if spans and number == spans[-1][1] + 1:
                spans[-1][1] = number
            else:
                spans.append([number, number])
        return "%ss: %s" % (kind, ", ".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in spans))


def read_cabinet_units(path):
    try:
        with open(path, "rb") as handle:
            raw = tomllib.loads(handle.read().decode("utf-8"))
    except OSError as e:
        raise CabinetFileError("cannot read the cabinet file %s: %s" % (path, e.strerror or e)) from None
    except (ValueError, UnicodeDecodeError) as e:   # TOMLDecodeError is a ValueError
        raise CabinetFileError("%s is not valid TOML: %s" % (path, e)) from None
    try:
        config = normalize(raw)
    except ConfigError as e:
        raise CabinetFileError("%s: %s" % (path, e)) from None
    return CabinetUnits(str(path), {
        "door": frozenset(d["number"] for d in config["doors"]),
        "lane": frozenset(u["number"] for u in config["lanes"]["units"]),
        "bin": frozenset(u["number"] for u in config["bins"]["units"])})
