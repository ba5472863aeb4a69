"""The machine-readable cloud contract (docs/mqtt.md): load the JSON Schemas of docs/mqtt/schemas/ and check
payloads against them, as the reference cloud receiver and the tests do.

    from sim.mqtt_contract import validate, check_batch
    validate("tx_batch", payload)        # jsonschema.ValidationError if it does not match
    check_batch(payload)                 # what a schema cannot say: seqs contiguous from first to last

The schemas name each other by $id (https://locker.example/mqtt/v1/NAME.json) and refer to the shared
definitions as common.json#/$defs/...; they are all loaded into one `referencing` registry, so nothing is
ever fetched. Needs jsonschema (a development dependency, like the rest of sim/).
"""
import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent / "docs" / "mqtt"
SCHEMA_DIR = ROOT / "schemas"
BASE_URI = "https://locker.example/mqtt/v1/"


def schema_names():
    """Every schema's name (its file name without .json), common included."""
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


@functools.lru_cache(maxsize=None)
def schema(name):
    return json.loads((SCHEMA_DIR / (name + ".json")).read_text())


@functools.lru_cache(maxsize=None)
def registry():
    resources = []
    for name in schema_names():
        document = schema(name)
        if document.get("$id") != BASE_URI + name + ".json":
            raise ValueError("%s.json: $id must be %s%s.json" % (name, BASE_URI, name))
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


@functools.lru_cache(maxsize=None)
def validator(name):
    """A Draft 2020-12 validator for one payload schema ("status", "tx_batch", "envelope", "body_unlock"...)."""
    document = schema(name)
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document, registry=registry())


def validate(name, instance):
    """Raise jsonschema.ValidationError (the most relevant error) if instance does not match schema `name`."""
    validator(name).validate(instance)


def errors(name, instance):
    """Every error, as "path: message" texts (empty when it matches)."""
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
            for e in validator(name).iter_errors(instance)]


def body_schema(type_):
    """The name of the schema a down message's body must match, from the envelope's type."""
    return "body_" + type_


class BadBatch(ValueError):
    pass


def check_batch(payload):
    """What JSON Schema cannot compare: first_seq <= last_seq and the items' seqs exactly first_seq, first_seq
    + 1, ..., last_seq. Call it after validate("tx_batch" | "event_batch", payload); BadBatch if not."""
    items = payload["rows"] if payload["stream"] == "tx" else payload["events"]
    first, last = payload["first_seq"], payload["last_seq"]
    if first > last:
        raise BadBatch("first_seq %d is after last_seq %d" % (first, last))
    seqs = [item["seq"] for item in items]
    if seqs != list(range(first, last + 1)):
        raise BadBatch("%s seqs are not contiguous from %d to %d" % (payload["stream"], first, last))
