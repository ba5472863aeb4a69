"""Deployment on the Pi (deploy/, docs/deployment.md): the agent's systemd unit passes systemd-analyze verify
in a staged root, deploy/install.sh installs into a staged root and upgrades it with a real ledger in place
(the ledger and its rows survive, a pre-migration backup exists and opens, current/previous are switched),
a code rollback is allowed only while the old code can open the ledger, and the kiosk starts the browser
only once the agent's API answers.

Nothing here uses the network: the install runs offline from a wheelhouse made of this project's wheel
(built from a copy of the checkout with its own version) and the dependencies already in the test venv.
"""
import http.server
import os
import re
import signal
import shutil
import sqlite3
import subprocess
import sys
import threading
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from edge_agent.app.config import AgentConfigError, load_agent_config
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.rules.csv_io import import_locations, import_skus, import_users
from edge_agent.ledger.migrations import MIGRATIONS
from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config
from tests.ledgers import ledger_from_csv
from tests.mqtt_broker import broker  # noqa: F401 - a fixture
from tests.wheelhouse import LOCK, build_wheel, locked, locked_wheels

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "deploy/install.sh"
UNIT = "smart-locker-agent.service"
OLD, NEW = "1.0.0", "1.1.0"


# -- an offline wheelhouse (tests/wheelhouse.py) -----------------------------------------------------------
def _source_tree(dest, version, lock, extra_migration=False):
    """A copy of the checkout at another version (what an installer unpacks on the Pi), whose lock file is
    `lock` (the shipped pins, with the test wheelhouse's hashes)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("firmware", "edge_agent", "sim", "locker_flash", "deploy"):
        shutil.copytree(REPO / part, dest / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md", "docs/deployment.md", "hw/wiring.md"):
        (dest / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / part, dest / part)
    (dest / "deploy/requirements.lock").write_text(lock)
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "%s"' % version, pyproject.read_text()))
    if extra_migration:
        # The new version's ledger schema grows by one step, as real upgrades do.
        with open(dest / "edge_agent/ledger/migrations.py", "a") as f:
            f.write('\nMIGRATIONS.append(Migration(MIGRATIONS[-1].version + 1, "deploy test: one more table",'
                    ' ["CREATE TABLE deploy_probe (note TEXT)"]))\n')
    return dest


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Two releases (OLD, NEW: NEW adds a migration) and a wheelhouse holding both and their dependencies."""
    base = tmp_path_factory.mktemp("release")
    wheels = base / "wheels"
    wheels.mkdir()
    lock = locked_wheels(wheels)
    sources = {}
    for version in (OLD, NEW):
        src = _source_tree(base / ("src-" + version), version, lock, extra_migration=version == NEW)
        build_wheel(src, wheels)
        sources[version] = src
    return sources, wheels


def install(source, root, wheels, *args):
    return subprocess.run(["bash", str(source / "deploy/install.sh"), "--root", str(root), "--wheelhouse",
                           str(wheels), "--python", sys.executable, *args],
                          capture_output=True, text=True, timeout=600)


def rollback(source, root):
    return subprocess.run(["bash", str(source / "deploy/install.sh"), "--rollback", "--root", str(root),
                           "--python", sys.executable], capture_output=True, text=True, timeout=120)


def staged_boot(root):
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(
        "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n")
    (boot / "config.txt").write_text("dtparam=audio=on\ncamera_auto_detect=1\n")


def fill_ledger(path):
    """A real ledger as the agent leaves it: the example site's catalog and people, and vends."""
    ledger = open_ledger(path, ManualClock(), cabinet_id="CAB-DEPLOY")
    site = REPO / "examples/site"
    import_skus(ledger, site / "skus.csv")
    import_locations(ledger, site / "locations.csv")
    import_users(ledger, site / "users.csv")
    for location in ("L1", "L2", "L1"):
        seq, _ = ledger.record_intent("issue", location=location, quantity=1, user_id="T100")
        ledger.record_outcome(seq, "done", 1)
    return ledger


def rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM transactions ORDER BY seq").fetchall()


def schema(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT max(version) FROM schema_version").fetchone()[0]


def link(root, name):
    return (root / "opt/smart-locker" / name).readlink().name


def locker_agent(root, *args):
    return subprocess.run([str(root / "opt/smart-locker/current/bin/locker-agent"), *args],
                          capture_output=True, text=True, timeout=120)


def verify_unit(root):
    """systemd-analyze verify inside the staged root (with the host's own units for its dependencies)."""
    units = root / "usr/lib/systemd/system"
    if not units.exists():
        shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    return subprocess.run(["systemd-analyze", "verify", "--root=%s" % root, "/etc/systemd/system/" + UNIT],
                          capture_output=True, text=True, timeout=120)


# -- the install, the upgrade, the rollback --------------------------------------------------------------------
def test_upgrade_keeps_the_ledger_backs_it_up_before_migrating_and_rolls_back_only_when_safe(release, tmp_path):
    sources, wheels = release
    root = tmp_path / "root"
    staged_boot(root)

    first = install(sources[OLD], root, wheels)
    assert first.returncode == 0, first.stderr
    assert link(root, "current") == OLD and not (root / "opt/smart-locker/previous").exists()
    config = root / "etc/smart-locker/agent.toml"
    assert config.read_text() == (REPO / "deploy/agent.toml").read_text()
    # The installer sets the cabinet id; the agent's ledger goes where the config says.
    config.write_text(config.read_text().replace('cabinet_id = ""', 'cabinet_id = "CAB-DEPLOY"'))
    ledger_path = root / "var/lib/smart-locker/ledger.db"
    ledger = fill_ledger(ledger_path)      # left open, as a running agent would: the last rows are in the WAL
    before = rows(ledger_path)
    assert len(before) >= 6 and schema(ledger_path) == MIGRATIONS[-1].version

    second = install(sources[NEW], root, wheels)
    ledger.close()
    assert second.returncode == 0, second.stderr
    assert (link(root, "current"), link(root, "previous")) == (NEW, OLD)
    assert (root / "opt/smart-locker" / OLD / "bin/locker-agent").exists()       # the old venv stays
    assert 'cabinet_id = "CAB-DEPLOY"' in config.read_text()                      # config never overwritten
    assert rows(ledger_path) == before
    backups = sorted((root / "var/lib/smart-locker/backups").glob("*.db"))
    assert [b.name.endswith("-%s-to-%s.db" % (OLD, NEW)) for b in backups] == [True]
    with sqlite3.connect(backups[0]) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rows(backups[0]) == before
    assert schema(backups[0]) == MIGRATIONS[-1].version       # taken before the new version migrated anything

    # Before the new version ran, the old code still opens the ledger: rolling back switches back and forth,
    # and installing the new version again reuses its venv.
    back = rollback(sources[NEW], root)
    assert back.returncode == 0, back.stderr
    assert (link(root, "current"), link(root, "previous")) == (OLD, NEW)
    assert locker_agent(root, "--help").returncode == 0
    again = install(sources[NEW], root, wheels)
    assert again.returncode == 0 and "already built" in again.stderr
    assert (link(root, "current"), link(root, "previous")) == (NEW, OLD)

    # The new version's agent opens the ledger: its migration runs and the chain still verifies.
    checked = locker_agent(root, "--db", str(ledger_path), "verify")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert schema(ledger_path) == MIGRATIONS[-1].version + 1 and rows(ledger_path)[:len(before)] == before

    # The old code cannot open a ledger migrated past what it knows: the rollback refuses and says why.
    refused = rollback(sources[NEW], root)
    assert refused.returncode == 1
    assert "cannot open the ledger" in refused.stderr and "backups" in refused.stderr
    assert link(root, "current") == NEW

    # The UART to the Pico is on and the serial console off, once however often the script runs.
    cmdline = (root / "boot/firmware/cmdline.txt").read_text()
    assert "console=serial0" not in cmdline and "console=tty1 root=PARTUUID=1234-02" in cmdline
    boot_config = (root / "boot/firmware/config.txt").read_text().splitlines()
    assert boot_config.count("enable_uart=1") == 1 and boot_config.count("dtoverlay=disable-bt") == 1

    # The unit verifies against the staged root, whose ExecStart is the installed venv's locker-agent.
    verified = verify_unit(root)
    assert verified.returncode == 0, verified.stderr


def test_a_wheel_that_is_not_the_locked_one_stops_the_install(release, tmp_path):
    """The wheelhouse (or the index) hands over a dependency that differs from the locked file by one member:
    nothing is installed, nothing switched."""
    sources, wheels = release
    tampered = tmp_path / "wheels"
    shutil.copytree(wheels, tampered)
    [wheel] = tampered.glob("pyserial-3.5-*.whl")
    with zipfile.ZipFile(wheel, "a") as whl:
        whl.writestr("serial/tools/extra.py", "import os\n")
    root = tmp_path / "root"
    refused = install(sources[OLD], root, tampered)
    assert refused.returncode == 1
    assert "DO NOT MATCH THE HASHES" in refused.stderr and "pyserial" in refused.stderr
    assert "deploy/requirements.lock" in refused.stderr
    assert not (root / "opt/smart-locker/current").exists()


def test_the_lock_pins_every_dependency_with_hashes_within_the_projects_ranges():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = dict((canonicalize_name(n), v) for n, v in locked())
    text = LOCK.read_text()
    for name, version in locked():
        block = text.split("\n%s==%s" % (name, version), 1)[1].split("\n#", 1)[0].split("\n    #", 1)[0]
        assert re.findall(r"--hash=sha256:[0-9a-f]{64}", block), name
    wanted = project["project"]["dependencies"] + project["build-system"]["requires"]
    for text_req in wanted:
        req = Requirement(text_req)
        assert canonicalize_name(req.name) in pins, "%s is not locked" % req.name
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), (text_req, pins[canonicalize_name(req.name)])
    for text_req in project["project"]["dependencies"]:            # a new major version is taken on purpose
        assert any(spec.operator == "<" for spec in Requirement(text_req).specifier), text_req
    # Closed: what each locked distribution needs is locked too (pip --require-hashes would refuse it on the Pi).
    for name, version in locked():
        for need in metadata.distribution(name).requires or []:
            req = Requirement(need)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert canonicalize_name(req.name) in pins, "%s needs %s, which is not locked" % (name, req.name)
                assert req.specifier.contains(pins[canonicalize_name(req.name)]), (name, need)


def test_the_unit_does_not_verify_without_its_program(tmp_path):
    unit = tmp_path / "etc/systemd/system" / UNIT
    unit.parent.mkdir(parents=True)
    shutil.copy(REPO / "deploy/systemd" / UNIT, unit)
    result = verify_unit(tmp_path)
    assert result.returncode != 0 and "/opt/smart-locker/current/bin/locker-agent" in result.stderr


def unit_settings():
    """{key: [values, in order]} of the unit as shipped."""
    settings = {}
    for line in (REPO / "deploy/systemd" / UNIT).read_text().splitlines():
        if re.match(r"^[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_runs_the_agent_as_its_own_user_with_serial_and_gpio_and_no_watchdog():
    settings = {key: values[-1] for key, values in unit_settings().items()}
    assert settings["ExecStart"] == ("/opt/smart-locker/current/bin/locker-agent run "
                                     "--config /etc/smart-locker/agent.toml")
    assert (settings["User"], settings["Restart"], settings["SupplementaryGroups"]) == (
        "smart-locker", "on-failure", "dialout gpio")
    # The agent never calls sd_notify, so a watchdog would kill a healthy agent.
    assert "WatchdogSec" not in settings
    sources = [p.read_text() for p in REPO.glob("edge_agent/**/*.py")]
    assert sources and not any("sd_notify" in s or "NOTIFY_SOCKET" in s for s in sources)
    # PrivateDevices= would hide /dev/serial0 and the GPIO devices; the device allow-list lets through, by the
    # kernel's names for them (/proc/devices), the Pico's UART (ttyAMA: the PL011; ttyS: the mini UART with
    # Bluetooth on), USB serial badge readers (ttyUSB, ttyACM) and the reset line (bcm2835-gpiomem: RPi.GPIO's
    # /dev/gpiomem; gpiochip: rpi-lgpio's /dev/gpiochip*).
    assert "PrivateDevices" not in settings and settings["DevicePolicy"] == "closed"
    assert set(unit_settings()["DeviceAllow"]) == {"char-%s rw" % group for group in (
        "ttyAMA", "ttyS", "ttyUSB", "ttyACM", "bcm2835-gpiomem", "gpiochip")}
    # The API, MQTT and pcscd's socket.
    assert settings["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"


def test_systemd_analyze_security_rates_the_unit_2_or_better():
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                             str(REPO / "deploy/systemd" / UNIT)], capture_output=True, text=True, timeout=120)
    score = re.search(r"Overall exposure level for %s: (\d+\.\d+)" % re.escape(UNIT), result.stdout)
    assert score, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0, result.stdout


# -- the agent under the unit's syscall filter and MemoryDenyWriteExecute ----------------------------------
def syscall_groups():
    """{"@group": {names and @subgroups}} as this systemd knows them."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                         check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif line.strip() and not line.strip().startswith("#") and current is not None:
            current.add(line.strip())
    return groups


def unit_syscalls():
    """The system calls the unit's SystemCallFilter= lines let through (an allow-list, then ~ removals)."""
    groups = syscall_groups()

    def expand(names):
        out = set()
        for name in names:
            out |= expand(groups[name]) if name.startswith("@") else {name}
        return out

    allowed = None
    for value in unit_settings()["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= expand(value[1:].split())
        else:
            allowed = expand(value.split()) if allowed is None else allowed | expand(value.split())
    return allowed


# Runs the agent as MemoryDenyWriteExecute=yes would: the kernel's own W^X rule for a process (prctl
# PR_SET_MDWE, Linux 6.3), which execve keeps. First it shows the rule bites (a writable executable mapping
# is refused), then it becomes the agent.
MDWE = """import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:    # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit("PR_SET_MDWE failed: errno %d" % ctypes.get_errno())
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a writable executable mapping was allowed")
except PermissionError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.fixture
def cabinet_site(tmp_path):
    sim, port = simulated_cabinet(lane_matrix={"turn_ms": 300, "settle_ms": 250, "debounce_ms": 5},
                                  sim={"drop_delay_min_ms": 50, "drop_delay_max_ms": 120, "lane_items": 6})
    ledger = ledger_from_csv(
        tmp_path,
        skus="part_number,description,category,supplier\nGLV,Nitrile gloves,ppe,Acme\n",
        locations="id,kind,unit,sku,on_hand,min,max,refill_pack\nL1,lane,1,GLV,6,5,8,2\n",
        users="id,name,role,supplier,badges\nT100,Ana,technician,,04A1B2C3D4E5F6\n")
    ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
    ledger.close()
    yield sim, tmp_path, port
    sim.bridge.stop()


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (scripts/setup installs it)")
def test_the_agent_does_its_job_within_the_units_syscall_filter_and_without_writable_code(
        cabinet_site, virtual_cards, broker):
    sim, folder, port = cabinet_site
    allowed = unit_syscalls()
    assert "openat" in allowed and "setuid" not in allowed and "setrlimit" not in allowed
    (folder / "command.key").write_text(bytes(range(32)).hex())
    cloud = {"host": "127.0.0.1", "port": broker.port, "tenant": "acme", "site": "plant1",
             "key_file": "command.key", "publish_timeout_s": 2}
    config = write_agent_config(folder, port, readers={"pcsc": True, "pcsc_reader": "Virtual PCD 00 00"},
                                cloud=cloud, cabinet_id="CAB-UNIT")
    published = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "#", "-v",
                                  "-W", "60"], stdout=subprocess.PIPE, text=True)
    trace = folder / "syscalls.txt"
    agent = AgentProcess(config, prefix=["strace", "-f", "-c", "-o", str(trace), sys.executable, "-c", MDWE])
    try:
        agent.start(timeout=60)
        agent.wait_ready(timeout=60)
        card = virtual_cards()
        card.tap(bytes.fromhex("04A1B2C3D4E5F6"))             # pcscd's socket
        agent.wait_for_state(lambda s: s["session"] and s["session"]["user_id"] == "T100", timeout=30)
        card.remove()
        status, result = agent.request("POST", "/api/issue", {"location": "L1", "quantity": 1})
        assert status == 200 and result["outcomes"] == ["vended"], result       # the serial port, the ledger
        for line in published.stdout:                         # MQTT: the vend reaches the broker
            if line.startswith("locker/v1/acme/plant1/CAB-UNIT/tx ") and '"outcome"' in line:
                break
        else:
            raise AssertionError("the agent published no transaction")
        # A clean stop, as systemd does it: SIGTERM to the agent (strace's child), not to strace.
        strace_pid = agent.proc.pid
        child = int(Path("/proc/%d/task/%d/children" % (strace_pid, strace_pid)).read_text().split()[0])
        os.kill(child, signal.SIGTERM)
        assert agent.proc.wait(30) == 0, agent.log()[-3000:]
    finally:
        published.kill()
        published.wait()
        agent.kill()
    used = set(re.findall(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(?:\d+\s+)?(\w+)$", trace.read_text(), re.M)) - {"total"}
    assert {"openat", "connect", "ioctl"} <= used, trace.read_text()
    if os.geteuid() == 0:
        # SQLite gives a new journal or WAL file its database's owner only when it runs as root (robustFchown
        # in its unix VFS); the service never does, and SQLite carries on when fchown is refused.
        used.discard("fchown")
    assert used <= allowed, "the agent made system calls the unit refuses: %s" % sorted(used - allowed)


def test_the_config_template_refuses_to_start_until_the_cabinet_id_is_set(tmp_path):
    template = (REPO / "deploy/agent.toml").read_text()
    path = tmp_path / "agent.toml"
    path.write_text(template)
    with pytest.raises(AgentConfigError, match=r"\[agent\] cabinet_id must not be empty"):
        load_agent_config(path)
    path.write_text(template.replace('cabinet_id = ""', 'cabinet_id = "CAB-1"'))
    config = load_agent_config(path)
    assert (str(config.ledger), config.cabinet_port, config.reset_gpio) == (
        "/var/lib/smart-locker/ledger.db", "/dev/serial0", 17)
    kiosk = dict(line.split("=", 1) for line in (REPO / "deploy/kiosk/kiosk.env").read_text().splitlines()
                 if line and not line.startswith("#"))
    assert kiosk["KIOSK_URL"] == "http://%s:%d/" % (config.api_host, config.api_port)


def test_install_script_help_bad_arguments_and_syntax():
    for script in (INSTALL, REPO / "deploy/kiosk/smart-locker-kiosk.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script
    shown = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--root DIR" in shown.stdout and "--rollback" in shown.stdout
    bad = subprocess.run(["bash", str(INSTALL), "--keep", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--keep needs a whole number" in bad.stderr


# -- the kiosk ------------------------------------------------------------------------------------------------
class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<html>locker</html>")

    def log_message(self, *args):
        pass


def test_the_kiosk_waits_for_the_agent_then_opens_its_page_full_screen(tmp_path):
    # The agent's port is reserved but not listening yet: the kiosk must wait, not open an error page.
    server = http.server.HTTPServer(("127.0.0.1", 0), _Page, bind_and_activate=False)
    server.server_bind()
    url = "http://127.0.0.1:%d/" % server.server_address[1]
    browser_args = tmp_path / "browser-args"
    fake_browser = tmp_path / "chromium"          # the screen is the hardware boundary: record, do not draw
    fake_browser.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\n' % browser_args)
    fake_browser.chmod(0o755)
    env_file = tmp_path / "kiosk.env"
    env_file.write_text("KIOSK_URL=%s\nKIOSK_BROWSER=%s\nKIOSK_WAIT_LOG_S=1\n" % (url, fake_browser))
    kiosk = subprocess.Popen(["bash", str(REPO / "deploy/kiosk/smart-locker-kiosk.sh")],
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KIOSK_ENV_FILE": str(env_file),
                                  "KIOSK_ONCE": "1", "KIOSK_LOG_STDERR": "1"},
                             stderr=subprocess.PIPE, text=True)
    serving = False
    try:
        first = kiosk.stderr.readline()
        assert "waiting for the agent at %s" % url in first
        assert kiosk.poll() is None and not browser_args.exists()
        server.server_activate()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        serving = True
        assert kiosk.wait(timeout=60) == 0
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
        if serving:
            server.shutdown()
        server.server_close()
    args = browser_args.read_text().splitlines()
    assert args[-1] == url and "--kiosk" in args and "--no-first-run" in args
    assert "--disable-background-networking" in args and "--no-sandbox" not in args
