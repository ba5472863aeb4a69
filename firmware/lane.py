# A spiral lane: one motor in the row/column matrix, turned one revolution from home switch to home switch
# while the shared drop beam at the delivery chute watches for the item. Outcomes: vended (drop seen),
# no drop after the retry turns (empty lane or hung product), or jammed (home not reached in time: the motor
# is cut and the lane stays disabled until a supervisor clears it). The first drop a vend sees is reported
# at once (EV_DROP), in whatever phase, ahead of the vend's result.
from firmware import messages as M
from firmware.ticks import sooner, ticks_add, ticks_diff, wait_until

IDLE = 0
TURNING = 1
SETTLING = 2
WAIT_MOTOR = 3     # a retry turn waiting for the motor supply to be free
PROBING = 4        # home check: a short nudge with the sense line selected

PROBE_MS = 60      # long enough to read the switch, far too short to leave the home window


class LaneBank:
    """What all lanes share: the home-switch sense line, the drop beam, and the timing from the config."""

    def __init__(self, cfg, hal):
        self.home = hal.input(cfg["home_sense"], True)
        self.drop = hal.edge_counter(cfg["drop_sensor"])
        self.max_run_ms = cfg["max_run_ms"]
        self.retry_turns = cfg["retry_turns"]
        self.settle_ms = cfg["settle_ms"]
        self.debounce_ms = cfg["debounce_ms"]


class Lane:
    def __init__(self, cfg, bank, rows, cols, outputs):
        self.number = cfg["number"]
        self.bank = bank
        self.motor = outputs.actuator("lane %d" % self.number, [rows[cfg["row"]], cols[cfg["col"]]],
                                      bank.max_run_ms)
        self.disabled = False
        self.cmd = None
        self._phase = IDLE
        self._turns = 0
        self._drops_at_start = 0
        self._drop_told = True     # EV_DROP sent for the running vend (True when there is nothing to tell)
        self._turn_start = 0
        self._left_home = False
        self._home_raw = 0
        self._home_since = 0
        self._settle_end = 0

    def state(self):
        if self.disabled:
            return M.LANE_DISABLED
        return M.LANE_IDLE if self.cmd is None else M.LANE_RUNNING

    def vend(self, cmd, now, cab):
        if self.disabled:
            return M.E_LANE_DISABLED
        if self.cmd is not None:
            return M.E_BUSY
        if self.bank.drop.value():
            return M.E_SENSOR      # beam already broken: a drop could not be told apart
        status = self._start_turn(now, cab)
        if status == M.OK:
            self.cmd = cmd
            self._turns = 0
            self._drops_at_start = self.bank.drop.count
            self._drop_told = False
        return status

    def clear(self):
        self.disabled = False

    def home_check(self, cmd, now, cab):
        if self.cmd is not None:
            return M.E_BUSY
        status = cab.outputs.energise(self.motor, now, PROBE_MS)
        if status == M.OK:
            self.cmd = cmd
            self._drop_told = True
            self._phase = PROBING
            self._turn_start = now
            self._home_raw = 0
        return status

    def abort(self, cab, now):
        if self.cmd is not None:
            cab.outputs.release(self.motor, now)
            dropped = 1 if self.bank.drop.count != self._drops_at_start else 0
            cab.finish(self.cmd, M.R_ABORTED, dropped)
            self.cmd = None
            self._phase = IDLE

    def _start_turn(self, now, cab):
        status = cab.outputs.energise(self.motor, now, self.bank.max_run_ms)
        if status == M.OK:
            self._phase = TURNING
            self._turn_start = now
            self._left_home = False
            self._home_raw = 1
            self._home_since = now
        return status

    def _done(self, cab, result, detail):
        self._phase = IDLE
        cab.finish(self.cmd, result, detail)
        self.cmd = None

    def step(self, now, cab):
        phase = self._phase
        if phase == IDLE:
            return
        bank = self.bank
        if not self._drop_told and bank.drop.count != self._drops_at_start:
            # Told the moment it is seen, before the vend ends: should a reset cut the vend now, the host
            # still knows the item came out.
            self._drop_told = True
            cab.event(M.EV_DROP, self.number, self.cmd.cmd_id)
        if phase == TURNING:
            if cab.outputs.active is not self.motor:
                self._jam(cab, now)    # the output guard cut the motor: treat as a jam, never run blind
                return
            at_home = 1 - bank.home.value()      # the sense line reads 0 at home
            if at_home != self._home_raw:
                self._home_raw = at_home
                self._home_since = now
            elif ticks_diff(now, self._home_since) >= bank.debounce_ms:
                if not at_home:
                    self._left_home = True
                elif self._left_home:
                    cab.outputs.release(self.motor, now)
                    self._turns += 1
                    self._phase = SETTLING
                    self._settle_end = ticks_add(now, bank.settle_ms)
                    return
            if ticks_diff(now, self._turn_start) >= bank.max_run_ms:
                self._jam(cab, now)
        elif phase == PROBING:
            if bank.home.value() == 0:
                self._home_raw = 1
            if ticks_diff(now, self._turn_start) >= PROBE_MS or cab.outputs.active is not self.motor:
                cab.outputs.release(self.motor, now)
                if self._home_raw:
                    self._done(cab, M.R_OK, 0)
                else:
                    self._done(cab, M.R_FAILED, M.FAIL_NOT_HOME)
        elif phase == SETTLING:
            dropped = bank.drop.count != self._drops_at_start
            settled = ticks_diff(now, self._settle_end) >= 0
            if dropped and (not bank.drop.value() or settled):
                # Done once the item has fallen past the beam, so the next vend starts with a clear beam.
                self._done(cab, M.R_VENDED, self._turns)
            elif dropped:
                pass
            elif settled:
                if self._turns > bank.retry_turns:
                    self._done(cab, M.R_NO_DROP, self._turns)
                else:
                    self._phase = WAIT_MOTOR
        if self._phase == WAIT_MOTOR:
            if bank.drop.count != self._drops_at_start:
                self._done(cab, M.R_VENDED, self._turns)   # it fell late: never turn again for it
            elif self._start_turn(now, cab) != M.OK:
                pass   # another actuator holds the supply: try again next pass

    def due_in(self, now, cab):
        """Ms until step() has something to do with the home switch and the beam as they are: the debounce,
        the turn's limit, the settling, the probe's end; 0 for the next pass (None: idle)."""
        phase = self._phase
        if phase == IDLE:
            return None
        bank = self.bank
        if phase == WAIT_MOTOR or (not self._drop_told and bank.drop.count != self._drops_at_start):
            return 0
        if phase == SETTLING:
            return wait_until(self._settle_end, now)
        if cab.outputs.active is not self.motor:
            return 0
        if phase == PROBING:
            return wait_until(ticks_add(self._turn_start, PROBE_MS), now)
        due = wait_until(ticks_add(self._turn_start, bank.max_run_ms), now)
        if ticks_diff(now, self._home_since) < bank.debounce_ms:
            due = sooner(due, wait_until(ticks_add(self._home_since, bank.debounce_ms), now))
        return due

    def _jam(self, cab, now):
        cab.outputs.release(self.motor, now)
        self.disabled = True
        self._done(cab, M.R_JAMMED, M.JAM_NEVER_RETURNED if self._left_home else M.JAM_NEVER_LEFT_HOME)
