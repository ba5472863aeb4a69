"""Names and meanings of the link's numeric codes, read from the message catalogue (firmware/messages.py)."""
from firmware import messages as M


def _by_prefix(prefix, keep_prefix=False):
    names = {}
    for name, value in vars(M).items():
        if name.startswith(prefix) and isinstance(value, int):
            names[value] = name if keep_prefix else name[len(prefix):]
    return names


KIND_NAMES = {getattr(M, name): name for name in (
    "HELLO", "PING", "STATUS", "READ_BIN", "QUERY", "ACK_EVENT",
    "UNLOCK", "VEND", "TARE", "CALIBRATE", "CLEAR_LANE", "HOME_CHECK")}
STATUS_NAMES = {M.OK: "OK", **_by_prefix("E_", keep_prefix=True)}
RESULT_NAMES = _by_prefix("R_")                 # VENDED, NO_DROP, JAMMED, OPENED, ...
EVENT_NAMES = _by_prefix("EV_")                 # BOOT, DOOR_OPENED, CMD_DONE, ...
RESET_CAUSE_NAMES = _by_prefix("RESET_")
FAULT_NAMES = _by_prefix("F_")
PHASE_NAMES = {M.RUNNING: "RUNNING", M.DONE: "DONE"}

# What each status tells the caller, above all whether anything moved (docs/protocol.md, "Status codes").
STATUS_MEANINGS = {
    M.OK: "accepted",
    M.E_UNKNOWN_KIND: "request kind not known to this firmware",
    M.E_BAD_ARGS: "wrong payload length or a value out of range: nothing done",
    M.E_NO_SUCH_UNIT: "door, lane or bin number not in the cabinet config: nothing done",
    M.E_BUSY: "another coil or motor is energised, or the unit is mid-command: nothing done",
    M.E_WRONG_BOOT: "the boot id is not this boot's: the firmware rebooted, nothing done by this frame",
    M.E_ID_REUSED: "this command id was used for a different command: nothing done",
    M.E_STALE_ID: "the id is at or below the replay table's forgotten-id floor: nothing done now, earlier "
                  "outcome unknown",
    M.E_LANE_DISABLED: "the lane jammed earlier; CLEAR_LANE first: nothing done",
    M.E_NOT_CALIBRATED: "the bin has no tare or calibration yet: nothing done",
    M.E_UNKNOWN_ID: "QUERY for an id this boot never accepted",
    M.E_COOLDOWN: "the solenoid's off-time is not over: nothing done",
    M.E_SENSOR: "a sensor reads impossibly (drop beam already broken, bin not ready): nothing done",
}


def kind_name(kind):
    return KIND_NAMES.get(kind, "KIND_0x%02X" % kind)


def status_name(code):
    return STATUS_NAMES.get(code, "E_%d" % code)


def status_meaning(code):
    return STATUS_MEANINGS.get(code, "status code not known to this agent")


def result_name(code):
    return RESULT_NAMES.get(code, "RESULT_%d" % code)


def event_name(ev_type):
    return EVENT_NAMES.get(ev_type, "EVENT_%d" % ev_type)
