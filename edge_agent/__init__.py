"""The edge agent that runs on the cabinet's Raspberry Pi.

The cabinet link is split so its logic is testable without a port or a clock:
`link_core.LinkCore` (sans-IO protocol engine) and `link_ops` (request and actuation state machines on top
of it) take time as an argument; `serial_link.CabinetLink` is the thin threaded driver over pyserial.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("smart-locker")
except _metadata.PackageNotFoundError:     # running from a checkout that was never installed
    __version__ = "0+unknown"
