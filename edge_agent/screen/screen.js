// The cabinet's touchscreen: native ES modules over the agent's local API (edge_agent/api/), one per screen,
// no build step. The agent decides every permission; the page only shows what it is told, and which areas a
// person may use comes from the state's `may`. The state arrives pushed over /api/events.
import { api, listen } from "./api.js";
import { $ } from "./dom.js";
import { home } from "./home.js";
import "./installer.js";
import { openPin } from "./login.js";
import { current, renderLive, show } from "./nav.js";
import { approved } from "./result.js";
import { setState } from "./store.js";
import "./supervisor.js";

// The state pushed by the agent: the bar, and where the page goes when a session starts or ends.
function applyState(next) {
  setState(next);
  document.body.dataset.session = next.session ? next.session.user_id : "";   // what the agent last said
  $("cabinet").textContent = next.cabinet_id || "Locker";
  const pill = $("status");
  pill.textContent = next.ready ? "Online · Ready" : "Starting up…";
  pill.className = "pill " + (next.ready ? "ok" : "wait");
  $("who").textContent = next.session ? next.session.name : "";
  renderLive();
  if (next.session && next.approver) approved();
  const screen = current();
  if (!next.session) {
    if (next.need_pin_for && screen !== "pin") return openPin(next.need_pin_for);
    if (screen !== "idle" && screen !== "pin") return show("idle");  // session ended
    show(screen);
  } else if (screen === "idle" || screen === "pin") {
    home();
  } else {
    show(screen);
  }
}

function offline() {
  const pill = $("status");
  pill.textContent = "Offline · reconnecting";
  pill.className = "pill off";
}

document.addEventListener("contextmenu", (e) => e.preventDefault());
show("idle");
api("GET", "/api/state").then((s) => { if (s.status === 200) applyState(s); });
listen(applyState, offline);
