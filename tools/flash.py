#!/usr/bin/env python3
"""tools/flash.py: the `locker-flash` command (locker_flash/cli.py) run from a checkout. See docs/flashing.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script: reach the checkout's packages

from locker_flash.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="tools/flash.py"))
