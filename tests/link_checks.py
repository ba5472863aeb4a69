# Wire-level checks of the firmware against docs/protocol.md, as a client written from the document alone
# would make them: raw frames into the firmware's UART, nothing through the agent's link client (which
# refuses to build most of these frames). Portable Python: tests/test_protocol_findings.py and
# tests/test_protocol_statements.py call these functions under CPython, and run this same file on real
# MicroPython, where every check must print exactly what it printed under CPython.
import struct

from firmware import messages as M
from firmware.cabinet import Cabinet
from firmware.codec import FrameDecoder, cobs_encode, crc16, encode_frame
from sim.hardware import Physics, SimClock, SimHAL

HEARTBEAT_MS = 400


def raw_frame(seq, kind, payload):
    """A frame with any payload length up to 255, even one the codec refuses to build."""
    body = bytearray((seq & 0xFF, kind, len(payload)))
    body += payload
    crc = crc16(body)
    body.append(crc >> 8)
    body.append(crc & 0xFF)
    return cobs_encode(bytes(body)) + b"\x00"


class Client:
    """The firmware on the simulated physics (virtual time, 1 ms a pass) and a client on its UART.

    Answers are kept by seq; every event frame is kept once (a resend of the one just seen is not kept
    again) and, while `ack` is True, acknowledged. A PING goes every HEARTBEAT_MS so the firmware never
    sees the host silent; its answers are not kept."""

    def __init__(self, config, sim_table, seed=1):
        self.clock = SimClock(0)
        self.hal = SimHAL(config, self.clock, seed=seed)
        self.physics = Physics(config, sim_table, self.hal, seed=seed)
        self.cab = Cabinet(self.hal, config)
        self.decoder = FrameDecoder(self._on_frame)
        self.ack = True
        self.answers = {}
        self.events = []          # (seq, payload bytes)
        self.boot_id = None
        self.seq = 0
        self._heartbeats = []
        self._last_sent = 0

    def _on_frame(self, seq, kind, payload):
        payload = bytes(payload)
        if kind == M.EVENT:
            if self.ack:
                self.acknowledge(seq)
            if not self.events or self.events[-1] != (seq, payload):
                self.events.append((seq, payload))
            if payload[0] == M.EV_BOOT:
                self.boot_id = struct.unpack(">I", payload[1:5])[0]
        elif seq in self._heartbeats:
            self._heartbeats.remove(seq)
        else:
            self.answers[seq] = (kind, payload)

    def acknowledge(self, seq):
        self.hal.uart.receive(encode_frame(self.next_seq(), M.ACK_EVENT, bytes((seq,))))

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def run(self, ms):
        clock = self.clock
        uart = self.hal.uart
        for _ in range(ms):
            clock.advance(1)
            self.physics.step(clock.ms)
            self.cab.step(self.hal.ticks_ms())
            if uart.tx:
                self.decoder.feed(uart.transmit(len(uart.tx)))
            if clock.ms - self._last_sent >= HEARTBEAT_MS:
                self._heartbeats.append(self.send(M.PING, b""))

    def send(self, kind, payload, seq=None):
        if seq is None:
            seq = self.next_seq()
        self.hal.uart.receive(raw_frame(seq, kind, payload))
        self._last_sent = self.clock.ms
        return seq

    def request(self, kind, payload=b"", seq=None, wait_ms=100):
        """(status, body) of the answer, or None when nothing answers within wait_ms."""
        seq = self.send(kind, payload, seq)
        for _ in range(wait_ms):
            self.run(1)
            answer = self.answers.pop(seq, None)
            if answer is not None:
                if answer[0] != kind | M.RESPONSE:
                    raise AssertionError("answer of kind 0x%02x to kind 0x%02x" % (answer[0], kind))
                return answer[1][0], answer[1][1:]
        return None

    def actuation(self, kind, cmd_id, *args):
        return struct.pack(">II", self.boot_id, cmd_id) + struct.pack(M.ACTUATION_ARGS[kind], *args)

    def actuate(self, kind, cmd_id, *args):
        """(status, CMD_R fields or None)."""
        status, body = self.request(kind, self.actuation(kind, cmd_id, *args))
        return status, (struct.unpack(M.CMD_R, body) if body else None)

    def events_of(self, ev_type):
        return [struct.unpack(M.EVENT_FMT[ev_type], p[1:]) for _, p in self.events if p[0] == ev_type]

    def event_types(self):
        return [p[0] for _, p in self.events]


def start(config, sim_table):
    client = Client(config, sim_table)
    client.run(20)               # EV_BOOT arrives and is acknowledged
    return client


# ---- what the independent client found ------------------------------------------------------------------

def ping_at_the_payload_cap(config, sim_table):
    """PING echoes at most 199 bytes (the echo and the status byte must fit the 200-byte payload): 200 is
    refused, and nothing resets the firmware."""
    c = start(config, sim_table)
    cab = c.cab
    out = []
    for n in (0, 199, 200):
        status, body = c.request(M.PING, bytes(range(n)))
        out.append((n, status, len(body), bytes(body) == bytes(range(n))[:len(body)]))
    out.append(("same firmware", c.cab is cab, c.request(M.HELLO)[0]))
    return out


def oversized_frames(config, sim_table):
    """A frame whose len is above 200 is damaged by definition: dropped and counted, never answered."""
    c = start(config, sim_table)
    out = []
    for kind, n in ((M.STATUS, 201), (M.PING, 201), (M.PING, 255)):
        bad = c.cab.link.bad_frames
        out.append((kind, n, c.request(kind, bytes(n)), c.cab.link.bad_frames - bad))
    out.append(("still answers", c.request(M.STATUS)[0]))
    return out


def extra_and_missing_bytes(config, sim_table):
    """Every request with a fixed layout refuses a payload one byte longer or shorter (E_BAD_ARGS)."""
    c = start(config, sim_table)
    sizes = [(M.HELLO, 0), (M.STATUS, 0), (M.READ_BIN, 1), (M.QUERY, 4)]
    for kind in sorted(M.ACTUATION_ARGS):
        sizes.append((kind, M.ACT_LEN + struct.calcsize(M.ACTUATION_ARGS[kind])))
    out = []
    for kind, size in sizes:
        statuses = []
        for n in (size - 1, size + 1):
            if n >= 0:
                payload = bytearray(n)
                if n >= 4 and kind in M.ACTUATION_ARGS:
                    payload[0:4] = struct.pack(">I", c.boot_id)
                statuses.append(c.request(kind, bytes(payload))[0])
        out.append((kind, statuses))
    return out


def command_id_bound(config, sim_table):
    """Command ids are below 2**30: one above it is refused and leaves no trace, so it cannot make every
    later id stale; the largest valid id is accepted."""
    c = start(config, sim_table)
    out = [("huge", c.actuate(M.CLEAR_LANE, 0xFFFFFFF0, 1)[0]), ("2**30", c.actuate(M.CLEAR_LANE, 1 << 30, 1)[0]),
           ("query 2**30", c.request(M.QUERY, struct.pack(">I", 1 << 30))[0])]
    refused = [i for i in range(100, 140) if c.actuate(M.CLEAR_LANE, i, 1)[0] != M.OK]
    out.append(("normal ids refused", refused))
    out.append(("2**30 - 1", c.actuate(M.CLEAR_LANE, M.CMD_ID_MAX, 1)[0]))
    return out


def _fill_queue(c, count):
    for _ in range(count):
        c.cab.event(M.EV_DOOR_FORCED, 1)


def _status_events_lost(c):
    return c.request(M.STATUS)[1][0]


def events_lost_fault(config, sim_table):
    """An overflow raises EV_FAULT events lost (detail: events lost since boot), sent next after the event in
    flight; an overflow while that fault waits is reported by one more, and seqs never have a gap."""
    c = start(config, sim_table)
    c.ack = False
    _fill_queue(c, 30)                 # one in flight, 15 waiting, 14 dropped
    c.run(10)
    first_new = len(c.events) - 1
    c.acknowledge(c.events[-1][0])     # the host takes the one in flight: the fault goes next
    c.run(10)
    _fill_queue(c, 5)                  # while the fault is in flight: 4 more dropped
    c.ack = True
    c.acknowledge(c.events[-1][0])
    c.run(3000)
    got = c.events[first_new:]
    seqs = [s for s, _ in got]
    faults = [struct.unpack(">Bi", p[1:]) for _, p in got if p[0] == M.EV_FAULT]
    return [("types", [p[0] for _, p in got[:4]]), ("faults", faults),
            ("gapless", seqs == [(seqs[0] + i) & 0xFF for i in range(len(seqs))]), ("delivered", len(got)),
            ("status events_lost", _status_events_lost(c)), ("link events_lost", c.cab.link.events_lost)]


def events_lost_in_last_words(config, sim_table):
    """Last words after an exception carry the events-lost fault too, in seq order with the rest."""
    c = start(config, sim_table)
    c.ack = False
    _fill_queue(c, 20)
    c.run(10)
    first_new = len(c.events) - 1
    c.cab.safe_off()
    c.cab.event(M.EV_FAULT, M.F_EXCEPTION, 0)        # what firmware/main.py does before hal.reset()
    c.cab.link.send_all()
    c.run(2)
    got = c.events[first_new:]
    seqs = [s for s, _ in got]
    faults = [struct.unpack(">Bi", p[1:]) for _, p in got if p[0] == M.EV_FAULT]
    return [("faults", faults), ("gapless", seqs == [(seqs[0] + i) & 0xFF for i in range(len(seqs))]),
            ("frames", len(got))]


# ---- what the client had to guess, settled -------------------------------------------------------------

def request_seq_is_echoed_not_tracked(config, sim_table):
    """The firmware echoes whatever seq a request has and keeps no state about it: a first request may
    carry any seq, and a request with the seq of the previous one is answered again, not dropped."""
    c = start(config, sim_table)
    out = []
    for seq, data in ((0xC8, b"a"), (0xC8, b"b"), (0x00, b"c"), (0x00, b"c"), (0x01, b"d")):
        status, body = c.request(M.PING, data, seq=seq)
        out.append((seq, status, bytes(body) == data))
    return out


def forgotten_id_floor(config, sim_table):
    """The table keeps the last 32 accepted commands; QUERY tells a forgotten id (E_STALE_ID, at or below the
    floor) from one this boot never accepted (E_UNKNOWN_ID); refused commands leave no trace."""
    c = start(config, sim_table)
    for cmd_id in range(1, 34):                       # 33 accepted: id 1 is pushed out, the floor is 1
        c.actuate(M.CLEAR_LANE, cmd_id, 1)

    def query(cmd_id):
        return c.request(M.QUERY, struct.pack(">I", cmd_id))[0]
    out = [("query 1", query(1)), ("query 2", query(2)), ("query 34", query(34))]
    out.append(("vend 40", c.actuate(M.VEND, 40, 3)[0]))       # the 34th accepted: id 2 is pushed out
    out.append(("vend 41 while 40 turns", c.actuate(M.VEND, 41, 4)[0]))
    c.run(6000)
    out += [("query 41", query(41)), ("query 2", query(2)), ("stale 1", c.actuate(M.CLEAR_LANE, 1, 1)[0]),
            ("replay 3", c.actuate(M.CLEAR_LANE, 3, 1)), ("vend 41", c.actuate(M.VEND, 41, 4)[0])]
    return out


def commands_that_finish_at_once(config, sim_table):
    """CLEAR_LANE, and UNLOCK of a door that is already open, answer DONE and send no EV_CMD_DONE; every
    other accepted command answers RUNNING and ends with exactly one EV_CMD_DONE."""
    c = start(config, sim_table)
    c.physics.door(3).force_open()
    c.run(200)
    out = []
    commands = ((M.UNLOCK, 1, (3, 0)), (M.CLEAR_LANE, 2, (2,)), (M.VEND, 3, (5,)), (M.UNLOCK, 4, (1, 0)),
                (M.HOME_CHECK, 5, (6,)), (M.TARE, 6, (2,)))
    for kind, cmd_id, args in commands:
        status, record = c.actuate(kind, cmd_id, *args)
        c.run(8000)
        done = [e for e in c.events_of(M.EV_CMD_DONE) if e[0] == cmd_id]
        out.append((kind, status, record[2], len(done)))
    return out


def unlock_pulse_and_off_time(config, sim_table):
    """The coil drops as soon as the door is seen open, and the off-time is three times the time it was on."""
    table = dict(sim_table)
    table["door_hold_open_ms"] = 300                  # the person shuts the door again 300 ms after it opens
    c = start(config, table)
    safety = c.physics.safety
    c.actuate(M.UNLOCK, 1, 2, 0)
    while "door 2" in safety.energised():
        c.run(1)
    off_at = c.clock.ms
    on_ms = safety.longest_on_ms(name="door 2")
    c.run(3 * on_ms - 5)
    opened = [e for e in c.events_of(M.EV_CMD_DONE) if e[0] == 1][0]
    closed = len(c.events_of(M.EV_DOOR_CLOSED))
    # Door 2 again, once a ms: E_COOLDOWN until 3 x on_ms after the coil dropped, then accepted. The pass
    # after a request is written handles it: the clock then reads the moment it was tested at.
    tries = []
    while not tries or tries[-1][1] != M.OK:
        status = c.request(M.UNLOCK, c.actuation(M.UNLOCK, 100, 2, 0), wait_ms=1)[0]
        tries.append((c.clock.ms - off_at - 3 * on_ms, status))
    return [("result", opened[3]), ("shorter than the configured 500 ms", on_ms < 500),
            ("on - ms to open", on_ms - opened[4]), ("closed before", closed), ("tries", tries)]


def over_cap_pulse_is_cut(config, sim_table):
    """UNLOCK with pulse_ms above 1000 is accepted and the coil is cut at 1000 ms with EV_FAULT output capped
    (detail: the solenoid's GPIO). Door 1 should be stuck: the unlock then ends R_NOT_OPENED."""
    c = start(config, sim_table)
    status, record = c.actuate(M.UNLOCK, 1, 1, 5000)
    c.run(config["doors"][0]["open_window_ms"] + 100)
    return [("answer", status, record[2]), ("on_ms", c.physics.safety.longest_on_ms(name="door 1")),
            ("times on", c.physics.safety.times_on("door 1")),
            ("faults", [f for f in c.events_of(M.EV_FAULT) if f[0] == M.F_OUTPUT_CAPPED]),
            ("solenoid", config["doors"][0]["solenoid"]),
            ("result", [e[3] for e in c.events_of(M.EV_CMD_DONE) if e[0] == 1])]


def joining_mid_boot(config, sim_table):
    """A host that starts while the firmware runs gets the oldest unacknowledged event first, with the seq
    the boot has reached (not 0, and no EV_BOOT): that event's seq is where its count starts."""
    c = start(config, sim_table)
    for _ in range(3):
        c.cab.event(M.EV_DOOR_FORCED, 2)
    c.run(50)                                          # the first host takes these: seqs 1, 2, 3
    c.ack = False
    for _ in range(3):
        c.cab.event(M.EV_DOOR_FORCED, 3)
    c.run(600)                                         # then dies: seq 4 is resent, unacknowledged
    c.events = []                                      # a new host, knowing nothing, starts listening
    c.ack = True
    c.run(300)
    return [("seqs", [s for s, _ in c.events]), ("types", c.event_types())]


CHECKS = (ping_at_the_payload_cap, oversized_frames, extra_and_missing_bytes, command_id_bound, events_lost_fault,
          events_lost_in_last_words, request_seq_is_echoed_not_tracked, forgotten_id_floor,
          commands_that_finish_at_once, unlock_pulse_and_off_time, over_cap_pulse_is_cut, joining_mid_boot)


def run_all(config, sim_table, out=print):
    for check in CHECKS:
        out("%s %r" % (check.__name__, check(config, sim_table)))
