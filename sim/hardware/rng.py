# Numbers every model draws on: a seeded PRNG that gives the same sequence in CPython and MicroPython, and
# int conversions (ppm, milligrams) that keep both interpreters bit-identical. (Portable: sim/hardware/__init__.py.)

_M32 = 0xFFFFFFFF


class Rng:
    """xorshift32: tiny, seedable, and the same sequence in every interpreter."""

    def __init__(self, seed=0):
        s = ((seed % (1 << 32)) * 0x9E3779B1 + 0x7F4A7C15) & _M32  # spread small seeds apart
        self.state = s or 0x6D2B79F5  # xorshift must never hold 0
        for _ in range(4):
            self.next32()

    def next32(self):
        x = self.state
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        self.state = x
        return x

    def below(self, n):
        return self.next32() % n

    def between(self, lo, hi):
        """Uniform int in lo..hi, both included."""
        return lo + self.next32() % (hi - lo + 1)

    def chance(self, ppm):
        """True with probability ppm / 1e6."""
        return ppm > 0 and self.next32() % 1000000 < ppm

    def gauss(self, sigma):
        """Integer noise, about normal with this standard deviation: a sum of 12 uniforms (Irwin-Hall), the
        top 16 bits of the next 12 draws (the same draws as 12 next32() calls, in one step: _twelve_tables)."""
        if sigma == 0:
            return 0
        t = _twelve_tables()
        x = self.state
        y = t[0][x & 255] ^ t[1][(x >> 8) & 255] ^ t[2][(x >> 16) & 255] ^ t[3][x >> 24]
        self.state = y >> _STATE_AT
        s = ((y & _FIELDS) * _ONES >> (_SLOT * 11)) & _SLOT_MASK
        return ((s - 393210) * sigma + 32768) // 65536

    def child(self):
        """An independent generator, so one model's draws never shift another's."""
        return Rng(self.next32())


# Twelve xorshift32 steps at once. A step is linear over GF(2) (shifts and XORs), so the draws that follow a
# state x are the XOR of those that follow each of x's set bits; four tables of 256 (one per byte of x) hold
# them precomputed: each entry packs the 12 draws' top 16 bits into 20-bit slots (their sum cannot carry out
# of one: 12 * 65535 < 2**20) and the 12th state above them. One multiplication by 1 + 2**20 + ... + 2**220
# then adds the 12 slots up in the 12th. HX711 noise is the simulation's busiest arithmetic (3x faster so).
_SLOT = 20
_SLOT_MASK = (1 << _SLOT) - 1
_STATE_AT = _SLOT * 12
_FIELDS = (1 << _STATE_AT) - 1
_ONES = sum(1 << (_SLOT * k) for k in range(12))
_tables = []


def _twelve_tables():
    if _tables:
        return _tables
    basis = []
    for bit in range(32):
        x = 1 << bit
        packed = 0
        for k in range(12):
            x ^= (x << 13) & _M32
            x ^= x >> 17
            x ^= (x << 5) & _M32
            packed |= (x >> 16) << (_SLOT * k)
        basis.append(packed | (x << _STATE_AT))
    for byte in range(4):
        table = [0]
        for bit in range(8):          # the values with this bit set are those below it, plus the bit
            table += [v ^ basis[8 * byte + bit] for v in table]
        _tables.append(table)
    return _tables


def ppm(rate):
    """A probability 0..1 as parts per million (ints keep both interpreters bit-identical)."""
    return int(rate * 1000000 + 0.5)


def milli(value):
    """Grams (int or float) to milligrams, rounded to the nearest."""
    return int(value * 1000 + (0.5 if value >= 0 else -0.5))
