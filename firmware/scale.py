# One weigh bin: turns raw HX711 counts into a stable weight. Sums stay in integers (MicroPython floats are
# single precision). A reading is stable when the last `window` samples span at most stable_counts and
# that holds for stable_ms. Stable changes of at least report_mg are reported as events; while the bin is
# idle and within zero_band_mg of empty, the zero point follows slow drift.
from firmware import messages as M
from firmware.ticks import ticks_add, ticks_diff, wait_until

ZERO_TRACK_MS = 1000     # one zero-tracking step per second at most


class Scale:
    def __init__(self, cfg, window, stable_ms, settle_timeout_ms, stored):
        self.number = cfg["number"]
        self._stable_counts = cfg["stable_counts"]
        self._report_mg = cfg["report_mg"]
        self._zero_band_mg = cfg["zero_band_mg"]
        self._stable_ms = stable_ms
        self._settle_timeout_ms = settle_timeout_ms
        self._buf = [0] * window
        self._i = 0
        self._filled = 0
        self._sum = 0
        self._lo = 0              # the full window's lowest and highest sample (see add)
        self._hi = 0
        self.avg = 0
        self.stable = False
        self._calm_since = 0
        self._calm = False
        self._reported = None     # raw average of the last reported stable weight
        self._zero_at = 0
        self.offset = None        # raw counts of the empty bin (tare)
        self.cal_counts = 0       # raw counts for cal_mg milligrams
        self.cal_mg = 0
        self._report_counts = 0
        if stored:
            self.offset = stored.get("offset")
            self._set_cal(stored.get("cal_counts", 0), stored.get("cal_mg", 0))
        self.cmd = None
        self._cmd_arg = 0
        self._cmd_deadline = 0

    def calibrated(self):
        return self.offset is not None and self.cal_counts != 0

    def _set_cal(self, counts, mg):
        self.cal_counts = counts
        self.cal_mg = mg
        if counts and mg:
            self._report_counts = abs(self._report_mg * counts // mg) or 1

    def record(self):
        return {"offset": self.offset, "cal_counts": self.cal_counts, "cal_mg": self.cal_mg}

    def weight_mg(self, raw):
        if self.offset is None or self.cal_counts == 0:     # not calibrated(), without the call
            return 0
        return (raw - self.offset) * self.cal_mg // self.cal_counts

    def flags(self):
        return (M.BIN_STABLE if self.stable else 0) | (M.BIN_CALIBRATED if self.calibrated() else 0)

    def add(self, raw, now, cab):
        """Take one sample; report a stable change; run a pending tare or calibration."""
        buf = self._buf
        old = buf[self._i]
        self._sum += raw - old
        buf[self._i] = raw
        self._i = (self._i + 1) % len(buf)
        if self._filled < len(buf):
            self._filled += 1
            return
        self.avg = self._sum // len(buf)
        # The window's span, kept as samples come and go: a full scan only when the sample that left may
        # have been its lowest or highest (lo == hi, as at boot, always scans).
        lo = self._lo
        hi = self._hi
        if old <= lo or old >= hi:
            lo = hi = raw
            for v in buf:
                if v < lo:
                    lo = v
                elif v > hi:
                    hi = v
        elif raw < lo:
            lo = raw
        elif raw > hi:
            hi = raw
        self._lo = lo
        self._hi = hi
        calm = hi - lo <= self._stable_counts
        if calm and not self._calm:
            self._calm_since = now
        self._calm = calm
        self.stable = calm and ticks_diff(now, self._calm_since) >= self._stable_ms
        if self.stable:
            self._on_stable(now, cab)

    def _on_stable(self, now, cab):
        if self.cmd is not None:
            self._finish_cmd(cab)
            return
        if not self.calibrated():
            return
        avg = self.avg
        if self._reported is None:
            self._reported = avg
            return
        if abs(avg - self._reported) >= self._report_counts:
            w = self.weight_mg(avg)
            cab.event(M.EV_BIN_CHANGED, self.number, w, w - self.weight_mg(self._reported))
            self._reported = avg
        elif ticks_diff(now, self._zero_at) >= ZERO_TRACK_MS and abs(self.weight_mg(avg)) <= self._zero_band_mg:
            # Idle and near empty: follow drift one count a step, and move the reference with it so drift
            # is never reported as a take.
            self._zero_at = now
            if avg > self.offset:
                self.offset += 1
            elif avg < self.offset:
                self.offset -= 1
            self._reported = avg

    # Tare and calibrate wait for a stable reading, so they finish later (or fail at settle_timeout_ms).
    def start(self, cmd, now, known_mg):
        if self.cmd is not None:
            return M.E_BUSY
        if known_mg and self.offset is None:
            return M.E_NOT_CALIBRATED        # calibrate needs a tare first
        self.cmd = cmd
        self._cmd_arg = known_mg
        self._cmd_deadline = ticks_add(now, self._settle_timeout_ms)
        self._calm = False                   # the reading must settle after the command, not before it
        self.stable = False
        return M.OK

    def step(self, now, cab):
        if self.cmd is not None and ticks_diff(now, self._cmd_deadline) >= 0:
            cab.finish(self.cmd, M.R_FAILED, M.FAIL_UNSTABLE)
            self.cmd = None

    def due_in(self, now):
        """Ms until a tare or calibration runs out of time (None: none is waiting); samples come as inputs."""
        return None if self.cmd is None else wait_until(self._cmd_deadline, now)

    def abort(self, cab, now):
        if self.cmd is not None:
            cab.finish(self.cmd, M.R_ABORTED, 0)
            self.cmd = None

    def _finish_cmd(self, cab):
        cmd = self.cmd
        self.cmd = None
        avg = self.avg
        if not self._cmd_arg:
            self.offset = avg
            self._reported = avg
            cab.save_calibration()
            cab.finish(cmd, M.R_OK, 0)
            return
        delta = avg - self.offset
        if abs(delta) < 4 * self._stable_counts:
            cab.finish(cmd, M.R_FAILED, M.FAIL_NO_CHANGE)
            return
        self._set_cal(delta, self._cmd_arg)
        self._reported = avg
        cab.save_calibration()
        cab.finish(cmd, M.R_OK, delta * 1000 // self._cmd_arg)   # detail: counts per gram
