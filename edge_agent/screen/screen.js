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

// The bar's two pills, each as it is: the cabinet (the agent's link to the firmware) and the cloud (connected,
// what waits to be sent, the last ack; or none configured). The page reaching the agent is neither.
function showLinks(next) {
  const pill = $("status");
  const link = next.cabinet_link || (next.ready ? "up" : "starting");
  pill.textContent = link === "not_answering" ? "Cabinet not answering" : next.ready ? "Cabinet ready" : "Starting up…";
  pill.className = "pill " + (link === "not_answering" ? "off" : next.ready ? "ok" : "wait");
  const cloud = $("cloud");
  cloud.hidden = false;
  const c = next.cloud;
  if (!c) {
    cloud.textContent = "Cloud not configured";
    cloud.className = "pill none";
    return;
  }
  const words = [c.connected ? "Cloud connected" : "Cloud offline"];
  if (c.backlog) words.push(c.backlog + " unsent");
  if (!c.connected || c.backlog) words.push(c.last_ack_wall ? "ack " + c.last_ack_wall.slice(11, 16) : "no ack yet");
  cloud.textContent = words.join(" · ");
  cloud.className = "pill " + (c.connected ? "ok" : "wait");
}

// The state pushed by the agent: the bar, and where the page goes when a session starts or ends.
function applyState(next) {
  setState(next);
  document.body.dataset.session = next.session ? next.session.user_id : "";   // what the agent last said
  $("cabinet").textContent = next.cabinet_id || "Locker";
  showLinks(next);
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
  $("cloud").hidden = true;        // what the agent last said of the cloud is not known now
}

document.addEventListener("contextmenu", (e) => e.preventDefault());
show("idle");
api("GET", "/api/state").then((s) => { if (s.status === 200) applyState(s); });
listen(applyState, offline);
