"""A real pcscd with vpcd's virtual readers, private to the test run, and virtual cards to tap on them.

    pcsc_rig, virtual_cards: pytest fixtures, registered for every test in tests/conftest.py

Isolation from a system pcscd (docs/decisions/0007-badge-ids.md, "Testing"):
- Socket: pcscd 1.9 has no option for its socket, but accepts one from systemd-style socket activation
  (LISTEN_FDS=1, LISTEN_PID, the listening socket as fd 3). The rig makes a socket in its own directory,
  and clients find it through PCSCLITE_CSOCK_NAME. libpcsclite reads that variable once per process, so one
  rig serves the whole test session.
- Readers: `-c DIR` replaces /etc/reader.conf.d; the rig's own vpcd entry puts the virtual readers on a free
  port pair (DEVICENAME /dev/null:PORT; reader 00 00 on PORT, 00 01 on PORT+1) instead of 35963.
- The one shared file left is /run/pcscd/pcscd.pid, which pcscd overwrites and removes on exit: the rig puts
  back what was there.
--auto-exit makes a pcscd orphaned by a killed test run quit by itself; the rig keeps a context open so it
does not quit during the session. Any failure to run pcscd fails the tests with its log: never a skip.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sim.virtual_card import VirtualCard

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
SYSTEM_PID_FILE = Path("/run/pcscd/pcscd.pid")
READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
START_TIMEOUT_S = 15.0
SETUP_HINT = "scripts/setup installs pcscd, vsmartcard-vpcd and pyscard"


def _free_port_pair():
    # Many tries: after a flood of local connections, most neighbours of a free port sit in TIME_WAIT.
    for _ in range(2000):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("0.0.0.0", 0))      # vpcd listens on all interfaces
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            try:
                b.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free pair of TCP ports for vpcd")


class PcscRig:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pcsc-rig-"))
        self.socket_path = self.dir / "pcscd.comm"
        self.conf_dir = self.dir / "reader.conf.d"
        self.log_path = self.dir / "pcscd.log"
        self.port = _free_port_pair()
        self.readers = READERS
        self.proc = None
        self._keepalive = None
        self._saved_pid_file = None
        self.conf_dir.mkdir()
        (self.conf_dir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.port:04X}\n")

    def card(self, reader=0):
        """A virtual card for reader 0 ("Virtual PCD 00 00") or 1."""
        return VirtualCard(port=self.port + reader)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def start(self):
        pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd") else None)
        if pcscd is None:
            pytest.fail(f"pcscd is not installed ({SETUP_HINT})", pytrace=False)
        if not os.path.exists(VPCD_DRIVER):
            pytest.fail(f"the vpcd driver {VPCD_DRIVER} is missing ({SETUP_HINT})", pytrace=False)
        try:
            from smartcard import scard  # noqa: F401
        except ImportError as e:
            pytest.fail(f"pyscard does not import: {e} ({SETUP_HINT})", pytrace=False)
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)
        self._saved_pid_file = SYSTEM_PID_FILE.read_bytes() if SYSTEM_PID_FILE.exists() else None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(64)
        fd = listener.fileno()
        # sd_listen_fds() wants the socket as fd 3 and LISTEN_PID = pcscd's own pid: set both in a shell
        # that then execs pcscd (same pid). bash, as dash cannot redirect fds above 9.
        command = (f'LISTEN_PID=$$ LISTEN_FDS=1 exec "{pcscd}" --foreground --auto-exit '
                   f'-c "{self.conf_dir}" 3<&{fd}')
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["bash", "-c", command], pass_fds=[fd], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        listener.close()   # pcscd has its own copy
        self._wait_for_readers()

    def _wait_for_readers(self):
        from smartcard import scard as S

        deadline = time.monotonic() + START_TIMEOUT_S
        seen = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"pcscd exited with status {self.proc.returncode} while starting")
            hr, ctx = S.SCardEstablishContext(S.SCARD_SCOPE_USER)
            if hr == S.SCARD_S_SUCCESS:
                hr, seen = S.SCardListReaders(ctx, [])
                if hr == S.SCARD_S_SUCCESS and all(r in seen for r in self.readers):
                    self._keepalive = ctx
                    return
                S.SCardReleaseContext(ctx)
            time.sleep(0.05)
        self.stop()
        self._fail(f"pcscd did not show the readers {self.readers} within {START_TIMEOUT_S} s "
                   f"(last seen: {seen}; socket {self.socket_path})")

    def _fail(self, why):
        pytest.fail(f"{why}\n--- pcscd log ({self.log_path}) ---\n{self.log()}", pytrace=False)

    def stop(self):
        from smartcard import scard as S

        if self._keepalive is not None:
            S.SCardReleaseContext(self._keepalive)
            self._keepalive = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._saved_pid_file is not None:   # pcscd removed a system pcscd's pid file: put it back
            with contextlib.suppress(OSError):
                SYSTEM_PID_FILE.write_bytes(self._saved_pid_file)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def restart(self):
        self.stop()
        self.start()


_rig = None


@pytest.fixture(scope="session")
def pcsc_rig():
    """The session's pcscd with two virtual readers (started again if a test stopped it)."""
    global _rig
    if _rig is None:
        _rig = PcscRig()
    if not _rig.running:
        _rig.start()
    yield _rig
    _rig.stop()
    shutil.rmtree(_rig.dir, ignore_errors=True)
    _rig = None


@pytest.fixture
def virtual_cards(pcsc_rig):
    """make(reader=0) -> a VirtualCard on that reader; every card is removed at the end of the test."""
    if not pcsc_rig.running:   # an earlier test stopped it
        pcsc_rig.start()
    cards = []

    def make(reader=0):
        card = pcsc_rig.card(reader)
        cards.append(card)
        return card

    yield make
    for card in cards:
        card.remove()

