"""The people who sign in to the hub's web app and their sessions (0004_web.sql).

Passwords are kept as scrypt hashes (the agent's PIN hashing: rules/pin_hashing.py); five wrong passwords in
a row lock the account for LOCK_MINUTES, on the hub's clock. A session is a random token in the browser's
cookie and its sha256 in the database, ended by signing out or SESSION_HOURS after it began."""
import datetime
import hashlib
import secrets

from edge_agent.rules import pin_hashing
from hub.registry import RegistryError
from hub.web.roles import CUSTOMER_ROLES, ROLES

SESSION_HOURS = 12
MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10


class SignInRefused(Exception):
    """Wrong user or password, a locked or disabled account: the words are the same for all but the lock, so
    a stranger learns nothing about which ids exist."""


def check_password(password):
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise RegistryError("a password has at least %d characters" % MIN_PASSWORD)


def add_user(conn, tenant, user, role, password, customer=None, name=None, email=None):
    """Add (or replace the role, customer and password of) a web user; RegistryError with words, nothing
    written, for an unknown tenant, role or customer."""
    if role not in ROLES:
        raise RegistryError("role %r is not one of %s" % (role, ", ".join(ROLES)))
    if (role in CUSTOMER_ROLES) != bool(customer):
        raise RegistryError("a %s must name their customer (--customer)" % role if role in CUSTOMER_ROLES
                            else "a %s works for the supplier and names no customer" % role)
    if not user or any(c.isspace() for c in user) or len(user) > 254:
        raise RegistryError("user %r: give an id without spaces (an e-mail address)" % user)
    check_password(password)
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", [tenant]).fetchone() is None:
        raise RegistryError("no tenant %r: add it first (locker-hub tenant add)" % tenant)
    if customer and conn.execute("SELECT 1 FROM sites WHERE tenant = %s AND customer = %s",
                                 [tenant, customer]).fetchone() is None:
        raise RegistryError("tenant %s has no site of customer %r (locker-hub site add --customer)" % (tenant, customer))
    with conn.transaction():
        conn.execute(
            "INSERT INTO web_users (id, tenant, role, customer, name, email, password_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, "
            "role = EXCLUDED.role, customer = EXCLUDED.customer, name = EXCLUDED.name, email = EXCLUDED.email, "
            "password_hash = EXCLUDED.password_hash, failed_logins = 0, locked_until = NULL, disabled = false",
            [user, tenant, role, customer or None, name or user, email or (user if "@" in user else None),
             pin_hashing.hash_secret(password)])
        conn.execute("DELETE FROM web_sessions WHERE user_id = %s", [user])   # a new password ends old sessions


def disable_user(conn, user):
    with conn.transaction():
        found = conn.execute("UPDATE web_users SET disabled = true WHERE id = %s RETURNING id", [user]).fetchone()
        conn.execute("DELETE FROM web_sessions WHERE user_id = %s", [user])
    if found is None:
        raise RegistryError("no web user %r" % user)


def users(conn, tenant=None):
    return conn.execute("SELECT id, tenant, role, customer, name, email, disabled FROM web_users "
                        "WHERE %s::text IS NULL OR tenant = %s ORDER BY tenant, id", [tenant, tenant]).fetchall()


def _hash(token):
    return hashlib.sha256(token.encode("ascii")).digest()


def sign_in(conn, user, password, now):
    """A new session's token for `user`, or SignInRefused. `now`: an aware datetime (the hub's clock). A wrong
    password is counted (and commits) before the refusal is raised."""
    refusal = None
    with conn.transaction():
        row = conn.execute("SELECT * FROM web_users WHERE id = %s FOR UPDATE", [user]).fetchone()
        if row is None or row["disabled"]:
            pin_hashing.verify_pin(password, pin_hashing.DUMMY_HASH)     # the same cost as a real check
            refusal = "wrong user or password"
        elif row["locked_until"] is not None and row["locked_until"] > now:
            refusal = ("too many wrong passwords: this account is locked until %s UTC"
                       % row["locked_until"].strftime("%H:%M"))
        elif not pin_hashing.verify_pin(password, row["password_hash"]):
            failed = row["failed_logins"] + 1
            locked = now + datetime.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILED else None
            conn.execute("UPDATE web_users SET failed_logins = %s, locked_until = %s WHERE id = %s",
                         [0 if locked else failed, locked, user])
            refusal = "wrong user or password"
        else:
            conn.execute("UPDATE web_users SET failed_logins = 0, locked_until = NULL WHERE id = %s", [user])
            token = secrets.token_urlsafe(32)
            conn.execute("INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at) "
                         "VALUES (%s, %s, %s, %s)",
                         [_hash(token), user, now, now + datetime.timedelta(hours=SESSION_HOURS)])
    if refusal:
        if not conn.autocommit:
            conn.commit()
        raise SignInRefused(refusal)
    return token


def session_user(conn, token, now):
    """The web_users row of a live session's token, or None."""
    if not token or len(token) > 128:
        return None
    return conn.execute(
        "SELECT u.* FROM web_sessions s JOIN web_users u ON u.id = s.user_id "
        "WHERE s.token_hash = %s AND s.expires_at > %s AND NOT u.disabled", [_hash(token), now]).fetchone()


def sign_out(conn, token):
    if token:
        with conn.transaction():
            conn.execute("DELETE FROM web_sessions WHERE token_hash = %s", [_hash(token)])
