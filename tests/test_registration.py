"""`locker-agent register`: the cabinet's TLS key and certificate request, and its command key; run with sudo,
files the service user reads; a refusal leaves nothing written."""
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_agent.cloud.envelope import load_key
from edge_agent.cli.registration import SERVICE_GROUP, fingerprint
from tests.agent_process import write_agent_config

LOCKER_AGENT = str(Path(sys.executable).parent / "locker-agent")


REPO = Path(__file__).resolve().parent.parent
MY_GROUP = grp.getgrgid(os.getegid()).gr_name
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="plays `sudo register`: needs root")


def register(config, *args, umask=0o000, group=MY_GROUP):
    """The command as an installer runs it; a wide-open umask shows the files are 0640 by themselves. The
    group is this test's own unless the test says otherwise (None: the command's default)."""
    group_args = ["--group", group] if group else []
    return subprocess.run([LOCKER_AGENT, "register", "--config", str(config), *group_args, *args],
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(umask))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_it_writes_a_key_a_csr_signed_by_it_and_a_command_key_all_0640(tmp_path):
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42")
    done = register(config)
    assert done.returncode == 0, done.stderr
    key_path, csr_path, cmd_path = tmp_path / "cabinet.key", tmp_path / "cabinet.csr", tmp_path / "command.key"
    assert [mode(p) for p in (key_path, csr_path, cmd_path)] == [0o640] * 3

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CAB-42"
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()     # signed by that key
    if shutil.which("openssl"):                                                       # and so says OpenSSL
        verify = subprocess.run(["openssl", "req", "-in", str(csr_path), "-noout", "-verify"], capture_output=True,
                                text=True)
        assert verify.returncode == 0, verify.stderr

    command_key = load_key(cmd_path)                 # what the agent's cloud sync reads: 32 bytes of hex
    assert len(command_key) == 32
    # What to send: the CSR's path and the key's fingerprint, never the key itself.
    assert str(csr_path) in done.stdout and fingerprint(command_key.hex()) in done.stdout
    assert command_key.hex() not in done.stdout + done.stderr
    assert 'key_file = "command.key"' in done.stdout        # the [cloud] lines to add, relative to the config


def test_it_never_overwrites_without_force_and_shows_the_key_only_when_asked(tmp_path):
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42")
    assert register(config).returncode == 0
    files = {p: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".key", ".csr")}
    assert len(files) == 3

    again = register(config)
    assert again.returncode == 2 and "already exist" in again.stderr and "--force" in again.stderr
    assert {p: p.read_bytes() for p in files} == files                 # nothing touched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # no temp files left

    forced = register(config, "--force", "--show-key")
    assert forced.returncode == 0, forced.stderr
    new_key = load_key(tmp_path / "command.key").hex()
    assert all(p.read_bytes() != data for p, data in files.items())    # new key, new CSR, new command key
    assert [mode(p) for p in files] == [0o640] * 3
    assert "command key: %s" % new_key in forced.stdout


def test_files_go_where_the_cloud_section_says(tmp_path):
    cloud = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "secrets/cmd.key",
             "tls_ca": "ca.pem", "tls_cert": "tls/cabinet.pem", "tls_key": "tls/cabinet-key.pem"}
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42", cloud=cloud)
    done = register(config, umask=0o022)
    assert done.returncode == 0, done.stderr
    for name in ("secrets/cmd.key", "tls/cabinet.csr", "tls/cabinet-key.pem"):
        assert mode(tmp_path / name) == 0o640, name
    assert not (tmp_path / "cabinet.key").exists()
    assert "put the certificate they sign at %s" % (tmp_path / "tls/cabinet.pem") in done.stdout


# -- run with sudo, refused without leftovers ---------------------------------------------------------------
@pytest.fixture
def service_user():
    """The real service user and group deploy/install.sh creates (smart-locker), made here the way it makes
    them when this machine has none, and removed again."""
    made = False
    try:
        pwd.getpwnam(SERVICE_GROUP)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_GROUP], check=True, capture_output=True)
        made = True
    try:
        user = pwd.getpwnam(SERVICE_GROUP)
        yield user.pw_uid, user.pw_gid
    finally:
        if made:
            subprocess.run(["userdel", SERVICE_GROUP], check=True, capture_output=True)


@pytest.fixture
def etc():
    """A config folder as /etc/smart-locker is: reachable by every user (tmp_path is not)."""
    folder = Path(tempfile.mkdtemp(prefix="register-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (scripts/setup installs it)")
def test_each_file_is_in_its_group_with_mode_0640_before_its_first_byte(tmp_path):
    """Read from the system calls themselves: each file is created exclusively with mode 0640 and given its
    group before anything is written to it, so no reader outside the group ever sees a byte of a key."""
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42")
    trace = tmp_path / "trace"
    done = subprocess.run(["strace", "-f", "-o", str(trace), "-e", "trace=openat,fchown,fchmod,write,close",
                           LOCKER_AGENT, "register", "--config", str(config), "--group", MY_GROUP],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    gid = grp.getgrnam(MY_GROUP).gr_gid
    files, open_fds = {}, {}
    for line in trace.read_text().splitlines():
        call = re.match(r"\d+ +(\w+)\((.*)\) += (-?\d+)", line)
        if not call:
            continue
        name, args, result = call.group(1), call.group(2), int(call.group(3))
        fd = args.split(",")[0]
        if name == "openat" and result >= 0:
            path = re.search(r'"([^"]*)"', args).group(1)
            open_fds.pop(str(result), None)
            if path.startswith(str(tmp_path)) and "O_CREAT" in args:
                files[path] = {"flags": args, "grouped": False, "moded": False, "bytes": 0}
                open_fds[str(result)] = files[path]
        elif name == "close":
            open_fds.pop(fd, None)
        elif fd in open_fds:
            state = open_fds[fd]
            if name == "fchown":
                state["grouped"] = args.split(", ")[2] == str(gid)
            elif name == "fchmod":
                state["moded"] = args.split(", ")[1] == "0640"
            elif name == "write":
                assert state["grouped"] and state["moded"], "written before its group and mode: %s" % line
                state["bytes"] += result
    assert sorted(Path(p).name.rsplit(".", 2)[0] for p in files) == [".cabinet.csr", ".cabinet.key", ".command.key"]
    for path, state in files.items():
        assert "O_EXCL" in state["flags"] and state["flags"].endswith("0640"), (path, state["flags"])
        assert state["bytes"] > 0, path
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".key", ".csr")) == [
        "cabinet.csr", "cabinet.key", "command.key"]


def test_the_service_group_is_the_one_the_installer_and_the_unit_use():
    assert 'SERVICE_USER=%s\n' % SERVICE_GROUP in (REPO / "deploy/install.sh").read_text()
    assert "\nGroup=%s\n" % SERVICE_GROUP in (REPO / "deploy/systemd/smart-locker-agent.service").read_text()


@needs_root
def test_run_with_sudo_the_service_user_can_read_every_file(service_user, etc):
    uid, gid = service_user
    cloud = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "command.key",
             "tls_ca": "ca.pem", "tls_cert": "tls/cabinet.pem", "tls_key": "tls/cabinet-key.pem"}
    config = write_agent_config(etc, "/dev/null", cabinet_id="CAB-42", cloud=cloud)
    done = register(config, umask=0o077, group=None)            # sudo's umask, and no --group
    assert done.returncode == 0, done.stderr
    assert "group %s" % SERVICE_GROUP in done.stdout
    for name in ("command.key", "tls/cabinet-key.pem", "tls/cabinet.csr"):
        info = os.stat(etc / name)
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, gid, 0o640), name
        # What the agent does at start: read them as the service user, in no other group.
        read = subprocess.run(["cat", str(etc / name)], user=uid, group=gid, extra_groups=[], capture_output=True)
        assert read.returncode == 0 and read.stdout == (etc / name).read_bytes(), (name, read.stderr)
    assert stat.S_IMODE(os.stat(etc / "tls").st_mode) == 0o750 and os.stat(etc / "tls").st_gid == gid
    assert not [p for p in etc.rglob(".*")]                      # no temporaries left


@needs_root
def test_root_without_the_service_group_is_refused_before_writing(tmp_path):
    try:
        grp.getgrnam(SERVICE_GROUP)
        pytest.skip("this machine has a %s group" % SERVICE_GROUP)
    except KeyError:
        pass
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42")
    refused = register(config, group=None)
    assert refused.returncode == 2
    assert "service group %r does not exist" % SERVICE_GROUP in refused.stderr and "install.sh" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.toml"]


def test_a_key_file_where_the_tls_key_goes_is_refused_and_nothing_is_written(tmp_path):
    # What examples/site/agent.toml suggested: key_file = "cabinet.key", the default name of the TLS key.
    cloud = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "cabinet.key"}
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42", cloud=cloud)
    refused = register(config)
    assert refused.returncode == 2
    assert "TLS private key and the command key would both be written to %s" % (tmp_path / "cabinet.key") \
        in refused.stderr and "nothing was written" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.toml"]


def test_a_file_in_the_way_of_a_folder_is_refused_and_nothing_is_written(tmp_path):
    cloud = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "secrets/cmd.key",
             "tls_ca": "ca.pem", "tls_cert": "agent.toml/cabinet.pem", "tls_key": "tls/cabinet-key.pem"}
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42", cloud=cloud)
    refused = register(config)
    assert refused.returncode == 2 and "is not a folder" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.toml"]
