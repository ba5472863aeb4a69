# The cabinet: builds doors, lanes and weigh bins from the normalised config, answers the host's requests
# and runs one non-blocking main-loop pass per step(now). The same object runs on a board (firmware/main.py),
# in sim/ and under the MicroPython test runner; it never sleeps and takes time only from `now`.
import struct

from firmware import messages as M
from firmware.commands import Command, CommandTable
from firmware.door import Door
from firmware.hx711 import HX711Bank
from firmware.lane import Lane, LaneBank
from firmware.link import Link
from firmware.outputs import Outputs
from firmware.scale import Scale
from firmware.ticks import sooner, ticks_diff

FIRMWARE_VERSION = "0.1.0"
CALIBRATION = "calibration"     # name of the persistent record holding every bin's tare and calibration


class Cabinet:
    def __init__(self, hal, config):
        now = hal.ticks_ms()
        # First of all: every actuator pin exists and is driven off before anything else can happen.
        self.outputs = Outputs(hal)
        self.doors = [Door(d, hal, self.outputs, now) for d in config["doors"]]
        lanes = config["lanes"]
        self.lanes = []
        if lanes["units"]:
            rows = lanes["rows"]
            cols = lanes["cols"]
            bank = LaneBank(lanes, hal)
            self.lanes = [Lane(u, bank, rows, cols, self.outputs) for u in lanes["units"]]
        self.outputs.all_off()
        # The lanes with a command, in config order: a pass and due_in() look at these few, not all 40.
        self.running_lanes = []
        self.hal = hal
        bins = config["bins"]
        self.scales = []
        self.hx711 = None
        if bins["units"]:
            stored = hal.load(CALIBRATION) or {}
            self.scales = [Scale(u, bins["window"], bins["stable_ms"], bins["settle_timeout_ms"],
                                 stored.get(str(u["number"]))) for u in bins["units"]]
            self.hx711 = HX711Bank(hal, bins["sck"], [u["dout"] for u in bins["units"]], now)
        self._door_by_no = {d.number: d for d in self.doors}
        self._lane_by_no = {l.number: l for l in self.lanes}
        self._scale_by_no = {s.number: s for s in self.scales}
        self.table = CommandTable()
        self.boot_id = hal.random30()
        self.reset_cause = hal.reset_cause()
        self.booted_at = now
        self.now = now
        self.link = Link(hal.uart, self._on_request, now)
        self._link_was_lost = False
        self._handlers = {
            M.HELLO: self._hello, M.PING: self._ping, M.STATUS: self._status,
            M.READ_BIN: self._read_bin, M.QUERY: self._query,
        }
        self._actuations = {
            M.UNLOCK: self._unlock, M.VEND: self._vend, M.TARE: self._tare, M.CALIBRATE: self._calibrate,
            M.CLEAR_LANE: self._clear_lane, M.HOME_CHECK: self._home_check,
        }
        self.link.emit(M.EV_BOOT, self.boot_id, self.reset_cause)

    # --- main loop ---------------------------------------------------------------------------------
    def step(self, now):
        """One pass of the main loop. Returns True when it ran through, the board's cue to feed the WDT."""
        self.now = now
        link = self.link
        link.poll(now)
        for door in self.doors:
            door.step(now, self)
        running = self.running_lanes
        if running:
            ended = False
            for lane in running:
                if lane.cmd is not None:
                    lane.step(now, self)
                ended = ended or lane.cmd is None
            if ended:       # a lane finished here or in safe_off(): the list is rebuilt only then
                self.running_lanes = [l for l in running if l.cmd is not None]
        hx711 = self.hx711
        if hx711 is not None:
            scales = self.scales
            if hx711.poll(now):
                values = hx711.values
                for i in range(len(scales)):
                    scales[i].add(values[i], now, self)
            for scale in scales:
                if scale.cmd is not None:     # only a tare or calibration has a deadline to watch
                    scale.step(now, self)
        if self.outputs.active is not None:   # nothing on, nothing to cut
            cut = self.outputs.enforce(now)
            if cut is not None:
                self.event(M.EV_FAULT, M.F_OUTPUT_CAPPED, cut.gpios[0])
        if link.host_silent(now):
            if not self._link_was_lost:
                self._link_was_lost = True
                self.safe_off(now)
                self.event(M.EV_FAULT, M.F_LINK_LOST, 0)
        else:
            self._link_was_lost = False
        link.step(now)
        return True

    def due_in(self, now):
        """Ms until a pass has work to do while no input changes (a byte, a switch, the beam, a conversion):
        the units' timers, an event to send, the host's silence limit; 0 for the next pass, None when
        nothing is timed. A simulation jumps over the passes between (docs/decisions/0049); a board could
        sleep through them."""
        link = self.link
        outputs = self.outputs
        due = link.due_in(now)
        if outputs.active is not None:        # with nothing on there is no cap to wait for
            due = sooner(due, outputs.due_in(now))
        if not self._link_was_lost:
            due = sooner(due, link.silent_in(now))
        for door in self.doors:
            d = door.due_in(now, outputs)
            if d is not None:                 # an idle door (the usual case) times nothing
                due = sooner(due, d)
        for lane in self.running_lanes:
            if lane.cmd is not None:
                due = sooner(due, lane.due_in(now, self))
        if self.hx711 is not None:
            d = self.hx711.due_in(now)
            if d is not None:
                due = sooner(due, d)
            for scale in self.scales:
                if scale.cmd is not None:     # only a tare or calibration is timed
                    due = sooner(due, scale.due_in(now))
        return due

    def safe_off(self, now=None):
        """Every output off; whatever was running ends as aborted. Used on link loss and on any fault."""
        self.outputs.all_off()
        if now is None:
            now = self.now
        for unit in self.doors:
            unit.abort(self, now)
        for unit in self.lanes:
            unit.abort(self, now)
        for unit in self.scales:
            unit.abort(self, now)

    # --- used by the units -------------------------------------------------------------------------
    def event(self, ev_type, *fields):
        self.link.emit(ev_type, *fields)

    def finish(self, cmd, result, detail):
        cmd.finish(result, detail)
        self.link.emit(M.EV_CMD_DONE, cmd.cmd_id, cmd.kind, cmd.phase, result, detail)

    def save_calibration(self):
        self.hal.save(CALIBRATION, {str(s.number): s.record() for s in self.scales})

    # --- requests ----------------------------------------------------------------------------------
    def _on_request(self, seq, kind, payload):
        handler = self._handlers.get(kind)
        if handler is not None:
            status, body = handler(payload)
        elif kind in self._actuations:
            status, body = self._actuate(kind, payload)
        else:
            status, body = M.E_UNKNOWN_KIND, b""
        self.link.respond(seq, kind, status, body)

    def _actuate(self, kind, payload):
        fmt = M.ACTUATION_ARGS[kind]
        if len(payload) != M.ACT_LEN + struct.calcsize(fmt):
            return M.E_BAD_ARGS, b""
        boot_id, cmd_id = struct.unpack_from(M.ACT_FMT, payload, 0)
        if boot_id != self.boot_id:
            return M.E_WRONG_BOOT, b""
        if cmd_id > M.CMD_ID_MAX:
            return M.E_BAD_ARGS, b""
        args = bytes(payload[M.ACT_LEN:])
        cmd = self.table.find(cmd_id)
        if cmd is not None:
            if cmd.kind != kind or cmd.args != args:
                return M.E_ID_REUSED, b""
            return M.OK, self._cmd_body(cmd)             # a replay: the stored answer, nothing actuates
        if self.table.is_stale(cmd_id):
            return M.E_STALE_ID, b""
        cmd = Command(cmd_id, kind, args)
        status = self._actuations[kind](cmd, struct.unpack(fmt, args))
        if status != M.OK:
            return status, b""                           # nothing happened: the same id may come again
        self.table.add(cmd)
        return M.OK, self._cmd_body(cmd)

    def _cmd_body(self, cmd):
        return struct.pack(M.CMD_R, cmd.cmd_id, cmd.kind, cmd.phase, cmd.result, cmd.detail)

    def _unlock(self, cmd, args):
        door = self._door_by_no.get(args[0])
        if door is None:
            return M.E_NO_SUCH_UNIT
        return door.unlock(cmd, self.now, args[1], self)

    def _vend(self, cmd, args):
        lane = self._lane_by_no.get(args[0])
        if lane is None:
            return M.E_NO_SUCH_UNIT
        return self._started(lane, lane.vend(cmd, self.now, self))

    def _home_check(self, cmd, args):
        lane = self._lane_by_no.get(args[0])
        if lane is None:
            return M.E_NO_SUCH_UNIT
        return self._started(lane, lane.home_check(cmd, self.now, self))

    def _started(self, lane, status):
        """Pass a lane's answer through; a lane that took a command joins running_lanes in config order."""
        if lane.cmd is not None and lane not in self.running_lanes:
            self.running_lanes = [l for l in self.lanes if l.cmd is not None]
        return status

    def _clear_lane(self, cmd, args):
        lane = self._lane_by_no.get(args[0])
        if lane is None:
            return M.E_NO_SUCH_UNIT
        if lane.cmd is not None:
            return M.E_BUSY
        lane.clear()
        cmd.finish(M.R_OK, 0)
        return M.OK

    def _tare(self, cmd, args):
        scale = self._scale_by_no.get(args[0])
        if scale is None:
            return M.E_NO_SUCH_UNIT
        return scale.start(cmd, self.now, 0)

    def _calibrate(self, cmd, args):
        scale = self._scale_by_no.get(args[0])
        if scale is None:
            return M.E_NO_SUCH_UNIT
        if args[1] == 0:
            return M.E_BAD_ARGS
        return scale.start(cmd, self.now, args[1])

    def _hello(self, payload):
        if payload:
            return M.E_BAD_ARGS, b""
        body = struct.pack(M.HELLO_R, M.PROTOCOL_VERSION, self.boot_id, self.reset_cause,
                           self._uptime(), len(self.doors), len(self.lanes), len(self.scales))
        return M.OK, body + FIRMWARE_VERSION.encode()

    def _uptime(self):
        return ticks_diff(self.now, self.booted_at)

    def _ping(self, payload):
        if len(payload) > M.PING_MAX:
            return M.E_BAD_ARGS, b""     # the echo would not fit a frame: refused, never raised
        return M.OK, bytes(payload)

    def _query(self, payload):
        if len(payload) != 4:
            return M.E_BAD_ARGS, b""
        cmd_id = struct.unpack(">I", payload)[0]
        if cmd_id > M.CMD_ID_MAX:
            return M.E_BAD_ARGS, b""
        cmd = self.table.find(cmd_id)
        if cmd is None:
            # Forgotten (at or below the floor) is not the same as never seen: a host must not take the one
            # for the other, or it would call a command that ran "never sent".
            return (M.E_STALE_ID if self.table.is_stale(cmd_id) else M.E_UNKNOWN_ID), b""
        return M.OK, self._cmd_body(cmd)

    def _read_bin(self, payload):
        if len(payload) != 1:
            return M.E_BAD_ARGS, b""
        scale = self._scale_by_no.get(payload[0])
        if scale is None:
            return M.E_NO_SUCH_UNIT, b""
        return M.OK, struct.pack(M.BIN_R, scale.number, scale.weight_mg(scale.avg),
                                 scale.avg - (scale.offset or 0), scale.flags())

    def _status(self, payload):
        if payload:
            return M.E_BAD_ARGS, b""
        body = bytearray(struct.pack(">BBBB", min(self.link.events_lost, 255), len(self.doors),
                                     len(self.lanes), len(self.scales)))
        for door in self.doors:
            body.append(door.state())
        for lane in self.lanes:
            body.append(lane.state())
        for scale in self.scales:
            body += struct.pack(">Bi", scale.flags(), scale.weight_mg(scale.avg))
        return M.OK, bytes(body)
