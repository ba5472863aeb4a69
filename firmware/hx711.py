# HX711 load-cell ADCs sharing one clock line, each with its own data line, read together by bit-banging.
# Channel A at gain 128: 25 clock pulses per reading. A clock held high past 60 us powers the chip down, so
# interrupts are off around each pulse (never around the whole reading, which would stall the UART).
# A HAL may offer hx711_reader(sck, douts): a function that clocks the 25 pulses itself and fills in each
# chip's 24 bits (a PIO program on a board, one event in a simulation that does not test the bit timing).
# A chip whose DOUT stays high (not ready) for NOT_READY_MS is marked faulted and no longer waited for.
from firmware.ticks import ticks_add, ticks_diff, wait_until

NOT_READY_MS = 500


class HX711Bank:
    def __init__(self, hal, sck, douts, now):
        self._sck = hal.output(sck)
        self._sck.value(0)
        # Each DOUT's value() bound once: a method looked up in the 24-bit loop costs a board time (and
        # a bound method on the heap).
        self._dout_reads = [hal.input(d, False).value for d in douts]
        self._sck_set = self._sck.value
        self._irq_off = hal.irq_off
        self._irq_on = hal.irq_on
        self.values = [0] * len(douts)       # last raw reading per chip, signed 24-bit
        self.faulted = [False] * len(douts)
        self._last_read = now
        reader = getattr(hal, "hx711_reader", None)
        self._reader = reader(sck, douts) if reader is not None else None

    def due_in(self, now):
        """Ms until poll() marks a working chip that is still not ready as faulted (None: none is waiting);
        a conversion coming ready is an input."""
        reads = self._dout_reads
        faulted = self.faulted
        for i in range(len(reads)):
            if not faulted[i] and reads[i]():
                return wait_until(ticks_add(self._last_read, NOT_READY_MS), now)
        return None

    def poll(self, now):
        """Read every chip when all working ones have a conversion ready; True when values were refreshed."""
        reads = self._dout_reads
        faulted = self.faulted
        waiting = False
        working = False
        for i in range(len(reads)):
            if reads[i]():
                if not faulted[i]:
                    waiting = True
            elif faulted[i]:
                faulted[i] = False           # it came back
            if not faulted[i]:
                working = True
        if not working:
            return False                     # every chip is dead: nothing to read, nothing to wait for
        if waiting:
            if ticks_diff(now, self._last_read) >= NOT_READY_MS:
                for i in range(len(reads)):
                    if reads[i]():
                        faulted[i] = True
            return False
        self._read()
        self._last_read = now
        return True

    def _read(self):
        if self._reader is not None:
            self._reader(self.values)
            self._signed()
            return
        irq_off = self._irq_off
        irq_on = self._irq_on
        sck = self._sck_set
        reads = self._dout_reads
        values = self.values
        n = len(reads)
        for i in range(n):
            values[i] = 0
        for _ in range(24):
            state = irq_off()
            sck(1)
            sck(0)
            irq_on(state)
            for i in range(n):
                values[i] = (values[i] << 1) | reads[i]()
        state = irq_off()
        sck(1)                               # 25th pulse: channel A, gain 128 for the next conversion
        sck(0)
        irq_on(state)
        self._signed()

    def _signed(self):
        values = self.values
        for i in range(len(values)):
            if values[i] & 0x800000:
                values[i] -= 0x1000000
