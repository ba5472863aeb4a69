"""The agent's connection to the broker as shipped (deploy/broker/): TLS with a CA the agent checks, a
per-cabinet client certificate the broker checks, a username and password, the ACL. Real Mosquitto,
real certificates made with openssl; and the last will: a cabinet that dies is reported offline, with the
session of the connection that died."""
import json
import ssl
import threading

import paho.mqtt.client as mqtt
import pytest

from tests.mqtt_broker import shipped_broker
from tests.test_cloud_sync import BADGE, CABINET, Site

PASSWORD = "s3cret-for-tests"


@pytest.fixture
def secure_site(tmp_path, hub_dsn):
    """A site whose broker runs deploy/broker's mosquitto.conf and acl as shipped: TLS, client certificates,
    a password per user, the ACL (the agent's user name is its cabinet id)."""
    (tmp_path / "site").mkdir()
    site = Site(tmp_path / "site", hub_dsn)
    pki = tmp_path / "pki"
    site.broker = shipped_broker(pki, {CABINET: PASSWORD, "cloud": PASSWORD}, client_cn=CABINET)
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
    client.username_pw_set("cloud", PASSWORD)               # the ACL lets the cloud read every status

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
    (site.folder / "password").write_text(PASSWORD + "\n")
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


def test_the_whole_contract_flows_through_the_shipped_acl(secure_site):
    """The ACL lets a cabinet do all it must: its rows reach the cloud, the cloud's acks, commands and
    retained desired state reach it (the hub connecting as the `cloud` user, over TLS)."""
    site, pki = secure_site
    (site.folder / "password").write_text(PASSWORD + "\n")
    site.broker.start()

    def login(client):
        client.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"),
                       keyfile=str(pki / "client.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.username_pw_set("cloud", PASSWORD)

    site.start_cloud(client_setup=login)
    site.start_agent(username=CABINET, password_file="password", tls_ca="ca.pem", tls_cert="client.pem",
                     tls_key="client.key")
    site.issue(3)
    users = site.cloud.publish_desired(CABINET, "users", 7, {"users": [
        {"id": "T1", "name": "Ana", "role": "technician", "badges": [BADGE]}]})
    resend = site.cloud.send_command(CABINET, "resend", {"stream": "tx", "from_seq": 1})
    assert site.cloud.wait_for(lambda: {users, resend} <= {r["command_id"] for r in site.cloud.command_results(CABINET)
                                                           if r["status"] == "applied"}, 30), site.agent.log()[-3000:]
    site.check_complete()                              # every row stored, and acked back to the cabinet
