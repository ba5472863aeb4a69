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

from edge_agent.cloud import desired, outbox
from edge_agent.cloud.envelope import Refused, check
from edge_agent.cloud.topics import parse
from edge_agent.ledger.admin_log import record_admin_change
from edge_agent.rules.access import RANGES as ACCESS_RANGES
from edge_agent.rules.refusal import Refusal

log = logging.getLogger(__name__)

TYPES_BY_LEAF = {"ack": ("ack",), "cmd": ("resend", "unlock", "users_delta", "config"),
                 "desired/users": ("users",), "desired/catalog": ("catalog",)}
SETTINGS = ("session_idle_s", "max_pin_tries", "lockout_s")


def _int(body, name, minimum=0, maximum=None):
    value = body.get(name)
    if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
            or (maximum is not None and value > maximum)):
        raise Refused("malformed", "%s must be a whole number of at least %d%s"
                      % (name, minimum, "" if maximum is None else " and at most %d" % maximum))
    return value


class Commands:
    def __init__(self, sync):
        self.sync = sync
        self.ledger = sync.ledger

    def handle(self, topic, payload):
        parsed = parse(topic)
        if parsed is None or parsed[0].cabinet != self.sync.config.cabinet_id:
            return
        leaf = parsed[1]
        if leaf not in TYPES_BY_LEAF:
            return                                   # our own up topics, echoed by a wildcard
        from edge_agent.cloud.sync import now_utc
        now, synced = now_utc(self.ledger)
        env = None
        try:
            env = check(payload, self.sync.key, self.sync.config.cabinet_id, now, synced)
            if env["type"] not in TYPES_BY_LEAF[leaf]:
                raise Refused("malformed", "%s does not belong on %s" % (env["type"], leaf))
            getattr(self, "_" + env["type"])(env)
        except Refused as r:
            self.sync.stats.refused[r.reason] = self.sync.stats.refused.get(r.reason, 0) + 1
            if r.reason == "duplicate":              # applied once already: say so, change nothing
                self._result(env, "duplicate", None, r.detail)
                return
            log.warning("cloud: %s refused: %s", leaf, r)
            self._result(env, "refused", r.reason, r.detail)
            if env is not None and env["type"] in TYPES_BY_LEAF["cmd"]:
                outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], "refused")

    def _result(self, env, status, reason=None, detail=None):
        outbox.record_event(self.ledger, "command_result", command_id=env and env.get("id"),
                            command_type=env and env.get("type"), status=status, reason=reason,
                            detail=detail or None)

    def _once(self, env):
        """Refuse an id already seen; otherwise remember it as started (its own committed transaction)."""
        if outbox.command_status(self.ledger, env["id"]) is not None:
            raise Refused("duplicate", "command %s was already received" % env["id"])
        outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], "started")

    def _done(self, env, status="applied", reason=None, detail=None):
        with self.ledger.transaction():
            outbox.remember_command(self.ledger, env["id"], env["type"], env["expires"], status)
            self._result(env, status, reason, detail)

    # -- one method per type --------------------------------------------------------------------------------
    def _ack(self, env):
        body = env["body"]
        if body.get("stream") not in outbox.STREAMS:
            raise Refused("malformed", "ack stream must be one of %s" % ", ".join(outbox.STREAMS))
        upto_hash, found = body.get("hash"), body.get("chain_break")
        if upto_hash is not None and not isinstance(upto_hash, str):
            raise Refused("malformed", "ack hash must be text")
        if found is not None and not isinstance(found, dict):
            raise Refused("malformed", "ack chain_break must be an object")
        outbox.set_acked(self.ledger, body["stream"], _int(body, "upto_seq"), upto_hash)
        self.sync.stats.acks += 1
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
        if self.sync.agent is None:
            raise Refused("not_available", "this agent runs without a cabinet")
        self._once(env)
        record_admin_change(self.ledger, "remote unlock", {"command_id": env["id"], "door": door,
                                                           "reason": body.get("reason"), "issued": env["issued"]},
                            user_id="cloud:%s" % env["id"])
        try:
            result = self.sync.agent.call(self.sync.agent.remote_unlock, door, env["id"], body.get("reason"))
        except Refusal as e:     # no such door, the cabinet not answering
            self._done(env, "refused", e.reason, e.words)
        except Exception as e:   # noqa: BLE001 - not ready: the result says so
            self._done(env, "refused", type(e).__name__, str(e))
        else:
            self._done(env, detail=", ".join(result.outcomes) or None)

    def _config(self, env):
        body = env["body"]
        unknown = sorted(set(body) - set(SETTINGS))
        if unknown or not body:
            raise Refused("malformed", "config takes %s" % ", ".join(SETTINGS))
        values = {name: _int(body, name, *ACCESS_RANGES[name]) for name in body}   # the config file's ranges
        self._once(env)
        with self.ledger.transaction():
            outbox.set_settings(self.ledger, **values)
            record_admin_change(self.ledger, "config", {"command_id": env["id"], "settings": values})
        if self.sync.agent is not None:
            self.sync.agent.call(self.sync.agent.apply_settings, **values)
        self._done(env, detail=", ".join("%s=%d" % kv for kv in sorted(values.items())))

    def _users_delta(self, env):
        body = env["body"]
        base, version = _int(body, "base_version"), _int(body, "version", 1)
        self._once(env)
        applied = outbox.applied_versions(self.ledger)["users"]
        if base != applied:
            self._done(env, "refused", "stale_version", "delta on version %d, this cabinet has %s: send the "
                                                        "full set" % (base, applied))
            return
        with self.ledger.transaction():
            desired.apply_users_delta(self.ledger, body.get("upsert", []), body.get("remove", []), version)
            self._applied(env, "users", version)

    def _users(self, env):
        self._desired(env, "users", lambda body, version: desired.apply_users(self.ledger, body.get("users"),
                                                                               version))

    def _catalog(self, env):
        self._desired(env, "catalog", lambda body, version: desired.apply_catalog(
            self.ledger, body.get("skus"), body.get("locations"), version))

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
        record_admin_change(self.ledger, "desired " + what if env["type"] != "users_delta" else "users delta",
                            {"command_id": env["id"], "version": version})
        outbox.set_applied_version(self.ledger, what, version)
        outbox.record_event(self.ledger, "desired_applied", what=what, version=version)
        self._result(env, "applied", detail="%s version %d" % (what, version))
