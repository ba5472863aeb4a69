"""The `broker` fixture: a started Mosquitto of this test's own (sim/cloud/broker.py), stopped at the end;
`make_pki`, a CA with server and client certificates made with openssl; `shipped_broker`, a Mosquitto
running deploy/broker's mosquitto.conf and acl as shipped (TLS, passwords, the ACL)."""
import subprocess
from pathlib import Path

import pytest

from sim.cloud.broker import MOSQUITTO, Broker, free_port  # noqa: F401 - what the tests import from here

DEPLOY_BROKER = Path(__file__).resolve().parent.parent / "deploy" / "broker"
SHIPPED_DIR = "/etc/mosquitto/locker/"          # where deploy/broker/mosquitto.conf looks for its files
SUBJECT = "/O=Locker tests/CN=%s"


@pytest.fixture
def broker(tmp_path):
    """A started Mosquitto of this test's own (no persistence), stopped at the end."""
    instance = Broker(tmp_path / "broker").start()
    yield instance
    instance.stop()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder, client_cn="client"):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (EC keys: fast), in `folder`:
    ca.pem, server.pem/.key, client.pem/.key."""
    folder.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", SUBJECT % "test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                SUBJECT % (client_cn if name == "client" else "127.0.0.1"), "-keyout", name + ".key",
                "-out", name + ".csr", cwd=folder)
        (folder / (name + ".ext")).write_text(extra + "\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=folder)
    return folder


def shipped_broker(folder, users, client_cn="client"):
    """A Broker (not started) with deploy/broker's mosquitto.conf and acl as shipped, their files in
    `folder` instead of /etc/mosquitto/locker: the ACL copied, a PKI of the test's own, and the password file
    made with mosquitto_passwd as docs/deployment.md says. users: {user name: password}."""
    make_pki(folder, client_cn)
    (folder / "acl").write_text((DEPLOY_BROKER / "acl").read_text())
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if not (folder / "passwd").exists() else []),
                        str(folder / "passwd"), user, password], check=True, capture_output=True)
    conf = (DEPLOY_BROKER / "mosquitto.conf").read_text().replace(SHIPPED_DIR, "%s/" % folder)
    return Broker(folder / "broker", shipped=conf)
