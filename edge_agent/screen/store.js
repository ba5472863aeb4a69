// The agent's last state (GET /api/state, pushed over /api/events). The agent decides every permission:
// `may` lists the screen areas the person may use ("take", "refill", "supervise", "install").

let current = null;

export const state = () => current;

export function setState(next) {
  current = next;
}

export function updateState(changes) {
  current = { ...(current || {}), ...changes };
}

export function session() {
  return (current && current.session) || null;
}

export function may(area) {
  return !!(session() && (current.may || []).includes(area));
}
