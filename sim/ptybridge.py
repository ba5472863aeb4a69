# A SimCabinet behind a pseudo-terminal: any serial client (pyserial, the edge agent) opens the slave's path
# exactly like a real port. Virtual time follows real time (times speed); bytes go through the sim's line, so
# its pacing and fault injection apply. While the bridge runs, only the bridge may touch the sim.
import os
import queue
import select
import termios
import threading
import time
import tty

CHUNK_MS = 20          # most virtual time run between two looks at the pty, so I/O stays responsive
MAX_LAG_MS = 1000      # further behind real time than this, the sim gives up catching up
MAX_PENDING = 8192     # bytes for a client that is not reading; beyond this the oldest are lost
# termios speed codes to bits per second: a client's rate (pyserial sets it on the slave) is the host end's
# line rate, and the sim's line garbles both ways when it is not the firmware's.
RATES = {getattr(termios, "B%d" % r): r for r in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000,
                                                  576000, 921600, 1000000, 1152000, 1500000, 2000000, 3000000)
         if hasattr(termios, "B%d" % r)}


class PtyBridge:
    def __init__(self, sim, speed=1.0, log=None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.sim = sim
        self.speed = speed
        self._log = log
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing, no CR/LF translation: a plain 8-bit line
        self._set_rate(sim.line.baud)   # the port starts at the cabinet's rate; a client may set another
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self._pending = bytearray()
        self._stop = threading.Event()
        self._actions = queue.SimpleQueue()
        self._thread = None
        self.lost_to_host = 0

    def start(self):
        self._thread = threading.Thread(target=self.run, name="locker-sim pty", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._close()

    def do(self, fn):
        """Run fn(sim) on the bridge thread between two steps: how another thread changes the physics
        (a hand in a bin, a weight placed) without racing the simulation."""
        self._actions.put(fn)

    def call(self, fn, timeout=5.0):
        """Run fn(sim) on the bridge thread and return what it returns: a consistent look at the physics."""
        done = threading.Event()
        box = {}

        def run(sim):
            try:
                box["value"] = fn(sim)
            except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
                box["error"] = e
            finally:
                done.set()

        self.do(run)
        if not done.wait(timeout):
            raise TimeoutError("the simulation did not run a step within %.1f s" % timeout)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def request_stop(self):
        """Safe from a signal handler: the loop ends within a few ms."""
        self._stop.set()

    def _close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1

    def run(self):
        """The bridge loop: until stop(), keep virtual time in step with real time and move bytes."""
        sim = self.sim
        t0 = time.monotonic()
        v0 = sim.clock.ms
        lagging = False
        while not self._stop.is_set():
            target = v0 + int((time.monotonic() - t0) * 1000 * self.speed)
            behind = target - sim.clock.ms
            if behind > MAX_LAG_MS:
                v0 -= behind - MAX_LAG_MS  # drop the backlog rather than spiral
                if not lagging and self._log is not None:
                    self._log(sim.clock.ms, "simulation slower than real time x%g; virtual time lags" % self.speed)
                lagging = True
                behind = MAX_LAG_MS
            while not self._actions.empty():
                self._actions.get()(sim)
            self._sync_rate()
            if behind > 0:
                sim.advance(min(behind, CHUNK_MS))
            self._pending += sim.uart_host_read()
            want_write = [self.master] if self._pending else []
            timeout = 0 if behind > CHUNK_MS else 0.001
            try:
                readable, writable, _ = select.select([self.master], want_write, [], timeout)
            except (OSError, ValueError):
                break  # closed under us
            if readable:
                self._read()
            if self._pending:
                self._write()

    def _set_rate(self, baud):
        code = {r: c for c, r in RATES.items()}.get(baud)
        if code is not None:
            attrs = termios.tcgetattr(self.slave)
            attrs[4] = attrs[5] = code
            termios.tcsetattr(self.slave, termios.TCSANOW, attrs)

    def _sync_rate(self):
        """The client's line rate as the sim's host end (unchanged while no client has set a known one)."""
        try:
            speed = termios.tcgetattr(self.slave)[5]
        except termios.error:
            return
        rate = RATES.get(speed)
        if rate is not None:
            self.sim.line.host_baud = rate

    def _read(self):
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: no client has the port open right now
        if data:
            self.sim.uart_host_write(data)

    def _write(self):
        try:
            n = os.write(self.master, self._pending)
            del self._pending[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._pending.clear()
        if len(self._pending) > MAX_PENDING:
            # Nobody is reading: like a UART with no listener, bytes are lost. Flushing the client's side
            # too keeps a client that opens the port later from reading minutes-old frames.
            self.lost_to_host += len(self._pending)
            self._pending.clear()
            try:
                termios.tcflush(self.slave, termios.TCIFLUSH)
            except termios.error:
                pass


def make_link(link, target):
    """A symlink at `link` to a port (replacing an old symlink, never a file), so a config can name a fixed
    path while each run gets a new pty."""
    if os.path.islink(link):
        os.unlink(link)
    elif os.path.exists(link):
        raise OSError("%s exists and is not a symlink; not replacing it" % link)
    os.symlink(target, link)
