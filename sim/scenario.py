# A scripted cabinet session that runs the same under CPython and real MicroPython: the firmware's Cabinet
# on the simulated physics, with a tiny host built on the shared codec (the agent's own link client is
# CPython-only). It prints one line per answer and event; tests compare the two interpreters' output line
# for line, and bench/firmware_heap.py measures the firmware's memory with it. Portable Python only.
import struct

from firmware import messages as M
from firmware.cabinet import Cabinet
from firmware.codec import FrameDecoder, encode_frame
from sim.hardware import Physics, SimClock, SimHAL


class ScriptHost:
    """Sends requests straight into the simulated UART, acknowledges every event, keeps the answers."""

    def __init__(self, hal, out):
        self.hal = hal
        self.out = out
        self.seq = 0
        self.answers = {}
        self.boot_id = 0
        self.last_sent = 0
        self.pings = []           # seqs of heartbeat pings, whose answers are not printed
        self.decoder = FrameDecoder(self._on_frame)

    def _on_frame(self, seq, kind, payload):
        if kind == M.EVENT:
            self.hal.uart.receive(encode_frame(seq, M.ACK_EVENT, bytes((seq,))))
            ev = payload[0]
            fields = struct.unpack(M.EVENT_FMT[ev], payload[1:])
            if ev == M.EV_BOOT:
                self.boot_id = fields[0]
                fields = ("boot",) + fields[1:]
            self.out("event %d %s" % (ev, fields))
        elif seq in self.pings:
            self.pings.remove(seq)
        else:
            self.answers[seq] = (kind, bytes(payload))

    def pump(self, now):
        uart = self.hal.uart
        if uart.tx:
            self.decoder.feed(uart.transmit(len(uart.tx)))
        if now - self.last_sent >= 500:
            self.pings.append(self.send(M.PING, b"hb", now))   # as the agent does: never 2 s silent

    def send(self, kind, payload=b"", now=None):
        if now is not None:
            self.last_sent = now
        self.seq = (self.seq + 1) & 0xFF
        self.hal.uart.receive(encode_frame(self.seq, kind, payload))
        return self.seq

    def actuate(self, kind, cmd_id, args_fmt, *args):
        return self.send(kind, struct.pack(M.ACT_FMT, self.boot_id, cmd_id) + struct.pack(args_fmt, *args))


class Scenario:
    def __init__(self, config, sim_table, seed=1, out=print):
        self.clock = SimClock(0)
        self.hal = SimHAL(config, self.clock, seed=seed)
        self.physics = Physics(config, sim_table, self.hal, seed=seed)
        self.cab = Cabinet(self.hal, config)
        self.host = ScriptHost(self.hal, out)
        self.out = out

    def run(self, ms):
        clock = self.clock
        for _ in range(ms):
            clock.advance(1)
            self.physics.step(clock.ms)
            self.cab.step(self.hal.ticks_ms())
            self.host.pump(clock.ms)

    def request(self, seq, wait_ms=3000):
        """Run until the answer to seq arrives; print and return (status, body)."""
        for _ in range(wait_ms):
            if seq in self.host.answers:
                break
            self.run(1)
        kind, payload = self.host.answers.pop(seq)
        self.out("answer %02x status %d body %s" % (kind, payload[0], payload[1:]))
        return payload[0], payload[1:]


def script(sc):
    """The session: every kind of unit and outcome, in about 40 s of virtual time."""
    h = sc.host
    p = sc.physics
    sc.run(10)
    sc.request(h.send(M.HELLO))
    sc.request(h.actuate(M.VEND, 1, ">B", 3))
    sc.run(3000)
    p.lane(12).items = 0
    sc.request(h.actuate(M.VEND, 2, ">B", 12))
    sc.run(6000)
    sc.request(h.actuate(M.VEND, 2, ">B", 12))            # a replay: answered, no turn
    sc.request(h.actuate(M.UNLOCK, 3, ">BH", 2, 0))
    sc.run(6000)
    p.door(4).force_open()
    sc.run(500)
    p.bin(1).pieces = 0
    sc.request(h.actuate(M.TARE, 4, ">B", 1))
    sc.run(2500)
    p.bin(1).place(500)
    sc.request(h.actuate(M.CALIBRATE, 5, ">BI", 1, 500000))
    sc.run(2500)
    p.bin(1).place(0)
    sc.run(2500)
    p.bin(1).put(40)
    sc.run(2500)
    p.bin(1).take(4)
    sc.run(2500)
    sc.request(h.send(M.READ_BIN, b"\x01"))
    p.lane(9).jammed = True
    sc.request(h.actuate(M.VEND, 6, ">B", 9))
    sc.run(5000)
    sc.request(h.actuate(M.VEND, 7, ">B", 9))             # E_LANE_DISABLED
    sc.request(h.send(M.STATUS))
    safety = p.safety
    sc.out("turns %s" % ([p.lane(n).turns for n in range(1, 13)],))
    sc.out("safety max_concurrent %d longest_solenoid %d longest_motor %d" % (
        safety.max_concurrent, safety.longest_on_ms("solenoid"), safety.longest_on_ms("motor")))
