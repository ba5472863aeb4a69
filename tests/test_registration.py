"""`locker-agent register`: the cabinet's TLS key and certificate request, and its command key."""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge_agent.cloud.envelope import load_key
from edge_agent.cli.registration import fingerprint
from tests.agent_process import write_agent_config

LOCKER_AGENT = str(Path(sys.executable).parent / "locker-agent")


def register(config, *args, umask=0o000):
    """The command as an installer runs it; a wide-open umask shows the files are 0600 by themselves."""
    return subprocess.run([LOCKER_AGENT, "register", "--config", str(config), *args], capture_output=True,
                          text=True, preexec_fn=lambda: os.umask(umask))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_it_writes_a_key_a_csr_signed_by_it_and_a_command_key_all_0600(tmp_path):
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42")
    done = register(config)
    assert done.returncode == 0, done.stderr
    key_path, csr_path, cmd_path = tmp_path / "cabinet.key", tmp_path / "cabinet.csr", tmp_path / "command.key"
    assert [mode(p) for p in (key_path, csr_path, cmd_path)] == [0o600] * 3

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
    assert [mode(p) for p in files] == [0o600] * 3
    assert "command key: %s" % new_key in forced.stdout


def test_files_go_where_the_cloud_section_says(tmp_path):
    cloud = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "secrets/cmd.key",
             "tls_ca": "ca.pem", "tls_cert": "tls/cabinet.pem", "tls_key": "tls/cabinet-key.pem"}
    config = write_agent_config(tmp_path, "/dev/null", cabinet_id="CAB-42", cloud=cloud)
    done = register(config, umask=0o022)
    assert done.returncode == 0, done.stderr
    for name in ("secrets/cmd.key", "tls/cabinet.csr", "tls/cabinet-key.pem"):
        assert mode(tmp_path / name) == 0o600, name
    assert not (tmp_path / "cabinet.key").exists()
    assert "put the certificate they sign at %s" % (tmp_path / "tls/cabinet.pem") in done.stdout
