"""`locker-hub broker write` on a real Mosquitto running deploy/broker/mosquitto.conf as shipped (TLS, client
certificates, passwords, the ACL): the password file and ACL the hub writes for its registered cabinets and
its worker's user let each cabinet (with the certificate the hub issued it) do its own work and nothing to
another cabinet's topics, and the hub user take the workers' shared subscription."""
import json
import shutil
import signal
import subprocess

import pytest

from hub import broker_files
from tests.mqtt_broker import DEPLOY_BROKER, SHIPPED_DIR, Broker, make_pki
from tests.test_broker_acl import Peer, tx_batch
from tests.test_hub_ingest import LOCKER_HUB, WAIT_S
from tests.test_hub_tenancy import hub, pi_files

TENANT, SITE = "acme", "plant1"
A, B = "locker/v1/acme/plant1/CAB-A", "locker/v1/acme/plant1/CAB-B"


@pytest.fixture
def hub_broker(hub_dsn, tmp_path):
    """Cabinets CAB-A and CAB-B registered from their Pis' files, the hub user hub-1; the broker's files
    written by `locker-hub broker write` into the folder the shipped mosquitto.conf names; the broker started.
    Yields connect(user, password=None): a Peer over TLS with that user's issued certificate."""
    pki = make_pki(tmp_path / "pki")                         # the supplier's CA, and the broker's certificate
    out = tmp_path / "out"
    out.mkdir()
    assert hub(hub_dsn, "tenant", "add", TENANT)[0] == 0
    assert hub(hub_dsn, "site", "add", "--tenant", TENANT, SITE)[0] == 0
    identities, passwords = {}, {}
    for cabinet in ("CAB-A", "CAB-B"):
        folder, _ = pi_files(tmp_path / cabinet, cabinet)
        code, _, err = hub(hub_dsn, "cabinet", "register", "--tenant", TENANT, "--site", SITE, "--from", str(folder),
                           "--ca-cert", str(pki / "ca.pem"), "--ca-key", str(pki / "ca.key"), "--out", str(out))
        assert code == 0, err
        identities[cabinet] = (out / ("%s.crt" % cabinet), folder / "cabinet.key")
        passwords[cabinet] = (out / ("%s.password" % cabinet)).read_text().strip()
    assert hub(hub_dsn, "broker", "user", "hub-1", "--out", str(out / "hub-1.password"))[0] == 0
    passwords["hub-1"] = (out / "hub-1.password").read_text().strip()
    identities["hub-1"] = (pki / "client.pem", pki / "client.key")     # the hub's own certificate of the CA
    code, lines, err = hub(hub_dsn, "broker", "write", "--dir", str(pki))
    assert code == 0 and "2 cabinets, 1 hub users" in lines[0], err
    conf = (DEPLOY_BROKER / "mosquitto.conf").read_text().replace(SHIPPED_DIR, "%s/" % pki)
    broker = Broker(tmp_path / "broker", shipped=conf).start()
    peers = []

    def connect(user, password=None, as_user=None, **options):
        """`user`'s client (its certificate); the password and user name default to its own."""
        folder = tmp_path / ("tls-%d" % len(peers))
        folder.mkdir()
        cert, key = identities[user]
        shutil.copy(pki / "ca.pem", folder / "ca.pem")
        shutil.copy(cert, folder / "client.pem")
        shutil.copy(key, folder / "client.key")
        peer = Peer(folder, broker.port, as_user or user, password=passwords[user] if password is None else password,
                    **options)
        peers.append(peer)
        return peer

    connect.passwords = passwords
    connect.pki = pki
    connect.broker = broker
    yield connect
    for peer in peers:
        peer.close()
    broker.stop()


def test_the_written_acl_keeps_the_shipped_cabinet_rules():
    shipped = [l for l in (DEPLOY_BROKER / "acl").read_text().splitlines() if l.startswith("pattern ")]
    assert broker_files.CABINET_RULES == shipped


def test_the_hashes_are_mosquitto_passwds(tmp_path):
    """Both ways: a line mosquitto_passwd wrote checks with ours, and (in the tests below) the broker takes ours."""
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(tmp_path / "pw"), "u", "a password"], check=True)
    hashed = (tmp_path / "pw").read_text().strip().split(":", 1)[1]
    assert broker_files.check_password("a password", hashed) and not broker_files.check_password("other", hashed)
    assert broker_files.hash_password("x", salt=b"\0" * 12).startswith("$7$101$AAAAAAAAAAAAAAAA$")


def test_each_cabinet_publishes_on_its_own_topics_and_the_hub_user_takes_the_shared_subscription(hub_broker):
    hub_user, a, b = hub_broker("hub-1"), hub_broker("CAB-A"), hub_broker("CAB-B")
    assert hub_user.up() and a.up() and b.up()
    hub_user.subscribe("$share/hub/locker/v1/+/+/+/tx")
    a.subscribe(A + "/ack")
    assert not a.publish(A + "/tx", tx_batch("CAB-A")).is_failure
    assert not b.publish(B + "/tx", tx_batch("CAB-B")).is_failure
    hub_user.wait(lambda: hub_user.received(A + "/tx") and hub_user.received(B + "/tx"))
    assert not hub_user.publish(A + "/ack", b'{"ack": "for A"}').is_failure
    a.wait(lambda: a.received(A + "/ack"))


def test_cabinet_b_credentials_cannot_touch_cabinet_a(hub_broker):
    hub_user, a = hub_broker("hub-1"), hub_broker("CAB-A")
    assert hub_user.up() and a.up()
    hub_user.subscribe("locker/v1/#")
    b = hub_broker("CAB-B")
    assert b.up()
    b.subscribe(A + "/ack", A + "/cmd", A + "/desired/#", A + "/tx", "locker/v1/#")
    attempts = {leaf: str(b.publish(A + "/" + leaf, tx_batch("CAB-A"))) for leaf in
                ("tx", "events", "birth", "status", "inventory", "ack", "cmd", "desired/users")}
    assert attempts == {leaf: "Not authorized" for leaf in attempts}
    assert not hub_user.publish(A + "/cmd", b"for A").is_failure
    assert not a.publish(A + "/tx", b"A's real rows").is_failure
    a.subscribe(A + "/cmd")
    assert not hub_user.publish(A + "/cmd", b"for A, again").is_failure
    a.wait(lambda: a.received(A + "/cmd"))
    hub_user.wait(lambda: hub_user.received(A + "/tx"))
    assert [m[1] for m in hub_user.received(A + "/tx")] == [b"A's real rows"]
    assert b.messages == []                                       # nothing of A's reached B's subscriptions


@pytest.mark.parametrize("user, password, as_user", [
    ("CAB-B", None, "CAB-A"),            # B's password under A's name
    ("CAB-A", "not-the-password", None),
    ("CAB-A", None, "hub-1"),            # a cabinet's password is not the hub user's
])
def test_no_one_in_with_another_users_password(hub_broker, user, password, as_user):
    assert not hub_broker(user, password=password, as_user=as_user).up()


def test_a_cabinet_taken_off_the_broker_is_refused_after_the_files_are_written_again(hub_broker, hub_dsn):
    assert hub_broker("CAB-A").up()
    assert hub(hub_dsn, "broker", "remove", "CAB-A")[0] == 0
    assert hub(hub_dsn, "broker", "remove", "CAB-A")[:1] == (2,)              # not a user any more
    code, lines, _ = hub(hub_dsn, "broker", "write", "--dir", str(hub_broker.pki))
    assert code == 0 and "1 cabinets, 1 hub users" in lines[0]
    hub_broker.broker.restart()                        # (a reload rereads them too; a restart is waitable)
    assert not hub_broker("CAB-A").up() and hub_broker("CAB-B").up()


def test_locker_hub_serve_logs_in_as_its_broker_user_and_acks_a_cabinet(hub_broker, hub_dsn, tmp_path):
    """`locker-hub serve` with the hub user's password and a certificate of the CA: subscribed through the
    written ACL, it stores cabinet A's rows and A gets the ack; with a wrong password it is refused."""
    pki = hub_broker.pki
    (tmp_path / "wrong").write_text("not-the-password\n")
    a = hub_broker("CAB-A")
    assert a.up()
    a.subscribe(A + "/ack")
    for password_file, expect in ((tmp_path / "out" / "hub-1.password", " subscribed to "),
                                  (tmp_path / "wrong", " refused worker ")):
        proc = subprocess.Popen([LOCKER_HUB, "--db", hub_dsn, "serve", "--broker", "127.0.0.1:%d" % hub_broker.broker.port,
                                 "--worker-id", "hub-1", "--leave", "--username", "hub-1", "--password-file",
                                 str(password_file), "--tls-ca", str(pki / "ca.pem"), "--tls-cert",
                                 str(pki / "client.pem"), "--tls-key", str(pki / "client.key")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if expect in line or " subscription refused" in line:
                    break
            assert expect in lines[-1], "".join(lines)
            if expect == " subscribed to ":
                assert not a.publish(A + "/tx", tx_batch("CAB-A")).is_failure
                a.wait(lambda: a.received(A + "/ack"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=WAIT_S)
    assert json.loads(a.received(A + "/ack")[0][1])["body"]["upto_seq"] >= 1
    code, _, err = hub(hub_dsn, "serve", "--broker", "127.0.0.1:1", "--tls-cert", str(pki / "client.pem"))
    assert code == 2
