"""The link's line rate (docs/decisions/0051-link-line-rate.md): 921600 baud on both ends unless configured,
115200 still selectable, and two ends set differently said in words (which rate the cabinet answers at,
which end to change) instead of garbage and a bare timeout. The cabinet is the simulated one behind a real
pty; its line garbles both ways when the client's termios rate is not the firmware's."""
import os
import threading
import time

import pytest

from edge_agent.app.config import load_agent_config
from edge_agent.link.errors import WrongLineRate
from edge_agent.link.serial import CabinetLink
from firmware.codec import encode_frame
from firmware.config import normalize
from locker_flash.cli import link_line
from sim.cabinet import SimCabinet, serve_pty
from sim.uart_rate import resample
from tests.agent_process import AgentProcess, write_agent_config
from tests.cabinets import example_config


def cabinet_at(baud):
    raw = example_config()
    raw["link"] = {"baud": baud}
    sim = SimCabinet(raw, seed=5)
    return sim, serve_pty(sim)


@pytest.fixture
def sims():
    started = []

    def make(baud):
        sim, port = cabinet_at(baud)
        started.append(sim)
        return port
    yield make
    for sim in started:
        sim.bridge.stop()


def test_both_ends_default_to_921600_and_115200_stays_selectable(tmp_path):
    for board in ("pico", "esp32"):
        assert normalize({"cabinet": {"board": board}})["uart"]["baud"] == 921600
        assert normalize({"cabinet": {"board": board}, "link": {"baud": 115200}})["uart"]["baud"] == 115200
    assert load_agent_config(write_agent_config(tmp_path, "/dev/serial0")).baud == 921600
    assert load_agent_config(write_agent_config(tmp_path, "/dev/serial0", agent={"baud": 115200})).baud == 115200


def test_locker_flash_says_the_rate_the_agent_must_use():
    assert link_line(b'{"link": {"baud": 115200}}') == ("link: UART0 (TX GPIO 0, RX GPIO 1) at 115200 baud, 8N1; "
                                                        "the agent's [agent] baud must be 115200")
    assert "at 921600 baud" in link_line(b"{}")


def test_the_simulated_line_garbles_only_when_the_rates_differ():
    frame = encode_frame(1, 1, b"")
    assert resample(frame, 921600, 921600) == frame
    assert resample(bytes(range(256)), 115200, 116000) == bytes(range(256))    # 0.7 %: within a UART's margin
    for sent, heard in ((115200, 921600), (921600, 115200), (460800, 921600)):
        assert resample(frame, sent, heard) not in (frame, b"")


@pytest.mark.parametrize("baud", [921600, 115200])
def test_the_link_runs_when_both_ends_agree(sims, baud):
    with CabinetLink(sims(baud), baud) as link:
        assert link.hello().protocol == 2
        assert link.ping(b"x" * 199) == b"x" * 199          # the largest frame, both ways
        assert link.stats.bad_frames == 0


def test_a_cabinet_at_another_rate_is_named(sims):
    port = sims(115200)
    with CabinetLink(port) as link:                        # the agent's default, 921600
        with pytest.raises(WrongLineRate) as caught:
            link.hello(timeout=1.0)
        assert caught.value.answers_at == 115200
        assert str(caught.value) == (
            "HELLO: the cabinet answers at 115200 baud, not at 921600 baud ([agent] baud): the two ends of the "
            "link must agree. Set [agent] baud = 115200 in the agent's config, or flash the cabinet with "
            "[link] baud = 921600")
        # The link stays at its configured rate: nothing is adopted behind the installer's back.
        with pytest.raises(WrongLineRate):
            link.hello(timeout=0.5)


def test_garbage_at_no_known_rate_is_said_as_garbage(sims):
    port = sims(57600)                                      # a rate the probe does not try
    with CabinetLink(port) as link:
        with pytest.raises(WrongLineRate) as caught:
            link.hello(timeout=2.5)                         # the cabinet resends its EV_BOOT every 250 ms
    e = caught.value
    assert e.answers_at is None and e.heard > 0
    assert ("bytes came from the cabinet at 921600 baud ([agent] baud) but not one intact frame, and it answered "
            "at none of 460800, 230400, 115200") in str(e)


def test_a_silent_port_is_said_as_silence():
    master, slave = os.openpty()
    try:
        with CabinetLink(os.ttyname(slave)) as link:
            with pytest.raises(WrongLineRate) as caught:
                link.hello(timeout=0.3)
    finally:
        os.close(master)
        os.close(slave)
    assert caught.value.heard == 0
    assert "nothing came from the cabinet at 921600 baud ([agent] baud)" in str(caught.value)


def test_the_agent_says_the_mismatch_in_its_log_and_stays_closed(sims, tmp_path):
    port = sims(115200)
    agent = AgentProcess(write_agent_config(tmp_path, port))        # [agent] baud left at its default
    try:
        agent.start()
        end = time.monotonic() + 60
        while "the cabinet answers at 115200 baud, not at 921600 baud" not in agent.log():
            assert time.monotonic() < end, agent.log()[-3000:]
            threading.Event().wait(0.1)
        assert agent.request("GET", "/api/state")[1]["ready"] is False
    finally:
        agent.kill()
