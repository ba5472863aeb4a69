# Simulated cabinet: hardware/ is the portable part (virtual pins, a HAL and the physics behind them, one unit
# per module; it also runs on MicroPython in tests and on the emulated Pico); cabinet.py runs the real firmware
# on it in virtual time; ptybridge.py puts it behind a pseudo-terminal; cli.py is the `locker-sim` command;
# cloud/ is the reference cloud side. Import nothing here: MicroPython loads sim/hardware/ alone.
