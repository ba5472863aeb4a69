"""A contactless badge for vpcd, the virtual reader driver of pcscd (Debian `vsmartcard-vpcd`).

vpcd listens on TCP (127.0.0.1:35963 for its first reader by default) and the card connects to it:
connecting is "card tapped", closing is "card removed". Every message either way is a 2-byte big-endian
length and a payload. From vpcd, a 1-byte payload is a control code (0 power off, 1 power on, 2 reset,
4 = send your ATR; only the last is answered); anything longer is an APDU the card answers.

The card answers GET UID (`FF CA 00 00 00`, how PC/SC contactless readers expose the UID) with its UID and
`90 00`, and everything else with `6A 81` (function not supported). A card built with uid=None refuses GET
UID too: a tag a badge reader cannot read.

The card acknowledges every byte from vpcd at once (TCP_QUICKACK, set again after each read, as Linux leaves
quick-ACK mode by itself). vpcd (Debian's 3.3) sends a message's 2-byte length and its payload in two writes
with Nagle on, so the payload waits for our ACK of the length, which Linux otherwise delays up to 40 ms: about
40 ms per exchange (each presence poll, power-on, APDU) that a real reader does not have.

    card = VirtualCard(port=35963)
    card.tap(bytes.fromhex("04A1B2C3"))   # on the reader until remove()
    card.remove()
"""
import logging
import socket
import struct
import threading
import time

log = logging.getLogger(__name__)

DEFAULT_PORT = 35963                     # vpcd's first reader ("Virtual PCD 00 00"); the second is +1
# ATR of a contactless card as a PC/SC part 3 reader synthesises it (here a MIFARE Classic 1K).
CONTACTLESS_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
SW_OK = b"\x90\x00"
SW_NOT_SUPPORTED = b"\x6a\x81"

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


class VirtualCard:
    def __init__(self, host="127.0.0.1", port=DEFAULT_PORT, atr=CONTACTLESS_ATR):
        self.host = host
        self.port = port
        self.atr = atr
        self.uid = None
        self.apdus = []              # every APDU received, for tests to look at
        self._sock = None
        self._thread = None

    @property
    def present(self):
        return self._sock is not None

    def tap(self, uid=None, connect_timeout=5.0):
        """Put a card on the reader: connect to vpcd (retrying while pcscd starts). uid=None: GET UID fails."""
        if self._sock is not None:
            raise RuntimeError("a card is already on the reader; remove() it first")
        self.uid = None if uid is None else bytes(uid)
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"vpcd is not listening on {self.host}:{self.port}: {e}") from e
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # our answers go out whole, at once
        _ack_now(sock)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="virtual card", daemon=True)
        self._thread.start()

    def remove(self):
        """Take the card away: close the connection; vpcd reports the card removed."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def answer(self, apdu):
        """The card's response to one APDU (data + status word)."""
        if apdu == GET_UID and self.uid is not None:
            return self.uid + SW_OK
        return SW_NOT_SUPPORTED

    def _serve(self, sock):
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack(">H", header)
                payload = _recv_exact(sock, length)
                if payload is None:
                    return
                if length == 1:
                    if payload[0] == CTRL_ATR:
                        _send(sock, self.atr)
                    # power off/on and reset need no answer: the card has no state to lose
                    continue
                self.apdus.append(payload)
                _send(sock, self.answer(payload))
        except OSError:
            return   # removed (our side closed) or pcscd went away: either way the card is off the reader


def _send(sock, payload):
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def _ack_now(sock):
    """ACK what has arrived now, and the next segments too (Linux leaves quick-ACK mode by itself)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        _ack_now(sock)
        buf += chunk
    return bytes(buf)
