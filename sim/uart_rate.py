# What a UART set to one line rate hears from a UART sending at another: the two ends of the cabinet link
# configured differently ([agent] baud against the firmware's [link] baud). The bits are re-sampled the way
# a PL011 samples them (8N1, LSB first, the line idle high): a start bit is a low level still low half a
# bit later, each data bit is read in its middle, and the search for the next start bit begins at the stop
# bit's middle, whatever the stop bit read (a framing error still delivers its byte, as Linux does with
# INPCK off). Integer time throughout, so the same bytes give the same garbage on every run.


def resample(data, sent_baud, heard_baud):
    """The bytes a receiver at heard_baud makes of `data` sent back to back at sent_baud."""
    if sent_baud == heard_baud:
        return bytes(data)
    bits = []
    for b in data:
        bits.append(0)
        bits.extend((b >> i) & 1 for i in range(8))
        bits.append(1)
    n = len(bits)
    # One time unit is 1 / (2 * sent_baud * heard_baud) s: a sent bit lasts 2 * heard_baud units, a heard
    # bit 2 * sent_baud units, half a heard bit sent_baud units.
    sent_bit = 2 * heard_baud
    heard_bit = 2 * sent_baud
    half = sent_baud

    def level(t):
        i = t // sent_bit
        return bits[i] if i < n else 1

    out = bytearray()
    t = 0
    while True:
        i = t // sent_bit
        while i < n and bits[i]:
            i += 1
        if i >= n:
            return bytes(out)
        start = max(t, i * sent_bit)
        if level(start + half):
            t = start + half          # a glitch shorter than half a bit: no start bit
            continue
        byte = 0
        for k in range(8):
            byte |= level(start + half + (k + 1) * heard_bit) << k
        out.append(byte)
        t = start + half + 9 * heard_bit
