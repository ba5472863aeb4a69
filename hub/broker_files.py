"""The broker's password file and ACL for every cabinet and hub user of the hub (docs/hub.md), in the shipped
Mosquitto setup's form (deploy/broker/): one user per cabinet named by its cabinet id, `pattern` rules with
%u so each cabinet reaches only its own topics, one `user` block per hub worker user.

Passwords are hashed as Mosquitto 2's mosquitto_passwd does ($7$: PBKDF2-HMAC-SHA512, 101 iterations, a
12-byte salt, both base64), so the hub keeps only the hash and writes the file itself: no binary, no prompt.
"""
import base64
import hashlib
import hmac
import os
import secrets

ITERATIONS = 101                # mosquitto_passwd's own
SALT_BYTES = 12
PASSWORD_BYTES = 24             # 192 bits, as URL-safe text (no ':' or newline to upset the file)

# deploy/broker/acl's cabinet rules, the same lines (tests/test_hub_broker.py keeps them equal).
CABINET_RULES = [
    "pattern write locker/v1/+/+/%u/status",
    "pattern write locker/v1/+/+/%u/birth",
    "pattern write locker/v1/+/+/%u/tx",
    "pattern write locker/v1/+/+/%u/events",
    "pattern write locker/v1/+/+/%u/inventory",
    "pattern read locker/v1/+/+/%u/ack",
    "pattern read locker/v1/+/+/%u/cmd",
    "pattern read locker/v1/+/+/%u/desired/#",
]
HUB_RULE = "topic readwrite locker/v1/#"


def new_password():
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password, salt=None):
    """The $7$ line mosquitto_passwd would write for `password` (after "user:")."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return "$7$%d$%s$%s" % (ITERATIONS, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def check_password(password, hashed):
    """True when `hashed` (a $7$ line) is `password`'s."""
    _, kind, iterations, salt, digest = hashed.split("$")
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return kind == "7" and hmac.compare_digest(mine, base64.b64decode(digest))


def password_file(users):
    """The text of a Mosquitto password file for {user name: $7$ hash}, sorted by name."""
    return "".join("%s:%s\n" % (name, users[name]) for name in sorted(users))


def acl_file(hub_users):
    """The text of the ACL: every cabinet its own topics (by %u), each hub user all of locker/v1/."""
    lines = ["# Written by `locker-hub broker write` (docs/hub.md); the rules are deploy/broker/acl's.",
             "# A cabinet's user name is its cabinet id: its own root is locker/v1/+/+/%u, nothing else.",
             *CABINET_RULES, ""]
    for name in sorted(hub_users):
        lines += ["user %s" % name, HUB_RULE, ""]
    return "\n".join(lines)


def write_file(path, text, mode):
    """Write `text` to path through a temporary beside it, mode set before the first byte, then moved into
    place: Mosquitto reloading meanwhile reads the old file or the new one, never half of one."""
    tmp = path.with_name(".%s.%d.tmp" % (path.name, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)            # whatever the umask
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
