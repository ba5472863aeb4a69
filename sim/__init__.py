# Simulated cabinet: hardware.py is the portable part (virtual pins, a HAL and the physics behind them; it
# also runs on MicroPython in tests); cabinet.py runs the real firmware on it in virtual time; ptybridge.py
# puts it behind a pseudo-terminal; cli.py is the `locker-sim` command. Import nothing here: MicroPython
# tests load sim/hardware.py alone.
