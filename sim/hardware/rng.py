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
        """Integer noise, about normal with this standard deviation: a sum of 12 uniforms (Irwin-Hall)."""
        if sigma == 0:
            return 0
        # next32 inlined: 12 draws per HX711 sample are the simulation's busiest call (the same sequence).
        x = self.state
        s = 0
        for _ in range(12):
            x ^= (x << 13) & _M32
            x ^= x >> 17
            x ^= (x << 5) & _M32
            s += x >> 16
        self.state = x
        return ((s - 393210) * sigma + 32768) // 65536

    def child(self):
        """An independent generator, so one model's draws never shift another's."""
        return Rng(self.next32())


def ppm(rate):
    """A probability 0..1 as parts per million (ints keep both interpreters bit-identical)."""
    return int(rate * 1000000 + 0.5)


def milli(value):
    """Grams (int or float) to milligrams, rounded to the nearest."""
    return int(value * 1000 + (0.5 if value >= 0 else -0.5))
