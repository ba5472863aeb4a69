"""The topic layout of the cloud contract (docs/mqtt.md): locker/v1/{tenant}/{site}/{cabinet}/..."""
import re
from dataclasses import dataclass

VERSION = 1
PREFIX = "locker/v%d" % VERSION
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UP = ("status", "birth", "tx", "events", "inventory")
DOWN = ("ack", "cmd", "desired/users", "desired/catalog")


@dataclass(frozen=True)
class Topics:
    tenant: str
    site: str
    cabinet: str

    def __post_init__(self):
        for name in ("tenant", "site", "cabinet"):
            if not ID.match(getattr(self, name)):
                raise ValueError("%s %r: use 1 to 64 letters, digits, _ or -" % (name, getattr(self, name)))

    @property
    def root(self):
        return "%s/%s/%s/%s" % (PREFIX, self.tenant, self.site, self.cabinet)

    def __getattr__(self, name):
        # topics.status, topics.tx, topics.desired_users, ...: one attribute per topic of the contract
        leaf = name.replace("_", "/")
        if leaf in UP or leaf in DOWN:
            return "%s/%s" % (self.root, leaf)
        raise AttributeError(name)

    def subscriptions(self):
        """What the agent subscribes to."""
        return [self.ack, self.cmd, self.root + "/desired/#"]


def parse(topic):
    """(Topics, leaf) for a topic of the contract, or None."""
    parts = topic.split("/")
    if len(parts) < 6 or "/".join(parts[:2]) != PREFIX:
        return None
    leaf = "/".join(parts[5:])
    if leaf not in UP and leaf not in DOWN:
        return None
    try:
        return Topics(parts[2], parts[3], parts[4]), leaf
    except ValueError:
        return None
