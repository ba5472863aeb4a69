# Cabinet link framing, shared by the firmware (MicroPython) and the edge agent (CPython).
#
# A frame on the wire is COBS(body) followed by one 0x00 delimiter, where
#   body = seq:u8 kind:u8 len:u8 payload[len] crc:u16 (big-endian)
# and crc is CRC-16/CCITT-FALSE over seq, kind, len and payload.
# COBS keeps 0x00 out of every frame, so a receiver that lost its place resynchronises at the next 0x00;
# the length byte and the CRC reject anything that was corrupted on the way (docs/decisions/0001).
# Written in the subset of Python that MicroPython runs: no f-strings with '=', no dataclasses, no typing.

MAX_PAYLOAD = 200
HEADER = 3
TRAILER = 2
MAX_BODY = HEADER + MAX_PAYLOAD + TRAILER
# COBS adds one byte per 254 and the delimiter one more.
MAX_WIRE = MAX_BODY + MAX_BODY // 254 + 2


def _make_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_table()


def crc16_portable(data, crc=0xFFFF, start=0, end=None):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final xor; check 0x29B1)."""
    table = _CRC_TABLE
    if end is None:
        end = len(data)
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ data[i]) & 0xFF]
    return crc


try:
    # CPython's binascii computes the same CRC in C (the edge agent and sim/ decode every frame with it);
    # MicroPython's binascii has no crc_hqx, so a board runs the table above.
    from binascii import crc_hqx

    def crc16(data, crc=0xFFFF, start=0, end=None):
        """CRC-16/CCITT-FALSE over data[start:end], as crc16_portable computes it."""
        if start or end is not None:
            data = memoryview(data)[start:end]
        return crc_hqx(data, crc)
except ImportError:
    crc16 = crc16_portable


def cobs_encode(data):
    out = bytearray(len(data) + len(data) // 254 + 1)
    code_at = 0
    code = 1
    o = 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
        else:
            out[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = o
                o += 1
                code = 1
    out[code_at] = code
    return bytes(out[:o])


def cobs_decode(data, n=None):
    """Decode data[:n] (no delimiter). Raises ValueError on a malformed block."""
    if n is None:
        n = len(data)
    out = bytearray()
    i = 0
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            raise ValueError("malformed COBS block")
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(seq, kind, payload=b""):
    """Build one wire frame, delimiter included."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload too long")
    # One buffer, COBS-encoded in place: code byte, body (seq kind len payload crc), delimiter. A body is at
    # most MAX_BODY < 254 bytes, so it is one COBS run: each zero (and the code byte) takes the distance to
    # the next zero or to the delimiter, and no 0xFF block is ever needed. Same bytes as cobs_encode(body).
    end = 1 + HEADER + n + TRAILER
    frame = bytearray(end + 1)
    frame[1] = seq & 0xFF
    frame[2] = kind & 0xFF
    frame[3] = n
    frame[4:4 + n] = payload
    crc = crc16(frame, 0xFFFF, 1, 4 + n)
    frame[4 + n] = crc >> 8
    frame[5 + n] = crc & 0xFF
    nxt = end
    for i in range(end - 1, 0, -1):
        if frame[i] == 0:
            frame[i] = nxt - i
            nxt = i
    frame[0] = nxt
    return bytes(frame)


def parse_body(body, start=0, end=None):
    """Check the decoded body body[start:end]; return (seq, kind, payload) or None when it is damaged. A len
    above MAX_PAYLOAD is damage too: no sender may build such a frame."""
    if end is None:
        end = len(body)
    n = end - start
    if n < HEADER + TRAILER or body[start + 2] != n - HEADER - TRAILER or body[start + 2] > MAX_PAYLOAD:
        return None
    if crc16(body, 0xFFFF, start, end - TRAILER) != (body[end - 2] << 8) | body[end - 1]:
        return None
    return body[start], body[start + 1], bytes(body[start + HEADER:end - TRAILER])


class FrameDecoder:
    """Turns a byte stream into frames; calls on_frame(seq, kind, payload) for each intact one.

    Damaged frames are dropped and counted; the decoder always resynchronises at the next 0x00.
    The receive buffer is preallocated, so feeding bytes allocates nothing until a frame completes.
    """

    def __init__(self, on_frame):
        self.on_frame = on_frame
        self._buf = bytearray(MAX_WIRE)
        self._n = 0
        self._overrun = False
        self.good = 0
        self.bad = 0

    def feed(self, data):
        buf = self._buf
        n = self._n          # a local in the per-byte loop; self._n is kept right whenever a frame ends
        for b in data:
            if b:
                if n < MAX_WIRE:
                    buf[n] = b
                    n += 1
                else:
                    self._overrun = True
                continue
            if n == 0:
                continue  # back-to-back delimiters: idle fill, not an error
            self._n = 0
            self._frame(n)
            n = self._n
        self._n = n

    def _frame(self, n):
        """buf[:n] ended at a delimiter: hand the frame on, or count it bad."""
        if self._overrun:
            self._overrun = False
            self.bad += 1
            return
        # COBS decoded in place: each block's code byte after the first becomes the zero it stands for, and
        # the body is buf[1:n] (cobs_decode would copy it out). A 0xFF code (a block with no zero) would run
        # past n, as MAX_WIRE < 255: damage, as cobs_decode has it.
        buf = self._buf
        i = buf[0]
        while i < n:
            code = buf[i]
            buf[i] = 0
            i += code
        frame = parse_body(buf, 1, n) if i == n else None
        if frame is None:
            self.bad += 1
            return
        self.good += 1
        self.on_frame(frame[0], frame[1], frame[2])
