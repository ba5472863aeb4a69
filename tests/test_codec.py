"""firmware/codec.py: CRC, COBS and framing properties on CPython, and byte-identical behaviour on MicroPython."""
import binascii
import random

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from firmware import codec
from firmware.codec import FrameDecoder, MAX_PAYLOAD, MAX_WIRE, cobs_decode, cobs_encode, crc16, encode_frame
from tests.micropython import run_micropython

CHECK = b"123456789"

# Bytes with many zeros and long non-zero runs, so COBS block boundaries (254) and splits are exercised.
dense = st.lists(st.one_of(st.sampled_from([0, 1, 0xFF]), st.integers(0, 255)), max_size=800).map(bytes)
runs = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 300)), max_size=6).map(
    lambda rs: b"".join(bytes([v]) * n for v, n in rs))
any_bytes = st.one_of(st.binary(max_size=800), dense, runs)

seqs = st.integers(0, 255)
kinds = st.integers(0, 255)
payloads = st.one_of(st.binary(max_size=MAX_PAYLOAD), dense.map(lambda b: b[:MAX_PAYLOAD]),
                     runs.map(lambda b: b[:MAX_PAYLOAD]))
frames = st.tuples(seqs, kinds, payloads)


def decode_all(*chunks):
    got = []
    dec = FrameDecoder(lambda seq, kind, payload: got.append((seq, kind, bytes(payload))))
    for chunk in chunks:
        dec.feed(chunk)
    return got, dec


def wire(frame_list):
    return b"".join(encode_frame(*f) for f in frame_list)


# CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF. Easily confused with XMODEM (same poly, init 0) -- check value 0x31C3.

# crc16 is binascii's C code on CPython; crc16_portable is the table MicroPython runs: both are checked here.
CRCS = pytest.mark.parametrize("crc", [crc16, codec.crc16_portable], ids=["crc16", "portable"])


@CRCS
def test_crc_check_value(crc):
    assert crc(CHECK) == 0x29B1


@CRCS
def test_crc_is_not_xmodem(crc):
    assert binascii.crc_hqx(CHECK, 0) == 0x31C3
    assert crc(CHECK) != binascii.crc_hqx(CHECK, 0)


@CRCS
@given(any_bytes)
def test_crc_equals_crc_hqx_with_init_ffff(crc, data):
    assert crc(data) == binascii.crc_hqx(data, 0xFFFF)


@CRCS
@given(any_bytes, st.data())
def test_crc_range_and_chaining(crc, data, draw):
    start = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(start, len(data)))
    assert crc(data, 0xFFFF, start, end) == binascii.crc_hqx(data[start:end], 0xFFFF)
    assert crc(data, crc(data[:start]), start) == crc(data)
    assert crc(bytearray(data), 0xFFFF, start, end) == crc(memoryview(data), 0xFFFF, start, end)


@given(any_bytes)
@example(b"")
@example(b"\x00")
@example(b"\x01" * 253)
@example(b"\x01" * 254)
@example(b"\x01" * 255)
@example(b"\x01" * 254 + b"\x00")
@example(b"\x00" * 300)
def test_cobs_round_trip(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@given(frames)
@example((0, 0, b""))
@example((255, 255, b"\x00" * MAX_PAYLOAD))
@example((1, 2, b"\xff" * MAX_PAYLOAD))
def test_frame_round_trip(frame):
    data = encode_frame(*frame)
    assert data.endswith(b"\x00") and 0 not in data[:-1]
    assert len(data) <= MAX_WIRE
    got, dec = decode_all(data)
    assert got == [frame]
    assert (dec.good, dec.bad) == (1, 0)


def reference_frame(seq, kind, payload):
    """A wire frame by the definition: COBS(body) and the delimiter (encode_frame encodes in place)."""
    body = bytes((seq & 0xFF, kind & 0xFF, len(payload))) + payload
    crc = binascii.crc_hqx(body, 0xFFFF)
    return cobs_encode(body + bytes((crc >> 8, crc & 0xFF))) + b"\x00"


def reference_decode(stream):
    """Frames and (good, bad) by the definition: split at each 0x00, drop what is over MAX_WIRE, then
    cobs_decode and parse_body (FrameDecoder decodes in place)."""
    frames, good, bad = [], 0, 0
    for chunk in stream.split(b"\x00")[:-1]:
        if not chunk:
            continue
        try:
            frame = None if len(chunk) > MAX_WIRE else codec.parse_body(cobs_decode(chunk))
        except ValueError:
            frame = None
        if frame is None:
            bad += 1
        else:
            good += 1
            frames.append(frame)
    return frames, (good, bad)


@given(frames)
@example((0, 0, b""))
@example((0, 0, b"\x00" * MAX_PAYLOAD))
@example((1, 1, b"\x01" * MAX_PAYLOAD))
def test_encode_frame_gives_the_defined_bytes(frame):
    assert encode_frame(*frame) == reference_frame(*frame)


@given(st.lists(st.one_of(frames.map(lambda f: encode_frame(*f)), any_bytes,
                          st.binary(min_size=1, max_size=12).map(lambda b: b.replace(b"\x00", b"\x01") + b"\x00")),
                max_size=8))
@example([b"\xff" * 40 + b"\x00", b"\x01\x00", b"\x03\x01\x00"])
def test_frame_decoder_agrees_with_the_definition_on_any_stream(parts):
    stream = b"".join(parts)
    got, dec = decode_all(stream)
    frames_ref, counts = reference_decode(stream)
    assert got == frames_ref
    assert (dec.good, dec.bad) == counts
    raw = []
    FrameDecoder(lambda seq, kind, payload: raw.append(payload)).feed(stream)
    assert all(type(p) is bytes for p in raw)         # a payload of its own, never a view of the buffer


def test_payload_too_long():
    with pytest.raises(ValueError):
        encode_frame(0, 0, bytes(MAX_PAYLOAD + 1))


def test_seq_and_kind_are_masked_to_a_byte():
    assert decode_all(encode_frame(0x1FF, 0x102, b"x"))[0] == [(0xFF, 0x02, b"x")]


@given(st.lists(frames, max_size=8))
def test_back_to_back_frames_and_idle_fill(frame_list):
    data = b"\x00\x00" + b"\x00".join(encode_frame(*f) for f in frame_list)
    got, dec = decode_all(data)
    assert got == frame_list
    assert dec.bad == 0


def _check_single_corruption(frame, follow, pos, value):
    """Corrupt one byte of frame, send follow after it: only the original or follow may ever be delivered."""
    bad = bytearray(encode_frame(*frame))
    assert value != bad[pos]
    bad[pos] = value
    got, _ = decode_all(bytes(bad) + encode_frame(*follow))
    assert all(f in (frame, follow) for f in got), (pos, value, got)
    if pos != len(bad) - 1:  # with the delimiter intact the receiver is back in step for the next frame
        assert got[-1:] == [follow]
    return got


@given(frames, frames, st.data())
def test_any_single_corrupted_byte_is_never_a_wrong_frame(frame, follow, draw):
    n = len(encode_frame(*frame))
    pos = draw.draw(st.integers(0, n - 1))
    # 0x00 is drawn often: it splits the frame in two, and neither half may pass.
    value = draw.draw(st.one_of(st.just(0), st.integers(0, 255)))
    assume(value != encode_frame(*frame)[pos])
    _check_single_corruption(frame, follow, pos, value)


@pytest.mark.parametrize("frame", [(7, 0x10, b"\x00\x01\x02\x03\x00\x00abc"), (0, 0, b""), (200, 0x85, bytes(40))])
def test_every_single_byte_corruption_exhaustively(frame):
    data = encode_frame(*frame)
    follow = (1, 2, b"next")
    for pos in range(len(data)):
        for value in range(256):
            if value != data[pos]:
                got = _check_single_corruption(frame, follow, pos, value)
                assert frame not in got  # in practice the damaged frame is always dropped, never "repaired"


@given(any_bytes, st.lists(frames, min_size=1, max_size=5))
@example(b"\x01" * (MAX_WIRE + 50), [(1, 1, b"a"), (2, 2, b"b")])  # overrun: garbage longer than any frame
@example(b"\x05\x00\x07", [(3, 4, b"\x00")])
def test_resync_after_garbage(garbage, frame_list):
    got, _ = decode_all(garbage + wire(frame_list))
    # Trailing non-zero garbage merges with the first frame; every frame after the next delimiter is intact.
    assert got[len(got) - len(frame_list) + 1:] == frame_list[1:]
    if not garbage or garbage.endswith(b"\x00"):
        assert got[len(got) - len(frame_list):] == frame_list


def test_overrun_is_counted_and_cleared():
    got, dec = decode_all(b"\x01" * (MAX_WIRE + 1) + b"\x00" + encode_frame(1, 2, b"ok"))
    assert got == [(1, 2, b"ok")]
    assert (dec.good, dec.bad) == (1, 1)


@given(st.lists(frames, max_size=5), st.data())
def test_arbitrary_chunking_decodes_the_same(frame_list, draw):
    data = wire(frame_list)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=20)))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    assert decode_all(*chunks)[0] == frame_list
    assert decode_all(*[bytes([b]) for b in data])[0] == frame_list


# One codec, both sides: the same source must give the same bytes on MicroPython as on CPython.

def _cases():
    rnd = random.Random(20240601)
    cases = [(0, 0, b""), (255, 255, b"\x00" * MAX_PAYLOAD), (1, 0x80, b"\xff" * MAX_PAYLOAD),
             (9, 9, b"\x01" * 199 + b"\x00"), (3, 0x40, bytes(range(200)))]
    for _ in range(40):
        n = rnd.randrange(MAX_PAYLOAD + 1)
        cases.append((rnd.randrange(256), rnd.randrange(256),
                      bytes(rnd.choice((0, rnd.randrange(256))) for _ in range(n))))
    return cases


MP_SCRIPT = """
import binascii
from firmware.codec import FrameDecoder, crc16, encode_frame, cobs_encode, cobs_decode
CASES = {cases!r}
STREAM = {stream!r}
print('crc', hex(crc16(b'123456789')))
for seq, kind, payload in CASES:
    print('enc', binascii.hexlify(encode_frame(seq, kind, payload)).decode())
    assert cobs_decode(cobs_encode(payload)) == payload
got = []
dec = FrameDecoder(lambda seq, kind, payload: got.append((seq, kind, bytes(payload))))
i = 0
for step in (1, 7, 64, 300, 5000):
    dec.feed(STREAM[i:i + step])
    i += step
dec.feed(STREAM[i:])
for seq, kind, payload in got:
    print('dec', seq, kind, binascii.hexlify(payload).decode())
print('counts', dec.good, dec.bad)
"""


def test_micropython_encodes_and_decodes_identically():
    cases = _cases()
    stream = b"\x13\x00junk" + wire(cases)
    out = run_micropython(MP_SCRIPT.format(cases=cases, stream=stream)).splitlines()
    assert out[0] == "crc 0x29b1"
    enc = [line[4:] for line in out if line.startswith("enc ")]
    assert enc == [encode_frame(*c).hex() for c in cases]
    dec = [line.split(" ") for line in out if line.startswith("dec ")]
    # "\x13" is a bad frame; "junk" merges with the first real frame into a second one; the rest come through.
    got = [(int(s), int(k), bytes.fromhex(p)) for _, s, k, p in dec]
    assert got == cases[1:]
    assert out[-1] == "counts %d 2" % (len(cases) - 1)
    got_cpython, dec_cpython = decode_all(stream)
    assert got_cpython == got and (dec_cpython.good, dec_cpython.bad) == (len(cases) - 1, 2)


def test_micropython_feed_allocates_nothing_until_a_frame_completes():
    # heap_lock makes any allocation raise MemoryError. Unlock in finally: on this WebAssembly build an
    # exception reaching the top level with the heap still locked hangs the interpreter.
    frame = encode_frame(5, 6, bytes(range(1, 150)) + b"\x00\x00")
    out = run_micropython("""
import micropython
from firmware.codec import FrameDecoder
got = []
dec = FrameDecoder(lambda s, k, p: got.append((s, k, p)))
data = {data!r}
body, end = data[:-1], data[-1:]
def feed_locked(b):
    micropython.heap_lock()
    try:
        dec.feed(b)
    finally:
        micropython.heap_unlock()
feed_locked(body)
dec.feed(end)
print(got == [(5, 6, bytes(range(1, 150)) + bytes(2))])
""".format(data=frame))
    assert out == "True\n"
