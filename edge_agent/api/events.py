"""GET /api/events: Server-Sent Events, the state (as /api/state, for this client) now and again each time it
changes. The agent's worker pushes: after each job and each pass of its loop it hands a changed snapshot to
Changes.push (Agent.watch), which wakes every open stream at once; nothing polls."""
import asyncio
import json
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from edge_agent.app.sessions import client_view

KEEPALIVE_S = 10    # a comment line after this long without news: a page that went away is noticed


class Changes:
    """The agent's latest state snapshot and a version, bumped on the worker thread and awaited by streams."""

    def __init__(self):
        self.snapshot = None
        self.version = 0
        self.closed = False
        self._lock = threading.Lock()
        self._waiters = set()

    def push(self, snapshot):
        """On the worker thread: a new snapshot; every waiting stream wakes."""
        with self._lock:
            self.snapshot, self.version = snapshot, self.version + 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:         # that stream's loop has closed
                pass

    def close(self):
        """The server stops: every stream ends."""
        self.closed = True
        self.push(self.snapshot)

    async def wait(self, seen, timeout):
        """True once the version differs from seen (or the server stops), False after timeout."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self.version != seen or self.closed:
                return True
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def _event(state):
    return b"data: " + json.dumps(state).encode("utf-8") + b"\n\n"


def event_stream(agent, changes, client):
    """The response for one page's stream; a client with a token is the one showing the screen (the kiosk)."""
    if client:
        agent.screen_opened(client)

    async def stream():
        seen = changes.version
        try:
            last = await run_in_threadpool(agent.call, agent.state, timeout=5, as_client=client or "")
        except Exception:  # noqa: BLE001 - the agent stopped or is stuck: the page reconnects
            return
        yield _event(last)
        quiet_since = time.monotonic()
        while not changes.closed:
            if await changes.wait(seen, KEEPALIVE_S):
                if changes.closed:
                    return
                seen = changes.version
                state = client_view(changes.snapshot, client or "")
                if state != last:
                    yield _event(state)
                    last, quiet_since = state, time.monotonic()
            if time.monotonic() - quiet_since >= KEEPALIVE_S:
                yield b": still here\n\n"
                quiet_since = time.monotonic()

    return StreamingResponse(stream(), headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
