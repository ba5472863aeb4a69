"""The `broker` fixture: a started Mosquitto of this test's own (sim/cloud/broker.py), stopped at the end."""
import pytest

from sim.cloud.broker import MOSQUITTO, Broker, free_port  # noqa: F401 - what the tests import from here


@pytest.fixture
def broker(tmp_path):
    """A started Mosquitto of this test's own (no persistence), stopped at the end."""
    instance = Broker(tmp_path / "broker").start()
    yield instance
    instance.stop()
