"""A MicroPython board on a pty for tests: real MicroPython (the WebAssembly build) speaking the REPL as a Pico
does over USB, so unmodified mpremote and tools/flash.py open it by path.

    with MicroPythonBoard(tmp_path / "flash") as board:
        subprocess.run(["mpremote", "connect", board.port, "exec", "print(1)"])
        board.file("main.py")                 # what the board's flash holds, read from the host
        with board.powered_off():             # corrupt the flash while the board is off
            board.path("fw/a/x.mpy").write_bytes(b"junk")
        board.wait_for_event(lambda e: e["event"] == "uart_open")

The interpreter is tests/mpy/repl_board.mjs (Node); this side owns the pty and relays bytes both ways, keeping
a log of what the host sent and what the board answered (`sent`, `received`). The board's flash is a host
directory: it survives resets, power cuts (`power_cut()` kills the interpreter at once) and restarts.

    python -m tests.mp_board --fs DIR      # serve one until Ctrl-C; prints "port: /dev/pts/N"
"""
import argparse
import json
import os
import select
import signal
import subprocess
import threading
import time
import tty
from contextlib import contextmanager
from pathlib import Path

from tests.micropython import REPO, node_path

BOARD_SCRIPT = REPO / "tests" / "mpy" / "repl_board.mjs"


class MicroPythonBoard:
    def __init__(self, flash_dir, events=None):
        self.flash_dir = Path(flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.events_file = Path(events) if events else self.flash_dir.with_name(self.flash_dir.name + ".events")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)        # a plain 8-bit line, as a USB CDC port is
        self.port = os.ttyname(self.slave)
        self.sent = bytearray()       # host -> board, everything since start
        self.received = bytearray()   # board -> host
        self._lock = threading.Lock()
        self._proc = None
        self._threads = []
        self._stop = threading.Event()

    # -- power --
    def start(self):
        if self._proc is not None:
            return self
        self._proc = subprocess.Popen(
            [node_path(), str(BOARD_SCRIPT), "--fs", str(self.flash_dir), "--events", str(self.events_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, start_new_session=True)
        self._stop.clear()
        proc = self._proc
        self._threads = [threading.Thread(target=self._to_board, args=(proc,), daemon=True),
                         threading.Thread(target=self._to_host, args=(proc,), daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def power_cut(self):
        """Kill the interpreter at once: whatever it had not written to its flash is lost, as on a board."""
        if self._proc is None:
            return
        self._stop.set()
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc.stdin.close()
        self._proc.stdout.close()
        for t in self._threads:
            t.join(timeout=5)
        self._proc = None

    @contextmanager
    def powered_off(self):
        self.power_cut()
        try:
            yield self
        finally:
            self.start()

    def close(self):
        self.power_cut()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- the relay --
    def _to_board(self, proc):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            with self._lock:
                self.sent += data
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return

    def _to_host(self, proc):
        fd = proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            with self._lock:
                self.received += data
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                except BlockingIOError:
                    time.sleep(0.001)      # the host is not reading; a CDC port would NAK too
                    continue
                except OSError:
                    return
                view = view[n:]

    # -- looking at the board --
    def path(self, board_path):
        return self.flash_dir / str(board_path).lstrip("/")

    def file(self, board_path):
        return self.path(board_path).read_bytes()

    def files(self):
        """Every file on the board's flash: {'/fw/a/x.mpy': bytes}."""
        return {"/" + str(p.relative_to(self.flash_dir)): p.read_bytes()
                for p in sorted(self.flash_dir.rglob("*")) if p.is_file()}

    def events(self):
        try:
            lines = self.events_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for_event(self, predicate, timeout=30, after=0):
        """The first event (from index `after` on) matching predicate; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            for e in events[after:]:
                if predicate(e):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError("no matching board event within %ss; events: %s" % (timeout, events[after:]))
            time.sleep(0.05)

    def wait_for_output(self, text, timeout=30, after=0):
        deadline = time.monotonic() + timeout
        while text not in bytes(self.received[after:]):
            if time.monotonic() > deadline:
                raise AssertionError("the board did not print %r within %ss; it printed %r"
                                     % (text, timeout, bytes(self.received[after:])[-2000:]))
            time.sleep(0.05)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Serve a MicroPython board (WebAssembly build) on a pty.")
    ap.add_argument("--fs", required=True, help="host directory holding the board's flash")
    args = ap.parse_args(argv)
    with MicroPythonBoard(args.fs) as board:
        print("port: %s" % board.port, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
