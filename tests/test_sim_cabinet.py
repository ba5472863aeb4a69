# The real firmware on the simulated hardware (sim/cabinet.py), and the locker-sim CLI behind a pty.
import os
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from firmware import messages as M
from firmware.codec import FrameDecoder, encode_frame
from firmware.config import ConfigError
from firmware.main import WDT_TIMEOUT_MS
from sim.cabinet import Faults, SimCabinet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cabinet.toml"


class Host:
    """The host end of the line, speaking the protocol just enough to drive the firmware: it acknowledges
    every event and pings every 500 ms, as an agent would, so the firmware sees a live link."""

    def __init__(self, sim, ack=True):
        self.sim = sim
        self.ack = ack
        self.frames = []
        self.decoder = FrameDecoder(self._frame)
        self.seq = 0
        self.last_sent = sim.now

    def _frame(self, seq, kind, payload):
        self.frames.append((seq, kind, bytes(payload)))
        if kind == M.EVENT and self.ack:
            self.send(M.ACK_EVENT, bytes((seq,)))

    def send(self, kind, payload=b""):
        self.seq = (self.seq + 1) & 0xFF
        self.sim.uart_host_write(encode_frame(self.seq, kind, payload))
        self.last_sent = self.sim.now
        return self.seq

    def pump(self):
        self.decoder.feed(self.sim.uart_host_read())
        if self.sim.now - self.last_sent >= 500:
            self.send(M.PING)

    def request(self, kind, payload=b"", timeout_ms=1000):
        """Send a request; return (status, body) of its response."""
        seq = self.send(kind, payload)
        found = []

        def answered():
            self.pump()
            found[:] = [f for f in self.frames if f[0] == seq and f[1] == kind | M.RESPONSE]
            return bool(found)

        assert self.sim.run_until(answered, timeout_ms), "no response to kind 0x%02x" % kind
        self.frames.remove(found[0])
        return found[0][2][0], found[0][2][1:]

    def events(self, ev_type):
        self.pump()
        return [f[2][1:] for f in self.frames if f[1] == M.EVENT and f[2][0] == ev_type]

    def wait_event(self, ev_type, predicate=lambda body: True, timeout_ms=5000):
        found = []

        def seen():
            found[:] = [b for b in self.events(ev_type) if predicate(b)]
            return bool(found)

        assert self.sim.run_until(seen, timeout_ms), "no event %d" % ev_type
        return found[0]

    def hello(self):
        status, body = self.request(M.HELLO)
        assert status == M.OK
        return struct.unpack_from(M.HELLO_R, body)


def outputs_all_off(sim):
    return all(sim.hal.level(p) == 0 for p in sim.hal.output_pins)


def test_boots_the_firmware_and_answers_hello():
    sim = SimCabinet(EXAMPLE, seed=3)
    host = Host(sim)
    assert outputs_all_off(sim)
    boot = host.wait_event(M.EV_BOOT, timeout_ms=100)
    boot_id, cause = struct.unpack(">IB", boot)
    assert cause == M.RESET_POWER_ON
    protocol, hello_boot, hello_cause, uptime, doors, lanes, bins = host.hello()
    assert (protocol, hello_boot, hello_cause, doors, lanes, bins) == (M.PROTOCOL_VERSION, boot_id, cause, 4, 12, 4)
    assert sim.boots == [(0, M.RESET_POWER_ON)]


def test_mcu_reset_makes_a_new_boot_with_every_output_off():
    sim = SimCabinet(EXAMPLE, seed=4)
    host = Host(sim)
    old_boot = host.hello()[1]
    status, _ = host.request(M.UNLOCK, struct.pack(">IIBH", old_boot, 1, 1, 800))
    assert status == M.OK
    sim.advance(100)
    solenoid = sim.config["doors"][0]["solenoid"]
    assert sim.hal.level(solenoid) == 1 and sim.physics.safety.energised() == ["door 1"]

    sim.reset_mcu(M.RESET_HARD)
    assert outputs_all_off(sim) and sim.physics.safety.energised() == []
    assert 100 <= sim.physics.safety.longest_on_ms("solenoid") <= 105  # + the response's time on the wire
    host.frames.clear()
    boot_id, cause = struct.unpack(">IB", host.wait_event(M.EV_BOOT, timeout_ms=100))
    assert boot_id != old_boot and cause == M.RESET_HARD
    assert host.hello()[1:3] == (boot_id, M.RESET_HARD)
    # Nothing addressed to the old boot actuates.
    status, _ = host.request(M.UNLOCK, struct.pack(">IIBH", old_boot, 2, 1, 800))
    assert status == M.E_WRONG_BOOT
    sim.advance(100)
    assert outputs_all_off(sim)
    assert [c for _, c in sim.boots] == [M.RESET_POWER_ON, M.RESET_HARD]


def test_a_firmware_that_stops_feeding_the_watchdog_is_reset():
    sim = SimCabinet(EXAMPLE, seed=5)
    sim.advance(100)
    sim.cab.step = lambda now: False                 # a pass that never completes
    sim.advance(WDT_TIMEOUT_MS + 10)
    assert [c for _, c in sim.boots] == [M.RESET_POWER_ON, M.RESET_WATCHDOG]
    assert sim.boots[1][0] == 100 + WDT_TIMEOUT_MS + 1
    Host(sim).wait_event(M.EV_BOOT, lambda body: body[4] == M.RESET_WATCHDOG, timeout_ms=100)


def test_a_firmware_exception_raises_in_tests_and_resets_like_the_board_otherwise():
    def broken(now):
        raise RuntimeError("boom")

    sim = SimCabinet(EXAMPLE, seed=6)
    sim.cab.step = broken
    with pytest.raises(RuntimeError):
        sim.advance(1)

    logs = []
    sim = SimCabinet(EXAMPLE, seed=6, firmware_errors="reset", log=lambda ms, text: logs.append(text))
    host = Host(sim)
    sim.cab.step = broken
    sim.advance(20)
    assert [c for _, c in sim.boots] == [M.RESET_POWER_ON, M.RESET_SOFT] and sim.firmware_exceptions == 1
    assert any("RuntimeError: boom" in text for text in logs)
    # As main.py does on a board, the F_EXCEPTION event is flushed out of the UART before the reset, so the
    # host hears of the fault (it was queued behind the unacknowledged EV_BOOT, which goes first).
    host.wait_event(M.EV_BOOT, lambda body: body[4] == M.RESET_SOFT, timeout_ms=1000)
    assert host.decoder.bad == 0
    assert outputs_all_off(sim)


def test_a_vend_drops_one_item_and_only_one_motor_runs():
    sim = SimCabinet(EXAMPLE, seed=7)
    host = Host(sim)
    boot = host.hello()[1]
    lane = sim.physics.lane(5)
    items = lane.items
    status, _ = host.request(M.VEND, struct.pack(">IIB", boot, 10, 5))
    assert status == M.OK
    done = host.wait_event(M.EV_CMD_DONE, timeout_ms=6000)
    cmd_id, kind, phase, result, detail = struct.unpack(M.CMD_R, done)
    assert (cmd_id, kind, phase, result, detail) == (10, M.VEND, M.DONE, M.R_VENDED, 1)
    assert lane.items == items - 1 and lane.turns == 1
    assert sim.physics.safety.max_concurrent == 1
    assert sim.physics.safety.longest_on_ms("motor") <= sim.config["lanes"]["max_run_ms"]


def test_scheduled_resets():
    sim = SimCabinet(EXAMPLE, faults=Faults(reset_at_ms=[1000, 2500]))
    sim.advance(3000)
    assert sim.boots == [(0, M.RESET_POWER_ON), (1000, M.RESET_POWER_ON), (2500, M.RESET_POWER_ON)]
    sim = SimCabinet(EXAMPLE, faults=Faults(reset_every_ms=1000, reset_cause=M.RESET_HARD))
    sim.advance(3500)
    assert [t for t, _ in sim.boots] == [0, 1000, 2000, 3000]


def test_unit_faults_and_their_errors():
    sim = SimCabinet(EXAMPLE, faults=Faults(stuck_doors=[2], jammed_lanes=[4, 7]))
    assert sim.physics.door(2).stuck and not sim.physics.door(1).stuck
    assert sim.physics.lane(4).jammed and sim.physics.lane(7).jammed and not sim.physics.lane(5).jammed
    with pytest.raises(ConfigError, match="stuck door 9: the cabinet has doors 1, 2, 3, 4"):
        SimCabinet(EXAMPLE, faults=Faults(stuck_doors=[9]))
    with pytest.raises(ConfigError, match="jammed lane 13"):
        SimCabinet(EXAMPLE, faults=Faults(jammed_lanes=[13]))


def test_line_faults_hit_both_directions_and_follow_the_seed():
    sim = SimCabinet(EXAMPLE, faults=Faults(drop_rate=1.0))
    sim.uart_host_write(encode_frame(1, M.HELLO))
    sim.advance(1000)
    assert sim.uart_host_read() == b""               # the EV_BOOT resends were all lost
    assert sim.cab.link.last_rx is None              # and the HELLO never arrived

    def noisy(seed):
        s = SimCabinet(EXAMPLE, faults=Faults(flip_rate=0.05, seed=seed))
        for i in range(20):
            s.uart_host_write(encode_frame(i, M.PING, b"0123456789"))
            s.advance(100)
        return s.uart_host_read(), s.line.flipped, s.cab.link.bad_frames

    a = noisy(1)
    assert a == noisy(1)
    assert a[1] > 0 and a[2] > 0                     # flipped bytes reached the firmware as bad frames
    decoder = FrameDecoder(lambda *f: None)
    decoder.feed(a[0])
    assert decoder.bad > 0 and decoder.good > 0     # ... and the host, too
    assert a != noisy(2)


def test_the_line_runs_at_the_baud_rate():
    sim = SimCabinet(EXAMPLE)
    sim.uart_host_write(b"\x00" * 1000)               # idle fill: the firmware ignores it
    sim.advance(10)
    assert sim.line.to_mcu_bytes == 921  # the example's 921600 baud = 92.16 bytes/ms


def test_flash_survives_a_reset():
    sim = SimCabinet(EXAMPLE)
    sim.hal.save("calibration", {"1": {"offset": 123}})
    sim.reset_mcu()
    assert sim.hal.load("calibration") == {"1": {"offset": 123}}


# --- the CLI -------------------------------------------------------------------------------------------


def _locker_sim():
    script = Path(sys.executable).parent / "locker-sim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def _read_line(stream, timeout):
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output within %s s" % timeout
    return stream.readline().decode()


def test_cli_serves_a_port_that_pyserial_can_talk_to(tmp_path):
    link = tmp_path / "cabinet0"
    stderr = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen(_locker_sim() + ["cabinet", "--config", str(EXAMPLE), "--link", str(link)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    try:
        first = _read_line(proc.stdout, 30)
        assert first.startswith("port: ")
        port = first[len("port: "):].strip()
        assert os.path.realpath(link) == port
        frames = []
        decoder = FrameDecoder(lambda seq, kind, payload: frames.append((seq, kind, bytes(payload))))
        with serial.Serial(str(link), 921600, timeout=0.1) as s:
            s.write(encode_frame(42, M.HELLO))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(f[1] == M.HELLO | M.RESPONSE for f in frames):
                decoder.feed(s.read(256))
        hello = [f for f in frames if f[1] == M.HELLO | M.RESPONSE]
        assert hello, "no HELLO response; got %r" % frames
        assert hello[0][0] == 42 and hello[0][2][0] == M.OK
        assert struct.unpack_from(M.HELLO_R, hello[0][2], 1)[4:] == (4, 12, 4)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        stderr.close()
    assert rc == 0
    assert not os.path.lexists(link)                 # the symlink goes with the process
    assert "stopped:" in (tmp_path / "stderr.txt").read_text()


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("[cabinet\n", "is not valid TOML"),
    ("[[door]]\nsolenoid = 99\n", "door 1 solenoid: pin must be between 0 and 63, got 99"),
    ("[[door]]\n[sim]\nlane_itmes = 3\n", "[sim]: unknown key 'lane_itmes'"),
])
def test_cli_rejects_bad_config_files_in_one_line(tmp_path, content, message):
    path = tmp_path / "cab.toml"
    if content is not None:
        path.write_text(content)
    proc = subprocess.run(_locker_sim() + ["cabinet", "--config", str(path)], cwd=ROOT,
                          capture_output=True, timeout=60)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and message in err and str(path) in err
    assert proc.stdout == b""


def test_serve_pty_runs_the_sim_in_a_thread_behind_a_port():
    from sim.cabinet import serve_pty

    sim = SimCabinet(EXAMPLE, seed=8)
    path = serve_pty(sim, speed=4.0)
    try:
        frames = []
        decoder = FrameDecoder(lambda seq, kind, payload: frames.append((seq, kind, bytes(payload))))
        with serial.Serial(path, 921600, timeout=0.1) as s:
            s.write(encode_frame(9, M.PING, b"abc"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(f[1] == M.PING | M.RESPONSE for f in frames):
                decoder.feed(s.read(256))
        assert (9, M.PING | M.RESPONSE, b"\x00abc") in frames
    finally:
        sim.bridge.stop()
    assert sim.now > 0                                # virtual time moved with real time


def busy_session(events):
    """Vends (one into a jammed lane), an unlock the person answers, a tare, a lossy line, a scheduled MCU
    reset and a stretch where the host goes quiet (the firmware's link-loss limit): what the host saw, when."""
    from sim.virtual_host import VirtualHost
    sim = SimCabinet(EXAMPLE, seed=3, faults=Faults(drop_rate=0.002, flip_rate=0.002, seed=4, jammed_lanes=[7],
                                                    reset_at_ms=[30000]), hx711_words=events)
    host = VirtualHost(sim, step_ms=5, events=events)
    seen = []

    def act(kind, cmd_id, *args):
        try:
            done = host.actuate(kind, cmd_id, *args, timeout_ms=15000)
            seen.append((sim.now, kind, cmd_id, done.result, done.detail))
        except Exception as e:          # a reset or the lossy line may cut one: when and how is the point
            seen.append((sim.now, kind, cmd_id, type(e).__name__))

    host.hello()
    act(M.VEND, 1, 5)
    act(M.VEND, 2, 7)
    act(M.UNLOCK, 3, 1, 0)
    host.tick(7000)                     # the door springs open; the person shuts it after hold_open_ms
    act(M.TARE, 4, 1)
    host.core.heartbeat_ms = None       # the host says nothing for a while: the firmware calls the link lost
    host.tick(4000)
    host.core.heartbeat_ms = 500
    host.tick(20000)                    # through the scheduled reset
    host.hello()
    act(M.VEND, 5, 6)
    physical = ([l.dropped for l in sim.physics.matrix.lanes], [d.opens for d in sim.physics.doors], sim.boots,
                [c.reads for c in sim.physics.scale.cells])
    return seen, [(e.seq, e.type, e.raw) for e in host.events], sim.now, physical, host.passes


def test_event_driven_time_is_the_same_session_as_a_pass_every_step():
    """VirtualHost(events=True) runs the firmware's next pass at the next thing that can happen (and reads the
    HX711s a word at a time): the host sees the same answers and events at the same virtual ms as with a
    pass every 5 ms (the bits clocked one by one), in far fewer passes."""
    fast, steps = busy_session(True), busy_session(False)
    assert fast[:4] == steps[:4]
    seen, events = fast[0], fast[1]
    assert [s[3] for s in seen[:3]] == [M.R_VENDED, M.R_JAMMED, M.R_OPENED]
    assert {M.EV_DOOR_CLOSED, M.EV_FAULT, M.EV_BOOT} <= {t for _, t, _ in events}
    assert fast[4] * 5 < steps[4]
