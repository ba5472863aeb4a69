"""The agent's config file: the example loads, and every kind of mistake is refused naming section and key."""
from pathlib import Path

import pytest

from edge_agent.app.config import BOUNDS, SCHEMA, AgentConfigError, load_agent_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples/site/agent.toml"
CLOUD = '[cloud]\nhost = "broker"\ntenant = "acme"\nsite = "plant1"\nkey_file = "cabinet.key"\n'
MINIMAL = '[agent]\ncabinet_id = "C1"\nledger = "l.db"\ncabinet_port = "/dev/serial0"\n'


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_the_example_site_config_loads_with_paths_beside_it():
    config = load_agent_config(EXAMPLE)
    assert config.cabinet_id == "CAB-DEMO-1"
    assert config.ledger == EXAMPLE.parent / "ledger.db"
    assert config.pin_roles == ("supervisor",) and config.pcsc_reader is None


def test_defaults_fill_everything_but_the_agent_section(tmp_path):
    config = load_agent_config(write(tmp_path, MINIMAL))
    assert (config.api_host, config.api_port, config.max_pin_tries, config.session_idle_s) == (
        "127.0.0.1", 8080, 5, 60)


def test_pcsc_on_with_an_empty_name_means_the_first_reader(tmp_path):
    config = load_agent_config(write(tmp_path, MINIMAL + "[readers]\npcsc = true\n"))
    assert config.pcsc_reader == ""


@pytest.mark.parametrize("extra, message", [
    ("[api]\nport = 70000\n", r"\[api\] port must be 0 to 65535"),
    ("[api]\nport = \"80\"\n", r"\[api\] port must be a whole number"),
    ("[access]\npin_roles = [\"janitor\"]\n", r"pin_roles: 'janitor' is not a role"),
    ("[access]\nlockout_s = 0\n", r"\[access\] lockout_s must be 1 to 86400, got 0"),
    ("[access]\nmax_pin_tries = true\n", r"max_pin_tries must be a whole number"),
    ("[readers]\nwedge_format = \"octal\"\n", r"wedge_format must be hex or decimal"),
    ("[readers]\npcsc_name = \"x\"\n", r"\[readers\] has no key 'pcsc_name'"),
    ("[mqtt]\nhost = \"x\"\n", r"unknown section \[mqtt\]"),
    ("[cloud]\nhost = \"x\"\n", r"\[cloud\] tenant is required"),
    (CLOUD + "port = 0\n", r"\[cloud\] port must be 1 to 65535"),
    (CLOUD.replace("acme", "ac me"), r"\[cloud\] tenant 'ac me'"),
    (CLOUD + "tls_cert = \"c.pem\"\n", r"tls_cert and tls_key go together"),
    (CLOUD + "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n", r"needs tls_ca"),
])
def test_mistakes_are_refused_naming_section_and_key(tmp_path, extra, message):
    with pytest.raises(AgentConfigError, match=message):
        load_agent_config(write(tmp_path, MINIMAL + extra))


def test_a_missing_required_key_or_file_or_bad_toml_is_said_plainly(tmp_path):
    with pytest.raises(AgentConfigError, match=r"\[agent\] cabinet_port is required"):
        load_agent_config(write(tmp_path, '[agent]\ncabinet_id = "C1"\nledger = "l.db"\n'))
    with pytest.raises(AgentConfigError, match="cannot read"):
        load_agent_config(tmp_path / "nope.toml")
    with pytest.raises(AgentConfigError, match="not valid TOML"):
        load_agent_config(write(tmp_path, "[agent\n"))


def test_every_key_is_documented():
    from edge_agent.app.config import SCHEMA
    doc = (EXAMPLE.parent.parent.parent / "docs/agent-config.md").read_text()
    for section, keys in SCHEMA.items():
        for key in keys:
            assert "| %s | %s |" % (section, key) in doc, (section, key)


def test_no_cloud_section_means_offline_only_and_a_cloud_section_fills_defaults(tmp_path):
    assert load_agent_config(write(tmp_path, MINIMAL)).cloud is None
    cloud = load_agent_config(write(tmp_path, MINIMAL + CLOUD)).cloud
    assert (cloud.host, cloud.port, cloud.tenant, cloud.site) == ("broker", 1883, "acme", "plant1")
    assert cloud.key_file == tmp_path / "cabinet.key" and cloud.tls_ca is None and cloud.keepalive_s == 30


NUMBERS = [(section, key) for section, keys in SCHEMA.items() for key, (kind, _) in keys.items() if kind is int]


@pytest.mark.parametrize("section, key", NUMBERS, ids=["%s.%s" % n for n in NUMBERS])
def test_every_number_has_a_range_and_a_huge_one_is_refused_naming_it(tmp_path, section, key):
    table = CLOUD if section == "cloud" else "[%s]\n" % section         # MINIMAL holds [agent]'s table
    text = (MINIMAL + "%s = %d\n" if section == "agent" else MINIMAL + table + "%s = %d\n") % (key, 2 ** 63 - 1)
    with pytest.raises(AgentConfigError, match=r"\[%s\] %s must be" % (section, key)):
        load_agent_config(write(tmp_path, text))
    assert (section, key) in BOUNDS or key in ("reset_gpio", "reset_after_silent_s")
