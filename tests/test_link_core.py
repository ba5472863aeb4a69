"""The host end of the cabinet link, driven by a virtual clock against a scripted firmware built on the real
codec; then CabinetLink over a real pty. The real firmware and the simulated cabinet are tested elsewhere."""
import heapq
import os
import random
import select
import struct
import threading
import time
import tty
from collections import Counter, deque

import pytest

from firmware import messages as M
from firmware.codec import FrameDecoder, encode_frame
from edge_agent.link.errors import CabinetError, FirmwareRebooted, LinkError, LinkTimeout, ProtocolError
from edge_agent.link.core import RTO_INITIAL_MS, LinkCore
from edge_agent.link.serial import CabinetLink

BOOT_A = 0x0ACE1234
BOOT_B = 0x01020304
DOORS, LANES, BINS = 2, 4, 2


def parse(frame):
    frames = []
    FrameDecoder(lambda *f: frames.append(f)).feed(frame)
    return frames[0] if frames else (None, None, b"")


def split_frames(data):
    return [part + b"\x00" for part in bytes(data).split(b"\x00") if part]


class FakeFirmware:
    """Just enough cabinet firmware, sans-IO like the core: replay table, boot id, one event in flight."""

    def __init__(self, boot_id=BOOT_A, durations=None, boot_event=True):
        self.boot_id = boot_id
        self.now = 0
        self.out = bytearray()
        self.decoder = FrameDecoder(self._on_frame)
        self.records = {}                     # cmd_id -> [kind, args, phase, result, detail, done_at]
        self.actuated = Counter()             # cmd_id -> how many times an actuator really moved for it
        self.received = []                    # (now, seq, kind, payload) of every intact host frame
        self.busy = 0                         # answer the next N new actuations E_BUSY
        self.refuse = {}                      # kind -> status for new actuations of that kind
        self.durations = {M.VEND: 3000, M.UNLOCK: 2000}
        self.durations.update(durations or {})
        self.results = {M.VEND: (M.R_VENDED, 1), M.UNLOCK: (M.R_OPENED, 250)}
        self.events = deque()                 # payloads not yet acknowledged; the head is in flight
        self.event_seq = 0
        self.head_seq = None
        self.head_sent_at = None
        self.protocol = M.PROTOCOL_VERSION
        if boot_event:
            self.emit(M.EV_BOOT, boot_id, M.RESET_POWER_ON)

    def feed(self, data, now):
        self.now = now
        self.decoder.feed(data)

    def poll(self, now):
        self.now = now
        for cmd_id, rec in self.records.items():
            if rec[2] == M.RUNNING and now >= rec[5]:
                rec[2:5] = [M.DONE, *self.results.get(rec[0], (M.R_OK, 0))]
                self.emit(M.EV_CMD_DONE, *self._cmd_fields(cmd_id))
        if self.events:
            if self.head_seq is None:
                self.head_seq, self.head_sent_at = self.event_seq, None
                self.event_seq = (self.event_seq + 1) & 0xFF
            if self.head_sent_at is None or now - self.head_sent_at >= M.EVENT_RESEND_MS:
                self.out += encode_frame(self.head_seq, M.EVENT, self.events[0])
                self.head_sent_at = now
        out = bytes(self.out)
        self.out.clear()
        return out

    def next_deadline(self):
        due = [rec[5] for rec in self.records.values() if rec[2] == M.RUNNING]
        if self.events:
            due.append(self.now if self.head_sent_at is None else self.head_sent_at + M.EVENT_RESEND_MS)
        return min(due) if due else None

    def emit(self, ev_type, *fields):
        self.events.append(bytes((ev_type,)) + struct.pack(M.EVENT_FMT[ev_type], *fields))

    def reboot(self, boot_id):
        self.boot_id = boot_id
        self.records.clear()
        self.events.clear()
        self.event_seq, self.head_seq = 0, None
        self.emit(M.EV_BOOT, boot_id, M.RESET_WATCHDOG)

    def _cmd_fields(self, cmd_id):
        kind, _args, phase, result, detail, _ = self.records[cmd_id]
        return cmd_id, kind, phase, result, detail

    def _on_frame(self, seq, kind, payload):
        payload = bytes(payload)
        self.received.append((self.now, seq, kind, payload))
        if kind == M.ACK_EVENT:
            if self.head_seq is not None and payload == bytes((self.head_seq,)):
                self.events.popleft()
                self.head_seq = None
            return
        status, body = self._answer(kind, payload)
        self.out += encode_frame(seq, kind | M.RESPONSE, bytes((status,)) + body)

    def _answer(self, kind, payload):
        if kind == M.HELLO:
            return M.OK, struct.pack(M.HELLO_R, self.protocol, self.boot_id, M.RESET_POWER_ON,
                                     int(self.now), DOORS, LANES, BINS) + b"fake-1"
        if kind == M.PING:
            return M.OK, payload
        if kind == M.STATUS:
            return M.OK, (struct.pack(">BBBB", 0, DOORS, LANES, BINS) + bytes(DOORS + LANES)
                          + struct.pack(">Bi", 3, 1000) * BINS)
        if kind == M.READ_BIN:
            return M.OK, struct.pack(M.BIN_R, payload[0], 12500, 640, M.BIN_STABLE | M.BIN_CALIBRATED)
        if kind == M.QUERY:
            cmd_id = struct.unpack(">I", payload)[0]
            if cmd_id not in self.records:
                return M.E_UNKNOWN_ID, b""
            return M.OK, struct.pack(M.CMD_R, *self._cmd_fields(cmd_id))
        if kind in M.ACTUATION_ARGS:
            return self._actuate(kind, payload)
        return M.E_UNKNOWN_KIND, b""

    def _actuate(self, kind, payload):
        boot_id, cmd_id = struct.unpack_from(M.ACT_FMT, payload)
        args = struct.unpack(M.ACTUATION_ARGS[kind], payload[M.ACT_LEN:])
        if boot_id != self.boot_id:
            return M.E_WRONG_BOOT, b""
        rec = self.records.get(cmd_id)
        if rec is not None:
            if (rec[0], rec[1]) != (kind, args):
                return M.E_ID_REUSED, b""
            return M.OK, struct.pack(M.CMD_R, *self._cmd_fields(cmd_id))
        if self.busy:
            self.busy -= 1
            return M.E_BUSY, b""
        if kind in self.refuse:
            return self.refuse[kind], b""
        self.actuated[cmd_id] += 1
        self.records[cmd_id] = [kind, args, M.RUNNING, 0, 0, self.now + self.durations.get(kind, 500)]
        return M.OK, struct.pack(M.CMD_R, *self._cmd_fields(cmd_id))


class Bench:
    """LinkCore and FakeFirmware joined by a line with latency, optional byte noise and frame filters,
    stepped on a virtual clock that jumps to the next thing due."""

    def __init__(self, fw=None, latency=1, noise=0.0, seed=1, max_step=50, **core_args):
        self.t = 0
        self.fw = fw or FakeFirmware()
        self.core = LinkCore(0, **core_args)
        self.latency = latency
        self.noise = noise
        self.rng = random.Random(seed)
        self.max_step = max_step
        self.wire = []
        self._n = 0
        self.host_frames = []                  # (t, seq, kind, payload, raw) of everything the host wrote
        self.delivered = []                    # events the core delivered, in order
        self.lose_to_fw = lambda seq, kind, payload: False
        self.lose_to_host = lambda seq, kind, payload: False

    def step(self):
        t = self.t
        while self.wire and self.wire[0][0] <= t:
            _, _, to_fw, data = heapq.heappop(self.wire)
            (self.fw.feed if to_fw else self.core.receive)(data, t)
        for raw in split_frames(self.core.poll(t)):
            frame = parse(raw)
            self.host_frames.append((t, *frame, raw))
            if not self.lose_to_fw(*frame):
                self._send(raw, True)
        for raw in split_frames(self.fw.poll(t)):
            if not self.lose_to_host(*parse(raw)):
                self._send(raw, False)
        self.delivered += self.core.take_events()
        due = [d for d in (self.core.next_deadline(), self.fw.next_deadline(),
                           self.wire[0][0] if self.wire else None) if d is not None]
        self.t = max(t + 1, min(min(due, default=t + self.max_step), t + self.max_step))
        return t

    def run_until(self, done, limit_ms=60000):
        end = self.t + limit_ms
        while self.t < end:
            t = self.step()
            if done():
                return t
        raise AssertionError("still not done at t=%d" % self.t)

    def run_for(self, ms):
        end = self.t + ms
        while self.t < end:
            self.step()

    def finish(self, op, limit_ms=60000):
        """Run until op is done; returns the virtual time it finished."""
        return self.run_until(lambda: op.done, limit_ms)

    def hello(self):
        op = self.core.call(M.HELLO, b"", self.t)
        self.finish(op)
        return op.result()

    def sent(self, kind, since=0):
        return [f for f in self.host_frames if f[2] == kind and f[0] >= since]

    def _send(self, data, to_fw):
        if self.noise:
            data = bytearray(data)
            for i in reversed(range(len(data))):
                if self.rng.random() < self.noise:
                    if self.rng.random() < 0.5:
                        del data[i]
                    else:
                        data[i] ^= 1 << self.rng.randrange(8)
            data = bytes(data)
        self._n += 1
        heapq.heappush(self.wire, (self.t + self.latency, self._n, to_fw, data))


def first_only(match):
    """A loss filter that drops the first frame for which match(seq, kind, payload) is true."""
    lost = []

    def lose(seq, kind, payload):
        if not lost and match(seq, kind, payload):
            lost.append(seq)
            return True
        return False
    return lose


# ---- requests: retransmission, timeouts, stale answers ------------------------------------------------

def test_a_lost_request_is_retransmitted_with_the_same_seq_and_bytes():
    b = Bench(heartbeat_ms=None)
    b.lose_to_fw = first_only(lambda seq, kind, payload: kind == M.PING)
    op = b.core.call(M.PING, b"abc", b.t)
    b.finish(op)
    assert op.result() == b"abc"
    pings = b.sent(M.PING)
    assert len(pings) == 2
    assert pings[0][4] == pings[1][4]                      # identical frame, so identical seq
    assert pings[1][0] - pings[0][0] == RTO_INITIAL_MS
    assert [r[1] for r in b.fw.received if r[2] == M.PING] == [pings[0][1]]
    assert b.core.stats.retransmissions == 1


def test_timeout_doubles_up_to_the_cap_and_the_budget_ends_in_link_timeout():
    b = Bench(heartbeat_ms=None, fw=FakeFirmware(boot_event=False))
    b.lose_to_fw = lambda *frame: True
    op = b.core.call(M.PING, b"x", b.t)
    failed_at = b.finish(op)
    with pytest.raises(LinkTimeout):
        op.result()
    assert failed_at == 5000
    times = [f[0] for f in b.sent(M.PING)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert gaps == [40, 80, 160, 320] + [500] * 8
    assert len({f[4] for f in b.sent(M.PING)}) == 1       # every copy the same frame
    assert b.core.stats.request_timeouts == 1


def test_with_two_percent_of_frames_lost_a_small_retry_count_would_not_be_enough_but_the_budget_is():
    b = Bench(heartbeat_ms=None, fw=FakeFirmware(boot_event=False))
    losses = iter([True] * 9)
    b.lose_to_fw = lambda *frame: next(losses, False)      # nine copies in a row lost
    op = b.core.call(M.PING, b"still here", b.t)
    b.finish(op)
    assert op.result() == b"still here"
    assert b.core.stats.retransmissions == 9


def test_the_timeout_follows_the_measured_round_trip():
    b = Bench(heartbeat_ms=None, latency=30, fw=FakeFirmware(boot_event=False))
    for i in range(20):
        op = b.core.call(M.PING, bytes((i,)), b.t)
        b.finish(op)
        assert op.result() == bytes((i,))
    # Only the first request (RTT 60 ms > the initial 40 ms) was retransmitted; the timer then learnt.
    assert b.core.stats.retransmissions == 1
    assert 55 <= b.core.timer.srtt <= 65
    assert 60 < b.core.rto_ms <= 500

    fast = Bench(heartbeat_ms=None, latency=1, fw=FakeFirmware(boot_event=False))
    for i in range(20):
        fast.finish(fast.core.call(M.PING, b"", fast.t))
    assert 25 <= fast.core.rto_ms <= 30                  # never below the 25 ms floor


def test_a_stale_answer_from_an_earlier_request_is_ignored():
    # RTT 60 ms > first RTO 40 ms: PING "a" goes twice and is answered twice; the second answer arrives
    # while PING "b" is outstanding and must not be taken for b's.
    b = Bench(heartbeat_ms=None, latency=30, max_step=1, fw=FakeFirmware(boot_event=False))
    first = b.core.call(M.PING, b"a", b.t)
    b.finish(first)
    second = b.core.call(M.PING, b"b", b.t)
    b.finish(second)
    assert (first.result(), second.result()) == (b"a", b"b")
    assert b.core.stats.stale_responses == 1


def test_an_answer_with_the_right_seq_but_another_kind_or_no_status_is_ignored():
    core = LinkCore(0, heartbeat_ms=None)
    op = core.call(M.STATUS, b"", 0)
    seq, kind, _ = parse(core.poll(0))
    core.receive(encode_frame(seq, M.PING | M.RESPONSE, b"\x00"), 1)
    core.receive(encode_frame(seq, M.STATUS | M.RESPONSE, b""), 2)
    core.receive(encode_frame(seq, M.STATUS, b"\x00"), 3)
    assert not op.done
    core.receive(encode_frame(seq, M.STATUS | M.RESPONSE, b"\x00" + struct.pack(">BBBB", 0, 0, 0, 0)), 4)
    assert op.result().events_lost == 0
    assert core.stats.stale_responses == 2 and core.stats.unexpected_frames == 1


def test_refusals_raise_cabinet_error_with_code_and_name():
    core = LinkCore(0, heartbeat_ms=None)
    op = core.call(M.READ_BIN, b"\x09", 0)
    seq, _, _ = parse(core.poll(0))
    core.receive(encode_frame(seq, M.READ_BIN | M.RESPONSE, bytes((M.E_NO_SUCH_UNIT,))), 1)
    with pytest.raises(CabinetError) as err:
        op.result()
    assert err.value.code == M.E_NO_SUCH_UNIT and err.value.name == "E_NO_SUCH_UNIT"
    assert "not in the cabinet config" in err.value.meaning


# ---- actuations ---------------------------------------------------------------------------------------

def test_an_actuation_needs_the_boot_id_and_valid_arguments():
    b = Bench()
    with pytest.raises(LinkError):
        b.core.actuate(M.VEND, 1, (2,), b.t, 10000)
    b.hello()
    with pytest.raises(ValueError):
        b.core.actuate(M.VEND, 1, (300,), b.t, 10000)
    for too_big in (2 ** 32, 2 ** 30):                   # the firmware's bound: M.CMD_ID_MAX = 2**30 - 1
        with pytest.raises(ValueError):
            b.core.actuate(M.VEND, too_big, (1,), b.t, 10000)
        with pytest.raises(ValueError):
            b.core.query(too_big, b.t)
    assert not b.core.actuate(M.VEND, M.CMD_ID_MAX, (1,), b.t, 10000).done


def test_the_agent_drives_protocol_1_and_2_and_refuses_any_other():
    # Version 2 only added EV_DROP (docs/decisions/0018): an agent upgraded first keeps driving version-1
    # firmware until the board is flashed.
    assert M.PROTOCOL_VERSION == 2
    for version in (1, 2):
        fw = FakeFirmware()
        fw.protocol = version
        b = Bench(fw)
        assert b.hello().protocol == version and b.core.boot_id == BOOT_A
    for version in (0, 3):
        fw = FakeFirmware()
        fw.protocol = version
        b = Bench(fw)
        with pytest.raises(ProtocolError, match="protocol %d" % version):
            b.hello()


def test_running_then_the_done_event_completes_the_vend():
    b = Bench()
    assert b.hello().boot_id == BOOT_A
    started = b.t
    op = b.core.actuate(M.VEND, 1001, (7,), started, 15000)
    finished = b.finish(op)
    result = op.result()
    assert (result.cmd_id, result.kind_name, result.result_name, result.detail) == (1001, "VEND", "VENDED", 1)
    assert result.via == "event" and not result.replayed
    assert 3000 <= finished - started <= 3010
    assert b.fw.actuated == {1001: 1}
    assert [e.name for e in b.delivered] == ["BOOT", "CMD_DONE"]     # the agent sees the event as well
    assert len(b.sent(M.VEND)) == 1


def test_busy_is_retried_with_the_same_command_id_after_a_backoff():
    fw = FakeFirmware()
    fw.busy = 2
    b = Bench(fw)
    b.hello()
    op = b.core.actuate(M.VEND, 1001, (3,), b.t, 15000)
    b.finish(op)
    assert op.result().result_name == "VENDED"
    vends = b.sent(M.VEND)
    assert len(vends) == 3 and op.busy_answers == 2
    assert len({payload for _, _, _, payload, _ in vends}) == 1    # same boot id, cmd id and lane
    assert len({seq for _, seq, _, _, _ in vends}) == 3            # each resend is a new request
    gaps = [later[0] - earlier[0] for earlier, later in zip(vends, vends[1:])]
    assert 100 <= gaps[0] <= 110 and 200 <= gaps[1] <= 210
    assert fw.actuated == {1001: 1}


def test_busy_until_the_deadline_raises_cabinet_error_and_nothing_moved():
    fw = FakeFirmware()
    fw.busy = 1000
    b = Bench(fw)
    b.hello()
    op = b.core.actuate(M.UNLOCK, 5, (1, 0), b.t, 1000)
    b.finish(op)
    with pytest.raises(CabinetError) as err:
        op.result()
    assert err.value.code == M.E_BUSY and err.value.cmd_id == 5
    assert not fw.actuated


def test_a_disabled_lane_is_a_cabinet_error_naming_the_code():
    fw = FakeFirmware()
    fw.refuse[M.VEND] = M.E_LANE_DISABLED
    b = Bench(fw)
    b.hello()
    op = b.core.actuate(M.VEND, 9, (2,), b.t, 15000)
    b.finish(op)
    with pytest.raises(CabinetError) as err:
        op.result()
    assert err.value.name == "E_LANE_DISABLED" and "CLEAR_LANE" in err.value.meaning
    assert len(b.sent(M.VEND)) == 1


def test_query_is_the_backstop_when_the_done_event_is_lost():
    fw = FakeFirmware(durations={M.VEND: 2500})
    b = Bench(fw)
    b.hello()
    b.lose_to_host = lambda seq, kind, payload: kind == M.EVENT and payload[0] == M.EV_CMD_DONE
    started = b.t
    op = b.core.actuate(M.VEND, 1001, (7,), started, 15000)
    finished = b.finish(op)
    result = op.result()
    assert result.via == "query" and result.result_name == "VENDED"
    assert 3000 <= finished - started <= 3050              # the query after the vend ended, ~1 s apart
    assert len(b.sent(M.QUERY)) == 3


def test_the_done_event_ends_the_wait_even_when_every_answer_is_lost():
    fw = FakeFirmware(durations={M.VEND: 300})
    b = Bench(fw)
    b.hello()
    b.lose_to_host = lambda seq, kind, payload: kind == M.VEND | M.RESPONSE
    op = b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    finished = b.finish(op)
    assert op.result().via == "event"
    b.run_for(2000)
    assert not b.sent(M.VEND, since=finished + 1)          # retransmission stopped with the event
    assert fw.actuated == {1001: 1}                         # every copy after the first was a replay


def test_a_replay_of_a_finished_command_is_answered_from_the_table():
    fw = FakeFirmware(durations={M.VEND: 200})
    b = Bench(fw)
    b.hello()
    b.finish(b.core.actuate(M.VEND, 1001, (7,), b.t, 15000))
    again = b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    b.finish(again)
    result = again.result()
    assert result.replayed and result.via == "answer" and result.result_name == "VENDED"
    assert fw.actuated == {1001: 1}


def test_wrong_boot_raises_firmware_rebooted_and_nothing_is_resent():
    fw = FakeFirmware()
    b = Bench(fw)
    b.hello()
    b.lose_to_host = lambda seq, kind, payload: kind == M.EVENT    # the new boot's EV_BOOT is not seen
    fw.reboot(BOOT_B)
    op = b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    failed_at = b.finish(op)
    with pytest.raises(FirmwareRebooted) as err:
        op.result()
    assert (err.value.old_boot_id, err.value.new_boot_id, err.value.cmd_id) == (BOOT_A, None, 1001)
    assert b.core.boot_id is None
    b.run_for(6000)
    assert len(b.sent(M.VEND)) == 1 and not b.sent(M.QUERY, since=failed_at)
    assert not fw.actuated


def test_a_reboot_after_the_first_copy_ran_is_reported_not_retried():
    # The first copy is accepted and its answer lost; the firmware then reboots, and the retransmission gets
    # E_WRONG_BOOT. The vend did happen: the caller must reconcile, and the link must not try again.
    fw = FakeFirmware()
    b = Bench(fw)
    b.hello()
    b.lose_to_host = lambda seq, kind, payload: kind in (M.VEND | M.RESPONSE, M.EVENT)
    op = b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    b.run_until(lambda: fw.actuated[1001] == 1)
    fw.reboot(BOOT_B)
    b.lose_to_host = lambda seq, kind, payload: kind == M.EVENT
    b.finish(op)
    with pytest.raises(FirmwareRebooted):
        op.result()
    sent = len(b.sent(M.VEND))
    b.run_for(5000)
    assert len(b.sent(M.VEND)) == sent
    assert fw.actuated == {1001: 1}


def test_a_boot_event_while_waiting_raises_firmware_rebooted_and_stops_everything_for_that_command():
    fw = FakeFirmware(durations={M.VEND: 5000})
    b = Bench(fw)
    b.hello()
    op = b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    b.run_for(1500)
    assert not op.done
    fw.reboot(BOOT_B)
    failed_at = b.finish(op)
    with pytest.raises(FirmwareRebooted) as err:
        op.result()
    assert (err.value.old_boot_id, err.value.new_boot_id) == (BOOT_A, BOOT_B)
    assert b.core.boot_id == BOOT_B
    assert [(e.name, e.fields["boot_id"]) for e in b.delivered if e.name == "BOOT"] == [
        ("BOOT", BOOT_A), ("BOOT", BOOT_B)]
    b.run_for(5000)
    assert len(b.sent(M.VEND)) == 1 and not b.sent(M.QUERY, since=failed_at + 1)
    # Even asked again, the link will not send that id to the new boot, whose replay table never saw it.
    with pytest.raises(LinkError, match="never resend"):
        b.core.actuate(M.VEND, 1001, (7,), b.t, 15000)
    fresh = b.core.actuate(M.VEND, 1002, (7,), b.t, 15000)
    b.finish(fresh)
    assert fresh.result().result_name == "VENDED" and fw.actuated == {1001: 1, 1002: 1}


def test_an_actuation_still_running_at_its_deadline_is_a_link_timeout_with_the_last_record():
    fw = FakeFirmware(durations={M.UNLOCK: 60000})
    b = Bench(fw)
    b.hello()
    start = b.t
    op = b.core.actuate(M.UNLOCK, 3, (1, 0), start, 4000)
    assert b.finish(op) - start == 4000
    with pytest.raises(LinkTimeout) as err:
        op.result()
    assert err.value.cmd_id == 3 and err.value.last_known.phase_name == "RUNNING"


# ---- events -------------------------------------------------------------------------------------------

def event_frame(seq, door):
    return encode_frame(seq, M.EVENT, bytes((M.EV_DOOR_FORCED, door)))


def acks_in(data):
    return [parse(raw)[2][0] for raw in split_frames(data) if parse(raw)[1] == M.ACK_EVENT]


def test_events_arrive_in_order_and_a_duplicate_is_acknowledged_but_delivered_once():
    fw = FakeFirmware()
    b = Bench(fw)
    for door in range(5):
        fw.emit(M.EV_DOOR_OPENED, door, 1)
    b.lose_to_fw = first_only(lambda seq, kind, payload: kind == M.ACK_EVENT and payload == b"\x02")
    b.run_for(3000)
    assert [(e.seq, e.name) for e in b.delivered] == [(0, "BOOT")] + [(s, "DOOR_OPENED") for s in range(1, 6)]
    assert [e.fields["door"] for e in b.delivered[1:]] == [0, 1, 2, 3, 4]
    assert [f[3] for f in b.sent(M.ACK_EVENT)].count(b"\x02") == 2    # the duplicate was acknowledged again
    assert b.core.stats.event_duplicates == 1
    assert not fw.events
    assert b.core.stats.stale_responses == 0


def test_a_future_event_waits_for_its_turn_and_duplicates_are_never_delivered_twice():
    core = LinkCore(0, heartbeat_ms=None)
    core.receive(event_frame(5, 1), 0)                     # a fresh agent takes the first event it sees
    assert acks_in(core.poll(0)) == [5]
    core.receive(event_frame(7, 3), 10)                    # 6 not seen yet: hold 7, do not acknowledge it
    assert acks_in(core.poll(10)) == []
    core.receive(event_frame(6, 2), 20)
    core.receive(event_frame(7, 3), 30)
    core.receive(event_frame(6, 2), 40)                    # a duplicate: acknowledged, not delivered
    assert acks_in(core.poll(40)) == [6, 7]
    assert [(e.seq, e["door"]) for e in core.take_events()] == [(5, 1), (6, 2), (7, 3)]
    core.receive(event_frame(7, 3), 50)
    assert acks_in(core.poll(50)) == [7] and core.take_events() == []
    assert core.stats.events_held == 1 and core.stats.event_duplicates == 2


def test_a_future_event_that_keeps_coming_back_is_taken_as_a_gap():
    core = LinkCore(0, heartbeat_ms=None)
    core.receive(event_frame(5, 1), 0)
    for i in range(3):
        core.receive(event_frame(9, 4), 250 * (i + 1))
    assert [e.seq for e in core.take_events()] == [5]
    core.receive(event_frame(9, 4), 1000)
    assert [e.seq for e in core.take_events()] == [9]
    assert core.stats.events_skipped == 3


def test_a_boot_event_restarts_the_count_and_is_seen_as_a_reboot():
    core = LinkCore(0, heartbeat_ms=None)
    boot = lambda seq, boot_id: encode_frame(seq, M.EVENT, bytes((M.EV_BOOT,)) + struct.pack(">IB", boot_id, 0))
    core.receive(boot(0, BOOT_A), 0)
    for seq in range(1, 10):
        core.receive(event_frame(seq, 1), seq)
    core.poll(10)
    core.receive(boot(0, BOOT_B), 20)                      # seq 0 again, but a new boot: delivered
    assert acks_in(core.poll(20)) == [0]
    core.receive(boot(0, BOOT_B), 30)                      # its resend: acknowledged only
    assert acks_in(core.poll(30)) == [0]
    core.receive(event_frame(1, 2), 40)
    events = core.take_events()
    assert [(e.seq, e.name) for e in events[-3:]] == [(9, "DOOR_FORCED"), (0, "BOOT"), (1, "DOOR_FORCED")]
    assert core.boot_id == BOOT_B and core.stats.reboots_seen == 1
    assert core.stats.event_duplicates == 1


# ---- heartbeat ----------------------------------------------------------------------------------------

def test_a_ping_goes_out_after_500_ms_of_silence():
    b = Bench(fw=FakeFirmware(boot_event=False))
    b.run_for(3000)
    times = [f[0] for f in b.host_frames]
    assert times == [500, 1000, 1500, 2000, 2500]
    assert all(f[2] == M.PING for f in b.host_frames)


def test_the_host_is_never_silent_for_500_ms_even_on_a_dead_line_and_real_work_is_not_delayed():
    b = Bench(fw=FakeFirmware(boot_event=False))
    b.lose_to_fw = lambda *frame: True
    b.run_for(12000)
    times = [f[0] for f in b.host_frames]
    assert max(later - earlier for earlier, later in zip([0] + times, times)) <= 500
    assert b.core.stats.heartbeat_timeouts >= 1
    b.lose_to_fw = lambda *frame: False
    asked = b.t
    op = b.core.call(M.STATUS, b"", asked)
    answered = b.finish(op)
    assert op.result().lanes == (0,) * LANES and answered - asked <= 5


# ---- a noisy line -------------------------------------------------------------------------------------

def test_two_hundred_requests_over_a_line_that_damages_two_percent_of_bytes_all_get_a_definite_answer():
    fw = FakeFirmware(durations={M.VEND: 200, M.UNLOCK: 150, M.TARE: 100})
    b = Bench(fw, noise=0.02, seed=20240611)
    assert b.hello().boot_id == BOOT_A
    rng = random.Random(7)
    cmd_id = 1000
    for i in range(200):
        what = rng.choice(["ping", "status", "read_bin", "vend", "unlock", "tare"])
        if what == "ping":
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(9)))
            op = b.core.call(M.PING, data, b.t)
            b.finish(op)
            assert op.result() == data
        elif what == "status":
            op = b.core.call(M.STATUS, b"", b.t)
            b.finish(op)
            assert len(op.result().bins) == BINS
        elif what == "read_bin":
            op = b.core.call(M.READ_BIN, b"\x01", b.t)
            b.finish(op)
            assert op.result().stable
        else:
            cmd_id += 1
            kind, args, expected = {"vend": (M.VEND, (2,), "VENDED"), "unlock": (M.UNLOCK, (1, 0), "OPENED"),
                                    "tare": (M.TARE, (0,), "OK")}[what]
            op = b.core.actuate(kind, cmd_id, args, b.t, 15000)
            b.finish(op)
            assert op.result().result_name == expected, (i, what)
    b.run_for(5000)                                       # let the last events through
    assert fw.actuated == {c: 1 for c in range(1001, cmd_id + 1)}
    done = [e["cmd_id"] for e in b.delivered if e.name == "CMD_DONE"]
    assert sorted(done) == list(range(1001, cmd_id + 1))   # each exactly once
    assert [e.seq for e in b.delivered] == [s & 0xFF for s in range(len(b.delivered))]
    stats = b.core.stats
    assert stats.bad_frames > 50 and stats.retransmissions > 50 and stats.event_duplicates > 0
    assert stats.request_timeouts == 0 and stats.events_skipped == 0


# ---- the threaded driver over a real pty --------------------------------------------------------------

def test_cabinet_link_over_a_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    fw = FakeFirmware(durations={M.VEND: 300})
    stop = threading.Event()

    def serve():
        t0 = time.monotonic()
        while not stop.is_set():
            readable, _, _ = select.select([master], [], [], 0.005)
            now = (time.monotonic() - t0) * 1000
            if readable:
                try:
                    fw.feed(os.read(master, 4096), now)
                except OSError:
                    return
            out = fw.poll(now)
            if out:
                os.write(master, out)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with CabinetLink(os.ttyname(slave)) as link:
            hello = link.hello()
            assert (hello.protocol, hello.boot_id, hello.lanes, hello.firmware) == (M.PROTOCOL_VERSION, BOOT_A, LANES,
                                                                                   "fake-1")
            assert link.boot_id == BOOT_A
            assert link.ping(b"abc") == b"abc"
            boot = link.next_event(timeout=2)
            assert boot.name == "BOOT" and boot["boot_id"] == BOOT_A
            result = link.vend(2, cmd_id=77, timeout=5)
            assert (result.cmd_id, result.result_name) == (77, "VENDED")
            assert link.next_event(timeout=2)["cmd_id"] == 77
            assert link.read_bin(1).weight_mg == 12500
            assert link.query(77).result_name == "VENDED"
            with pytest.raises(CabinetError):
                link.query(78)
        assert fw.actuated == {77: 1}
        assert any(kind == M.ACK_EVENT for _, _, kind, _ in fw.received)
    finally:
        stop.set()
        server.join(timeout=2)
        os.close(master)
        os.close(slave)


def test_an_answer_damaged_on_the_line_is_asked_again_at_the_measured_timeout_and_silence_backs_off():
    def lost_eight_answers(damaged):
        b = Bench(heartbeat_ms=None, fw=FakeFirmware(boot_event=False))
        b.finish(b.core.call(M.PING, b"learn", b.t))          # one clean round trip: the measured timeout
        measured = b.core.rto_ms
        losses = iter([True] * 8)

        def lose(*frame):
            lost = next(losses, False)
            if lost and damaged:                               # the answer came back, with a byte broken
                b.core.receive(b"\x03\x01\x02\x00", b.t)
            return lost
        b.lose_to_host = lose
        start = b.t
        op = b.core.call(M.PING, b"x", b.t)
        b.finish(op)
        assert op.result() == b"x" and b.core.stats.retransmissions == 8
        return b.t - start, measured, b.core.rto_ms

    took, measured, rto = lost_eight_answers(damaged=True)
    assert took < 400 and rto == measured                      # the firmware answers: no slower each time
    took, _, rto = lost_eight_answers(damaged=False)
    assert took > 2000 and rto == 500                          # silence: the firmware may be slow, back off
