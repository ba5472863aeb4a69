# The cabinet link's message catalogue: kinds, payload layouts, status and result codes.
# Shared by firmware and agent; docs/protocol.md is the prose version of this file and a test keeps them equal.
# All integers are big-endian. A response has kind = request kind | RESPONSE and echoes the request's seq.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

PROTOCOL_VERSION = const(2)   # 2: EV_DROP added (docs/decisions/0018)

RESPONSE = const(0x80)

# The line rate both ends take unless configured ([link] baud, [agent] baud), and the one for long or noisy
# runs; 8N1 either way (docs/decisions/0051-link-line-rate.md).
LINE_BAUD = const(921600)
LONG_RUN_BAUD = const(115200)

# Host -> firmware requests.
HELLO = const(0x01)       # ()                                   -> HELLO_R
PING = const(0x02)        # (0 to PING_MAX bytes, echoed)        -> status + same bytes
STATUS = const(0x03)      # ()                                   -> STATUS_R
READ_BIN = const(0x04)    # bin:u8                               -> status + BIN_R
QUERY = const(0x05)       # cmd_id:u32                           -> status + CMD_R
ACK_EVENT = const(0x06)   # evt_seq:u8                           -> no response (see EVENT below)
UNLOCK = const(0x10)      # ACT + door:u8 pulse_ms:u16           -> status + CMD_R
VEND = const(0x11)        # ACT + lane:u8                        -> status + CMD_R
TARE = const(0x12)        # ACT + bin:u8                         -> status + CMD_R
CALIBRATE = const(0x13)   # ACT + bin:u8 known_mg:u32            -> status + CMD_R
CLEAR_LANE = const(0x14)  # ACT + lane:u8                        -> status + CMD_R
HOME_CHECK = const(0x15)  # ACT + lane:u8                        -> status + CMD_R

# Every other request has one payload length (its layout above); any other length is E_BAD_ARGS. A PING echo
# and its status byte must fit the codec's 200-byte payload cap, so a longer PING is E_BAD_ARGS too.
PING_MAX = const(199)

# Firmware -> host, unsolicited; seq is the event sequence (starts at 0 every boot, wraps at 256).
# Events go one at a time: the firmware sends the oldest unacknowledged event, again every EVENT_RESEND_MS,
# until the host answers ACK_EVENT with its seq; then the next one goes at once. The host delivers an event
# when its seq is the one expected (or it is EV_BOOT), and re-acknowledges duplicates.
EVENT = const(0x40)
EVENT_RESEND_MS = const(250)
EVENT_QUEUE = const(16)

# Every actuation starts with the firmware's boot id (so nothing sent to an earlier boot can actuate after a
# reboot) and the host's command id (so a replay is answered, never re-run).
ACT_FMT = ">II"
ACT_LEN = const(8)
# Command ids (actuations and QUERY) are below 2**30, so the firmware handles them as small ints; a larger one
# is E_BAD_ARGS and leaves no trace (one stray frame can never raise the forgotten-id floor past every id).
CMD_ID_MAX = const(0x3FFFFFFF)
ACTUATION_ARGS = {
    UNLOCK: ">BH",
    VEND: ">B",
    TARE: ">B",
    CALIBRATE: ">BI",
    CLEAR_LANE: ">B",
    HOME_CHECK: ">B",
}

# Response bodies (after the leading status byte).
HELLO_R = ">BIBIBBB"   # protocol, boot_id, reset_cause, uptime_ms, doors, lanes, bins; then firmware version text
CMD_R = ">IBBBi"       # cmd_id, kind, phase, result, detail
BIN_R = ">BiiB"        # bin, weight_mg, raw (tared counts), flags (BIN_STABLE | BIN_CALIBRATED)
# STATUS_R: events_lost:u8 doors:u8 lanes:u8 bins:u8, then one state byte per door, one per lane,
# and per bin: state:u8 weight_mg:i32.

# Status codes: the first payload byte of every response.
OK = const(0)
E_UNKNOWN_KIND = const(1)     # request kind not known to this firmware
E_BAD_ARGS = const(2)         # payload has the wrong length or a value out of range
E_NO_SUCH_UNIT = const(3)     # door, lane or bin number not in the cabinet config
E_BUSY = const(4)             # another coil or motor is energised: nothing done, send the same id again later
E_WRONG_BOOT = const(5)       # boot id is not this boot's: the firmware rebooted, nothing done
E_ID_REUSED = const(6)        # this command id was used for a different command: nothing done
E_STALE_ID = const(7)         # id at or below the forgotten-id floor and not in the table: nothing done, outcome
                              # unknown here (QUERY says so too)
E_LANE_DISABLED = const(8)    # lane jammed earlier; clear it first
E_NOT_CALIBRATED = const(9)   # bin has no calibration yet
E_UNKNOWN_ID = const(10)      # QUERY for an id above the floor that this boot never accepted
E_COOLDOWN = const(11)        # solenoid off-time not over yet: nothing done, send again later
E_SENSOR = const(12)          # a sensor reads impossible (drop beam blocked before a vend, bin not ready)

# Command phases in CMD_R.
RUNNING = const(0)
DONE = const(1)

# Results in CMD_R (meaningful when phase is DONE).
R_OK = const(0)           # tare, calibrate, clear, home check passed
R_OPENED = const(1)       # door: opened after the unlock pulse; detail = ms from pulse to open
R_NOT_OPENED = const(2)   # door: pulse given, door stayed shut within the open window
R_VENDED = const(3)       # lane: drop seen; detail = turns made
R_NO_DROP = const(4)      # lane: every turn finished at home, nothing dropped (empty or hung product)
R_JAMMED = const(5)       # lane: home not reached in time; motor off, lane disabled; detail = JAM_* reason
R_ABORTED = const(6)      # stopped by link loss or a fault; detail = 1 when a drop was seen before the stop
R_FAILED = const(7)       # tare/calibrate/home check could not complete; detail says why

# Jam reasons in detail.
JAM_NEVER_LEFT_HOME = const(1)
JAM_NEVER_RETURNED = const(2)

# Reasons for R_FAILED detail.
FAIL_UNSTABLE = const(1)      # the bin never settled
FAIL_NO_CHANGE = const(2)     # calibration weight made no measurable change
FAIL_NOT_HOME = const(3)      # home check: lane not at home

# Unit states in STATUS_R.
DOOR_CLOSED = const(0)
DOOR_OPEN = const(1)
DOOR_UNLOCKING = const(2)     # coil energised or open window running
LANE_IDLE = const(0)
LANE_RUNNING = const(1)
LANE_DISABLED = const(2)
BIN_STABLE = const(1)
BIN_CALIBRATED = const(2)

# Event types: first byte of an EVENT payload.
EV_BOOT = const(1)            # boot_id:u32 reset_cause:u8
EV_DOOR_OPENED = const(2)     # door:u8 authorised:u8
EV_DOOR_CLOSED = const(3)     # door:u8 open_ms:u32
EV_DOOR_LEFT_OPEN = const(4)  # door:u8 open_s:u16
EV_DOOR_FORCED = const(5)     # door:u8
EV_BIN_CHANGED = const(6)     # bin:u8 weight_mg:i32 delta_mg:i32
EV_CMD_DONE = const(7)        # CMD_R
EV_FAULT = const(8)           # code:u8 detail:i32
EV_DROP = const(9)            # lane:u8 cmd_id:u32: the drop beam saw an item fall during that vend (sent at once)
EVENT_FMT = {
    EV_BOOT: ">IB",
    EV_DOOR_OPENED: ">BB",
    EV_DOOR_CLOSED: ">BI",
    EV_DOOR_LEFT_OPEN: ">BH",
    EV_DOOR_FORCED: ">B",
    EV_BIN_CHANGED: ">Bii",
    EV_CMD_DONE: CMD_R,
    EV_FAULT: ">Bi",
    EV_DROP: ">BI",
}

# Fault codes in EV_FAULT.
F_LINK_LOST = const(1)        # no frame from the host for LINK_TIMEOUT_MS: every output turned off
F_EXCEPTION = const(2)        # the main loop raised: every output off, the board resets
F_OUTPUT_CAPPED = const(3)    # an output reached its hard time cap and was forced off; detail = pin
F_EVENTS_LOST = const(4)      # the event queue overflowed; detail = events dropped since boot (re-read STATUS)

# Reset causes in HELLO_R and EV_BOOT.
RESET_POWER_ON = const(0)
RESET_WATCHDOG = const(1)
RESET_HARD = const(2)
RESET_SOFT = const(3)
RESET_OTHER = const(4)

LINK_TIMEOUT_MS = const(2000)  # host silence after which the firmware turns every output off
