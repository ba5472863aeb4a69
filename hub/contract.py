"""The machine-readable cloud contract (docs/mqtt.md): load the JSON Schemas of docs/mqtt/schemas/ and check
payloads against them, as the hub and the tests do.

    from hub.contract import validate, check_batch
    validate("tx_batch", payload)        # jsonschema.ValidationError if it does not match
    check_batch(payload)                 # what a schema cannot say: seqs contiguous from first to last

The module-level functions use docs/mqtt/schemas of this checkout; Contract(folder) loads another folder
(the hub's --schemas) and has the same functions as methods. Loading checks every schema at once,
so a problem stops the start rather than failing each message: ContractError for a file missing (of those
`needs` names) or not JSON, a wrong $id, a document that is not a valid schema, or a $ref that does not
resolve.

The schemas name each other by $id (https://locker.example/mqtt/v1/NAME.json) and refer to the shared
definitions as common.json#/$defs/...; they are all loaded into one `referencing` registry, so nothing is
ever fetched. For the hub's hot path, `Contract.fast(name)` is a validator of the same schema with every $ref
inlined once at load: resolving `$ref`s per row through the registry was 88 % of the old SQLite receiver's CPU.
"""
import functools
import json
from pathlib import Path

import fastjsonschema

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

ROOT = Path(__file__).resolve().parents[1] / "docs" / "mqtt"
SCHEMA_DIR = ROOT / "schemas"
BASE_URI = "https://locker.example/mqtt/v1/"
# Keywords that mean the same in draft-07 (fastjsonschema's newest) and 2020-12, annotations included.
DRAFT7_SHARED = frozenset(("additionalProperties", "allOf", "anyOf", "const", "description", "enum", "examples",
                           "items", "maximum", "maxItems", "maxLength", "minItems", "minLength", "minimum",
                           "oneOf", "pattern", "properties", "required", "title", "type"))
_UNSET = object()


class ContractError(ValueError):
    """The schemas of a folder cannot be used; the text names the file and the problem."""


class Contract:
    def __init__(self, folder=SCHEMA_DIR, needs=()):
        """Load and check every *.json of `folder`; `needs`: names of schemas that must be there."""
        folder = Path(folder)
        missing = [name for name in needs if not (folder / (name + ".json")).is_file()]
        if missing:
            raise ContractError("%s: schema file(s) missing: %s" % (folder, ", ".join(n + ".json" for n in missing)))
        self.documents = {}
        for path in sorted(folder.glob("*.json")):
            try:
                self.documents[path.stem] = json.loads(path.read_text())
            except ValueError as e:
                raise ContractError("%s: not JSON: %s" % (path, e)) from None
            if self.documents[path.stem].get("$id") != BASE_URI + path.name:
                raise ContractError("%s: $id must be %s%s" % (path, BASE_URI, path.name))
        self.registry = Registry().with_resources(
            (document["$id"], Resource.from_contents(document)) for document in self.documents.values())
        self._validators = {}
        self._fast = {}
        self._compiled = {}
        for name, document in self.documents.items():
            try:
                Draft202012Validator.check_schema(document)
            except SchemaError as e:
                raise ContractError("%s/%s.json is not a valid schema: %s" % (folder, name, e.message)) from None
            self._validators[name] = Draft202012Validator(document, registry=self.registry)
            resolver = self.registry.resolver(base_uri=document["$id"])
            for ref in _refs(document):
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    raise ContractError("%s/%s.json: $ref %s cannot be resolved (a schema file missing?)"
                                        % (folder, name, ref)) from None

    def fast(self, name):
        """A validator for schema `name` with every $ref replaced by what it names, built on first use and
        kept: the same verdicts as validator(name), without a registry look-up per row."""
        found = self._fast.get(name)
        if found is None:
            document = self.documents[name]
            inlined = _inline(document, self.registry.resolver(base_uri=document["$id"]))
            found = self._fast[name] = Draft202012Validator(inlined)
        return found

    def check(self, name, instance):
        """Like validate(), on the fastest validator that keeps the schema's meaning: raise the most relevant
        ValidationError, or return. A schema that uses only keywords draft-07 shares with 2020-12 (tx_batch,
        birth, status, inventory) is also compiled to Python by fastjsonschema, 16 times faster on a 200-row
        batch; the error a client reads still comes from jsonschema."""
        compiled = self._compiled.get(name, _UNSET)
        if compiled is _UNSET:
            inlined = self.fast(name).schema
            compiled = self._compiled[name] = (fastjsonschema.compile(inlined) if _keywords(inlined) <= DRAFT7_SHARED
                                               else None)
        if compiled is not None:
            try:
                compiled(instance)
                return
            except fastjsonschema.JsonSchemaValueException:
                pass
        validator = self.fast(name)
        error = best_match(validator.iter_errors(instance))
        if error is not None:
            raise error
        if compiled is not None:    # the two disagree: trust the reference implementation, but say so
            raise ContractError("fastjsonschema refused a %s that jsonschema accepts" % name)

    def schema_names(self):
        """Every schema's name (its file name without .json), common included."""
        return sorted(self.documents)

    def schema(self, name):
        return self.documents[name]

    def validator(self, name):
        """A Draft 2020-12 validator for one payload schema ("status", "tx_batch", "envelope", "body_unlock"...)."""
        return self._validators[name]

    def validate(self, name, instance):
        """Raise jsonschema.ValidationError (the most relevant error) if instance does not match schema `name`."""
        error = best_match(self._validators[name].iter_errors(instance))
        if error is not None:
            raise error

    def errors(self, name, instance):
        """Every error, as "path: message" texts (empty when it matches)."""
        return [describe(e) for e in self._validators[name].iter_errors(instance)]


@functools.lru_cache(maxsize=None)
def default():
    """The Contract of docs/mqtt/schemas, loaded once."""
    return Contract(SCHEMA_DIR)


def schema_names():
    return default().schema_names()


def schema(name):
    return default().schema(name)


def registry():
    return default().registry


def validator(name):
    return default().validator(name)


def validate(name, instance):
    default().validate(name, instance)


def errors(name, instance):
    return default().errors(name, instance)


def describe(error):
    """A jsonschema.ValidationError as "path: message", the path "(top)" for the payload itself."""
    return "%s: %s" % ("/".join(str(p) for p in error.absolute_path) or "(top)", error.message)


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
        raise BadBatch("%s seqs %s are not contiguous from first_seq %d to last_seq %d"
                       % (payload["stream"], _span(seqs), first, last))


def _span(seqs):
    return "%s..%s" % (seqs[0], seqs[-1]) if len(seqs) > 3 else str(seqs)


def _inline(node, resolver, depth=0):
    """A copy of a schema node with each {"$ref": R, ...} replaced by R's contents (kept beside the other
    keywords under allOf when there are any), resolved from where it was found. Schemas here do not recurse;
    a chain deeper than 32 would mean they do, and is refused."""
    if depth > 32:
        raise ContractError("a $ref chain deeper than 32: recursive schemas cannot be inlined")
    if isinstance(node, list):
        return [_inline(item, resolver, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        resolved = resolver.lookup(node["$ref"])
        target = _inline(resolved.contents, resolved.resolver, depth + 1)
        rest = {k: _inline(v, resolver, depth) for k, v in node.items() if k != "$ref"}
        return dict(rest, allOf=rest.get("allOf", []) + [target]) if rest else target
    return {k: _inline(v, resolver, depth) for k, v in node.items() if k not in ("$id", "$schema", "$defs")}


def _keywords(node):
    """Every keyword a schema node uses, however deep (property names are not keywords)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            values = value.values() if key in ("properties", "patternProperties") and isinstance(value, dict) else [value]
            for v in values:
                found |= _keywords(v)
    elif isinstance(node, list):
        for item in node:
            found |= _keywords(item)
    return found


def _refs(node):
    """Every $ref string in a schema document, however deep."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
