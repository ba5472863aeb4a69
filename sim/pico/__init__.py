# An emulated Raspberry Pi Pico (the official MicroPython rp2 port in rp2040js) wired to the cabinet's
# physics: board.py (the ptys and the process), pico.mjs (the chip), rp2040_gaps.mjs (what the emulator
# lacks), physics.mjs + pins.py (sim/hardware/'s models on the pins). docs/decisions/0019-emulated-pico.md.
