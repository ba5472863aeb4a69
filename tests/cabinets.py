"""Simulated cabinets for tests: the example cabinet with [sim] physics overridden per test."""
import copy
import tomllib
from pathlib import Path

from firmware import messages as M
from sim.cabinet import Faults, SimCabinet
from sim.virtual_host import VirtualHost

EXAMPLE = Path(__file__).resolve().parent.parent / "examples/cabinet.toml"
_RAW = tomllib.loads(EXAMPLE.read_text())


def example_config(sim=None, **units):
    """The example cabinet's raw config; sim= updates [sim]; door=/lane=/bin= give [[sim.X]] tables."""
    raw = copy.deepcopy(_RAW)
    raw["sim"].update(sim or {})
    for unit, tables in units.items():
        raw["sim"][unit] = tables
    return raw


def cabinet(seed=0, faults=None, step_ms=1, firmware_errors="raise", **config):
    """A simulated cabinet and a VirtualHost that has said HELLO to it."""
    sim = SimCabinet(example_config(**config), seed=seed, faults=faults or Faults(), firmware_errors=firmware_errors)
    host = VirtualHost(sim, step_ms=step_ms)
    host.hello()
    return sim, host


CAL_MG = 500000   # the installer's reference weight (500 g)


def calibrate_bin(sim, host, number, cmd_id):
    """As an installer does (sim/demo.py): empty bin, tare, a known weight, calibrate, lift it, restock."""
    bin_ = sim.physics.bin(number)
    pieces, bin_.pieces = bin_.pieces, 0
    assert host.actuate(M.TARE, cmd_id, number).result == M.R_OK
    bin_.place(CAL_MG / 1000)
    assert host.actuate(M.CALIBRATE, cmd_id + 1, number, CAL_MG).result == M.R_OK
    bin_.place(0)
    bin_.put(pieces)


def reset_mid_vend(sim, host):
    """A cabinet.vend(lane, cmd_id) for a VirtualCabinet that resets the MCU while the motor turns: the vend's
    outcome is lost (recovery records it as unknown)."""
    def vend(lane, cmd_id):
        op = host.core.actuate(M.VEND, cmd_id, (lane,), sim.now, 30000)
        host.wait_for(lambda: "lane %d" % lane in sim.physics.safety.energised(), 1000)
        host.tick(400)
        sim.reset_mcu(M.RESET_HARD)
        return host.run(op)
    return vend
