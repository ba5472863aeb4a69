"""What the cloud sends down, checked and applied (docs/mqtt.md, "Down").

Order of checks, before anything changes: the envelope (signature, cabinet, expiry: envelope.check), the
type against the topic it came on, the id against the ids already applied (a command delivered twice is
applied once), the body against its type. Every refusal and every applied command (acks excepted) leaves a
`command_result` event in the outbox, so the cloud learns what happened even if it happened offline.

An unlock is remembered as started before the door moves: if the agent dies before the result is written,
the redelivered command is a duplicate, never a second unlock. Desired state (users, catalog) is versioned:
the same version again is nothing to do, an older one is refused as stale.
"""
import logging
import re

from edge_agent.cloud import desired, envelope, outbox
from edge_agent.cloud.envelope import Refused
from edge_agent.cloud.topics import parse
from edge_agent.ledger.admin_log import record_admin_change
from edge_agent.ledger.coalesce import Coalescer
from edge_agent.rules.access import RANGES as ACCESS_RANGES
from edge_agent.rules.csv_rows import TEXT_MAX
from edge_agent.rules.refusal import Refusal

log = logging.getLogger(__name__)

TYPES_BY_LEAF = {"ack": ("ack",), "cmd": ("resend", "unlock", "users_delta", "config"),
                 "desired/users": ("users",), "desired/catalog": ("catalog",)}
TYPES = tuple(t for types in TYPES_BY_LEAF.values() for t in types)
SETTINGS = ("session_idle_s", "max_pin_tries", "lockout_s")
# The keys of each type's body (docs/mqtt/schemas/body_<type>.json): required, then optional. A key left out
# or one more is malformed; tests/test_cloud_poison.py holds this table to the schemas.
BODY_KEYS = {"ack": (("stream", "upto_seq"), ("hash", "chain_break")), "resend": (("stream", "from_seq"), ()),
             "unlock": (("door", "reason"), ()), "users_delta": (("base_version", "version", "upsert", "remove"), ()),
             "config": ((), SETTINGS), "users": (("version", "users"), ()),
             "catalog": (("version", "skus", "locations"), ("charge_lists", "allows", "limits", "users_version"))}
SEQ_MAX = 2 ** 63 - 1
SHA256 = re.compile(r"[0-9a-f]{64}")
CHAIN_BREAK_KINDS = ("hash", "prev_hash", "rewritten", "rolled_back")
DETAIL_MAX = 300        # characters of a refusal's detail kept (it may quote what the message held)


def _int(body, name, minimum=0, maximum=SEQ_MAX):
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Refused("malformed", "%s must be a whole number from %d to %d" % (name, minimum, maximum))
    return value


def _check_chain_break(found):
    """An ack's chain_break as body_ack.json has it: exactly seq, kind and detail."""
    if not isinstance(found, dict) or set(found) != {"seq", "kind", "detail"}:
        raise Refused("malformed", "ack chain_break takes seq, kind and detail")
    _int(found, "seq", 1)
    if found["kind"] not in CHAIN_BREAK_KINDS:
        raise Refused("malformed", "ack chain_break kind must be one of %s" % ", ".join(CHAIN_BREAK_KINDS))
    if not isinstance(found["detail"], str) or len(found["detail"]) > 1000:
        raise Refused("malformed", "ack chain_break detail must be text of at most 1000 characters")


def check_body(type_, body):
    """Refused (malformed) if the body has a key its schema does not, or lacks one it requires."""
    required, optional = BODY_KEYS[type_]
    missing = [k for k in required if k not in body]
    unknown = sorted(set(body) - set(required) - set(optional))
    if missing or unknown or not body:
        raise Refused("malformed", "a %s body takes %s%s" % (type_, ", ".join(required + optional),
                                                              "" if required else " (at least one)"))


class Held(Exception):
    """A catalog whose limits name people of a users version not applied yet: kept, not refused (users and
    catalog are retained apart and may arrive in either order; users go first)."""


class Commands:
    def __init__(self, sync):
        self.sync = sync
        self.ledger = sync.ledger
        self.coalescer = Coalescer(sync.clock)
        self.held = None         # (topic, payload) of a catalog waiting for its users_version

    def handle(self, topic, payload):
        """Check and apply one down message. Never raises: whatever goes wrong ends in a refusal."""
        parsed = parse(topic)
        if parsed is None or parsed[0].cabinet != self.sync.config.cabinet_id:
            return
        leaf = parsed[1]
        if leaf not in TYPES_BY_LEAF:
            return                                   # our own up topics, echoed by a wildcard
        from edge_agent.cloud.sync import now_utc
        claim = env = None
        try:
            now, synced = now_utc(self.ledger)
            claim = envelope.read(payload)           # limits first, then JSON: not yet trusted
            env = envelope.check(claim, self.sync.key, self.sync.config.cabinet_id, now, synced)
            if env["type"] not in TYPES_BY_LEAF[leaf]:
                raise Refused("malformed", "%s does not belong on %s" % (env["type"], leaf))
            check_body(env["type"], env["body"])
            getattr(self, "_" + env["type"])(env)
        except Held as held:
            log.info("cloud: %s", held)
            self.held = (topic, payload)         # taken again once those users are applied
        except Refused as r:
            self._refused(leaf, claim, env, r.reason, r.detail)
        except Exception as e:   # noqa: BLE001 - a bug or a full disk must not stop the link: refuse, go on
            log.exception("cloud: %s failed", leaf)
            self._refused(leaf, claim, env, "error", "%s: %s" % (type(e).__name__, e))
        else:
            if env["type"] in ("users", "users_delta") and self.held is not None:
                held, self.held = self.held, None
                self.handle(*held)

    def _refused(self, leaf, claim, env, reason, detail):
        self.sync.stats.refused[reason] = self.sync.stats.refused.get(reason, 0) + 1
        status = "duplicate" if reason == "duplicate" else "refused"
        fields = {"command_id": envelope.claimed(claim, "id"), "status": status, "detail": detail[:DETAIL_MAX] or None,
                  "command_type": envelope.claimed(claim, "type") if claim and claim.get("type") in TYPES else None,
                  "reason": None if status == "duplicate" else reason}
        try:
            if env is not None and env["type"] in TYPES_BY_LEAF["cmd"] and status == "refused":
                outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], "refused")
            if self.coalescer.admit((status, fields["reason"]), self.ledger.clock.wall()[0], fields):
                if status == "refused":
                    log.warning("cloud: %s refused: %s%s", leaf, reason, ": %s" % detail if detail else "")
                outbox.record_event(self.ledger, "command_result", **fields)
        except Exception:        # noqa: BLE001 - the ledger itself failing (a full disk): said, and go on
            log.exception("cloud: could not record the refusal of a %s message", leaf)

    def flush(self, everything=False):
        """Record the coalesced refusals that are due (all of them at a stop)."""
        for _, fields in self.coalescer.due(everything):
            log.warning("cloud: %d more down messages %s (%s) from %s to %s", fields["count"], fields["status"],
                        fields["reason"], fields["first"], fields["last"])
            try:
                outbox.record_event(self.ledger, "command_result", **fields)
            except Exception:    # noqa: BLE001 - as above
                log.exception("cloud: could not record %d coalesced refusals", fields["count"])

    def _result(self, env, status, reason=None, detail=None, ledger_seq=None):
        outbox.record_event(self.ledger, "command_result", ledger_seq, command_id=env["id"],
                            command_type=env["type"], status=status, reason=reason, detail=detail or None)

    def _once(self, env):
        """Refuse an id already seen; otherwise remember it as started (its own committed transaction)."""
        if outbox.command_status(self.ledger, env["id"]) is not None:
            raise Refused("duplicate", "command %s was already received" % env["id"])
        outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], "started")

    def _done(self, env, status="applied", reason=None, detail=None, ledger_seq=None):
        with self.ledger.transaction():
            outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], status)
            self._result(env, status, reason, detail, ledger_seq)

    # -- one method per type --------------------------------------------------------------------------------
    def _ack(self, env):
        body = env["body"]
        if body.get("stream") not in outbox.STREAMS:
            raise Refused("malformed", "ack stream must be one of %s" % ", ".join(outbox.STREAMS))
        upto_hash, found = body.get("hash"), body.get("chain_break")
        if upto_hash is not None and not (isinstance(upto_hash, str) and SHA256.fullmatch(upto_hash)):
            raise Refused("malformed", "ack hash must be 64 lowercase hex digits")
        if found is not None:
            _check_chain_break(found)
        outbox.set_acked(self.ledger, body["stream"], _int(body, "upto_seq"), upto_hash)
        self.sync.stats.acks += 1
        self.sync.last_ack_wall = self.ledger.clock.wall()[0]
        if body["stream"] == "tx" and (found is not None or upto_hash is not None) and \
                found != outbox.chain_break(self.ledger):
            # The cloud says the chain is broken and stops acknowledging (or, acking with no break, cleared).
            outbox.set_chain_break(self.ledger, found)
            if found is not None:
                log.error("cloud: the cloud stopped acknowledging transactions: chain broken at seq %s (%s): %s",
                          found.get("seq"), found.get("kind"), found.get("detail"))

    def _resend(self, env):
        body = env["body"]
        if body.get("stream") not in outbox.STREAMS:
            raise Refused("malformed", "resend stream must be one of %s" % ", ".join(outbox.STREAMS))
        from_seq = _int(body, "from_seq", 1)
        self._once(env)
        self.sync.rewind(body["stream"], from_seq)
        self._done(env, detail="%s from %d" % (body["stream"], from_seq))

    def _unlock(self, env):
        body = env["body"]
        door = _int(body, "door", 1)
        if not isinstance(body["reason"], str) or len(body["reason"]) > TEXT_MAX:
            raise Refused("malformed", "reason must be text of at most %d characters" % TEXT_MAX)
        if self.sync.agent is None:
            raise Refused("not_available", "this agent runs without a cabinet")
        self._once(env)
        admin_seq = record_admin_change(self.ledger, "remote unlock", {"command_id": env["id"], "door": door,
                                                           "reason": body.get("reason"), "issued": env["issued"]},
                            user_id="cloud:%s" % env["id"])
        try:
            result = self.sync.agent.call(self.sync.agent.remote_unlock, door, env["id"], body["reason"])
        except Refusal as e:     # no such door, the cabinet not answering
            self._done(env, "refused", e.reason, e.words, self._last_row(env, admin_seq))
        except Exception as e:   # noqa: BLE001 - not ready: the result says so
            self._done(env, "refused", type(e).__name__, str(e), self._last_row(env, admin_seq))
        else:
            self._done(env, detail=", ".join(result.outcomes) or None, ledger_seq=self._last_row(env, admin_seq))

    def _last_row(self, env, admin_seq):
        """The seq of the last ledger row the command wrote: its admin row, then the unlock's intent and
        outcome (user cloud:<id>; the intent alone when the outcome is not known yet)."""
        found = self.ledger.db.execute("SELECT max(seq) FROM transactions WHERE seq > ? AND user_id = ?",
                                       [admin_seq, "cloud:%s" % env["id"]]).fetchone()[0]
        return found or admin_seq

    def _config(self, env):
        body = env["body"]
        values = {name: _int(body, name, *ACCESS_RANGES[name]) for name in body}   # the config file's ranges
        self._once(env)
        with self.ledger.transaction():
            outbox.set_settings(self.ledger, **values)
            admin_seq = record_admin_change(self.ledger, "config", {"command_id": env["id"], "settings": values})
        if self.sync.agent is not None:
            self.sync.agent.call(self.sync.agent.apply_settings, **values)
        self._done(env, detail=", ".join("%s=%d" % kv for kv in sorted(values.items())), ledger_seq=admin_seq)

    def _users_delta(self, env):
        body = env["body"]
        base, version = _int(body, "base_version", 1), _int(body, "version", 1)
        rows = desired.checked_users(body["upsert"])     # the whole body is judged before its version
        remove = desired.checked_removals(body["remove"])
        self._once(env)
        applied = outbox.applied_versions(self.ledger)["users"]
        if base != applied:
            self._done(env, "refused", "stale_version", "delta on version %d, this cabinet has %s: send the "
                                                        "full set" % (base, applied))
            return
        with self.ledger.transaction():
            desired.apply_users_delta(self.ledger, rows, remove)
            self._applied(env, "users", version)

    def _users(self, env):
        self._desired(env, "users", lambda body, version: desired.apply_users(self.ledger, body["users"],
                                                                               version))

    def _catalog(self, env):
        wanted = env["body"].get("users_version")
        if wanted is not None:
            wanted = _int(env["body"], "users_version", 1)
            applied = outbox.applied_versions(self.ledger)["users"]
            if applied is None or applied < wanted:
                raise Held("catalog waits for users version %d (this cabinet has %s)" % (wanted, applied))
        self._desired(env, "catalog", lambda body, version: desired.apply_catalog(self.ledger, body, version))

    def _desired(self, env, what, apply):
        version = _int(env["body"], "version", 1)
        applied = outbox.applied_versions(self.ledger)[what]
        if applied is not None and version == applied:
            return                                   # redelivered on every reconnect (retained): nothing to do
        if applied is not None and version < applied:
            raise Refused("stale_version", "%s version %d is older than the %d in force" % (what, version, applied))
        with self.ledger.transaction():
            apply(env["body"], version)
            self._applied(env, what, version)

    def _applied(self, env, what, version):
        """An applied desired state (or delta): its admin row, then desired_applied and an applied
        command_result, both carrying that row's seq as ledger_seq (docs/mqtt.md, "Desired state")."""
        seq = record_admin_change(self.ledger, "desired " + what if env["type"] != "users_delta" else "users delta",
                                  {"command_id": env["id"], "version": version})
        outbox.set_applied_version(self.ledger, what, version)
        outbox.record_event(self.ledger, "desired_applied", seq, what=what, version=version)
        self._result(env, "applied", detail="%s version %d" % (what, version), ledger_seq=seq)
