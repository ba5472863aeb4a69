"""The firmware's wire codes as the host's own names. Only link/ reads firmware.messages (the catalogue both
sides share); every layer above speaks these enums, so a renumbered code changes this file alone. Each is an
IntEnum: it compares equal to the number on the wire, and a number the host does not know stays a number."""
from enum import IntEnum

from firmware import messages as M

CMD_ID_MAX = M.CMD_ID_MAX     # command ids (the ledger's intent seqs) stay at or below this
LINE_BAUD = M.LINE_BAUD       # the link's line rate unless [agent] baud says otherwise (decision 0051)
LONG_RUN_BAUD = M.LONG_RUN_BAUD


class Result(IntEnum):
    """How a finished command ended (CMD_R result)."""
    OK = M.R_OK                   # tare, calibrate, clear lane
    OPENED = M.R_OPENED
    NOT_OPENED = M.R_NOT_OPENED
    VENDED = M.R_VENDED
    NO_DROP = M.R_NO_DROP
    JAMMED = M.R_JAMMED
    ABORTED = M.R_ABORTED         # detail 1: a drop was seen before the stop
    FAILED = M.R_FAILED


class Status(IntEnum):
    """Why the firmware refused a request (the ones the host acts on)."""
    STALE_ID = M.E_STALE_ID
    UNKNOWN_ID = M.E_UNKNOWN_ID


class Jam(IntEnum):
    NEVER_LEFT_HOME = M.JAM_NEVER_LEFT_HOME
    NEVER_RETURNED = M.JAM_NEVER_RETURNED


class BinFailure(IntEnum):
    UNSTABLE = M.FAIL_UNSTABLE
    NO_CHANGE = M.FAIL_NO_CHANGE
    NOT_HOME = M.FAIL_NOT_HOME


class DoorState(IntEnum):
    CLOSED = M.DOOR_CLOSED
    OPEN = M.DOOR_OPEN
    UNLOCKING = M.DOOR_UNLOCKING


class LaneState(IntEnum):
    IDLE = M.LANE_IDLE
    RUNNING = M.LANE_RUNNING
    DISABLED = M.LANE_DISABLED


class BinFlag(IntEnum):
    STABLE = M.BIN_STABLE
    CALIBRATED = M.BIN_CALIBRATED


class Event(IntEnum):
    BOOT = M.EV_BOOT
    DOOR_OPENED = M.EV_DOOR_OPENED
    DOOR_CLOSED = M.EV_DOOR_CLOSED
    DOOR_LEFT_OPEN = M.EV_DOOR_LEFT_OPEN
    DOOR_FORCED = M.EV_DOOR_FORCED
    BIN_CHANGED = M.EV_BIN_CHANGED
    CMD_DONE = M.EV_CMD_DONE
    FAULT = M.EV_FAULT
    DROP = M.EV_DROP


class Fault(IntEnum):
    LINK_LOST = M.F_LINK_LOST
    EXCEPTION = M.F_EXCEPTION
    OUTPUT_CAPPED = M.F_OUTPUT_CAPPED
    EVENTS_LOST = M.F_EVENTS_LOST


def word(enum, value):
    """The host's lower-case word for a code ("open", "disabled"), or "state N" for one it does not know."""
    try:
        return enum(value).name.lower()
    except ValueError:
        return "state %d" % value
