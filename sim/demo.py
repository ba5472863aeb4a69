# `locker-sim demo`: the README's main job. A simulated cabinet (real firmware logic, simulated physics)
# behind a pty, and the agent's real link client opening that port with pyserial, as on a Pi. A scripted
# session shows the installer's and the technician's side: calibrate a weigh bin, vend from a lane, open a
# door, take pieces from a bin, and an empty lane that is not charged. People's hands are simulated by
# changing the physics on the bridge thread; everything the script prints comes back over the link.
import time

from edge_agent.link.messages import Event
from edge_agent.link.serial import CabinetLink
from firmware import messages as M
from sim.cabinet import SimCabinet, serve_pty

CAL_WEIGHT_G = 500
STOCK_PIECES = 40
# The agent's heartbeat is every 500 ms of real time and the firmware cuts everything after 2000 ms of
# (virtual) silence, so faster than 3x real time the simulated firmware would see a live agent as gone.
MAX_SPEED = 3.0


class Session:
    def __init__(self, link, bridge, out):
        self.link = link
        self.bridge = bridge
        self.out = out
        self.cmd_id = 0
        self.t0 = time.monotonic()

    def say(self, who, text):
        self.out("%6.1fs  %-11s %s" % (time.monotonic() - self.t0, who, text))

    def next_id(self):
        self.cmd_id += 1
        return self.cmd_id

    def wait_event(self, ev_type, timeout, **match):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            event = self.link.next_event(timeout=max(0.0, end - time.monotonic()))
            if isinstance(event, Event) and event.type == ev_type and all(event[k] == v for k, v in match.items()):
                return event
        return None

    def physics(self, fn):
        """Run fn(physics) on the simulator's own thread (a hand in the cabinet)."""
        self.bridge.do(lambda sim: fn(sim.physics))


def run_demo(config_path, speed=1.0, seed=0, out=print):
    if speed > MAX_SPEED:
        raise ValueError("--speed above %g would outrun the agent's 500 ms heartbeat (the firmware cuts all "
                         "outputs after 2 s of silence)" % MAX_SPEED)
    sim = SimCabinet(config_path, seed=seed)
    port = serve_pty(sim, speed=speed)
    bin_no = sim.config["bins"]["units"][0]["number"] if sim.config["bins"]["units"] else None
    lanes = [u["number"] for u in sim.config["lanes"]["units"]]
    doors = [d["number"] for d in sim.config["doors"]]
    try:
        with CabinetLink(port, sim.config["uart"]["baud"]) as link:     # the rate this cabinet's config says
            s = Session(link, sim.bridge, out)
            hello = link.hello()
            s.say("cabinet", "%s on %s: firmware %s, protocol %d, boot 0x%08X (%s), %d doors, %d lanes, %d bins"
                  % (sim.config["name"], port, hello.firmware, hello.protocol, hello.boot_id,
                     hello.reset_cause_name, hello.doors, hello.lanes, hello.bins))
            if bin_no is not None:
                calibrate(s, bin_no)
            if lanes:
                vend(s, lanes[min(2, len(lanes) - 1)])
            if doors:
                open_door(s, doors[min(1, len(doors) - 1)])
            if bin_no is not None:
                take_from_bin(s, bin_no, 4)
            if len(lanes) > 1:
                empty = lanes[-1]
                s.physics(lambda p: setattr(p.lane(empty), "items", 0))
                vend(s, empty)
            stats = link.stats
            s.say("link", "%d frames sent, %d retransmitted, %d bad frames seen; firmware saw %d bad frames"
                  % (stats.frames_sent, stats.retransmissions, stats.bad_frames, sim.cab.link.bad_frames))
    finally:
        sim.bridge.stop()
    return 0


def calibrate(s, bin_no):
    s.say("installer", "Bin %d: empty bin on the load cell, taring" % bin_no)
    s.physics(lambda p: setattr(p.bin(bin_no), "pieces", 0))
    s.link.tare(bin_no, s.next_id())
    s.say("installer", "Bin %d: %d g reference weight placed, calibrating" % (bin_no, CAL_WEIGHT_G))
    s.physics(lambda p: p.bin(bin_no).place(CAL_WEIGHT_G))
    result = s.link.calibrate(bin_no, s.next_id(), CAL_WEIGHT_G * 1000)
    s.say("installer", "Bin %d: calibrated, %d counts per gram (%s)" % (bin_no, result.detail,
                                                                         result.result_name))
    s.physics(lambda p: p.bin(bin_no).place(0))
    lifted = s.wait_event(M.EV_BIN_CHANGED, 10, bin=bin_no)
    if lifted:
        s.say("installer", "Bin %d: reference weight lifted off, reads %.1f g" % (bin_no, lifted["weight_mg"] / 1000))
    s.physics(lambda p: p.bin(bin_no).put(STOCK_PIECES))
    stocked = s.wait_event(M.EV_BIN_CHANGED, 10, bin=bin_no)
    if stocked:
        s.say("installer", "Bin %d: stocked with %d pieces, reads %.1f g"
              % (bin_no, STOCK_PIECES, stocked["weight_mg"] / 1000))


def vend(s, lane):
    s.say("technician", "Dispensing from lane %d" % lane)
    started = time.monotonic()
    result = s.link.vend(lane, s.next_id())
    took = time.monotonic() - started
    if result.result == M.R_VENDED:
        s.say("technician", "Take your item: lane %d vended in %.1f s (%d turn%s), charged"
              % (lane, took, result.detail, "" if result.detail == 1 else "s"))
    else:
        s.say("technician", "Lane %d: %s after %d turns in %.1f s, nothing dropped, not charged"
              % (lane, result.result_name, result.detail, took))


def open_door(s, door):
    s.say("technician", "Unlocking door %d" % door)
    result = s.link.unlock(door, s.next_id())
    if result.result != M.R_OPENED:
        s.say("technician", "Door %d did not open (%s)" % (door, result.result_name))
        return
    s.say("technician", "Door %d is open (%d ms after the pulse), close it when done" % (door, result.detail))
    closed = s.wait_event(M.EV_DOOR_CLOSED, 30, door=door)
    if closed:
        s.say("technician", "Door %d closed after %.1f s" % (door, closed["open_ms"] / 1000))


def take_from_bin(s, bin_no, pieces):
    s.say("technician", "Bin %d: takes %d pieces" % (bin_no, pieces))
    s.physics(lambda p: p.bin(bin_no).take(pieces))
    event = s.wait_event(M.EV_BIN_CHANGED, 10, bin=bin_no)
    if event is None:
        s.say("technician", "Bin %d: no stable change seen" % bin_no)
        return
    piece_g = s.bridge.sim.physics.bin(bin_no).piece_mg / 1000
    count = -event["delta_mg"] / 1000 / piece_g
    s.say("technician", "Bin %d: you took %d (%.1f g, %.2f pieces by weight)"
          % (bin_no, round(count), -event["delta_mg"] / 1000, count))
