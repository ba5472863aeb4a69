"""A real SMTP server on loopback (aiosmtpd) that keeps every message the hub sends: the pilot's people's
mailbox, and the tests' mail server. Each message is kept in memory (sender, recipients, subject, raw) and,
given a directory, written to DIR/NNNN.eml. Stopped and started again it listens on the same port (a mail
server down, then back).

    with SmtpSink() as smtp:        # smtp.address: "127.0.0.1:PORT"; smtp.to("x@y"): the messages to x@y
        ...
"""
import email
import email.policy
import threading
from dataclasses import dataclass
from pathlib import Path

from sim.cloud.broker import free_port


@dataclass
class Mail:
    sender: str
    recipients: list
    subject: str
    raw: bytes

    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class SmtpSink:
    def __init__(self, directory=None, port=None):
        self.directory = Path(directory) if directory else None
        self.messages = []
        self._lock = threading.Lock()
        self.controller = None
        self.host, self.port = "127.0.0.1", port

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        from aiosmtpd.controller import Controller
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()      # a restart keeps its port, as a mail server back up does
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()                   # returns once the server answers
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    async def handle_DATA(self, server, session, envelope):     # aiosmtpd's handler hook
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), str(message.get("Subject", "")), raw)
        with self._lock:
            self.messages.append(mail)
            number = len(self.messages)
        if self.directory:
            (self.directory / ("%04d.eml" % number)).write_bytes(raw)
        return "250 Message accepted for delivery"

    def received(self):
        with self._lock:
            return list(self.messages)

    def to(self, address):
        """The messages delivered to `address` (email.message.EmailMessage), in the order taken."""
        return [mail.message() for mail in self.received() if address in mail.recipients]
