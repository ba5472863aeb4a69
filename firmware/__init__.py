# Cabinet firmware: plain MicroPython logic that reaches hardware only through a HAL (firmware/hal.py).
# On a board this folder is copied to /lib/firmware and started by main.py; in sim/ and tests the same
# modules run under CPython and under the official MicroPython WebAssembly build.
