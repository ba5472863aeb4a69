"""The shipped broker setup (deploy/broker/: mosquitto.conf and acl, as installed, on a real Mosquitto with
TLS, passwords made by mosquitto_passwd and a CA made here with openssl): cabinet A's own credentials try
to read cabinet B's transactions, acks and desired state, delete B's retained users, inject a transaction
for B, poison B and take over B's session, and every attempt fails; while B and the cloud do their work.

On 3915619 nothing in the project configured a broker: with passwords and no ACL every attempt succeeds."""
import json
import ssl
import threading

import paho.mqtt.client as mqtt
import pytest

from tests.mqtt_broker import shipped_broker
from tests.test_mqtt_contract import EXAMPLES

PASSWORDS = {"CAB-A": "a-secret-for-tests", "CAB-B": "b-secret-for-tests", "cloud": "c-secret-for-tests"}
A, B = "locker/v1/acme/plant1/CAB-A", "locker/v1/acme/plant1/CAB-B"
NESTED = b"[" * 1000 + b"]" * 1000
WAIT_S = 10


class Peer:
    """One MQTT 5 client over TLS with a user's password; waits on its broker's answers, never sleeps."""

    def __init__(self, pki, port, user, password=None, client_id=None, clean_start=True):
        self.user, self.messages, self.acks, self.changed = user, [], {}, threading.Condition()
        self.connected, self.refused = False, None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or user,
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"),
                            keyfile=str(pki / "client.key"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.username_pw_set(user, PASSWORDS.get(user) if password is None else password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_ack
        self.client.connect("127.0.0.1", port, clean_start=clean_start)
        self.client.loop_start()

    def _note(self, **changes):
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.changed.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._note(connected=not reason_code.is_failure, refused=reason_code if reason_code.is_failure else None)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._note(connected=False, refused=self.refused or reason_code)

    def _on_message(self, client, userdata, message):
        with self.changed:
            self.messages.append((message.topic, message.payload, message.retain))
            self.changed.notify_all()

    def _on_ack(self, client, userdata, mid, reason_codes, properties):
        with self.changed:
            self.acks[mid] = reason_codes
            self.changed.notify_all()

    def wait(self, predicate):
        with self.changed:
            assert self.changed.wait_for(predicate, WAIT_S), "%s: gave up waiting" % self.user

    def up(self):
        self.wait(lambda: self.connected or self.refused is not None)
        return self.connected

    def publish(self, topic, payload, retain=False):
        """The broker's answer (a PUBACK reason code) to a QoS 1 publish."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self.wait(lambda: info.mid in self.acks)
        return self.acks[info.mid]

    def subscribe(self, *topics):
        _, mid = self.client.subscribe([(t, 1) for t in topics])
        self.wait(lambda: mid in self.acks)

    def received(self, topic):
        with self.changed:
            return [m for m in self.messages if m[0] == topic]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def fleet(tmp_path):
    pki = tmp_path / "pki"
    broker = shipped_broker(pki, PASSWORDS).start()
    peers = []

    def connect(user, **options):
        peer = Peer(pki, broker.port, user, **options)
        peers.append(peer)
        return peer

    connect.broker = broker
    yield connect
    for peer in peers:
        peer.close()
    broker.stop()


def tx_batch(cabinet):
    """A well-formed tx batch from the contract's example, claiming to be `cabinet`'s."""
    batch = json.loads((EXAMPLES / "tx_batch.json").read_text())
    return json.dumps(dict(batch, cabinet=cabinet)).encode()


def test_cabinet_a_reads_nothing_of_cabinet_b(fleet):
    cloud, b, a = fleet("cloud"), fleet("CAB-B"), fleet("CAB-A")
    assert cloud.up() and b.up() and a.up()
    assert not cloud.publish(B + "/desired/users", b'{"users": "of B"}', retain=True).is_failure
    b.subscribe(B + "/ack", B + "/cmd", B + "/desired/#")
    a.subscribe(B + "/tx", B + "/events", B + "/ack", B + "/cmd", B + "/desired/#", "locker/v1/#", "#")
    assert not b.publish(B + "/tx", tx_batch("CAB-B")).is_failure
    assert not cloud.publish(B + "/ack", b'{"ack": "for B"}').is_failure
    assert not cloud.publish(B + "/cmd", b'{"cmd": "for B"}').is_failure
    b.wait(lambda: len(b.messages) == 3)                        # B itself gets its retained users, ack and cmd
    assert not cloud.publish(A + "/cmd", b"the last one").is_failure
    a.wait(lambda: a.received(A + "/cmd"))                      # everything before it would have come first
    assert {m[0] for m in a.messages} == {A + "/cmd"}, a.messages    # (once per matching subscription)


def test_cabinet_a_cannot_delete_inject_or_poison_for_cabinet_b(fleet):
    cloud, b, a = fleet("cloud"), fleet("CAB-B"), fleet("CAB-A")
    assert cloud.up() and b.up() and a.up()
    users = b'{"users": "of B"}'
    assert not cloud.publish(B + "/desired/users", users, retain=True).is_failure
    cloud.subscribe(B + "/#")
    b.subscribe(B + "/ack", B + "/cmd", B + "/desired/#")
    b.wait(lambda: b.received(B + "/desired/users"))
    attempts = {"delete B's retained users": (B + "/desired/users", b"", True),
                "inject a transaction for B": (B + "/tx", tx_batch("CAB-B"), False),
                "ack B's rows for the cloud": (B + "/ack", b'{"upto_seq": 999}', False),
                "poison B's commands": (B + "/cmd", NESTED, False),
                "poison B's users, retained": (B + "/desired/users", NESTED, True),
                "say B is offline": (B + "/status", b'{"state": "offline"}', True)}
    answers = {what: str(a.publish(*attempt)) for what, attempt in attempts.items()}
    assert answers == {what: "Not authorized" for what in attempts}
    # What did arrive: B's own transaction to the cloud, the cloud's command to B; nothing of A's before them.
    assert not b.publish(B + "/tx", b"B's real rows").is_failure
    assert not cloud.publish(B + "/cmd", b"the cloud's command").is_failure
    cloud.wait(lambda: cloud.received(B + "/cmd"))
    b.wait(lambda: b.received(B + "/cmd"))
    assert [m[1] for m in cloud.received(B + "/tx")] == [b"B's real rows"]
    assert [m[1] for m in b.received(B + "/cmd")] == [b"the cloud's command"]
    assert [m[1] for m in b.received(B + "/desired/users")] == [users]
    later = fleet("CAB-B", client_id="CAB-B-again")            # (a client id is its user name: B again)
    assert later.up()
    later.subscribe(B + "/desired/users")
    later.wait(lambda: later.received(B + "/desired/users"))   # the retained users are still B's
    assert [m[1] for m in later.received(B + "/desired/users")] == [users]


def test_cabinet_a_cannot_take_over_cabinet_bs_session(fleet):
    b = fleet("CAB-B", clean_start=False)
    assert b.up()
    b.subscribe(B + "/cmd")
    a = fleet("CAB-A", client_id="CAB-B", clean_start=False)    # B's client id, A's credentials
    assert a.up()
    a.subscribe(B + "/cmd", A + "/cmd")
    cloud = fleet("cloud")
    assert cloud.up()
    assert not cloud.publish(B + "/cmd", b"for B").is_failure
    assert not cloud.publish(A + "/cmd", b"for A").is_failure
    b.wait(lambda: b.received(B + "/cmd"))
    a.wait(lambda: a.received(A + "/cmd"))
    assert b.connected and [m[0] for m in a.messages] == [A + "/cmd"]   # B was not thrown off, A got none of B's


@pytest.mark.parametrize("user, password", [("CAB-A", "wrong"), ("nobody", "x"), ("", "")])
def test_no_one_in_without_a_known_user_and_password(fleet, user, password):
    assert not fleet(user, password=password).up()


def test_a_cabinet_does_its_own_work_and_the_cloud_reaches_every_cabinet(fleet):
    cloud, b = fleet("cloud"), fleet("CAB-B")
    assert cloud.up() and b.up()
    cloud.subscribe("locker/v1/+/+/+/#")
    b.subscribe(B + "/ack", B + "/cmd", B + "/desired/#")
    for leaf in ("status", "birth", "tx", "events", "inventory"):
        assert not b.publish(B + "/" + leaf, leaf.encode(), retain=leaf == "status").is_failure
    for leaf in ("ack", "cmd", "desired/users", "desired/catalog"):
        assert not cloud.publish(B + "/" + leaf, leaf.encode(), retain=leaf.startswith("desired")).is_failure
    b.wait(lambda: len(b.messages) == 4)
    cloud.wait(lambda: len(cloud.messages) >= 9)
    assert str(b.publish(B + "/cmd", b"a cabinet sends nothing down")) == "Not authorized"
