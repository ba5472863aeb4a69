"""A real SMTP server on loopback (aiosmtpd) that keeps every message the hub sends: the pilot's people's
mailbox. Each message is kept in memory (sender, recipients, subject) and written to DIR/NNNN.eml."""
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


class SmtpSink:
    def __init__(self, directory=None):
        self.directory = Path(directory) if directory else None
        self.messages = []
        self._lock = threading.Lock()
        self.controller = None
        self.host, self.port = "127.0.0.1", None

    def start(self):
        from aiosmtpd.controller import Controller
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

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
