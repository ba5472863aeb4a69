"""docs/mqtt.md's recipes, from the document's words alone: canonical JSON, the hash chain, the signed
down envelope, and the up messages a cabinet sends. Nothing here imports the agent: this is the check that
the document is enough to write a cabinet."""
import datetime
import hashlib
import hmac
import json

VERSION = 1
PREFIX = "locker/v1"
GENESIS = "0" * 64


def canonical(value):
    """Keys sorted, separators `,` and `:`, every non-ASCII character escaped, as ASCII bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def row_hash(prev_hash, row):
    """sha256 over prev_hash's 64 hex characters then the row's canonical bytes (every field but hash and
    prev_hash, nulls left out), as 64 lowercase hex characters."""
    fields = {k: v for k, v in row.items() if k not in ("hash", "prev_hash") and v is not None}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(fields)).hexdigest()


def signature(key, envelope):
    """HMAC-SHA256 with the cabinet's 32-byte key over the canonical envelope without `sig`, as hex."""
    return hmac.new(key, canonical({k: v for k, v in envelope.items() if k != "sig"}), hashlib.sha256).hexdigest()


def signed_by(key, envelope, cabinet):
    """True when the envelope is for this cabinet and its signature is the key's."""
    sig = envelope.get("sig")
    return (isinstance(sig, str) and envelope.get("cabinet") == cabinet
            and hmac.compare_digest(sig, signature(key, envelope)))


def root(tenant, site, cabinet):
    return "%s/%s/%s/%s" % (PREFIX, tenant, site, cabinet)


def wall(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).isoformat(timespec="milliseconds")


def header(cabinet, session, epoch_s):
    """What every up payload carries."""
    return {"v": VERSION, "cabinet": cabinet, "session": session, "sent_wall": wall(epoch_s), "clock_synced": True}


def status(cabinet, session, epoch_s, state):
    return dict(header(cabinet, session, epoch_s), state=state)


def birth(cabinet, session, epoch_s, streams):
    """streams: {"tx": {"head", "acked", "head_hash"?}, "events": {"head", "acked"}}."""
    return dict(header(cabinet, session, epoch_s), agent_version="contract-fleet", firmware_version=None,
                firmware_boot=None, agent_boot=1, config_hash=None, applied={"users": None, "catalog": None},
                streams=streams)


def tx_batch(cabinet, session, epoch_s, rows, backlog):
    return dict(header(cabinet, session, epoch_s), stream="tx", first_seq=rows[0]["seq"],
                last_seq=rows[-1]["seq"], backlog=backlog, rows=rows)
