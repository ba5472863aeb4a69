"""A real SMTP server for the tests: aiosmtpd's Controller on a loopback port, keeping every message it takes.
It can be stopped and started again on the same port (a mail server down, then back).

    with SmtpServer() as smtp:      # smtp.address: "127.0.0.1:PORT"; smtp.messages: [(rcpt_tos, Message)]
        ...
"""
import email
import email.policy
import socket
import threading

from aiosmtpd.controller import Controller


class _Keep:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []
        self.lock = threading.Lock()
        self.controller = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()          # returns once the server answers
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address):
        """The messages delivered to `address`."""
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
