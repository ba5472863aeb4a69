"""Run code on real MicroPython (the official WebAssembly build, via Node) from CPython tests.

    from tests.micropython import run_micropython, MicroPythonError
    out = run_micropython("import firmware.codec as c\nprint(c.crc16(b'123456789'))")

By default the repo's firmware/ is mounted at /lib/firmware and sim/ at /lib/sim, so `import firmware.x` and
`import sim.x` work as they do in CPython. Only .py files are copied. Each call is a fresh interpreter.
Nothing here skips: when Node or the npm package is missing the call fails and says to run scripts/setup.
"""
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "tests" / "mpy" / "run_micropython.mjs"
PACKAGE = REPO / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
DEFAULT_MOUNTS = {REPO / "firmware": "/lib/firmware", REPO / "sim": "/lib/sim"}


class MicroPythonError(Exception):
    """The script raised (or the runner failed). .traceback is MicroPython's stderr, .stdout what was printed."""

    def __init__(self, message, traceback="", stdout="", returncode=None):
        super().__init__(message)
        self.traceback = traceback
        self.stdout = stdout
        self.returncode = returncode


class MicroPythonUnavailable(RuntimeError):
    pass


def node_path():
    """Path of node; raises MicroPythonUnavailable (a failure, not a skip) when the toolchain is missing."""
    node = shutil.which("node")
    if node is None:
        raise MicroPythonUnavailable("node is not installed: run scripts/setup (it needs Node.js 20+)")
    if not (PACKAGE / "micropython.mjs").is_file():
        raise MicroPythonUnavailable("the MicroPython WebAssembly npm package is missing (%s): run scripts/setup" % PACKAGE)
    return node


def run_micropython(script_text, mounts=None, heap=None, timeout=120):
    """Run script_text on MicroPython and return its stdout.

    mounts: {host_dir: micropython_dir} (or pairs); None means DEFAULT_MOUNTS (host dirs that do not exist are
    left out). heap: initial GC heap in bytes; the WebAssembly build grows its heap on demand, so this is not a
    cap. Raises MicroPythonError with the traceback when the script raises, exits non-zero or times out.
    """
    node = node_path()
    if mounts is None:
        pairs = [(h, m) for h, m in DEFAULT_MOUNTS.items() if Path(h).is_dir()]
    else:
        pairs = list(mounts.items()) if isinstance(mounts, dict) else list(mounts)
    cmd = [node, str(RUNNER)]
    for host, mp_dir in pairs:
        cmd += ["--mount", "%s:%s" % (host, mp_dir)]
    if heap is not None:
        cmd += ["--heap", str(int(heap))]
    try:
        proc = subprocess.run(cmd, input=script_text.encode(), capture_output=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        raise MicroPythonError("MicroPython did not finish within %ss" % timeout, stdout=out) from None
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise MicroPythonError(
            "MicroPython exited with status %d:\n%s" % (proc.returncode, err.rstrip() or "(no stderr)"),
            traceback=err, stdout=out, returncode=proc.returncode)
    return out
