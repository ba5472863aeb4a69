# Remembers recent actuation commands by id, so a replayed command is answered with its first result and
# never actuates twice. Ids come from the host, which saves each before sending and only ever increases
# them (below 2**30: messages.CMD_ID_MAX); an unknown id at or below the newest forgotten one (the floor) is
# refused (E_STALE_ID) rather than guessed at. Only accepted commands enter the table, so the floor is the
# id of the command accepted 32 acceptances before the newest, when ids increase: -1 until then.
from firmware.messages import RUNNING, DONE


class Command:
    def __init__(self, cmd_id, kind, args):
        self.cmd_id = cmd_id
        self.kind = kind
        self.args = args          # the request's argument bytes: a reused id with other args is refused
        self.phase = RUNNING
        self.result = 0
        self.detail = 0

    def finish(self, result, detail):
        self.phase = DONE
        self.result = result
        self.detail = detail


class CommandTable:
    def __init__(self, size=32):
        self._ring = [None] * size
        self._next = 0
        self.floor = -1           # highest id forgotten so far

    def find(self, cmd_id):
        for cmd in self._ring:
            if cmd is not None and cmd.cmd_id == cmd_id:
                return cmd
        return None

    def is_stale(self, cmd_id):
        return cmd_id <= self.floor

    def add(self, cmd):
        old = self._ring[self._next]
        if old is not None and old.cmd_id > self.floor:
            self.floor = old.cmd_id
        self._ring[self._next] = cmd
        self._next = (self._next + 1) % len(self._ring)
