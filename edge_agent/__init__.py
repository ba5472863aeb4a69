"""The edge agent that runs on the cabinet's Raspberry Pi, in layers (docs/decisions/0021-where-code-goes.md):

    link, badge      the cabinet link (only link/ imports firmware) and the badge readers
    ledger           the SQLite ledger and what it keeps in step (locations, alerts, min/max)
    rules            who may do what: roles, permissions, access, the one Refusal
    flows, cloud,    what moves stock (every actuation through flows/actuation.py); cloud sync; reports
    reports
    app              the agent: its jobs on one worker thread, sessions
    api, cli         the local API the screen uses; locker-agent (which also starts the API)

Each layer imports only from those above it in this list; tests/test_layers.py keeps it so.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("smart-locker")
except _metadata.PackageNotFoundError:     # running from a checkout that was never installed
    __version__ = "0+unknown"
