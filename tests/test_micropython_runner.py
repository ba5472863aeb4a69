"""The runner really runs MicroPython, with the repo's packages importable, and surfaces its errors."""
import subprocess

import pytest

from tests import micropython
from tests.micropython import MicroPythonError, run_micropython


def test_runs_real_micropython():
    out = run_micropython(
        "import sys, micropython\n"
        "X = micropython.const(7)\n"
        "print(sys.implementation.name, X, micropython.opt_level() >= 0)\n"
        "print('no newline at the end', end='')\n")
    assert out == "micropython 7 True\nno newline at the end"


def test_firmware_package_is_importable():
    out = run_micropython("import firmware.codec as c\nprint(c.__file__)\n")
    assert out.strip() == "/lib/firmware/codec.py"


def test_exception_surfaces_with_traceback():
    with pytest.raises(MicroPythonError) as info:
        run_micropython("print('before')\ndef boom():\n    raise ValueError('kaboom 42')\nboom()\n")
    err = info.value
    assert "Traceback (most recent call last)" in err.traceback
    assert "ValueError: kaboom 42" in err.traceback and "in boom" in err.traceback
    assert "ValueError: kaboom 42" in str(err)
    assert err.stdout == "before\n"


def test_sys_exit_status():
    assert run_micropython("import sys\nprint('x')\nsys.exit(0)\n") == "x\n"
    with pytest.raises(MicroPythonError) as info:
        run_micropython("import sys\nsys.exit(3)\n")
    assert info.value.returncode == 3


def test_custom_mount_and_heap(tmp_path):
    pkg = tmp_path / "pkg" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("VALUE = 'from host'\n")
    (pkg / "ignored.txt").write_text("not copied")
    out = run_micropython(
        "import os\nfrom pkg.sub import mod\nprint(mod.VALUE, sorted(os.listdir('/lib/pkg/sub')))\n",
        mounts={tmp_path / "pkg": "/lib/pkg"}, heap=256 * 1024)
    assert out == "from host ['mod.py']\n"


def test_timeout_is_an_error():
    with pytest.raises(MicroPythonError, match="did not finish"):
        run_micropython("while True:\n    pass\n", timeout=3)


def test_script_file_and_usage_errors(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import firmware.codec\nprint('ran')\n")
    cmd = [micropython.node_path(), str(micropython.RUNNER)]
    ok = subprocess.run(cmd + ["--mount", "firmware:/lib/firmware", "--script", str(script)],
                        cwd=micropython.REPO, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "ran\n")
    bad = subprocess.run(cmd + ["--mount", "no/such/dir:/lib/x", "--script", str(script)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a directory" in bad.stderr


def test_missing_toolchain_fails_with_setup_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(micropython, "PACKAGE", tmp_path / "absent")
    with pytest.raises(micropython.MicroPythonUnavailable, match="scripts/setup"):
        run_micropython("pass")
    monkeypatch.setattr(micropython.shutil, "which", lambda name: None)
    with pytest.raises(micropython.MicroPythonUnavailable, match="scripts/setup"):
        run_micropython("pass")
