"""What a form posted, for the pages' plain (sync) handlers: Starlette's own form parser needs
python-multipart, and the hub's forms are only ever urlencoded (security.Guard refuses other bodies)."""
import json
import urllib.parse

import anyio.from_thread


def body(request):
    """The raw body (a sync handler runs in anyio's worker thread, so it may wait on the loop)."""
    return anyio.from_thread.run(request.body)


def form_fields(request):
    """{name: value} of an urlencoded form (a repeated name: its last value); {} for an empty body."""
    raw = body(request).decode("utf-8", "replace")
    return {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}


def form_lists(request):
    """{name: [values]} of an urlencoded form, for repeated names (a table of inputs)."""
    return urllib.parse.parse_qs(body(request).decode("utf-8", "replace"), keep_blank_values=True)


def json_body(request):
    """A JSON object body, or ValueError."""
    data = json.loads(body(request) or b"{}")
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data
