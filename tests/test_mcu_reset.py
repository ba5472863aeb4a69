"""The Pi's reset line to the Pico's RUN pin: the pin's levels (a fake GPIO at the hardware boundary), the
config keys, the clear error off a Pi, and `locker-agent reset-mcu`."""
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_agent.cli import main as locker_agent_main
from edge_agent.link import mcu_reset
from edge_agent.app.config import AgentConfigError, load_agent_config
from edge_agent.link.mcu_reset import McuResetError, SilenceWatch, load_rpi_gpio, pulse_reset, reset_mcu, silence_watch
from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = '[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/serial0"\n'


class FakeGPIO:
    """RPi.GPIO's API over one recorded line: `level[pin]` is what the MOSFET gate sees (None: input)."""
    BCM, OUT, HIGH, LOW = "BCM", "OUT", 1, 0

    def __init__(self):
        self.mode = None
        self.level = {}
        self.history = []

    def setwarnings(self, on):
        pass

    def setmode(self, mode):
        self.mode = mode

    def setup(self, pin, direction, initial=None):
        assert self.mode == self.BCM and direction == self.OUT
        self._set(pin, initial)

    def output(self, pin, value):
        assert pin in self.level, "output on a pin that was not set up"
        self._set(pin, value)

    def cleanup(self, pin):
        self._set(pin, None)

    def _set(self, pin, value):
        self.level[pin] = value
        self.history.append((pin, value))


def config(tmp_path, cabinet=""):
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL + cabinet)
    return load_agent_config(path)


def test_a_reset_holds_run_low_for_the_pulse_then_releases_the_line(tmp_path):
    gpio, during = FakeGPIO(), []
    message = reset_mcu(config(tmp_path, "[cabinet]\nreset_gpio = 17\nreset_pulse_ms = 250\n"), gpio,
                        sleep=lambda s: during.append((s, gpio.level[17])))
    assert during == [(0.25, gpio.HIGH)]          # gate on (RUN low) for exactly the pulse
    assert gpio.history == [(17, 0), (17, 1), (17, 0), (17, None)]   # never high before or after
    assert "250 ms" in message and "GPIO17" in message


def test_an_interrupted_pulse_never_leaves_the_microcontroller_held_in_reset():
    gpio = FakeGPIO()

    def interrupted(seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pulse_reset(gpio, 22, 100, sleep=interrupted)
    assert gpio.history[-2:] == [(22, gpio.LOW), (22, None)]


def test_the_default_pin_is_gpio17_and_minus_one_means_not_wired(tmp_path):
    assert (config(tmp_path).reset_gpio, config(tmp_path).reset_pulse_ms) == (17, 100)
    unwired = config(tmp_path, "[cabinet]\nreset_gpio = -1\n")
    assert unwired.reset_gpio is None
    with pytest.raises(McuResetError, match=r"reset_gpio = -1.*not wired.*power-cycle"):
        reset_mcu(unwired, FakeGPIO())


@pytest.mark.parametrize("cabinet, message", [
    ("reset_gpio = 14", r"\[cabinet\] reset_gpio must be a BCM GPIO 2-13 or 16-27 \(14/15 are the cabinet's UART\)"),
    ("reset_gpio = 28", r"\[cabinet\] reset_gpio must be"),
    ("reset_gpio = 1", r"\[cabinet\] reset_gpio must be"),
    ("reset_pulse_ms = 0", r"\[cabinet\] reset_pulse_ms must be 1 to 5000, got 0"),
    ("reset_pulse_ms = 60000", r"\[cabinet\] reset_pulse_ms must be 1 to 5000, got 60000"),
    ("reset_gpio = \"17\"", r"\[cabinet\] reset_gpio must be a whole number"),
    ("reset_pin = 17", r"\[cabinet\] has no key 'reset_pin'"),
    ("reset_after_silent_s = 5", r"\[cabinet\] reset_after_silent_s must be 0 \(never\) or 10 to 3600"),
    ("reset_after_silent_s = -1", r"\[cabinet\] reset_after_silent_s must be 0"),
])
def test_bad_reset_settings_are_refused_naming_the_key(tmp_path, cabinet, message):
    with pytest.raises(AgentConfigError, match=message):
        config(tmp_path, "[cabinet]\n%s\n" % cabinet)


def test_without_rpi_gpio_the_error_says_what_to_install():
    # This machine has no RPi.GPIO installed: the real import fails and says how to get it.
    with pytest.raises(McuResetError, match=r"RPi.GPIO is not installed.*smart-locker\[pi\].*rpi-lgpio"):
        load_rpi_gpio()


def test_rpi_gpio_refusing_to_load_off_a_pi_is_reported_clearly(tmp_path, monkeypatch):
    # RPi.GPIO's own behaviour off a Pi: the import itself raises RuntimeError.
    package = tmp_path / "RPi"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "GPIO.py").write_text('raise RuntimeError("This module can only be run on a Raspberry Pi!")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("RPi", "RPi.GPIO"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(McuResetError, match=r"cannot run here \(This module can only be run on a Raspberry Pi!\)"):
        load_rpi_gpio()


def test_the_reset_mcu_command_pulses_the_configured_pin(tmp_path, monkeypatch):
    gpio = FakeGPIO()
    monkeypatch.setattr(mcu_reset, "load_rpi_gpio", lambda: gpio)
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL + "[cabinet]\nreset_gpio = 27\nreset_pulse_ms = 5\n")
    said = []
    assert locker_agent_main(["reset-mcu", "--config", str(path)], out=said.append) == 0
    assert [pin for pin, level in gpio.history if level == gpio.HIGH] == [27]
    assert gpio.level[27] is None and "GPIO27" in said[0]


def test_the_reset_mcu_command_off_a_pi_exits_2_with_the_reason(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL)
    done = subprocess.run([str(ROOT / ".venv/bin/locker-agent"), "reset-mcu", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "locker-agent: error: RPi.GPIO is not installed" in done.stderr and "rpi-lgpio" in done.stderr


# -- resetting by itself when the link goes silent --------------------------------------------------------------
def test_a_silent_link_resets_once_per_silence_period_and_a_live_one_never():
    resets = []
    watch = SilenceWatch(lambda: resets.append(1), 30, now=100.0)
    assert not watch.check(None, 129.9)              # nothing heard yet: counted from the start
    assert watch.check(None, 130.0) and len(resets) == 1
    assert not watch.check(None, 159.9)              # the Pico is booting: no second reset straight away
    assert watch.check(None, 160.0) and len(resets) == 2
    for t in range(161, 400):                        # heard every second (the heartbeat answered): never
        assert not watch.check(t - 0.5, float(t))
    assert not watch.check(399.5, 429.0) and watch.check(399.5, 429.5) and len(resets) == 3


def test_no_watch_unless_configured_and_wired(tmp_path):
    log = logging.getLogger("test")
    assert silence_watch(config(tmp_path), log, 0.0) is None                       # default: off
    assert silence_watch(config(tmp_path, "[cabinet]\nreset_gpio = -1\nreset_after_silent_s = 30\n"),
                         log, 0.0) is None
    assert silence_watch(config(tmp_path, "[cabinet]\nreset_after_silent_s = 30\n"), log, 0.0).silent_s == 30


FAKE_RPI_GPIO = """# RPi.GPIO's API recording every pin change to a file: the hardware boundary of the agent under test.
import os
BCM, OUT, HIGH, LOW = "BCM", "OUT", 1, 0
def _record(*what):
    with open(os.environ["FAKE_GPIO_LOG"], "a") as f:
        f.write(" ".join(map(str, what)) + "\\n")
def setwarnings(flag): pass
def setmode(mode): pass
def setup(pin, direction, initial=LOW): _record("setup", pin, initial)
def output(pin, value): _record("output", pin, value)
def cleanup(pin=None): _record("cleanup", pin)
"""


def test_the_agent_hard_resets_a_cabinet_that_stopped_answering(tmp_path):
    sim, port = simulated_cabinet()
    fake = tmp_path / "fake-gpio/RPi"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "GPIO.py").write_text(FAKE_RPI_GPIO)
    pins = tmp_path / "gpio.log"
    path = write_agent_config(tmp_path, port)
    path.write_text(path.read_text() + "[cabinet]\nreset_gpio = 22\nreset_after_silent_s = 10\n")
    agent = AgentProcess(path, env={"PYTHONPATH": str(fake.parent), "FAKE_GPIO_LOG": str(pins)}).start()
    hang = threading.Event()
    try:
        # The microcontroller hangs: its loop stops, the line stays open and says nothing.
        sim.bridge.do(lambda sim: hang.wait(60))
        deadline = time.monotonic() + 30
        while not (pins.exists() and "cleanup 22" in pins.read_text()):
            assert time.monotonic() < deadline, "no reset; agent log:\n" + agent.log()[-3000:]
            threading.Event().wait(0.1)
        assert pins.read_text().splitlines() == ["setup 22 0", "output 22 1", "output 22 0", "cleanup 22"]
        assert "heard nothing for 10 s: hard-resetting the microcontroller" in agent.log()
    finally:
        hang.set()
        agent.stop()
        sim.bridge.stop()
