"""The agent's config file (`locker-agent run --config FILE`): where the ledger and the cabinet are, how people
log in, and where the local API listens. TOML; every key, its default and its meaning: docs/agent-config.md.

A bad file is refused whole before anything starts, with the section and key named. Paths are relative to
the config file's folder, so a site folder (config, ledger, CSVs) can be moved as one.
"""
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from edge_agent.ledger.schema_v1 import ROLES
from edge_agent.link.codes import LINE_BAUD
from edge_agent.rules.access import RANGES as ACCESS_RANGES


class AgentConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AgentConfig:
    cabinet_id: str
    ledger: Path
    cabinet_port: str
    baud: int = LINE_BAUD                # the firmware's [link] baud must be the same (decision 0051)
    timesync_flag: Path = Path("/run/systemd/timesync/synchronized")   # exists once the clock is synced
    api_host: str = "127.0.0.1"
    api_port: int = 8080                 # 0: any free port (printed on stdout)
    max_pin_tries: int = 5
    lockout_s: int = 300
    pin_roles: Tuple[str, ...] = ()      # roles that must type a PIN after their badge
    session_idle_s: int = 60             # a session never outlives the person at the screen
    ask_cost_center: bool = False        # the screen asks for a cost center (the person's own as default)
    cost_center_override: Optional[bool] = None   # may charge another than one's own; None: as ask_cost_center
    pcsc_reader: Optional[str] = None    # None: no PC/SC reader; "" the first one pcscd has
    serial_reader: Optional[str] = None  # a 125 kHz module's port
    wedge_format: str = "hex"
    wedge_reverse: bool = False
    cloud: Optional["CloudConfig"] = None   # None: no [cloud] section, the locker runs offline only
    reset_gpio: Optional[int] = 17       # the Pi's BCM GPIO on the Pico's RUN pin (hw/wiring.md); None: not wired
    reset_pulse_ms: int = 100            # how long RUN is held low
    reset_after_silent_s: int = 0        # reset when the link has heard nothing this long; 0: never by itself
    min_free_mb: int = 64                # [ledger]: below this much free disk nothing is actuated
    source: Path = field(default=None, compare=False)

    @property
    def may_override_cost_center(self):
        """Whether a person may charge a take to another cost center than their own: as the site says, else
        where the screen asks for one (a site that asks expects people to change it; one that does not, not)."""
        return self.ask_cost_center if self.cost_center_override is None else self.cost_center_override


@dataclass(frozen=True)
class CloudConfig:
    """[cloud]: the MQTT broker and this cabinet's place in the topic tree (docs/mqtt.md)."""
    host: str
    tenant: str
    site: str
    key_file: Path                       # the per-cabinet command key (hex), checks signed down-messages
    port: int = 1883
    keepalive_s: int = 30
    username: Optional[str] = None
    password_file: Optional[Path] = None
    tls_ca: Optional[Path] = None        # TLS on when a CA is given
    tls_cert: Optional[Path] = None      # the cabinet's client certificate and key
    tls_key: Optional[Path] = None
    batch_rows: int = 200
    batch_bytes: int = 65536
    backlog_rows_per_s: int = 20000      # how fast a backlog may go out (live rows are not held by it)
    max_inflight: int = 8                # batches per stream sent and not yet acknowledged by the cloud
    inventory_every_s: int = 3600
    publish_timeout_s: int = 10          # no ack for the oldest batch in flight this long: sent again


# (key, type, default) per section; a default of REQUIRED must be given.
REQUIRED = object()
SCHEMA = {
    "agent": {"cabinet_id": (str, REQUIRED), "ledger": (str, REQUIRED), "cabinet_port": (str, REQUIRED),
              "baud": (int, LINE_BAUD), "timesync_flag": (str, "/run/systemd/timesync/synchronized")},
    "api": {"host": (str, "127.0.0.1"), "port": (int, 8080)},
    "access": {"max_pin_tries": (int, 5), "lockout_s": (int, 300), "pin_roles": (list, []),
               "session_idle_s": (int, 60), "ask_cost_center": (bool, False),
               "cost_center_override": (bool, None)},
    "ledger": {"min_free_mb": (int, 64)},
    "cabinet": {"reset_gpio": (int, 17), "reset_pulse_ms": (int, 100), "reset_after_silent_s": (int, 0)},
    "readers": {"pcsc": (bool, False), "pcsc_reader": (str, ""), "serial": (str, ""),
                "wedge_format": (str, "hex"), "wedge_reverse": (bool, False)},
    "cloud": {"host": (str, REQUIRED), "tenant": (str, REQUIRED), "site": (str, REQUIRED),
              "key_file": (str, REQUIRED), "port": (int, 1883), "keepalive_s": (int, 30), "username": (str, ""),
              "password_file": (str, ""), "tls_ca": (str, ""), "tls_cert": (str, ""), "tls_key": (str, ""),
              "batch_rows": (int, 200), "batch_bytes": (int, 65536), "backlog_rows_per_s": (int, None),
              "backlog_batches_per_s": (int, None), "max_inflight": (int, 8),
              "inventory_every_s": (int, 3600), "publish_timeout_s": (int, 10)},
}
OPTIONAL_SECTIONS = ("cloud",)          # absent: that part is off (values then None)
# The range of every number in the file (inclusive). reset_gpio and reset_after_silent_s have their own
# rules (_check_reset_pin). docs/agent-config.md lists them.
BOUNDS = {("agent", "baud"): (1200, 3_000_000), ("api", "port"): (0, 65535),
          **{("access", key): lo_hi for key, lo_hi in ACCESS_RANGES.items()},
          ("cabinet", "reset_pulse_ms"): (1, 5000), ("cloud", "port"): (1, 65535), ("cloud", "keepalive_s"): (1, 3600),
          ("cloud", "batch_rows"): (1, 10_000), ("cloud", "batch_bytes"): (1024, 1 << 24),
          ("cloud", "backlog_batches_per_s"): (1, 1000),
          ("cloud", "backlog_rows_per_s"): (1, 1_000_000), ("cloud", "max_inflight"): (1, 64),
          ("cloud", "inventory_every_s"): (60, 7 * 86400),
          ("cloud", "publish_timeout_s"): (1, 600), ("ledger", "min_free_mb"): (1, 10240)}


def _read(path):
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise AgentConfigError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AgentConfigError("%s is not valid TOML: %s" % (path, e)) from None


def _values(raw, path):
    """{(section, key): value} with defaults filled in; refuses unknown sections and keys and wrong types."""
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise AgentConfigError("%s: unknown section [%s] (known: %s)" % (path, unknown[0], ", ".join(SCHEMA)))
    values = {}
    for section, keys in SCHEMA.items():
        if section in OPTIONAL_SECTIONS and section not in raw:
            continue
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise AgentConfigError("%s: %s must be a table ([%s])" % (path, section, section))
        extra = sorted(set(table) - set(keys))
        if extra:
            raise AgentConfigError("%s: [%s] has no key %r (known: %s)" % (path, section, extra[0], ", ".join(keys)))
        for key, (kind, default) in keys.items():
            if key not in table:
                if default is REQUIRED:
                    raise AgentConfigError("%s: [%s] %s is required" % (path, section, key))
                values[section, key] = default
                continue
            value = table[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise AgentConfigError("%s: [%s] %s must be %s, got %r" % (
                    path, section, key, {str: "text", int: "a whole number", bool: "true or false",
                                         list: "a list"}[kind], value))
            lo, hi = BOUNDS.get((section, key), (None, None))
            if lo is not None and not lo <= value <= hi:
                raise AgentConfigError("%s: [%s] %s must be %d to %d, got %d" % (path, section, key, lo, hi, value))
            values[section, key] = value
    return values


def load_agent_config(path):
    path = Path(path)
    v = _values(_read(path), path)
    if not _loopback(v["api", "host"]):
        raise AgentConfigError("%s: [api] host %r is not a loopback address: the local API has no authentication "
                               "method for other hosts yet, so it listens on 127.0.0.1, ::1 or localhost only "
                               "(docs/decisions/0020-local-api-stack.md)" % (path, v["api", "host"]))
    bad_roles = [r for r in v["access", "pin_roles"] if r not in ROLES]
    if bad_roles:
        raise AgentConfigError("%s: [access] pin_roles: %r is not a role (roles: %s)" % (
            path, bad_roles[0], ", ".join(ROLES)))
    if v["readers", "wedge_format"] not in ("hex", "decimal"):
        raise AgentConfigError("%s: [readers] wedge_format must be hex or decimal, got %r"
                               % (path, v["readers", "wedge_format"]))
    for key in ("cabinet_id", "ledger", "cabinet_port"):
        if not v["agent", key].strip():
            raise AgentConfigError("%s: [agent] %s must not be empty" % (path, key))
    _check_reset_pin(v, path)
    return AgentConfig(
        cabinet_id=v["agent", "cabinet_id"], ledger=path.parent / v["agent", "ledger"],
        cabinet_port=v["agent", "cabinet_port"], baud=v["agent", "baud"],
        timesync_flag=path.parent / v["agent", "timesync_flag"],
        api_host=v["api", "host"], api_port=v["api", "port"],
        max_pin_tries=v["access", "max_pin_tries"], lockout_s=v["access", "lockout_s"],
        pin_roles=tuple(v["access", "pin_roles"]), session_idle_s=v["access", "session_idle_s"],
        ask_cost_center=v["access", "ask_cost_center"], cost_center_override=v["access", "cost_center_override"],
        pcsc_reader=v["readers", "pcsc_reader"] if v["readers", "pcsc"] else None,
        serial_reader=v["readers", "serial"] or None,
        wedge_format=v["readers", "wedge_format"], wedge_reverse=v["readers", "wedge_reverse"],
        reset_gpio=None if v["cabinet", "reset_gpio"] == -1 else v["cabinet", "reset_gpio"],
        reset_pulse_ms=v["cabinet", "reset_pulse_ms"], reset_after_silent_s=v["cabinet", "reset_after_silent_s"],
        min_free_mb=v["ledger", "min_free_mb"],
        cloud=_cloud(v, path), source=path)


def _loopback(host):
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# BCM GPIO on the Pi's 40-pin header that may drive the Pico's RUN line: not 0/1 (the HAT ID EEPROM) nor
# 14/15 (the UART to the Pico itself).
RESET_GPIOS = [g for g in range(2, 28) if g not in (14, 15)]


def _check_reset_pin(v, path):
    gpio = v["cabinet", "reset_gpio"]
    if gpio != -1 and gpio not in RESET_GPIOS:
        raise AgentConfigError("%s: [cabinet] reset_gpio must be a BCM GPIO 2-13 or 16-27 (14/15 are the "
                               "cabinet's UART), or -1 when the RUN pin is not wired; got %d" % (path, gpio))
    silent = v["cabinet", "reset_after_silent_s"]
    if silent != 0 and not 10 <= silent <= 3600:
        # Below 10 s it would race the firmware's own 5 s watchdog and the Pico's boot.
        raise AgentConfigError("%s: [cabinet] reset_after_silent_s must be 0 (never) or 10 to 3600, got %d"
                               % (path, silent))


def _cloud(v, path):
    if ("cloud", "host") not in v:
        return None
    from edge_agent.cloud.topics import ID

    for key in ("tenant", "site"):
        if not ID.match(v["cloud", key]):
            raise AgentConfigError("%s: [cloud] %s %r: use 1 to 64 letters, digits, _ or -" % (path, key, v["cloud", key]))
    if not ID.match(v["agent", "cabinet_id"]):
        raise AgentConfigError("%s: [agent] cabinet_id %r must be 1 to 64 letters, digits, _ or - for the cloud"
                               % (path, v["agent", "cabinet_id"]))
    if not _host_syntax_ok(v["cloud", "host"]):
        raise AgentConfigError("%s: [cloud] host %r is neither a host name nor an IP address"
                               % (path, v["cloud", "host"]))
    if bool(v["cloud", "tls_cert"]) != bool(v["cloud", "tls_key"]):
        raise AgentConfigError("%s: [cloud] tls_cert and tls_key go together" % path)
    if v["cloud", "tls_cert"] and not v["cloud", "tls_ca"]:
        raise AgentConfigError("%s: [cloud] a client certificate needs tls_ca (TLS is on only with a CA)" % path)

    def file(key):
        return path.parent / v["cloud", key] if v["cloud", key] else None

    return CloudConfig(
        host=v["cloud", "host"], tenant=v["cloud", "tenant"], site=v["cloud", "site"], key_file=file("key_file"),
        port=v["cloud", "port"], keepalive_s=v["cloud", "keepalive_s"], username=v["cloud", "username"] or None,
        password_file=file("password_file"), tls_ca=file("tls_ca"), tls_cert=file("tls_cert"),
        tls_key=file("tls_key"), batch_rows=v["cloud", "batch_rows"], batch_bytes=v["cloud", "batch_bytes"],
        backlog_rows_per_s=_backlog_rows_per_s(v, path), max_inflight=v["cloud", "max_inflight"],
        inventory_every_s=v["cloud", "inventory_every_s"],
        publish_timeout_s=v["cloud", "publish_timeout_s"])


def _backlog_rows_per_s(v, path):
    """backlog_rows_per_s, or the old backlog_batches_per_s read as the same pace in rows (docs/decisions/0038):
    an existing file keeps its meaning. Both at once is refused: which one was meant cannot be guessed."""
    rows, batches = v["cloud", "backlog_rows_per_s"], v["cloud", "backlog_batches_per_s"]
    if rows is not None and batches is not None:
        raise AgentConfigError("%s: [cloud] backlog_batches_per_s is the old name of backlog_rows_per_s (in batches "
                               "of batch_rows): give only backlog_rows_per_s" % path)
    if batches is not None:
        return batches * v["cloud", "batch_rows"]
    return CloudConfig.backlog_rows_per_s if rows is None else rows


HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host_syntax_ok(host):
    """A DNS name or an IP address, by its spelling only: whether the name resolves is the network's business
    at the time (the agent keeps trying, as it does for a broker that is down), not the config's."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(HOST_LABEL.match(label) for label in name.split("."))
