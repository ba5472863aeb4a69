"""The cabinet at the pilot site: the real firmware on the simulated cabinet (sim.cabinet.SimCabinet), the
agent's real link core over it in virtual time (sim.virtual_host), and the agent's real flows on the ledger
(Vending, WeighBins). The ledger's ManualClock moves with the cabinet's virtual time while the cabinet works,
and jumps over the idle time between visits to it (nothing moves in a closed cabinet, so nothing is ticked).
While it works, time is event-driven: the firmware runs a pass only when something can happen.

People's hands are here too: what a hand does to the physical cabinet (take pieces from a bin, close a
door, load a spiral) is the hardware boundary, so it acts on the sim's physics directly."""
import contextlib

from edge_agent.flows import installer
from edge_agent.flows.vending import Vending
from edge_agent.rules.refusal import Refusal
from edge_agent.flows.weighing import WeighBins
from sim.cabinet import Faults, SimCabinet
from sim.virtual_host import VirtualCabinet, VirtualHost
from sim.pilot import faults as fault_rates
from firmware import messages as M

CAL_MG = 500_000               # the installer's reference weight (500 g), as in sim/demo.py
DOOR_CLOSE_MS = 300            # after a hand shuts a door: the firmware debounces and reports it
SETTLE_AFTER_RESET_MS = 1000   # after an MCU reset mid-vend: longer than any item takes to fall through the beam
STEP_MS = 5                    # the firmware's pass grid: a board loops every 1-5 ms; 5 is the slow end


class ClockedCabinet:
    """VirtualCabinet with the ledger's clock moved along with the simulation's virtual time."""

    def __init__(self, inner, sim, clock):
        self.inner, self.sim, self.clock = inner, sim, clock
        self._seen = sim.now

    def _sync(self):
        self.clock.advance(self.sim.now - self._seen)
        self._seen = self.sim.now

    def _call(self, fn, *args):
        try:
            return fn(*args)
        finally:
            self._sync()

    @property
    def boot_id(self):
        return self.inner.boot_id

    def hello(self):
        return self._call(self.inner.hello)

    def status(self):
        return self._call(self.inner.status)

    def read_bin(self, bin):
        return self._call(self.inner.read_bin, bin)

    def vend(self, lane, cmd_id):
        return self._call(self.inner.vend, lane, cmd_id)

    def unlock(self, door, cmd_id, pulse_ms=0):
        return self._call(self.inner.unlock, door, cmd_id, pulse_ms)

    def tare(self, bin, cmd_id):
        return self._call(self.inner.tare, bin, cmd_id)

    def calibrate(self, bin, cmd_id, known_mg):
        return self._call(self.inner.calibrate, bin, cmd_id, known_mg)

    def clear_lane(self, lane, cmd_id):
        return self._call(self.inner.clear_lane, lane, cmd_id)

    def query(self, cmd_id):
        return self._call(self.inner.query, cmd_id)

    def drop_seen(self, cmd_id):
        return self.inner.drop_seen(cmd_id)

    def wait(self, ms):
        return self._call(self.inner.wait, ms)


class Station:
    """One pilot cabinet: the sim, the agent's flows on the ledger, and what is physically in the doors and
    scan-only bins (the sim models lanes and bins itself)."""

    def __init__(self, site, ledger, clock, seed, step_ms=STEP_MS, hang_rate=fault_rates.HANG_RATE, events=True):
        """events: event-driven virtual time (sim/virtual_host.py), the HX711s read a word at a time; False:
        a firmware pass every step_ms and the HX711s clocked bit by bit (the same run, far slower)."""
        raw = dict(site.cabinet_config)
        raw["sim"] = dict(raw["sim"], hang_rate=hang_rate)
        self.site = site
        self.ledger = ledger
        self.sim = SimCabinet(raw, seed=seed, faults=Faults(seed=seed), firmware_errors="reset", hx711_words=events)
        self.host = VirtualHost(self.sim, step_ms=step_ms, events=events)
        self.host.hello()
        self.cabinet = ClockedCabinet(VirtualCabinet(self.host), self.sim, clock)
        self.vending = Vending(ledger, self.cabinet)
        self.bins = WeighBins(ledger, self.cabinet)
        self.held = {l.id: l.maximum for l in site.locations if l.kind in ("door", "scan")}
        self.resets = 0                                   # MCU resets injected mid-vend

    @property
    def physics(self):
        return self.sim.physics

    # -- the installer ------------------------------------------------------------------------------------
    def calibrate_bins(self, person):
        """Tare and calibrate every weigh bin through the agent's flow (intent, TARE/CALIBRATE, outcome), as
        an installer does on the installer screen: empty bin, tare, reference weight, calibrate, restock."""
        for loc in self.site.locations:
            if loc.kind != "bin":
                continue
            model = self.physics.bin(loc.unit)
            pieces, model.pieces = model.pieces, 0
            self.cabinet.wait(2000)                       # the hand is out and the scale settles
            for action, setup in (("tare", None), ("calibrate", CAL_MG)):
                if setup:
                    model.place(setup / 1000)
                    self.cabinet.wait(2000)
                try:
                    if setup:
                        result = installer.calibrate(self.ledger, self.cabinet, person, loc.id, setup)
                    else:
                        result = installer.tare(self.ledger, self.cabinet, person, loc.id)
                except Refusal as refused:
                    raise RuntimeError("bin %d: %s failed at installation (%s)" % (loc.unit, action, refused))
                if not result.ok:
                    raise RuntimeError("bin %d: %s failed at installation (%s)" % (loc.unit, action, result))
            model.place(0)
            model.put(pieces)
            self.cabinet.wait(2000)

    # -- hands ---------------------------------------------------------------------------------------------
    def close_door(self, unit):
        self.physics.door(unit).close()
        self.cabinet.wait(DOOR_CLOSE_MS)

    def load_lane(self, unit, n):
        self.physics.lane(unit).items += n

    def lane_items(self, unit):
        return self.physics.lane(unit).items

    def bin_take(self, unit, n):
        return self.physics.bin(unit).take(n)

    def bin_put(self, unit, n):
        self.physics.bin(unit).put(n)

    def shrink_lane(self, unit, n):
        """n items leave a spiral by hand, with no vend (shrinkage); returns how many went."""
        lane = self.physics.lane(unit)
        n = min(n, lane.items)
        lane.items -= n
        return n

    @contextlib.contextmanager
    def reset_mid_vend(self, delay_ms):
        """Within this block the next vend's microcontroller resets `delay_ms` after its motor starts (a
        brown-out, a watchdog): the vend's answer is lost and the agent's recovery must settle it."""
        inner, host, sim = self.cabinet.inner, self.host, self.sim
        original = inner.vend

        def vend_then_reset(lane, cmd_id):
            inner.vend = original                         # only this one vend
            op = host.core.actuate(M.VEND, cmd_id, (lane,), sim.now, inner.timeout_ms)
            host.wait_for(lambda: "lane %d" % lane in sim.physics.safety.energised(), 1000)
            host.tick(delay_ms)
            sim.reset_mcu(M.RESET_HARD)
            self.resets += 1
            try:
                return host.run(op, inner.timeout_ms + 5000)
            finally:
                # An item already pushed off falls now, while the new boot runs no command (the cabinet's
                # virtual time stands still between takes: without this it would fall into the next vend).
                host.tick(SETTLE_AFTER_RESET_MS)

        inner.vend = vend_then_reset
        try:
            yield
        finally:
            inner.__dict__.pop("vend", None)

    def jam(self, unit, jammed=True):
        self.physics.lane(unit).jammed = jammed

    def physical(self, loc):
        """What is really in a location now."""
        if loc.kind == "lane":
            return self.physics.lane(loc.unit).items
        if loc.kind == "bin":
            return self.physics.bin(loc.unit).pieces
        return self.held[loc.id]

    # -- what the hardware did, for the checks -------------------------------------------------------------
    def dropped(self, unit):
        return self.physics.lane(unit).dropped

    def hangs(self):
        return sum(lane.hangs for lane in self.physics.matrix.lanes) if self.physics.matrix else 0

    def door_opens(self):
        return sum(d.opens for d in self.physics.doors)

    def forget_events(self):
        """The link's delivered events are not needed by the pilot: drop them so a long run stays small."""
        self.host.events.clear()
