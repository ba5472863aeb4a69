// The agent's local API (docs/api.md), same host only: one JSON call, and the state pushed over /api/events.

// The answer's JSON with its HTTP status; status 0 when the agent did not answer.
export async function api(method, path, body) {
  try {
    const response = await fetch(path, {
      method, cache: "no-store",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await response.json();
    return { status: response.status, ...answer };
  } catch (e) {
    return { status: 0, ok: false, message: "The locker is not answering. Please try again." };
  }
}

// The agent's state now and on every change (EventSource reconnects by itself).
export function listen(onState, onOffline) {
  const events = new EventSource("/api/events");
  events.onmessage = (e) => onState(JSON.parse(e.data));
  events.onerror = onOffline;
}
