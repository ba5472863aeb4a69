"""`locker-sim cloud`: the hub in one process for cabinets by hand (sim/cloud/command.py). Run as a user runs it,
against a real Mosquitto and PostgreSQL: it registers the --key cabinets at --site, stores what they send and
says so line by line, rejects the rest with the reason, and stops cleanly on SIGTERM."""
import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hub import db, queries
from sim import cli
from tests.mqtt_broker import broker  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
STATUS = json.loads((ROOT / "docs/mqtt/examples/status.json").read_text())     # cabinet CAB-1, session 7
KEY = bytes(range(32))
WAIT_S = 30


class Lines:
    """The command's stdout, line by line, read on a thread so a test can wait for one with a deadline."""

    def __init__(self, stream):
        self.seen = []
        self._q = queue.Queue()
        threading.Thread(target=lambda: [self._q.put(line.rstrip("\n")) for line in stream], daemon=True).start()

    def wait(self, text):
        while True:
            line = self._q.get(timeout=WAIT_S)
            self.seen.append(line)
            if text in line:
                return line


def publish(port, topic, payload):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-cabinet", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, json.dumps(payload), qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_cloud_command_runs_the_hub_stores_what_a_registered_cabinet_sends_and_rejects_the_rest(broker, hub_dsn):
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "cloud", "--broker", "127.0.0.1:%d" % broker.port,
                             "--key", "CAB-1=" + KEY.hex(), "--site", "acme/plant1", "--db", hub_dsn],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = Lines(proc.stdout)
        assert "hub for CAB-1 at acme/plant1" in lines.wait("hub for")
        lines.wait("subscribed")
        publish(broker.port, "locker/v1/acme/plant1/CAB-1/status", STATUS)
        assert lines.wait("CAB-1 online") == "CAB-1 online (session 7)"
        publish(broker.port, "locker/v1/acme/plant2/CAB-1/status", STATUS)
        assert "registered at acme/plant1, not acme/plant2" in lines.wait("REJECTED")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0
        assert lines.wait("stopped:").startswith("stopped: 2 received, 0 stored, 0 duplicate, 1 rejected")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with db.connect(hub_dsn) as conn:
        assert queries.status(conn, "CAB-1")["state"] == "online"
        assert queries.where(conn, "CAB-1") == ("acme", "plant1", KEY)


def test_the_cloud_command_refuses_a_sqlite_file_and_bad_arguments_with_words(capsys):
    key = "CAB-1=" + KEY.hex()
    for argv, words in ((["--db", "cloud.db"], "not a PostgreSQL DSN"),
                        (["--site", "acme"], "expected TENANT/SITE"),
                        (["--key", "CAB-2=00"], "must be 32 bytes of hex")):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["cloud", "--broker", "127.0.0.1:1883", "--key", key] + argv)
        assert exit_.value.code == 2
        assert words in capsys.readouterr().err


def test_the_cloud_command_help_names_the_real_hub(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cloud", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "locker-hub serve" in out and "throw-away PostgreSQL" in out
