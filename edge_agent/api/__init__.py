"""The agent's local HTTP API: what the touchscreen (and a test) uses to act at the cabinet. JSON in and out,
Starlette served by uvicorn in a background thread, loopback only (docs/decisions/0020-local-api-stack.md).

    routes.py    the route table: fields checked, each job run on the agent's worker (docs/api.md lists all)
    security.py  Host and Origin allow-lists, JSON only with size and depth limits, the client token
    events.py    GET /api/events: Server-Sent Events pushed by the worker on each state change
    app.py       the Starlette app (routes, the screen's files) and the server in its thread

    server = serve(agent, "127.0.0.1", 0)     # server.server_address: (host, port); server.shutdown()
"""
from edge_agent.api.app import serve, route_table
from edge_agent.api.routes import BadRequest, routes
from edge_agent.api.security import COOKIE, MAX_BODY, MAX_DEPTH

__all__ = ["serve", "route_table", "routes", "BadRequest", "COOKIE", "MAX_BODY", "MAX_DEPTH"]
