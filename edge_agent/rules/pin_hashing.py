"""PIN hashing with the standard library: scrypt, a random salt per PIN, constant-time comparison.

A stored PIN looks like `scrypt$16384$8$1$<salt hex>$<hash hex>`: the cost parameters travel with the hash,
so they can be raised later without breaking PINs already stored. PINs are short, so the hash must be
slow: a stolen ledger should not give up every PIN in seconds. Lockout after failed tries (in the agent)
is the other half of the defence.
"""
import hashlib
import hmac
import os

SCHEME = "scrypt"
# 16 MiB of memory per hash (128 * r * n bytes): tens of milliseconds on a Raspberry Pi 4.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2 ** 14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PIN_LENGTH, MAX_PIN_LENGTH = 4, 12
# Checked against when a login fails before any stored hash is looked at (no such user, no PIN, locked), so
# that it costs what a real check costs. It matches no PIN (no scrypt output is all zeros, to 2^-256).
DUMMY_HASH = "%s$%d$%d$%d$%s$%s" % (SCHEME, DEFAULT_N, DEFAULT_R, DEFAULT_P, "00" * SALT_BYTES, "00" * HASH_BYTES)


def check_pin_format(pin):
    """Return None if `pin` is acceptable, else a sentence saying why not (never echoing the PIN)."""
    if not isinstance(pin, str) or not pin.isdigit() or not pin.isascii():
        return "a PIN is digits only"
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH:
        return "a PIN has %d to %d digits" % (MIN_PIN_LENGTH, MAX_PIN_LENGTH)
    return None


def hash_pin(pin, n=DEFAULT_N, r=DEFAULT_R, p=DEFAULT_P):
    problem = check_pin_format(pin)
    if problem:
        raise ValueError(problem)
    return hash_secret(pin, n, r, p)


def hash_secret(secret, n=DEFAULT_N, r=DEFAULT_R, p=DEFAULT_P):
    """The stored form of any secret text (a PIN once its format is checked, the hub's web passwords);
    verify_pin checks either."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(secret, salt, n, r, p)
    return "%s$%d$%d$%d$%s$%s" % (SCHEME, n, r, p, salt.hex(), digest.hex())


def verify_pin(pin, encoded):
    """True if `pin` matches the stored `encoded` hash. Malformed input is simply False."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = encoded.split("$")
        if scheme != SCHEME:
            return False
        expected = bytes.fromhex(hash_hex)
        digest = _scrypt(str(pin), bytes.fromhex(salt_hex), int(n), int(r), int(p), len(expected))
    except (AttributeError, ValueError):
        return False
    return hmac.compare_digest(digest, expected)


def _scrypt(pin, salt, n, r, p, length=HASH_BYTES):
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024,
                          dklen=length)
