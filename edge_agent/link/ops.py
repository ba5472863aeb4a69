"""Operations on the cabinet link: sans-IO state machines that LinkCore hosts and steps.

A `Call` is one request that is safe to repeat. An `Actuation` drives a command with a caller-chosen id to
its final result: send (retransmitted by the core), back off and resend the same id on E_BUSY/E_COOLDOWN,
wait for EV_CMD_DONE with a QUERY every `query_every_ms` as a backstop, and stop for good on a reboot.
Both finish with `value` or `error`; `result()` returns the one or raises the other.
"""
from dataclasses import replace

from firmware import messages as M
from edge_agent.link.errors import CabinetError, FirmwareRebooted, LinkError, LinkTimeout, ProtocolError
from edge_agent.link.messages import (
    actuation_payload, command_from_event, decode_command, decode_response, query_payload)
from edge_agent.link.names import kind_name

# Firmware protocol versions this agent drives (docs/protocol.md, Versioning): version 2 only added EV_DROP,
# so an agent upgraded before the board keeps driving version-1 firmware (it then never hears of drops early).
PROTOCOLS = (1, 2)
assert M.PROTOCOL_VERSION in PROTOCOLS
QUERY_EVERY_MS = 1000
BUSY_BACKOFF_MS = (100, 250)   # first wait after E_BUSY/E_COOLDOWN, doubling up to the second


class Operation:
    def __init__(self, core):
        self._core = core
        self._exchange = None
        self.done = False
        self.value = None
        self.error = None

    def result(self):
        if not self.done:
            raise RuntimeError("operation still running")
        if self.error is not None:
            raise self.error
        return self.value

    def deadline(self):
        """When on_timer must run next (None: no timer)."""
        return None

    def on_answer(self, exchange, now):
        pass

    def on_event(self, event, now):
        pass

    def on_reboot(self, old_boot_id, new_boot_id, now):
        pass

    def on_timer(self, now):
        pass

    def fail(self, error):
        if not self.done:
            self.done, self.error = True, error
            self._release()

    def _finish(self, value):
        if not self.done:
            self.done, self.value = True, value
            self._release()

    def _release(self):
        if self._exchange is not None:
            self._core.cancel(self._exchange)
            self._exchange = None


class Call(Operation):
    def __init__(self, core, kind, payload, now, budget_ms):
        super().__init__(core)
        self.kind = kind
        self._exchange = core.submit(kind, payload, now, budget_ms, owner=self)

    def on_answer(self, exchange, now):
        if exchange is not self._exchange:
            return
        self._exchange = None
        if exchange.error is not None:
            return self.fail(exchange.error)
        if exchange.status != M.OK:
            return self.fail(CabinetError(exchange.status, self.kind))
        try:
            value = decode_response(self.kind, exchange.body)
        except ProtocolError as exc:
            return self.fail(exc)
        if self.kind == M.HELLO:
            if value.protocol not in PROTOCOLS:
                return self.fail(ProtocolError("firmware speaks protocol %d, this agent %s: refusing to drive it"
                                               % (value.protocol, " and ".join(map(str, PROTOCOLS)))))
            self._finish(value)
            self._core.observe_boot(value.boot_id, now)
            return
        self._finish(value)


SENDING, BACKOFF, WAITING = "sending", "backoff", "waiting"


class Actuation(Operation):
    def __init__(self, core, kind, cmd_id, args, now, timeout_ms,
                 query_every_ms=QUERY_EVERY_MS, busy_backoff_ms=BUSY_BACKOFF_MS):
        super().__init__(core)
        if core.boot_id is None:
            raise LinkError("the firmware's boot id is not known: say HELLO first")
        self.kind = kind
        self.cmd_id = cmd_id
        self.boot_id = core.boot_id
        self.payload = actuation_payload(kind, self.boot_id, cmd_id, args)
        self.deadline_at = now + timeout_ms
        self.busy_answers = 0             # E_BUSY / E_COOLDOWN answers so far
        self._refusal = None
        self.last_known = None            # the RUNNING record, once the firmware has accepted the command
        self._query_every = query_every_ms
        self._busy_backoff = busy_backoff_ms
        self._state = None
        self._resend_at = None
        self._next_query = None
        core.note_unsettled(cmd_id, self.boot_id)
        self._send(now)

    def __repr__(self):
        return "<Actuation %s cmd %d %s>" % (kind_name(self.kind), self.cmd_id, self._state)

    def _finish(self, value):
        if not self.done:
            self._core.note_settled(self.cmd_id)
        super()._finish(value)

    def fail(self, error):
        # A refusal before any acceptance is a definite answer: no copy of the frame was accepted (a replay
        # would have said so). Anything else leaves the outcome unknown.
        if not self.done and isinstance(error, CabinetError) and self.last_known is None:
            self._core.note_settled(self.cmd_id)
        super().fail(error)

    def deadline(self):
        if self._state == BACKOFF:
            return min(self._resend_at, self.deadline_at)
        if self._state == WAITING and self._exchange is None:
            return min(self._next_query, self.deadline_at)
        return self.deadline_at

    def on_timer(self, now):
        if now >= self.deadline_at:
            return self.fail(self._deadline_error())
        if self._state == BACKOFF and now >= self._resend_at:
            self._send(now)
        elif self._state == WAITING and self._exchange is None and now >= self._next_query:
            self._exchange = self._core.submit(M.QUERY, query_payload(self.cmd_id), now, self._budget(now), self)

    def on_answer(self, exchange, now):
        if exchange is not self._exchange or self.done:
            return
        self._exchange = None
        querying = exchange.kind == M.QUERY
        if exchange.error is not None:
            if querying:   # a lost query is not fatal: the event may still come, and the deadline bounds it
                self._next_query = now + self._query_every
                return
            return self.fail(LinkTimeout("%s cmd %d: no answer within %d ms; outcome unknown"
                                         % (kind_name(self.kind), self.cmd_id, self._core.request_budget_ms),
                                         self.cmd_id, self.last_known))
        status = exchange.status
        if status == M.OK:
            return self._on_record(exchange.body, querying, now)
        if status == M.E_WRONG_BOOT:
            self.fail(FirmwareRebooted(self.boot_id, None, self.cmd_id, "E_WRONG_BOOT"))
            self._core.mark_boot_stale(self.boot_id, now)
            return
        if status in (M.E_BUSY, M.E_COOLDOWN) and not querying:
            low, high = self._busy_backoff
            delay = min(low * 2 ** self.busy_answers, high)
            self.busy_answers += 1
            self._refusal = status
            if now + delay >= self.deadline_at:
                return self.fail(CabinetError(status, self.kind, self.cmd_id))
            self._state, self._resend_at = BACKOFF, now + delay
            return
        if status == M.E_UNKNOWN_ID and querying:
            # It answered RUNNING for this id earlier: only a reboot makes it forget one so soon.
            return self.fail(FirmwareRebooted(self.boot_id, None, self.cmd_id, "the firmware no longer knows it"))
        self.fail(CabinetError(status, exchange.kind, self.cmd_id))

    def on_event(self, event, now):
        record = command_from_event(event)
        if record is not None and record.cmd_id == self.cmd_id and record.kind == self.kind and record.done:
            self._finish(record)

    def on_reboot(self, old_boot_id, new_boot_id, now):
        if new_boot_id != self.boot_id:
            self.fail(FirmwareRebooted(self.boot_id, new_boot_id, self.cmd_id))

    def _send(self, now):
        self._state = SENDING
        self._exchange = self._core.submit(self.kind, self.payload, now, self._budget(now), self)

    def _budget(self, now):
        # Never longer than the request budget: an unlock that gets through after a long outage would open
        # a door for someone who has already walked away.
        return max(0, min(self._core.request_budget_ms, self.deadline_at - now))

    def _on_record(self, body, querying, now):
        try:
            record = decode_command(body, via="query" if querying else "answer")
        except ProtocolError as exc:
            return self.fail(exc)
        if record.cmd_id != self.cmd_id or record.kind != self.kind:
            return self.fail(ProtocolError("asked about %s cmd %d, answered about %s cmd %d" % (
                kind_name(self.kind), self.cmd_id, record.kind_name, record.cmd_id)))
        if record.done:
            return self._finish(replace(record, replayed=not querying and self.last_known is None))
        self.last_known = record
        self._state, self._next_query = WAITING, now + self._query_every

    def _deadline_error(self):
        if self._state == BACKOFF:
            return CabinetError(self._refusal, self.kind, self.cmd_id)
        if self.last_known is not None:
            return LinkTimeout("%s cmd %d still RUNNING at its deadline; outcome unknown"
                               % (kind_name(self.kind), self.cmd_id), self.cmd_id, self.last_known)
        return LinkTimeout("%s cmd %d: no answer before its deadline; outcome unknown"
                           % (kind_name(self.kind), self.cmd_id), self.cmd_id)
