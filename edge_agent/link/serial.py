"""CabinetLink: the cabinet link on a serial port, a LinkCore driven by one reader thread.

The reader thread feeds received bytes to the core, hands delivered events on, and writes what the core
wants written (acknowledgements, retransmissions, heartbeat pings). A caller's thread starts an operation,
writes its first frame at once, then waits on a condition variable, bounded by the core's next deadline,
running due timers itself if it wakes first. All core access is under one lock; writes are serialised by a
second lock taken before it, so frames leave in the order the core produced them.
"""
import dataclasses
import logging
import queue
import random
import threading
import time

import serial

from firmware import messages as M
from edge_agent.link.codes import LINE_BAUD
from edge_agent.link.errors import LinkClosed, LinkTimeout, ProtocolError, WrongLineRate
from edge_agent.link.core import LinkCore

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.01    # the reader wakes at least this often, so timers run within ~10 ms
WRITE_TIMEOUT_S = 1.0    # a wedged port fails the link instead of hanging a caller
MAX_WAIT_S = 0.25        # no wait is ever unbounded, whatever the deadlines say
ACTUATION_TIMEOUT_S = 15.0   # a vend's two turns and retry, or an unlock's open window, with margin
SHORT_COMMAND_TIMEOUT_S = 10.0
# When HELLO hears no intact frame, the rates tried for one that answers, each this long, so the error can
# say which end to change instead of leaving garbage unexplained (docs/decisions/0051).
PROBE_RATES = (921600, 460800, 230400, 115200)
PROBE_BUDGET_S = 0.5


def _ms(seconds):
    return None if seconds is None else seconds * 1000


class CabinetLink:
    """The agent's handle on one cabinet. Thread-safe; several callers may wait at once.

    on_event(event) is called from the reader thread; without it, events queue for next_event()/events().
    Events are acknowledged to the firmware when they reach this object, before on_event runs; with
    ack_when_stored, only once stored: after on_event returns, or when a next_event() caller says
    event_stored(event) (event_not_stored(event): it could not, the firmware's resend is delivered again).
    exclusive: lock the port (flock) so a second exclusive opener gets a SerialException instead of
    sharing the line: the agent service and `locker-agent commission` both open it so.
    """

    def __init__(self, port, baud=LINE_BAUD, *, on_event=None, request_budget=5.0, clock=time.monotonic,
                 exclusive=False, ack_when_stored=False):
        self._clock = clock
        self.baud = baud
        self._heard = 0               # bytes received, intact or not
        self._serial = serial.serial_for_url(port, baudrate=baud, timeout=READ_TIMEOUT_S,
                                             write_timeout=WRITE_TIMEOUT_S, exclusive=exclusive or None)
        # A random first seq keeps a restarted agent's first frames unlike the previous run's last ones.
        self._core = LinkCore(self._now(), request_budget_ms=request_budget * 1000,
                              first_seq=random.randrange(256), ack_when_stored=ack_when_stored)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._on_event = on_event
        self._events = queue.Queue()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cabinet-link %s" % port, daemon=True)
        self._reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- requests -----------------------------------------------------------------------------------

    def hello(self, timeout=None):
        """Hello(protocol, boot_id, reset_cause, uptime_ms, doors, lanes, bins, firmware); learns the boot id.

        WrongLineRate (a LinkTimeout) when no intact frame came meanwhile: it says the rate the cabinet
        answers at, if another one does, or what was heard."""
        with self._cond:
            frames, heard = self._core.stats.frames_received, self._heard
        try:
            return self._call(M.HELLO, b"", timeout)
        except LinkTimeout:
            with self._cond:
                if self._core.stats.frames_received != frames:
                    raise                 # the cabinet talks at this rate; HELLO just went unanswered
                heard = self._heard - heard
            raise self._wrong_rate(heard) from None

    def _wrong_rate(self, heard):
        tried = [r for r in PROBE_RATES if r != self.baud]
        answers_at = None
        try:
            for rate in tried:
                self._serial.baudrate = rate
                with self._write_lock:
                    self._write(b"\x00")          # ends any garbage the cabinet's decoder holds
                with self._cond:
                    self._core.timer.restore()     # not the backed-off timeout of the silence before
                try:
                    self._call(M.HELLO, b"", PROBE_BUDGET_S)
                except LinkTimeout:
                    continue
                answers_at = rate
                break
        finally:
            if not self._closed:
                self._serial.baudrate = self.baud
        return WrongLineRate(self.baud, heard, answers_at, tried)

    def ping(self, data=b"", timeout=None):
        echoed = self._call(M.PING, bytes(data), timeout)
        if echoed != bytes(data):
            raise ProtocolError("PING echoed %r for %r" % (echoed, bytes(data)))
        return echoed

    def status(self, timeout=None):
        """CabinetStatus(events_lost, doors, lanes, bins)."""
        return self._call(M.STATUS, b"", timeout)

    def read_bin(self, bin, timeout=None):
        """BinReading(bin, weight_mg, raw, flags)."""
        return self._call(M.READ_BIN, bytes((bin,)), timeout)

    def query(self, cmd_id, timeout=None):
        """The firmware's CommandResult for cmd_id (via="query"); CabinetError E_UNKNOWN_ID if this boot never
        accepted it, E_STALE_ID if its replay table has forgotten it."""
        return self._run(lambda now: self._core.query(cmd_id, now, _ms(timeout)))

    # ---- actuations: cmd_id is chosen and durably saved by the caller before the call -----------------

    def unlock(self, door, cmd_id, pulse_ms=0, timeout=ACTUATION_TIMEOUT_S):
        return self.actuate(M.UNLOCK, cmd_id, (door, pulse_ms), timeout)

    def vend(self, lane, cmd_id, timeout=ACTUATION_TIMEOUT_S):
        return self.actuate(M.VEND, cmd_id, (lane,), timeout)

    def tare(self, bin, cmd_id, timeout=SHORT_COMMAND_TIMEOUT_S):
        return self.actuate(M.TARE, cmd_id, (bin,), timeout)

    def calibrate(self, bin, cmd_id, known_mg, timeout=SHORT_COMMAND_TIMEOUT_S):
        return self.actuate(M.CALIBRATE, cmd_id, (bin, known_mg), timeout)

    def clear_lane(self, lane, cmd_id, timeout=SHORT_COMMAND_TIMEOUT_S):
        return self.actuate(M.CLEAR_LANE, cmd_id, (lane,), timeout)

    def home_check(self, lane, cmd_id, timeout=SHORT_COMMAND_TIMEOUT_S):
        return self.actuate(M.HOME_CHECK, cmd_id, (lane,), timeout)

    def actuate(self, kind, cmd_id, args, timeout=ACTUATION_TIMEOUT_S):
        """Run one actuation to its final CommandResult within `timeout` seconds in all.

        Raises CabinetError (refused: see its code), FirmwareRebooted or LinkTimeout (outcome unknown:
        reconcile, never resend blindly). Says HELLO first when the boot id is not known.
        """
        if self.boot_id is None:
            self.hello()
        return self._run(lambda now: self._core.actuate(kind, cmd_id, args, now, timeout * 1000))

    # ---- events and state ---------------------------------------------------------------------------

    def next_event(self, timeout=None):
        """The next event, or None when `timeout` seconds pass first (or the link is closed)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = MAX_WAIT_S if end is None else max(0.0, min(MAX_WAIT_S, end - time.monotonic()))
            try:
                return self._events.get(timeout=wait)
            except queue.Empty:
                if self._closed or (end is not None and time.monotonic() >= end):
                    return None

    def event_stored(self, event):
        """True when this acknowledged it (the firmware sends its next event now)."""
        with self._cond:
            held = self._core.event_stored(event)
        if held:
            self._pump()
        return held

    def event_not_stored(self, event):
        with self._cond:
            self._core.event_not_stored(event)

    def events(self, timeout=None):
        """Yield events as they arrive; stop once `timeout` seconds pass without one (None: until closed)."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

    @property
    def boot_id(self):
        with self._cond:
            return self._core.boot_id

    def drop_seen(self, cmd_id):
        """True when the firmware reported (EV_DROP) an item falling during vend cmd_id (see LinkCore)."""
        with self._cond:
            return self._core.drop_seen(cmd_id)

    @property
    def stats(self):
        with self._cond:
            return dataclasses.replace(self._core.stats)

    @property
    def closed(self):
        """True once close() was called or the serial port failed: every later request raises LinkClosed."""
        return self._closed

    @property
    def last_heard(self):
        """Monotonic seconds of the last intact frame from the firmware, or None."""
        with self._cond:
            last = self._core.last_rx
        return None if last is None else last / 1000

    def close(self):
        with self._cond:
            if not self._closed:
                self._closed = True
                self._core.close(LinkClosed("link closed"))
                self._cond.notify_all()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        self._serial.close()

    # ---- internals ----------------------------------------------------------------------------------

    def _now(self):
        return self._clock() * 1000

    def _call(self, kind, payload, timeout):
        return self._run(lambda now: self._core.call(kind, payload, now, _ms(timeout)))

    def _run(self, start):
        with self._cond:
            if self._closed:
                raise LinkClosed("link closed")
            op = start(self._now())
        self._pump()
        while True:
            with self._cond:
                if op.done:
                    break
                self._cond.wait(self._wait_s())
                if op.done:
                    break
            self._pump()
        return op.result()

    def _wait_s(self):
        deadline = self._core.next_deadline()
        if deadline is None:
            return MAX_WAIT_S
        return min(max((deadline - self._now()) / 1000, 0.001), MAX_WAIT_S)

    def _pump(self):
        """Write whatever the core wants written now."""
        with self._write_lock:
            with self._cond:
                if self._closed:
                    return
                out = self._core.poll(self._now())
                self._cond.notify_all()
            if out:
                self._write(out)

    def _write(self, data):
        """Under _write_lock."""
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self._fail(exc)

    def _read_loop(self):
        while not self._closed:
            try:
                data = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial's posix read after a concurrent close
                if not self._closed:
                    self._fail(exc)
                return
            events = ()
            if data:
                with self._cond:
                    self._heard += len(data)
                    self._core.receive(data, self._now())
                    events = self._core.take_events()
                    self._cond.notify_all()
            self._pump()
            for event in events:
                self._dispatch(event)

    def _dispatch(self, event):
        if self._on_event is None:
            self._events.put(event)
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %s", event)
            self.event_not_stored(event)
            return
        self.event_stored(event)

    def _fail(self, exc):
        log.error("cabinet link failed: %s", exc)
        with self._cond:
            self._closed = True
            self._core.close(LinkClosed("serial port failed: %s" % exc))
            self._cond.notify_all()
