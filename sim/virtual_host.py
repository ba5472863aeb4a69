# The agent's real link core (edge_agent.link.core) wired to a SimCabinet in virtual time: no pty, no threads,
# no sleeps. Each pass the core's bytes go onto the simulated line (with its faults), the cabinet runs, and
# what the firmware sent comes back. Tests and the pilot simulation use it to run the whole host <-> firmware
# exchange deterministically and far faster than real time.
#
# Two ways for time to move. Fixed steps: a pass every step_ms. Event-driven (events=True, the pilot's):
# the next pass is at the next thing that can happen (the core's timer, a byte on the line, an input the
# firmware has not seen, a firmware timer, a physical edge, a scheduled fault), put on the same step_ms
# grid, so the passes run are a subset of the fixed-step passes and the skipped ones are the ones that
# would have done nothing: the same run, byte for byte (docs/decisions/0049).
import collections
import math
import struct

from edge_agent.link.core import LinkCore
from edge_agent.link.messages import decode_hello
from firmware import messages as M
from sim.cabinet import ASK


MAX_JUMP_MS = 1000    # the longest pass-free stretch: well inside the watchdog's timeout (firmware/main.py)


class VirtualHost:
    def __init__(self, sim, step_ms=1, events=False, **core_options):
        self.sim = sim
        self.step_ms = step_ms    # virtual ms per firmware pass (a board loops about every 1-5 ms)
        self.events_driven = events
        self._origin = sim.now    # the passes' grid: origin + k * step_ms
        self.core = LinkCore(now=sim.now, **core_options)
        self.events = []          # every event delivered, in order
        self.unread = collections.deque(maxlen=10000)   # the same, for VirtualCabinet.next_event to hand on
        self.passes = 0           # firmware passes run
        self._conversion_only = False
        self._limit = None        # _next_pass's next time for anything but a conversion
        self._host_only = False
        self._firmware_next = None    # next_events() as of a host-only step, still the firmware's after it

    def tick(self, ms=None):
        """Let ms of virtual time pass (one step when None), rounded down to whole steps, at least one."""
        step = self.step_ms
        end = self.sim.now + max(1, (ms or step) // step) * step
        self._firmware_next = None        # hands may have moved something since the last pass
        while self.sim.now < end:
            self._pass(end)

    def _grid(self, t):
        """The first pass time at or after t."""
        step = self.step_ms
        return t + (self._origin - t) % step

    def _pass_at(self, t, now):
        """The pass for something due at t: on the grid, and at least a step after now (the core's timers may
        be fractional). _grid written out: this runs on most passes."""
        step = self.step_ms
        t = math.ceil(t)
        t += (self._origin - t) % step
        soonest = now + step
        return t if t > soonest else soonest

    def _pass(self, end):
        """Poll the core, run the cabinet to its next pass (the next step; with events the next thing that can
        happen, at most `end`) and hand the core what came back."""
        sim, core = self.sim, self.core
        now = sim.now
        nxt = now + self.step_ms
        firmware = True
        if self.events_driven:
            due = core.next_deadline()
            out = core.poll(now)
            if out:
                sim.uart_host_write(out)
            elif due is None or due > now:       # a poll that ran a timer may have finished an operation
                nxt = min(self._next_pass(now, due), end)   # (one that did nothing left `due` as it was)
                if self._conversion_only:
                    self._conversion_passes(nxt, end)
                    return
                firmware = not self._host_only
        else:
            out = core.poll(now)
            if out:
                sim.uart_host_write(out)
        if firmware:
            self._firmware_next = None
            sim.advance(nxt - now, nxt - now)
            self.passes += 1
        else:
            sim.host_step(nxt - now)
        data = sim.uart_host_read()
        if data:
            core.receive(data, sim.now)
        new = core.take_events()
        if new:
            self.events.extend(new)
            self.unread.extend(new)

    def _conversion_passes(self, nxt, end):
        """Passes that only read an HX711 conversion (half of a busy cabinet's): no byte moves either way
        and nothing else is due before the next one, so the core is neither polled nor fed and the cabinet
        skips what cannot change (SimCabinet.conversion_pass). The pass times are _next_pass's own."""
        sim = self.sim
        due = self.core.next_deadline()        # fixed while the core is neither polled nor fed
        edge = sim.physics.next_edge(sim.now)  # fixed while no pin changes and doors and lanes are not stepped
        while True:
            now = sim.now
            quiet = sim.conversion_pass(nxt - now)
            self.passes += 1
            if not quiet:
                break
            now = nxt
            # After a quiet pass every other time _next_pass worked out stands or has moved later (the
            # firmware's timers are absolute, its watchdog was fed, the HX711s were read): while the next
            # conversion still comes first, that is the next pass, as _next_pass would find. Otherwise ask it.
            conversion = sim.next_conversion()
            if conversion is not None:
                nxt = self._pass_at(conversion, now)
                if nxt >= self._limit:
                    nxt = self._next_pass(now, due, edge)   # a poll now would do nothing
            else:
                nxt = self._next_pass(now, due, edge)
            nxt = min(nxt, end)
            if not self._conversion_only or nxt >= end:
                break
        data = sim.uart_host_read()      # nothing: a pass that sent bytes is not quiet, and ends the run
        assert not data

    def _next_pass(self, now, due, edge=ASK):
        """The next pass's time. _conversion_only says whether the firmware has only an HX711 conversion to
        read then; _host_only whether only the host has work then (the core's timer is due, or the firmware's
        bytes reach it), the firmware having nothing before a later pass (no byte for it, no input, timer,
        edge or conversion): SimCabinet.host_step. After a host-only step in which the host wrote nothing,
        the firmware's times stand as they were (it ran no pass, nothing reached it, and no edge came: one
        would have been its time), so they are not asked again."""
        sim = self.sim
        if self._firmware_next is not None:
            conversion, other = self._firmware_next
            self._firmware_next = None
        else:
            conversion, other = sim.next_events(edge)
        limit = now + MAX_JUMP_MS            # the firmware's: a pass at least this often (its watchdog)
        if other is not None and other < limit:
            limit = other
        firmware = limit if conversion is None or conversion > limit else conversion
        if due is not None and due < limit:
            limit = due
        if sim.sending():                    # they reach the host at the next point of the grid, as in a tick
            carried = now + self.step_ms
            if carried < limit:
                limit = carried
        nxt = limit if conversion is None or conversion > limit else conversion
        nxt = self._pass_at(nxt, now)
        self._conversion_only = conversion is not None and nxt < limit
        self._host_only = firmware > nxt
        if self._host_only:
            self._firmware_next = (conversion, other)
        self._limit = limit
        return nxt

    def _until(self, done, limit_ms):
        end = self.sim.now + limit_ms
        if self.events_driven:
            end = self._grid(end)
        self._firmware_next = None        # hands may have moved something since the last pass
        while not done():
            if self.sim.now >= end:
                return False
            self._pass(end)
        return True

    def run(self, op, limit_ms=60000):
        """Run until the operation finishes; return its result (or raise its error)."""
        if not self._until(lambda: op.done, limit_ms):
            raise AssertionError("operation still running after %d ms of virtual time" % limit_ms)
        return op.result()

    def wait_for(self, predicate, limit_ms):
        return self._until(predicate, limit_ms)

    # Conveniences for the common requests.
    def call(self, kind, payload=b""):
        return self.run(self.core.call(kind, payload, self.sim.now))

    def hello(self):
        return self.call(M.HELLO)

    def actuate(self, kind, cmd_id, *args, timeout_ms=30000):
        return self.run(self.core.actuate(kind, cmd_id, args, self.sim.now, timeout_ms), timeout_ms + 5000)

    def events_of(self, ev_type):
        return [e for e in self.events if e.type == ev_type]


class VirtualCabinet:
    """The agent-facing cabinet interface, as CabinetLink offers it (same names, same results, same errors),
    over a VirtualHost: lets the agent's flows run against the simulated cabinet in virtual time."""

    def __init__(self, host, timeout_ms=30000):
        self.host = host
        self.timeout_ms = timeout_ms

    def _act(self, kind, cmd_id, *args):
        return self.host.actuate(kind, cmd_id, *args, timeout_ms=self.timeout_ms)

    def hello(self):
        return self.host.hello()

    @property
    def boot_id(self):
        return self.host.core.boot_id

    def status(self):
        return self.host.call(M.STATUS)

    def read_bin(self, bin):
        return self.host.call(M.READ_BIN, bytes((bin,)))

    def vend(self, lane, cmd_id):
        return self._act(M.VEND, cmd_id, lane)

    def unlock(self, door, cmd_id, pulse_ms=0):
        return self._act(M.UNLOCK, cmd_id, door, pulse_ms)

    def tare(self, bin, cmd_id):
        return self._act(M.TARE, cmd_id, bin)

    def calibrate(self, bin, cmd_id, known_mg):
        return self._act(M.CALIBRATE, cmd_id, bin, known_mg)

    def clear_lane(self, lane, cmd_id):
        return self._act(M.CLEAR_LANE, cmd_id, lane)

    def home_check(self, lane, cmd_id):
        return self._act(M.HOME_CHECK, cmd_id, lane)

    def query(self, cmd_id):
        return self.host.run(self.host.core.query(cmd_id, self.host.sim.now))

    def drop_seen(self, cmd_id):
        return self.host.core.drop_seen(cmd_id)

    def next_event(self, timeout=None):
        """The next event the firmware sent, or None: as CabinetLink.next_event, except that virtual time
        does not pass here (it passes while commands run and in wait())."""
        return self.host.unread.popleft() if self.host.unread else None

    def event_stored(self, event):
        """Acknowledge it to the firmware (a host made with ack_when_stored=True; else it already is)."""
        return self.host.core.event_stored(event)

    def event_not_stored(self, event):
        self.host.core.event_not_stored(event)

    def wait(self, ms):
        """Let `ms` of virtual time pass (a person's hand in a bin, a door held open)."""
        self.host.tick(ms)
