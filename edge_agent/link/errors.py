"""Exceptions of the cabinet link. Each says what the caller knows about the outcome of its request."""
from edge_agent.link.names import kind_name, status_meaning, status_name


class LinkError(Exception):
    """Base of every cabinet-link failure."""


class LinkTimeout(LinkError):
    """No definite answer within the time budget.

    For an actuation the outcome is unknown: a copy may have reached the firmware. Reconcile with QUERY
    (same boot) or from cabinet state; `last_known` is the last CMD_R seen for it (RUNNING) or None.
    """

    def __init__(self, message, cmd_id=None, last_known=None):
        super().__init__(message)
        self.cmd_id = cmd_id
        self.last_known = last_known


class FirmwareRebooted(LinkError):
    """The firmware restarted while a command was outstanding: its outcome is unknown and it is never resent.

    new_boot_id is None when the reboot was seen only as E_WRONG_BOOT (or an id the firmware no longer
    knows) and the new boot id is not known yet.
    """

    def __init__(self, old_boot_id, new_boot_id=None, cmd_id=None, reason="firmware rebooted"):
        self.old_boot_id = old_boot_id
        self.new_boot_id = new_boot_id
        self.cmd_id = cmd_id
        new = "unknown" if new_boot_id is None else "0x%08X" % new_boot_id
        old = "unknown" if old_boot_id is None else "0x%08X" % old_boot_id
        what = "" if cmd_id is None else "cmd %d: " % cmd_id
        super().__init__("%s%s (boot %s -> %s); outcome unknown, not resent" % (what, reason, old, new))


class CabinetError(LinkError):
    """The firmware refused the request with a status code (see `name` and `meaning`)."""

    def __init__(self, code, kind=None, cmd_id=None):
        self.code = code
        self.name = status_name(code)
        self.meaning = status_meaning(code)
        self.kind = kind
        self.cmd_id = cmd_id
        where = kind_name(kind) if kind is not None else "request"
        if cmd_id is not None:
            where += " cmd %d" % cmd_id
        super().__init__("%s: %s (%d): %s" % (where, self.name, code, self.meaning))


class ProtocolError(LinkError):
    """An intact frame whose content breaks the protocol (wrong length, another command's record)."""


class LinkClosed(LinkError):
    """The link was closed, or its port failed, before the request finished."""


class WrongLineRate(LinkTimeout):
    """HELLO went unanswered and not one intact frame came at the configured line rate while it waited.

    baud: the rate the host is set to ([agent] baud); heard: bytes that came meanwhile (garbage: the two ends
    disagree, or the line is broken); answers_at: a rate at which the cabinet did answer HELLO, or None.
    The words say which end to change (docs/decisions/0051-link-line-rate.md).
    """

    def __init__(self, baud, heard, answers_at=None, tried=()):
        self.baud = baud
        self.heard = heard
        self.answers_at = answers_at
        if answers_at is not None:
            text = ("the cabinet answers at %d baud, not at %d baud ([agent] baud): the two ends of the link must "
                    "agree. Set [agent] baud = %d in the agent's config, or flash the cabinet with [link] baud = %d"
                    % (answers_at, baud, answers_at, baud))
        else:
            others = ", ".join(str(r) for r in tried) or "no other rate"
            if heard:
                text = ("%d bytes came from the cabinet at %d baud ([agent] baud) but not one intact frame, and it "
                        "answered at none of %s: the firmware's [link] baud is another rate, or the J6 cable is "
                        "broken or too long for this rate (hw/wiring.md)" % (heard, baud, others))
            else:
                text = ("nothing came from the cabinet at %d baud ([agent] baud), nor an answer at %s: is it "
                        "powered and flashed, is J6 wired, is this its port?" % (baud, others))
        super().__init__("HELLO: " + text)
