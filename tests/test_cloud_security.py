"""The agent's connection to a broker that wants what a production broker wants: TLS with a CA the agent
checks, a per-cabinet client certificate the broker checks, and a username and password. Real Mosquitto,
real certificates made with openssl; and the last will: a cabinet that dies is reported offline, with the
session of the connection that died."""
import json
import ssl
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from tests.test_cloud_sync import CABINET, Site

SUBJECT = "/O=Locker tests/CN=%s"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate for the cabinet (EC keys: fast)."""
    folder.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", SUBJECT % "test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                SUBJECT % (CABINET if name == "client" else "127.0.0.1"), "-keyout", name + ".key",
                "-out", name + ".csr", cwd=folder)
        (folder / (name + ".ext")).write_text(extra + "\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=folder)
    return folder


@pytest.fixture
def secure_site(tmp_path):
    pki = make_pki(tmp_path / "pki")
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pki / "passwd"), CABINET, "s3cret-for-tests"], check=True)
    (tmp_path / "site").mkdir()
    site = Site(tmp_path / "site")
    site.broker.extra_config = [
        "allow_anonymous false", "password_file %s" % (pki / "passwd"),
        "cafile %s" % (pki / "ca.pem"), "certfile %s" % (pki / "server.pem"), "keyfile %s" % (pki / "server.key"),
        "require_certificate true"]
    for name in ("ca.pem", "client.pem", "client.key"):
        (site.folder / name).write_bytes((pki / name).read_bytes())
    yield site, pki
    site.close()


def watch_status(site, pki):
    """A client of our own (TLS, a certificate of the same CA, the password) that records every status."""
    seen, changed = [], threading.Condition()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"), keyfile=str(pki / "client.key"),
                   tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.username_pw_set(CABINET, "s3cret-for-tests")

    def on_message(_client, _userdata, message):
        with changed:
            seen.append(json.loads(message.payload))
            changed.notify_all()

    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe("locker/v1/+/+/+/status", qos=1)
    client.connect("127.0.0.1", site.broker.port)
    client.loop_start()

    def wait(predicate, timeout=20):
        with changed:
            return changed.wait_for(lambda: any(predicate(s) for s in seen), timeout)

    return client, seen, wait


def test_tls_client_certificate_and_password_then_the_last_will_on_a_crash(secure_site):
    site, pki = secure_site
    (site.folder / "password").write_text("s3cret-for-tests\n")
    site.broker.start()
    client, seen, wait = watch_status(site, pki)
    try:
        site.start_agent(username=CABINET, password_file="password", tls_ca="ca.pem", tls_cert="client.pem",
                         tls_key="client.key", keepalive_s=2)
        assert wait(lambda s: s["state"] == "online"), site.agent.log()[-2000:]
        session = [s for s in seen if s["state"] == "online"][-1]["session"]
        site.agent.kill()                              # no goodbye: only the broker's last will can tell
        assert wait(lambda s: s["state"] == "offline" and s["session"] == session)
        site.start_agent(username=CABINET, password_file="password", tls_ca="ca.pem", tls_cert="client.pem",
                         tls_key="client.key", keepalive_s=2)
        assert wait(lambda s: s["state"] == "online" and s["session"] > session)
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_wrong_password_keeps_the_cabinet_offline_and_the_locker_working(secure_site):
    site, pki = secure_site
    (site.folder / "password").write_text("not-the-password\n")
    site.broker.start()
    client, seen, wait = watch_status(site, pki)
    try:
        site.start_agent(username=CABINET, password_file="password", tls_ca="ca.pem", tls_cert="client.pem",
                         tls_key="client.key")
        site.issue(2)                                  # offline first: the locker does not wait for the cloud
        assert not wait(lambda s: s["state"] == "online", timeout=3)
        assert "refused the connection" in site.agent.log() or "Not authorized" in site.agent.log()
    finally:
        client.loop_stop()
        client.disconnect()
