"""Badge tap to unlock / vend command sent, with nothing faked but the hardware: a private pcscd with a vpcd
virtual reader (tests/pcsc_rig.PcscRig), a virtual card tapped on it, the agent as its own process
(`locker-agent run`, [readers] pcsc = true) and the simulated cabinet (real firmware logic) behind a pty in
this process. N rounds (a warm-up round first, not counted), each:

  1. tap -> identified: from VirtualCard.tap() until GET /api/state shows the technician's session. The API
     is polled every ~2 ms, which adds up to that much. Split: tap -> pcscd reports the card (a second
     pcscd client in this process, woken by the same event as the agent's reader) -> the card receives the
     agent's GET UID. The card is then removed (and seen gone by pcscd) so the next tap is a new one.
  2. issue -> command at the cabinet: from sending POST /api/issue for door D1 (unlock) and, separately,
     lane L1 (vend) until the UNLOCK / VEND frame arrives at the cabinet's end of the pty, timestamped
     where the bridge hands the bytes it read to the sim (sim.uart_host_write, wrapped here) and decoded
     with firmware/codec.py. Each issue's HTTP answer is awaited before the next; then POST /api/logout.
  3. tap to command = identified + issue -> command, per round: the person's choice on the screen (and the
     touchscreen's own reaction) is excluded. The agent's own share is the same less tap -> pcscd: pcscd
     reports the card -> the UNLOCK / VEND frame.

pcscd learns of a vpcd card by polling the driver, so detection is phase-locked to that poll: each tap
waits a random 0..0.4 s first, as a person's would come at any point of it. The poll is pcscd's, not ours:
a driver without a polling thread of its own (vpcd has none) is asked IFDHICCPresence every
PCSCLITE_STATUS_POLL_RATE = 400 ms (pcsc-lite 1.9.9, src/pcscd.h.in and the sleep in eventhandler.c); the
CCID driver gives pcscd a thread woken by the reader's interrupt endpoint instead, so a USB reader reports
a card at once. The virtual card answers vpcd without delayed ACKs (sim/virtual_card.py): before that, each
exchange with pcscd waited about 40 ms. Reported apart: the agent's PC/SC wait
(edge_agent.badge.pcsc.POLL_S), what pcscd's own polling is seen to cost, the sim speed.
The last line is JSON. Usage: .venv/bin/python bench/tap_to_command.py [--count N] [--seed S] [--dir DIR]"""
import argparse
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.badge.pcsc import POLL_S  # noqa: E402
from edge_agent.rules.csv_io import import_role_allows  # noqa: E402
from firmware import messages as M  # noqa: E402
from firmware.codec import FrameDecoder  # noqa: E402
from sim.virtual_card import GET_UID, VirtualCard  # noqa: E402
from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402
from tests.pcsc_rig import PcscRig  # noqa: E402

READER = "Virtual PCD 00 00"
TECH_UID = bytes.fromhex("04A1B2C3D4E5F6")
TECH = "T100"
SIM_SPEED = 3.0                      # the fastest a live agent keeps up with
FAST_LANES = {"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5}        # as tests/test_end_to_end.py
FAST_DROPS = {"drop_delay_min_ms": 50, "drop_delay_max_ms": 120}
DOOR_HOLD_OPEN_MS = 300              # the simulated person shuts the door again before the next round
API_POLL_S = 0.002
TAP_JITTER_S = 0.4                   # about pcscd's poll of the virtual reader
WAIT_S = 10.0


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(samples_s):
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2), "min_ms": round(min(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


class TimedCard(VirtualCard):
    """The virtual card, noting when the agent's GET UID reaches it."""
    uid_asked_at = None

    def answer(self, apdu):
        if apdu == GET_UID and self.uid_asked_at is None:
            self.uid_asked_at = time.monotonic()
        return super().answer(apdu)

    def tap(self, uid=None, connect_timeout=5.0):
        self.uid_asked_at = None
        super().tap(uid, connect_timeout)


class UartWatch:
    """Host-to-cabinet frames with the time the bridge read their last byte from the pty: sim.uart_host_write
    is wrapped (on the bridge thread), every byte is decoded here too, then handed on unchanged."""

    def __init__(self, bridge):
        self.frames = []             # (monotonic time, kind)
        self._at = None
        self._decoder = FrameDecoder(lambda seq, kind, payload: self.frames.append((self._at, kind)))
        bridge.call(self._install)

    def _install(self, sim):
        original = sim.uart_host_write

        def uart_host_write(data):
            self._at = time.monotonic()
            self._decoder.feed(data)
            original(data)

        sim.uart_host_write = uart_host_write

    def between(self, kind, start, end):
        return [t for t, k in list(self.frames) if k == kind and start <= t <= end]


class PcscWatch:
    """A second pcscd client on the reader (its own thread and context): when pcscd reports the card present
    or gone. pyscard lets go of the GIL while SCardGetStatusChange waits, so the bridge thread runs on."""

    def __init__(self, reader):
        from smartcard import scard as S
        self.S = S
        self.reader = reader
        self.present = False
        self.changed_at = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        hr, self.ctx = S.SCardEstablishContext(S.SCARD_SCOPE_USER)
        if hr != S.SCARD_S_SUCCESS:
            raise RuntimeError("no PC/SC context: %s" % S.SCardGetErrorMessage(hr))
        self._thread = threading.Thread(target=self._run, name="pcsc watch", daemon=True)
        self._thread.start()

    def _run(self):
        S = self.S
        known = S.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            hr, states = S.SCardGetStatusChange(self.ctx, 200, [(self.reader, known)])
            if hr == S.SCARD_E_TIMEOUT:
                continue
            if hr != S.SCARD_S_SUCCESS:
                time.sleep(0.05)
                continue
            at = time.monotonic()
            known = states[0][1] & ~S.SCARD_STATE_CHANGED
            present = bool(known & S.SCARD_STATE_PRESENT)
            with self._cond:
                if present != self.present:
                    self.present, self.changed_at = present, at
                    self._cond.notify_all()

    def wait(self, present, timeout=WAIT_S):
        with self._cond:
            if not self._cond.wait_for(lambda: self.present == present, timeout):
                raise AssertionError("pcscd never reported the card %s" % ("present" if present else "gone"))
            return self.changed_at

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.S.SCardReleaseContext(self.ctx)


def build_site(folder, stock):
    ledger = ledger_from_csv(
        folder,
        skus="part_number,description,category\nGLV,Nitrile gloves,ppe\nSFG,Safety glasses,ppe\n",
        locations="id,kind,unit,sku,on_hand,min,max,refill_pack\n"
                  "L1,lane,1,GLV,%d,1,%d,1\nD1,door,1,SFG,%d,1,%d,1\n" % (stock, stock, stock, stock),
        users="id,name,role,badges\n%s,Ana,technician,%s\n" % (TECH, TECH_UID.hex().upper()))
    allows = Path(folder) / "allows.csv"
    allows.write_text("role,category\ntechnician,ppe\n")
    import_role_allows(ledger, allows)
    ledger.close()


def one_round(agent, card, pcsc, uart, rng):
    time.sleep(rng.uniform(0, TAP_JITTER_S))
    tapped = time.monotonic()
    card.tap(TECH_UID)
    end = tapped + WAIT_S
    while True:
        state = agent.request("GET", "/api/state")[1]
        if state["session"] and state["session"]["user_id"] == TECH:
            identified = time.monotonic()
            break
        if time.monotonic() > end:
            raise AssertionError("no session %.0f s after the tap: %r; agent log:\n%s"
                                 % (WAIT_S, state, agent.log()[-3000:]))
        time.sleep(API_POLL_S)
    seen = pcsc.wait(True)
    asked = card.uid_asked_at
    card.remove()
    row = {"tap_to_pcscd": seen - tapped, "pcscd_to_get_uid": asked - seen, "tap_to_get_uid": asked - tapped,
           "get_uid_to_identified": identified - asked, "tap_to_identified": identified - tapped}
    for location, kind, outcome, name in (("D1", M.UNLOCK, "opened", "unlock"), ("L1", M.VEND, "vended", "vend")):
        sent = time.monotonic()
        status, answer = agent.request("POST", "/api/issue", {"location": location, "quantity": 1})
        answered = time.monotonic()
        if status != 200 or answer.get("outcomes") != [outcome]:
            raise AssertionError("issue from %s: %s %r" % (location, status, answer))
        commands = uart.between(kind, sent, answered)
        if not commands:
            raise AssertionError("no %s frame reached the cabinet during the issue" % name)
        row["issue_to_" + name] = commands[0] - sent
        row["issue_answered_" + name] = answered - sent
        row[name + "_frames"] = len(commands)
    status, answer = agent.request("POST", "/api/logout")
    if status != 200:
        raise AssertionError("logout: %s %r" % (status, answer))
    pcsc.wait(False)              # pcscd saw the card go: the next tap is a new presentation
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=50, help="measured rounds (default 50)")
    ap.add_argument("--seed", type=int, default=1, help="for the random wait before each tap")
    ap.add_argument("--dir", default=None, help="where the agent's folder goes (default: a temp dir)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    stock = args.count + 20
    rows = []
    with contextlib.ExitStack() as cleanup:
        folder = Path(tempfile.mkdtemp(prefix="tap_to_command.", dir=args.dir))
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        rig = PcscRig()
        cleanup.callback(shutil.rmtree, rig.dir, ignore_errors=True)
        cleanup.callback(rig.stop)
        rig.start()                  # sets PCSCLITE_CSOCK_NAME here, before any PC/SC call and before the agent
        sim, port = simulated_cabinet(speed=SIM_SPEED, lane_matrix=FAST_LANES,
                                      sim=dict(FAST_DROPS, lane_items=stock, door_hold_open_ms=DOOR_HOLD_OPEN_MS))
        cleanup.callback(sim.bridge.stop)
        uart = UartWatch(sim.bridge)
        pcsc = PcscWatch(READER)
        cleanup.callback(pcsc.stop)
        build_site(folder, stock)
        config = write_agent_config(folder, port, readers={"pcsc": True, "pcsc_reader": READER})
        agent = AgentProcess(config)
        cleanup.callback(agent.kill)     # after a clean stop, nothing left to do
        agent.start()
        agent.wait_ready()
        card = TimedCard(port=rig.port)
        cleanup.callback(card.remove)
        one_round(agent, card, pcsc, uart, rng)       # warm-up: first HELLO, first connections; not counted
        for _ in range(args.count):
            rows.append(one_round(agent, card, pcsc, uart, rng))
        status = agent.stop()
        if status != 0:
            raise AssertionError("agent exited with %s; log:\n%s" % (status, agent.log()[-3000:]))

    def col(name):
        return [r[name] for r in rows]

    out = {"bench": "tap_to_command", "count": args.count, "sim_speed": SIM_SPEED,
           "reader_poll_s": POLL_S, "api_poll_ms": API_POLL_S * 1000, "tap_jitter_s": TAP_JITTER_S}
    for name in ("tap_to_identified", "tap_to_pcscd", "pcscd_to_get_uid", "tap_to_get_uid",
                 "get_uid_to_identified",
                 "issue_to_unlock", "issue_to_vend", "issue_answered_unlock", "issue_answered_vend"):
        out[name] = summary(col(name))
    out["tap_to_unlock"] = summary([r["tap_to_identified"] + r["issue_to_unlock"] for r in rows])
    out["tap_to_vend"] = summary([r["tap_to_identified"] + r["issue_to_vend"] for r in rows])
    out["pcscd_to_unlock"] = summary([r["tap_to_identified"] - r["tap_to_pcscd"] + r["issue_to_unlock"] for r in rows])
    out["pcscd_to_vend"] = summary([r["tap_to_identified"] - r["tap_to_pcscd"] + r["issue_to_vend"] for r in rows])
    out["command_frames_max"] = {"unlock": max(col("unlock_frames")), "vend": max(col("vend_frames"))}

    def line(label, key, note=""):
        print("%-36s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms%s" % (
            label, out[key]["p50_ms"], out[key]["p99_ms"], out[key]["max_ms"], note))

    print("%d rounds (plus one warm-up), sim speed x%g, API polled every %g ms (adds up to that)"
          % (args.count, SIM_SPEED, API_POLL_S * 1000))
    line("tap -> identified (GET /api/state)", "tap_to_identified")
    line("  tap -> pcscd reports the card", "tap_to_pcscd", "  (pcscd polling vpcd)")
    line("  pcscd -> GET UID at the card", "pcscd_to_get_uid", "  (agent wakes, connects, vpcd sends)")
    line("  GET UID -> session seen in the API", "get_uid_to_identified", "  (agent; API poll included)")
    line("issue -> UNLOCK frame at the cabinet", "issue_to_unlock")
    line("issue -> VEND frame at the cabinet", "issue_to_vend")
    line("tap to unlock command", "tap_to_unlock", "  (choice on the screen excluded)")
    line("tap to vend command", "tap_to_vend", "  (choice on the screen excluded)")
    line("pcscd reports the card -> UNLOCK", "pcscd_to_unlock", "  (the agent's own share)")
    line("pcscd reports the card -> VEND", "pcscd_to_vend", "  (the agent's own share)")
    line("issue -> answer, door (door open)", "issue_answered_unlock")
    line("issue -> answer, lane (item dropped)", "issue_answered_vend", "  (sim time / %g)" % SIM_SPEED)
    print("command frames per issue, max: unlock %(unlock)d, vend %(vend)d (more than 1: resent)"
          % out["command_frames_max"])
    seen = out["tap_to_pcscd"]
    print("reported apart: the agent's PC/SC wait POLL_S = %g s adds nothing (SCardGetStatusChange returns on "
          "the change itself, above as pcscd -> GET UID); what waits is pcscd's own poll of the vpcd reader "
          "(every 400 ms, PCSCLITE_STATUS_POLL_RATE, for a driver without a polling thread): "
          "tap -> pcscd spans %.0f..%.0f ms over %d taps (a random 0..%g s before each tap spreads them over "
          "that poll)" % (POLL_S, seen["min_ms"], seen["max_ms"], seen["n"], TAP_JITTER_S))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
