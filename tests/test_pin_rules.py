"""PIN rules at the local API (issue 14, item 3), as someone at the screen or on the site network meets them:
a role that must add its PIN to its badge cannot sign in with the PIN alone; wrong PINs lock the PIN, not
the badge; every failed PIN sign-in gets one answer at one cost (no way to tell which user ids exist); a
lockout too long to be a lockout is refused when the config is loaded. The agent in-process over the
simulated cabinet (tests.test_screen.screen_rig), a real ledger file."""
import hashlib

import pytest

from edge_agent.app.config import AgentConfigError, load_agent_config
from edge_agent.cli import service
from tests.api_client import ApiClient
from tests.test_screen import BADGE, SUPERVISOR, screen_rig

PIN_SITE = dict(pin_roles=("supervisor",), max_pin_tries=5, lockout_s=300)


@pytest.fixture
def rig(tmp_path):
    with screen_rig(tmp_path, agent_options=PIN_SITE) as r:
        r.kiosk = ApiClient(r.host, r.port)
        yield r


def signed_in(rig):
    return rig.kiosk.request("GET", "/api/state")[1]["session"]


def refusal_reasons(rig):
    """The reasons of the refusal rows in the ledger, read on the agent's worker (the ledger's thread)."""
    rows = rig.agent.call(lambda: list(rig.agent.ledger.transactions()))
    return [r["reason"] for r in rows if r["kind"] == "refusal"]


def test_a_role_that_needs_badge_and_pin_cannot_sign_in_with_the_pin_alone(rig):
    status, answer = rig.kiosk.request("POST", "/api/pin", {"user_id": "S1", "pin": "1357"})   # the right PIN
    assert status == 403 and answer["ok"] is False, answer
    assert signed_in(rig) is None
    status, answer = rig.kiosk.request("POST", "/api/badge", {"badge": SUPERVISOR})
    assert (status, answer["need_pin_for"]) == (200, "S1")
    status, answer = rig.kiosk.request("POST", "/api/pin", {"user_id": "S1", "pin": "1357"})
    assert status == 200 and answer["person"]["role"] == "supervisor"
    assert rig.agent.session.via == "badge+pin"


def test_five_wrong_pins_lock_the_pin_but_the_badge_still_works(rig):
    for _ in range(5):
        assert rig.kiosk.request("POST", "/api/pin", {"user_id": "T1", "pin": "0000"})[0] == 403
    assert rig.kiosk.request("POST", "/api/pin", {"user_id": "T1", "pin": "2580"})[0] == 403   # locked
    assert signed_in(rig) is None
    status, answer = rig.kiosk.request("POST", "/api/badge", {"badge": BADGE})
    assert status == 200 and answer["person"]["user_id"] == "T1", answer
    assert refusal_reasons(rig) == ["wrong_pin"] * 5 + ["locked_out", "locked_out"]


def test_every_failed_pin_sign_in_gets_one_answer_for_one_pin_hash(rig, monkeypatch):
    hashes = []
    real_scrypt = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: hashes.append(1) or real_scrypt(*a, **k))
    for _ in range(5):                                    # T2 does not exist; T1 has a PIN locked below
        rig.kiosk.request("POST", "/api/pin", {"user_id": "T1", "pin": "0000"})
    attempts = {
        "no such user": {"user_id": "T2", "pin": "2580"},
        "no PIN set": {"user_id": "R1", "pin": "2580"},
        "wrong PIN": {"user_id": "S1", "pin": "2580"},
        "PIN locked": {"user_id": "T1", "pin": "2580"},
        "badge needed": {"user_id": "S1", "pin": "1357"},
    }
    answers = {}
    for what, body in attempts.items():
        del hashes[:]
        answers[what] = rig.kiosk.request("POST", "/api/pin", body) + (len(hashes),)
    assert len(set(map(repr, answers.values()))) == 1, answers
    status, body, hashed = answers["no such user"]
    assert (status, hashed, body["ok"], sorted(body)) == (403, 1, False, ["message", "ok", "reason"])
    assert refusal_reasons(rig)[-5:] == ["unknown_user", "no_pin", "badge_needed", "locked_out", "badge_needed"]  # the truth, on record


def test_after_a_badge_the_screen_says_how_many_tries_are_left(rig):
    rig.kiosk.request("POST", "/api/badge", {"badge": SUPERVISOR})
    status, answer = rig.kiosk.request("POST", "/api/pin", {"user_id": "S1", "pin": "0000"})
    assert (status, answer["reason"], answer["message"]) == (403, "wrong_pin", "Wrong PIN. 4 tries left.")


def test_a_lockout_too_long_to_mean_anything_is_refused_when_the_config_is_loaded(tmp_path, capsys):
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/serial0"\n'
                      '[access]\nlockout_s = 100000000000000\n')
    with pytest.raises(AgentConfigError, match=r"\[access\] lockout_s must be 1 to 86400"):
        load_agent_config(config)
    assert service.main(config) == 2             # `locker-agent run` exits 2, naming the key
    assert "lockout_s must be 1 to 86400" in capsys.readouterr().err


def test_a_supervisor_who_needs_badge_and_pin_approves_with_both_not_the_pin_alone(rig):
    rig.kiosk.request("POST", "/api/badge", {"badge": BADGE})
    status, answer = rig.kiosk.request("POST", "/api/issue", {"location": "L1"})     # a critical item
    assert status == 403 and rig.sim.physics.lane(1).dropped == 0, answer
    status, answer = rig.kiosk.request("POST", "/api/approve", {"user_id": "S1", "pin": "1357"})
    assert (status, answer["reason"]) == (403, "login_failed"), answer
    assert rig.kiosk.request("POST", "/api/approve", {"badge": SUPERVISOR})[1]["need_pin_for"] == "S1"
    status, answer = rig.kiosk.request("POST", "/api/approve", {"user_id": "S1", "pin": "1357"})
    assert status == 200 and answer["person"]["user_id"] == "S1", answer     # the approver
    assert rig.kiosk.request("POST", "/api/issue", {"location": "L1"})[0] == 200
    assert rig.sim.physics.lane(1).dropped == 1
    assert signed_in(rig)["user_id"] == "T1"
