"""Registration end to end, every piece real: `locker-agent register` on the Pi writes its TLS key, CSR and
command key; `locker-hub cabinet register` takes them (certificate signed with the supplier's CA, broker
password made); `locker-hub broker write` writes the shipped Mosquitto's password file and ACL; the agent,
configured with what the office sent back, connects over TLS with its issued certificate and password, and
its rows are stored and acked by the hub (hub.service.Hub logged in as its own broker user)."""
import shutil
import ssl
import subprocess
import sys

import pytest

from edge_agent.cli.registration import fingerprint
from hub.service import Hub
from tests.agent_process import write_agent_config
from tests.mqtt_broker import DEPLOY_BROKER, SHIPPED_DIR, Broker, make_pki
from tests.test_cloud_sync import CABINET, Site
from tests.test_hub_tenancy import hub

# The Pi's [cloud] section: its own paths, so register writes where the agent reads (docs/commissioning.md).
CLOUD = {"host": "127.0.0.1", "tenant": "acme", "site": "plant1", "key_file": "command.key",
         "tls_key": "tls/cabinet.key", "tls_cert": "tls/cabinet.crt", "tls_ca": "tls/ca.pem",
         "username": CABINET, "password_file": "tls/mqtt.password", "publish_timeout_s": 2, "batch_rows": 8}


@pytest.fixture
def site(tmp_path, hub_dsn):
    (tmp_path / "site").mkdir()
    site = Site(tmp_path / "site", hub_dsn)
    yield site
    site.close()


def test_locker_agent_register_to_the_hub_to_rows_stored_and_acked_over_tls(site, hub_dsn, tmp_path):
    pki = make_pki(tmp_path / "pki")          # the supplier's CA (and the broker's server certificate)
    office = tmp_path / "office"
    office.mkdir()
    site.broker = Broker(site.folder / "broker", persistence=True,
                         shipped=(DEPLOY_BROKER / "mosquitto.conf").read_text().replace(SHIPPED_DIR, "%s/" % pki))
    config = write_agent_config(site.folder, site.port, cloud=dict(CLOUD, port=site.broker.port), cabinet_id=CABINET)

    # On the Pi: the cabinet's key, request and command key.
    result = subprocess.run([sys.executable, "-m", "edge_agent.cli", "register", "--config", str(config),
                             "--group", "root"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    command_key = (site.folder / "command.key").read_text().strip()
    assert fingerprint(command_key) in result.stdout

    # At the supplier's office: the books, the registration, the broker's files.
    assert hub(hub_dsn, "tenant", "add", "acme")[0] == 0
    assert hub(hub_dsn, "site", "add", "--tenant", "acme", "plant1", "--customer", "Foundry Ltd")[0] == 0
    code, lines, err = hub(hub_dsn, "cabinet", "register", "--tenant", "acme", "--site", "plant1",
                           "--csr", str(site.folder / "tls" / "cabinet.csr"),
                           "--command-key", str(site.folder / "command.key"), "--cabinet", CABINET,
                           "--ca-cert", str(pki / "ca.pem"), "--ca-key", str(pki / "ca.key"), "--out", str(office))
    assert code == 0, err
    assert fingerprint(command_key) in "\n".join(lines)          # the phone call: both sides read the same
    assert hub(hub_dsn, "broker", "user", "hub-1", "--out", str(office / "hub-1.password"))[0] == 0
    assert hub(hub_dsn, "broker", "write", "--dir", str(pki))[0] == 0
    site.broker.start()

    # Back on the Pi: what the office sent.
    shutil.copy(office / ("%s.crt" % CABINET), site.folder / "tls" / "cabinet.crt")
    shutil.copy(office / "ca.pem", site.folder / "tls" / "ca.pem")
    shutil.copy(office / ("%s.password" % CABINET), site.folder / "tls" / "mqtt.password")

    hub_password = (office / "hub-1.password").read_text().strip()

    def login(client):
        client.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"), keyfile=str(pki / "client.key"),
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.username_pw_set("hub-1", hub_password)

    cloud = Hub(hub_dsn, "127.0.0.1", site.broker.port, grace_s=1.0, worker_id="hub-1")
    cloud.client_setup = login
    site.cloud = cloud.start()
    site.key = bytes.fromhex(command_key)
    site.start_agent(**dict(CLOUD, port=site.broker.port))
    site.issue(3)
    users = site.cloud.publish_desired(CABINET, "users", 7, {"users": [
        {"id": "T1", "name": "Ana", "role": "technician", "badges": ["04A1B2C3"]}]})
    assert site.cloud.wait_for(lambda: users in {r["command_id"] for r in site.cloud.command_results(CABINET)
                                                 if r["status"] == "applied"}, 30), site.agent.log()[-3000:]
    heads = site.check_complete()            # every row stored, and acked back to the cabinet
    assert heads["tx"] >= 3
    assert "u'%s'" % CABINET in site.broker.log() and "u'hub-1'" in site.broker.log()   # each as its own user
