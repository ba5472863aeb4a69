# Wrapping millisecond ticks, as MicroPython's time module has them. CPython (sim/, tests) gets the same
# arithmetic here, so firmware logic never compares raw tick values and survives the 2**30 wrap on a board.
try:
    from time import ticks_add, ticks_diff
except ImportError:
    TICKS_PERIOD = 1 << 30
    _HALF = TICKS_PERIOD // 2

    def ticks_add(t, delta):
        return (t + delta) % TICKS_PERIOD

    def ticks_diff(a, b):
        """Signed a - b, correct across the wrap."""
        return ((a - b + _HALF) % TICKS_PERIOD) - _HALF


def sooner(a, b):
    """The earlier of two waits in ms, either of which may be None (nothing timed)."""
    if a is None:
        return b
    if b is None or a < b:
        return a
    return b


def wait_until(deadline, now):
    """Ms from now to a ticks deadline, 0 when it is due or past."""
    d = ticks_diff(deadline, now)
    return d if d > 0 else 0
