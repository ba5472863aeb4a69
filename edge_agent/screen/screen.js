// The cabinet's touchscreen: plain JS over the agent's local API (edge_agent/api.py). The agent decides every
// permission; the page only shows what it is told. The state arrives pushed over /api/events.
"use strict";

const $ = (id) => document.getElementById(id);
const SCREENS = ["idle", "pin", "items", "busy", "result"];
const KINDS = { lane: "Lane", door: "Door", scan: "Bin" };

let state = null;          // the agent's last state (GET /api/state, pushed by /api/events)
let screen = "idle";
let items = [];
let chosen = null;         // the chosen item
let quantity = 1;
let pinFor = null;         // user id whose badge needs a PIN too
let fields = { user: "", pin: "" };
let activeField = "user";

async function api(method, path, body) {
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

function show(name) {
  screen = name;
  for (const s of SCREENS) $(s).hidden = s !== name;
  $("logout").hidden = !(state && state.session) || name === "busy";
  if (name === "idle") focusWedge();
}

function where(item) {
  return item.kind === "scan" ? "Bin " + item.location : KINDS[item.kind] + " " + item.unit;
}

// -- the state pushed by the agent --------------------------------------------------------------------------
function applyState(next) {
  state = next;
  document.body.dataset.session = next.session ? next.session.user_id : "";   // what the agent last said
  $("cabinet").textContent = next.cabinet_id || "Locker";
  const pill = $("status");
  pill.textContent = next.ready ? "Online · Ready" : "Starting up…";
  pill.className = "pill " + (next.ready ? "ok" : "wait");
  $("who").textContent = next.session ? next.session.name : "";
  if (!next.session) {
    if (next.need_pin_for && screen !== "pin") return openPin(next.need_pin_for);
    if (screen === "items" || screen === "result" || screen === "busy") return show("idle");  // session ended
    show(screen);
  } else if (screen === "idle" || screen === "pin") {
    loadItems();
  } else {
    show(screen);
  }
}

function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (e) => applyState(JSON.parse(e.data));
  events.onerror = () => {
    const pill = $("status");
    pill.textContent = "Offline · reconnecting";
    pill.className = "pill off";
  };
}

// -- idle: the badge --------------------------------------------------------------------------------------
function focusWedge() {
  if (screen === "idle") $("wedge").focus({ preventScroll: true });
}

let idleTimer = null;
function idleMessage(text) {
  $("idle-message").textContent = text || "";
  clearTimeout(idleTimer);
  if (text) idleTimer = setTimeout(() => { $("idle-message").textContent = ""; }, 8000);
}

async function badge(typed) {
  const answer = await api("POST", "/api/badge", { badge: typed });
  signedIn(answer, idleMessage);
}

function signedIn(answer, say) {
  if (answer.status === 200 && answer.person) {
    state = { ...(state || {}), session: answer.person, need_pin_for: null };
    $("who").textContent = answer.person.name;
    return loadItems();
  }
  if (answer.status === 200 && answer.need_pin_for) return openPin(answer.need_pin_for);
  say(answer.message || "Not recognised. Please try again.");
}

// -- PIN, with an on-screen keypad -------------------------------------------------------------------------
const LETTERS = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");

function openPin(userId) {
  pinFor = userId || null;
  fields = { user: userId || "", pin: "" };
  $("pin-title").textContent = userId ? "Your badge needs a PIN" : "Sign in with PIN";
  $("f-user").disabled = !!userId;
  $("pin-message").textContent = "";
  choose(userId ? "pin" : "user");
  show("pin");
}

function choose(field) {
  activeField = field;
  $("f-user").classList.toggle("active", field === "user");
  $("f-pin").classList.toggle("active", field === "pin");
  const pad = $("keypad");
  pad.textContent = "";
  pad.className = "keypad " + (field === "user" ? "letters" : "digits");
  const keys = field === "user" ? [...LETTERS, "⌫", "Next"]
                                : ["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "⌫"];
  for (const key of keys) {
    const b = document.createElement("button");
    b.textContent = key;
    b.dataset.key = key;
    if (key === "Next") { b.className = "primary"; b.classList.add("wide"); }
    pad.appendChild(b);
  }
  renderFields();
}

function renderFields() {
  $("f-user").querySelector(".value").textContent = fields.user;
  $("f-pin").querySelector(".value").textContent = "●".repeat(fields.pin.length);
}

function press(key) {
  const value = fields[activeField];
  if (key === "⌫") fields[activeField] = value.slice(0, -1);
  else if (key === "Clear") fields[activeField] = "";
  else if (key === "Next") return choose("pin");
  else if (value.length < 16) fields[activeField] = value + key;
  renderFields();
}

async function submitPin() {
  if (!fields.user || !fields.pin) {
    $("pin-message").textContent = fields.user ? "Type your PIN." : "Type your user ID.";
    return;
  }
  const answer = await api("POST", "/api/pin", { user_id: fields.user, pin: fields.pin });
  fields.pin = "";
  renderFields();
  signedIn(answer, (text) => { $("pin-message").textContent = text; });
}

// -- items ----------------------------------------------------------------------------------------------------
async function loadItems() {
  const answer = await api("GET", "/api/items");
  if (answer.status === 401) return show("idle");
  items = answer.items || [];
  const list = $("item-list");
  list.textContent = "";
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "sub";
    li.textContent = answer.message || "There is nothing here for you to take.";
    list.appendChild(li);
  }
  for (const item of items) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.dataset.location = item.location;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = item.description || item.sku;
    const at = document.createElement("span");
    at.className = "where";
    at.textContent = where(item) + " · " + item.on_hand + " on hand";
    b.append(name, at);
    b.addEventListener("click", () => pick(item));
    li.appendChild(b);
    list.appendChild(li);
  }
  pick(items.find((i) => chosen && i.location === chosen.location) || null);
  show("items");
}

function pick(item) {
  chosen = item;
  quantity = 1;
  for (const b of $("item-list").querySelectorAll("button")) {
    b.classList.toggle("chosen", !!item && b.dataset.location === item.location);
  }
  $("chosen-none").hidden = !!item;
  $("chosen-detail").hidden = !item;
  if (item) {
    $("chosen-name").textContent = item.description || item.sku;
    $("chosen-where").textContent = where(item) + " · " + item.on_hand + " on hand";
  }
  renderQuantity();
}

function renderQuantity() {
  $("qty").textContent = String(quantity);
  $("minus").disabled = !chosen || quantity <= 1;
  $("plus").disabled = !chosen || quantity >= chosen.on_hand;
  $("take").textContent = "Take " + quantity;
}

function step(by) {
  if (!chosen) return;
  quantity = Math.min(chosen.on_hand, Math.max(1, quantity + by));
  renderQuantity();
}

// -- take, progress, result -----------------------------------------------------------------------------------
async function take() {
  if (!chosen) return;
  const item = chosen;
  const n = quantity;
  $("busy-text").textContent = item.kind === "lane" ? "Dispensing from lane " + item.unit + "…"
    : item.kind === "door" ? "Opening door " + item.unit + "…" : "Recording…";
  show("busy");
  const answer = await api("POST", "/api/issue", { location: item.location, quantity: n });
  if (answer.status === 401) return show("idle");
  result(item, n, answer);
}

function result(item, n, answer) {
  const title = $("result-title");
  const name = item.description || item.sku;
  let heading, text, good;
  if (answer.status === 200 && answer.ok) {
    good = true;
    heading = "Take your item";
    if (item.kind === "lane") text = n + " × " + name + " dropped into the tray below.";
    else if (item.kind === "door") text = "Door " + item.unit + " is open. Take " + n + " × " + name +
                                          " and close the door.";
    else text = "Recorded " + n + " × " + name + ". Take them from bin " + item.location + ".";
  } else if (answer.status === 200) {
    good = false;
    const given = answer.given || 0;
    heading = given ? "Only " + given + " of " + n + " came out" : "Nothing came out";
    text = "You are charged only for what came out. Please tell a supervisor.";
  } else {
    good = false;
    heading = answer.status === 403 ? "You cannot take this" : "Something went wrong";
    text = answer.message || "Please try again.";
  }
  title.textContent = heading;
  title.className = good ? "ok" : "bad";
  $("result-text").textContent = text;
  show("result");
}

async function logout() {
  await api("POST", "/api/logout");
  state = { ...(state || {}), session: null };
  chosen = null;
  $("who").textContent = "";
  show("idle");
}

// -- wiring ---------------------------------------------------------------------------------------------------
function wire() {
  const wedge = $("wedge");
  wedge.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const typed = wedge.value.trim();
    wedge.value = "";
    if (typed) badge(typed);
  });
  wedge.addEventListener("blur", () => setTimeout(focusWedge, 0));
  document.addEventListener("pointerup", () => setTimeout(focusWedge, 0));
  $("use-pin").addEventListener("click", () => openPin(null));
  $("f-user").addEventListener("click", () => choose("user"));
  $("f-pin").addEventListener("click", () => choose("pin"));
  $("keypad").addEventListener("click", (e) => { if (e.target.dataset.key) press(e.target.dataset.key); });
  $("pin-cancel").addEventListener("click", () => {
    if (pinFor) api("POST", "/api/logout");
    show("idle");
  });
  $("pin-ok").addEventListener("click", submitPin);
  $("minus").addEventListener("click", () => step(-1));
  $("plus").addEventListener("click", () => step(1));
  $("take").addEventListener("click", take);
  $("result-more").addEventListener("click", loadItems);
  $("result-done").addEventListener("click", logout);
  $("logout").addEventListener("click", logout);
  document.addEventListener("contextmenu", (e) => e.preventDefault());
}

wire();
show("idle");
api("GET", "/api/state").then((s) => { if (s.status === 200) applyState(s); });
listen();
