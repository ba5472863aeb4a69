"""Typed views of the link's payloads, and the payloads the agent builds.

Every struct layout comes from firmware/messages.py; this module only names the fields.
"""
import struct
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from firmware import messages as M
from edge_agent.link.errors import ProtocolError
from edge_agent.link.names import (
    FAULT_NAMES, PHASE_NAMES, RESET_CAUSE_NAMES, event_name, kind_name, result_name)

class Hello(NamedTuple):
    protocol: int
    boot_id: int
    reset_cause: int
    uptime_ms: int
    doors: int
    lanes: int
    bins: int
    firmware: str

    @property
    def reset_cause_name(self):
        return RESET_CAUSE_NAMES.get(self.reset_cause, "RESET_%d" % self.reset_cause)


@dataclass(frozen=True)
class CommandResult:
    """A command record (CMD_R) and how this agent came to know it.

    via: "answer" (the actuation frame's own answer), "event" (EV_CMD_DONE) or "query" (QUERY).
    replayed: the first answer to the actuation frame was already DONE. For UNLOCK and VEND, which always
    run, that means the record came from the firmware's replay table (the command had run before); a
    command the firmware finishes at once reads True as well.
    """
    cmd_id: int
    kind: int
    phase: int
    result: int
    detail: int
    via: str = "answer"
    replayed: bool = False

    @property
    def done(self):
        return self.phase == M.DONE

    @property
    def kind_name(self):
        return kind_name(self.kind)

    @property
    def phase_name(self):
        return PHASE_NAMES.get(self.phase, "PHASE_%d" % self.phase)

    @property
    def result_name(self):
        return result_name(self.result) if self.done else None


class BinReading(NamedTuple):
    bin: int
    weight_mg: int
    raw: int
    flags: int

    @property
    def stable(self):
        return bool(self.flags & M.BIN_STABLE)

    @property
    def calibrated(self):
        return bool(self.flags & M.BIN_CALIBRATED)


class BinStatus(NamedTuple):
    flags: int
    weight_mg: int


class CabinetStatus(NamedTuple):
    events_lost: int
    doors: tuple      # DOOR_CLOSED / DOOR_OPEN / DOOR_UNLOCKING per door
    lanes: tuple      # LANE_IDLE / LANE_RUNNING / LANE_DISABLED per lane
    bins: tuple       # BinStatus per bin


# Field names for messages.EVENT_FMT; checked against the formats below so the two cannot drift apart.
CMD_FIELDS = ("cmd_id", "kind", "phase", "result", "detail")
EVENT_FIELDS = {
    M.EV_BOOT: ("boot_id", "reset_cause"),
    M.EV_DOOR_OPENED: ("door", "authorised"),
    M.EV_DOOR_CLOSED: ("door", "open_ms"),
    M.EV_DOOR_LEFT_OPEN: ("door", "open_s"),
    M.EV_DOOR_FORCED: ("door",),
    M.EV_BIN_CHANGED: ("bin", "weight_mg", "delta_mg"),
    M.EV_CMD_DONE: CMD_FIELDS,
    M.EV_FAULT: ("code", "detail"),
    M.EV_DROP: ("lane", "cmd_id"),
}
for _type, _fmt in M.EVENT_FMT.items():
    assert len(struct.unpack(_fmt, bytes(struct.calcsize(_fmt)))) == len(EVENT_FIELDS[_type]), _type
assert len(struct.unpack(M.CMD_R, bytes(struct.calcsize(M.CMD_R)))) == len(CMD_FIELDS)


@dataclass(frozen=True)
class Event:
    """One event from the firmware. fields is None when the payload did not match its type's layout."""
    seq: int
    type: int
    name: str
    fields: Optional[dict] = field(default=None, compare=False)
    raw: bytes = b""

    def __getitem__(self, key):
        return self.fields[key]

    @property
    def fault_name(self):
        if self.type == M.EV_FAULT and self.fields:
            return FAULT_NAMES.get(self.fields["code"], "F_%d" % self.fields["code"])
        return None


def _unpack(fmt, body, what):
    try:
        return struct.unpack(fmt, body)
    except struct.error:
        raise ProtocolError("%s: %d bytes do not fit %s" % (what, len(body), fmt)) from None


def decode_hello(body):
    size = struct.calcsize(M.HELLO_R)
    values = _unpack(M.HELLO_R, bytes(body[:size]), "HELLO_R")
    return Hello(*values, firmware=bytes(body[size:]).decode("ascii", "replace"))


def decode_command(body, via="answer", replayed=False):
    return CommandResult(*_unpack(M.CMD_R, bytes(body), "CMD_R"), via=via, replayed=replayed)


def decode_bin(body):
    return BinReading(*_unpack(M.BIN_R, bytes(body), "BIN_R"))


_STATUS_HEAD = ">BBBB"
_STATUS_BIN = ">Bi"


def decode_status(body):
    body = bytes(body)
    head = struct.calcsize(_STATUS_HEAD)
    events_lost, doors, lanes, bins = _unpack(_STATUS_HEAD, body[:head], "STATUS_R")
    per_bin = struct.calcsize(_STATUS_BIN)
    if len(body) != head + doors + lanes + bins * per_bin:
        raise ProtocolError("STATUS_R: %d bytes for %d doors, %d lanes, %d bins" % (len(body), doors, lanes, bins))
    at = head + doors + lanes
    return CabinetStatus(
        events_lost=events_lost,
        doors=tuple(body[head:head + doors]),
        lanes=tuple(body[head + doors:at]),
        bins=tuple(BinStatus(*struct.unpack_from(_STATUS_BIN, body, at + i * per_bin)) for i in range(bins)),
    )


RESPONSE_DECODERS = {
    M.HELLO: decode_hello,
    M.PING: bytes,
    M.STATUS: decode_status,
    M.READ_BIN: decode_bin,
    M.QUERY: lambda body: decode_command(body, via="query"),
}


def decode_response(kind, body):
    """The typed body of an OK response to a request of this kind (bytes for kinds without a decoder)."""
    return RESPONSE_DECODERS.get(kind, bytes)(body)


def decode_event(seq, payload):
    payload = bytes(payload)
    if not payload:
        return Event(seq, 0, "EMPTY", None, payload)
    ev_type = payload[0]
    fmt = M.EVENT_FMT.get(ev_type)
    fields = None
    if fmt is not None and len(payload) - 1 == struct.calcsize(fmt):
        fields = dict(zip(EVENT_FIELDS[ev_type], struct.unpack(fmt, payload[1:])))
    return Event(seq, ev_type, event_name(ev_type), fields, payload)


def command_from_event(event):
    """The CommandResult carried by an EV_CMD_DONE event, or None."""
    if event.type != M.EV_CMD_DONE or event.fields is None:
        return None
    return CommandResult(**event.fields, via="event")


def check_cmd_id(cmd_id):
    """A command id the firmware takes: 0 to M.CMD_ID_MAX (2**30 - 1); it refuses larger ones with E_BAD_ARGS."""
    if isinstance(cmd_id, bool) or not isinstance(cmd_id, int) or not 0 <= cmd_id <= M.CMD_ID_MAX:
        raise ValueError("cmd_id must be an integer from 0 to %d, got %r" % (M.CMD_ID_MAX, cmd_id))
    return cmd_id


def actuation_payload(kind, boot_id, cmd_id, args):
    """ACT header (boot id, command id) + the kind's arguments; ValueError when they do not fit."""
    if kind not in M.ACTUATION_ARGS:
        raise ValueError("%s is not an actuation" % kind_name(kind))
    check_cmd_id(cmd_id)
    try:
        return struct.pack(M.ACT_FMT, boot_id, cmd_id) + struct.pack(M.ACTUATION_ARGS[kind], *args)
    except struct.error as exc:
        raise ValueError("%s arguments %r: %s" % (kind_name(kind), tuple(args), exc)) from None


def query_payload(cmd_id):
    return struct.pack(">I", check_cmd_id(cmd_id))
