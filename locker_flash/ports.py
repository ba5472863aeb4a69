# Which serial ports may have a MicroPython board on them: USB VID:PID of the boards and USB-UART bridges
# cabinets use. A match is only a candidate; the flasher asks the REPL before it believes it.
from serial.tools import list_ports

KNOWN_USB = {
    (0x2E8A, 0x0005): "Raspberry Pi Pico (MicroPython)",
    (0x10C4, 0xEA60): "CP210x USB-UART (ESP32 boards)",
    (0x1A86, 0x7523): "CH340 USB-UART (ESP32 boards)",
    (0x0403, 0x6001): "FTDI USB-UART",
}
ESPRESSIF_VID = 0x303A   # ESP32-S2/S3/C3 native USB: any PID


def describe_usb(vid, pid):
    """What a VID:PID is, or None when it is nothing a cabinet board shows up as."""
    if vid is None:
        return None
    if vid == ESPRESSIF_VID:
        return "Espressif native USB (ESP32-S2/S3/C3)"
    return KNOWN_USB.get((vid, pid))


def candidate_ports():
    """[(device, description)] for every USB serial port whose VID:PID is a known board or bridge."""
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        what = describe_usb(p.vid, p.pid)
        if what:
            found.append((p.device, "%s [%04X:%04X]" % (what, p.vid, p.pid)))
    return found
