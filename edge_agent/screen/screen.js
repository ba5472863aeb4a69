// The cabinet's touchscreen: plain JS over the agent's local API (edge_agent/api.py). The agent decides every
// permission; the page only shows what it is told. The state arrives pushed over /api/events.
"use strict";

const $ = (id) => document.getElementById(id);
const SCREENS = ["idle", "pin", "items", "finding", "terms", "weigh", "loans", "refill", "sup", "supwork",
                 "health", "calib", "busy", "result"];
const SUPERVISORS = ["supervisor", "customer_admin"];
const INSTALLERS = ["supervisor", "customer_admin", "supplier_admin"];
const KINDS = { lane: "Lane", door: "Door", bin: "Bin", scan: "Bin" };

let state = null;          // the agent's last state (GET /api/state, pushed by /api/events)
let screen = "idle";
let items = [];
let chosen = null;         // the chosen item
let quantity = 1;
let pinFor = null;         // user id whose badge needs a PIN too
let fields = { user: "", pin: "" };
let activeField = "user";
let last = null;           // the last issue tried ({item, n, terms}): retried once a supervisor approves
let liveDoor = null;       // the door the result and refill screens watch ("Door 3 is open, close it when done")
let liveDoorOpen = false;  // seen open in the pushed state: only then does "closed" mean the person closed it
let itemsMessage = "";     // what the agent said when it offers nothing
let loans = [];
let loan = null;           // the loan being returned
let pickList = [];         // a route driver's refill lines, the one at hand, and what was done
let line = 0;
let added = "";
let addedFresh = true;
let refilled = [];
let resultMore = null;     // what "result-more" does (home unless a supervisor action set it)
let supMode = null;        // supervisor: "count", "adjust", "lanes" or "quarantine"; the location at hand
let supRow = null;
let counted = "";
let delta = 1;
let reason = null;
let quarN = 1;
let calibBin = null;       // installer: the bin being calibrated ({bin, location}), the step, the weight typed
let calibStep = 1;
let knownG = "";

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
  if (!["result", "refill", "busy"].includes(name)) liveDoor = null;    // a door is watched where it was opened
  screen = name;
  for (const s of SCREENS) $(s).hidden = s !== name;
  renderLive();
  $("logout").hidden = !(state && state.session) || name === "busy";
  focusWedge();
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
  renderLive();
  if (next.session && next.approver) approved();
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

// -- what the cabinet is doing now (pushed): a door standing open, a weigh bin's count so far -----------------
function watchDoor(door) {
  liveDoor = door;
  liveDoorOpen = false;
  renderLive();
}

function doorWords() {
  const open = ((state && state.doors_open) || []).includes(liveDoor);
  liveDoorOpen = liveDoorOpen || open;
  return liveDoorOpen && !open ? ["Door " + liveDoor + " is closed. Thank you.", "closed"]
                               : ["Door " + liveDoor + " is open: close it when done", "open"];
}

function renderLive() {
  const line = screen === "refill" ? $("refill-key") : $("result-live");
  if (liveDoor !== null && (screen === "result" || screen === "refill")) {
    const [words, how] = doorWords();
    line.textContent = words;
    line.className = "live " + how;
    line.dataset.seenOpen = liveDoorOpen ? "yes" : "no";    // "closed" is only said once it was seen open
    line.hidden = false;
  } else {
    $("result-live").hidden = true;
  }
  const take = state && state.take;
  const moved = take && take.pieces !== null ? Math.max(0, take.pieces) : null;
  $("weigh-live").textContent = moved === null ? "" : "Bin " + take.bin + ": " + moved +
    (take.purpose === "refill" ? " put in so far" : " taken so far");
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
  else if (screen === "result" && !$("approve-box").hidden) $("approve-wedge").focus({ preventScroll: true });
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
    return home();
  }
  if (answer.status === 200 && answer.need_pin_for) return openPin(answer.need_pin_for);
  say(answer.message || "Not recognised. Please try again.");
}

// -- PIN, with an on-screen keypad -------------------------------------------------------------------------
const LETTERS = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "⌫"];

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
                                : DIGITS;
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
function home() {
  const person = state && state.session;
  return person && person.role === "route_driver" ? loadRefill() : loadItems();
}

async function loadItems() {
  const from = screen;       // a second, late load (login and the pushed state both ask) must not pull the
  const who = state && state.session && state.session.user_id;   // person back from where they went meanwhile,
  const answer = await api("GET", "/api/items");  // nor a load for someone who has gone show their items
  if (answer.status === 401) return show("idle");
  if (!(state && state.session && state.session.user_id === who)) return;
  items = answer.items || [];
  itemsMessage = answer.message || "There is nothing here for you to take.";
  renderFinder();           // find.js: the chips, the search and the list
  pick(items.find((i) => chosen && i.location === chosen.location) || null);
  const out = await api("GET", "/api/loans");
  if (!(state && state.session && state.session.user_id === who)) return;
  loans = out.loans || [];
  $("return-tool").hidden = !loans.length;
  $("supervise").hidden = !isSupervisor();
  $("install").hidden = !isInstaller();
  if (screen === from || screen === "items") show("items");
}

// A name over a second line (list entries, health tiles): two spans in the element.
function twoLines(element, nameText, lineText, lineClass) {
  for (const [cls, text] of [["name", nameText], [lineClass, lineText]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    element.appendChild(span);
  }
  return element;
}

// One entry of a scrolling list (items, tools, supervisor rows): a big name and a dim line under it.
function listEntry(list, location, nameText, whereText, onClick) {
  const li = document.createElement("li");
  const b = twoLines(document.createElement("button"), nameText, whereText, "where");
  b.dataset.location = location;
  b.addEventListener("click", onClick);
  li.appendChild(b);
  list.appendChild(li);
}

// A list's one line of words when it has nothing to show.
function listNote(list, text) {
  const li = document.createElement("li");
  li.className = "sub";
  li.textContent = text;
  list.appendChild(li);
}

// An on-screen keypad's keys (built once); the pad's click handler reads data-key.
function fillKeypad(pad, keys) {
  if (pad.children.length) return;
  for (const key of keys) {
    const b = document.createElement("button");
    b.textContent = key;
    b.dataset.key = key;
    pad.appendChild(b);
  }
}

function itemEntry(list, item) {
  listEntry(list, item.location, item.description || item.sku,
            where(item) + " · " + (item.jammed ? "jammed: a supervisor clears it"
                                               : item.on_hand + " on hand" + (item.usual ? " · ★ yours" : "")),
            () => pick(item));
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
  $("take").textContent = (chosen && chosen.kind === "bin" ? "Open bin · " : "Take ") + quantity;
}

function step(by) {
  if (!chosen) return;
  quantity = Math.min(chosen.on_hand, Math.max(1, quantity + by));
  renderQuantity();
}

// -- take, progress, result -----------------------------------------------------------------------------------
async function take() {
  if (!chosen) return;
  if (needsTerms(chosen)) return openTerms(chosen, quantity);     // terms.js: work order, cost center
  issue(chosen, quantity, {});
}

async function issue(item, n, terms) {
  last = { item, n, terms };
  liveDoor = null;
  if (item.kind === "bin") return beginTake(item, n, terms);
  $("busy-text").textContent = item.kind === "lane" ? "Dispensing from lane " + item.unit + "…"
    : item.kind === "door" ? "Opening door " + item.unit + "…" : "Recording…";
  show("busy");
  const answer = await api("POST", "/api/issue", { location: item.location, quantity: n, ...terms });
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
    else if (item.kind === "door") {
      text = "Take " + n + " × " + name + " from door " + item.unit + ".";
      watchDoor(item.unit);
    }
    else text = "Recorded " + n + " × " + name + ". Take them from bin " + item.location + ".";
  } else if (answer.reason === "needs_work_order" || answer.reason === "needs_machine_id") {
    return openTerms(item, n, answer.reason);       // the agent asks for what the list did not know
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
  showResult(heading, text, good, answer.reason === "needs_approval");
}

function showResult(heading, text, good, askApproval) {
  const title = $("result-title");
  title.textContent = heading;
  title.className = good ? "ok" : "bad";
  $("result-text").textContent = text;
  $("approve-box").hidden = !askApproval;
  $("approve-message").textContent = "";
  $("result-more").hidden = !!(state && state.session && state.session.role === "route_driver");
  $("result-more").textContent = "Take something else";
  resultMore = home;
  show("result");
}

// -- a supervisor approves on the same screen ----------------------------------------------------------------
async function approve(typed) {
  const answer = await api("POST", "/api/approve", { badge: typed });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.person) return approved();
  $("approve-message").textContent = answer.message || "Not an approver. Please try again.";
}

// The approval came (typed here, or a badge tapped on the reader and pushed in the state): the issue again,
// once, whichever way told the page first.
function approved() {
  if ($("approve-box").hidden || !last || screen !== "result") return;
  $("approve-box").hidden = true;
  issue(last.item, last.n, last.terms);
}

// -- a weigh bin: the weight before, the person takes, the weight after ---------------------------------------
let takeItem = null;

async function beginTake(item, n, terms) {
  $("busy-text").textContent = "Weighing bin " + item.unit + "…";
  show("busy");
  const answer = await api("POST", "/api/take/begin", { location: item.location, quantity: n, ...terms });
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) return result(item, n, answer);
  takeItem = item;
  $("weigh-title").textContent = "Bin " + item.unit + " is open: take what you need, then press Done";
  $("weigh-message").textContent = "";
  show("weigh");
}

async function finishTake() {
  const item = takeItem;
  $("weigh-done").disabled = true;
  const answer = await api("POST", "/api/take/finish");
  $("weigh-done").disabled = false;
  if (answer.status === 401) return show("idle");
  if (answer.status === 409) {
    $("weigh-message").textContent = "Take your hand out and press Done again";
    return;
  }
  if (answer.status !== 200) return result(item, 0, answer);
  if (item.refill) return weighedIn(answer);
  const bin = "Bin " + item.unit + ": ";
  const k = answer.quantity;
  if (answer.action === "issue" && !answer.alert) showResult(bin + "you took " + k, "Recorded. Thank you.", true);
  else if (answer.action === "issue") showResult(bin + "you took " + k, "That is more than you may take: " +
                                                 "a supervisor has been told.", false);
  else if (answer.action === "return") showResult(bin + "you put back " + k, "Recorded. Thank you.", true);
  else if (answer.action === "none") showResult(bin + "you took nothing", "Nothing was recorded.", true);
  else showResult(bin + "the weight did not make sense", "It was recorded for a supervisor to check.", false);
}

// -- a lent tool back --------------------------------------------------------------------------------------------
function loanName(l) {
  return l.description || l.sku || l.location;
}

function openLoans() {
  loan = null;
  const list = $("loan-list");
  list.textContent = "";
  for (const l of loans) {
    listEntry(list, l.location, loanName(l),
              "Door " + l.location.replace(/^D/, "") + " · due " + l.due_wall.slice(0, 16).replace("T", " "),
              () => chooseLoan(l));
  }
  chooseLoan(loans.length === 1 ? loans[0] : null);
  show("loans");
}

function chooseLoan(l) {
  loan = l;
  for (const b of $("loan-list").querySelectorAll("button")) {
    b.classList.toggle("chosen", !!l && b.dataset.location === l.location);
  }
  $("loan-name").textContent = l ? loanName(l) : "Which tool are you returning?";
  $("loan-where").textContent = l ? "Is it good, or damaged?" : "Choose it on the left.";
  $("loan-condition").hidden = !l;
}

async function giveBack(condition) {
  if (!loan) return;
  const l = loan;
  $("busy-text").textContent = "Opening " + l.location.replace(/^D/, "door ") + "…";
  show("busy");
  const answer = await api("POST", "/api/return", { location: l.location, condition });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) {
    showResult("Put the tool back", "Door " + l.location.replace(/^D/, "") + " is open. Put the " + loanName(l) +
               " in and close the door." + (condition === "damaged" ? " It goes to a supervisor to check." : ""),
               true);
    $("result-more").textContent = "Back to items";
  } else {
    showResult(answer.status === 403 ? "You cannot return this" : "Something went wrong",
               answer.message || "Please tell a supervisor.", false);
  }
}

// -- a route driver's refill ------------------------------------------------------------------------------------
async function loadRefill() {
  const answer = await api("GET", "/api/refill");
  if (answer.status === 401) return show("idle");
  pickList = answer.pick_list || [];
  refilled = [];
  line = 0;
  fillKeypad($("refill-keypad"), DIGITS);
  if (!pickList.length) return showResult("Nothing to refill", "There are no refill lines for you here.", true);
  showLine();
}

function showLine() {
  const l = pickList[line];
  const kind = l.kind;
  $("refill-progress").textContent = "Line " + (line + 1) + " of " + pickList.length + " · " + l.location;
  $("refill-name").textContent = l.description;
  $("refill-where").textContent = "Bring " + l.quantity + " · " + l.on_hand + " of " + l.maximum + " there now";
  $("refill-open").hidden = kind !== "door";
  $("refill-open").disabled = false;
  $("refill-weigh").hidden = kind !== "bin";
  $("refill-weigh").disabled = false;
  $("refill-key").hidden = kind === "door";
  $("refill-key").className = "sub";
  $("refill-key").textContent = kind === "bin" ? "Open the front with your key, then press Weigh in: the bin " +
                                                 "counts what you put in." : "Open the front with your key.";
  liveDoor = null;
  $("refill-message").textContent = "";
  added = String(l.quantity);
  addedFresh = true;
  renderAdded();
  show("refill");
}

function renderAdded() {
  $("refill-count").querySelector(".value").textContent = added;
  $("refill-confirm").disabled = added === "";
  $("refill-confirm").textContent = "Confirm " + (added || "");
}

// One number keypad's key applied to what was typed so far (no leading zeros, at most maxDigits).
function typeNumber(value, key, maxDigits) {
  if (key === "⌫") return value.slice(0, -1);
  if (key === "Clear") return "";
  return value.length < maxDigits ? String(Number(value + key)) : value;
}

function pressAdded(key) {
  if (addedFresh && key !== "⌫") added = "";
  addedFresh = false;
  added = typeNumber(added, key, 4);
  renderAdded();
}

async function openForRefill() {
  const l = pickList[line];
  $("refill-open").disabled = true;
  const answer = await api("POST", "/api/refill/open", { location: l.location });
  if (answer.status === 401) return show("idle");
  $("refill-message").textContent = answer.status === 200 && answer.ok !== false
    ? "" : answer.message || "The door did not open. Please try again.";
  $("refill-open").disabled = false;
  if (answer.status === 200 && answer.ok !== false) watchDoor(l.unit);
}

async function confirmRefill() {
  const l = pickList[line];
  const n = Number(added);
  const answer = await api("POST", "/api/refill", { location: l.location, added: n });
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("refill-message").textContent = answer.message || "Not recorded. Please try again.";
    return;
  }
  refilled.push({ location: l.location, added: n });
  nextLine();
}

// A weigh bin counts the refill itself: the weight before, the driver fills, Done weighs again.
async function weighIn() {
  const l = pickList[line];
  $("refill-weigh").disabled = true;
  const answer = await api("POST", "/api/refill/bin", { location: l.location });
  $("refill-weigh").disabled = false;
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("refill-message").textContent = answer.message || "The bin cannot weigh now. Please try again.";
    return;
  }
  takeItem = { ...l, kind: "bin", refill: true };
  $("weigh-title").textContent = "Bin " + l.unit + ": put the parts in, then press Done";
  $("weigh-message").textContent = "";
  show("weigh");
}

function weighedIn(answer) {
  const l = pickList[line];
  if (answer.action === "refill") {
    refilled.push({ location: l.location, added: answer.quantity });
    return nextLine();
  }
  const said = answer.action === "none" ? "The bin counted nothing put in." :
    answer.action === "adjustment" ? "The bin counted " + -answer.quantity + " taken out: a supervisor has been told." :
    "The weight did not make sense: a supervisor has been told.";
  showLine();
  $("refill-message").textContent = said;
}

function nextLine() {
  line += 1;
  if (line < pickList.length) return showLine();
  const units = refilled.reduce((sum, r) => sum + r.added, 0);
  showResult("Refill done", refilled.length + " of " + pickList.length + " lines refilled, " + units + " units.",
             true);
}

// -- supervisor: cycle count, adjustment, a jammed lane, quarantine (the agent refuses anyone else) -----------
function isSupervisor() {
  return !!(state && state.session && SUPERVISORS.includes(state.session.role));
}

const SUP_TITLES = { count: "Cycle count: choose a location", adjust: "Adjust: choose a location",
                     lanes: "Jammed lanes", quarantine: "In quarantine" };
const SUP_EMPTY = { count: "No locations.", adjust: "No locations.", lanes: "No lane is jammed.",
                    quarantine: "Nothing is in quarantine." };

async function openMode(mode) {
  supMode = mode;
  const answer = await api("GET", "/api/stock");
  if (answer.status === 401) return show("idle");
  let rows = answer.stock || [];
  let jams = {};
  if (mode === "lanes") {
    const alerts = await api("GET", "/api/alerts");
    for (const a of alerts.alerts || []) if (a.kind === "lane_jammed") jams[a.location] = a.detail;
    rows = rows.filter((r) => r.location in jams);
  } else if (mode === "quarantine") {
    rows = rows.filter((r) => r.quarantine > 0);
  }
  $("sup-title").textContent = SUP_TITLES[mode];
  $("sup-message").textContent = answer.status === 200 ? "" : answer.message || "";
  const list = $("sup-list");
  list.textContent = "";
  if (!rows.length) listNote(list, SUP_EMPTY[mode]);
  for (const row of rows) {
    listEntry(list, row.location, row.description || row.sku || row.location, where(row) + " · " + (
      mode === "lanes" ? "jammed" : mode === "quarantine" ? row.quarantine + " in quarantine"
                                                          : row.on_hand + " on hand"), () => supPick(row));
  }
  supPick(rows.length === 1 ? rows[0] : null);
  fillKeypad($("sup-keypad"), DIGITS);
  show("supwork");
}

function supPick(row) {
  supRow = row;
  for (const b of $("sup-list").querySelectorAll("button")) {
    b.classList.toggle("chosen", !!row && b.dataset.location === row.location);
  }
  $("sup-none").hidden = !!row;
  $("sup-count").hidden = !row || supMode !== "count";
  $("sup-adjust").hidden = !row || supMode !== "adjust";
  $("sup-lane").hidden = !row || supMode !== "lanes";
  $("sup-quar").hidden = !row || supMode !== "quarantine";
  if (!row) return;
  counted = "";
  delta = 1;
  reason = null;
  quarN = 1;
  $("sup-counted").querySelector(".label").textContent = "Counted at " + where(row);
  $("lane-name").textContent = "Lane " + row.unit;
  $("lane-clear").textContent = "Clear lane " + row.unit;
  renderCounted();
  renderAdjust();
  renderQuar();
}

function supDone(heading, text, good) {
  showResult(heading, text, good);
  const mode = supMode;
  $("result-more").hidden = false;
  $("result-more").textContent = "Back to the list";
  resultMore = mode ? () => openMode(mode) : () => show("sup");
}

function supFailed(answer) {
  if (answer.status === 401) { show("idle"); return true; }
  if (answer.status === 200 && answer.ok !== false) return false;
  show("supwork");
  $("sup-message").textContent = answer.message || "Not done. Please try again.";
  return true;
}

function renderCounted() {
  $("sup-counted").querySelector(".value").textContent = counted;
  $("count-ok").disabled = counted === "";
  $("count-ok").textContent = counted === "" ? "Type the count" : "Confirm count " + counted;
}

function pressCounted(key) {
  counted = typeNumber(counted, key, 4);
  renderCounted();
}

async function confirmCount() {
  const row = supRow;
  const n = Number(counted);
  const answer = await api("POST", "/api/count", { location: row.location, counted: n });
  if (supFailed(answer)) return;
  const d = answer.difference;
  const name = row.description || row.sku || row.location;
  supDone(where(row) + ": counted " + n,
          d === 0 ? "That matches the ledger. " + name + ": " + n + " on hand."
            : (d > 0 ? d + " more" : -d + " fewer") + " than the ledger said (" + row.on_hand + "). " +
              "The ledger now says " + n + ".", true);   // recorded: a difference is news, not a failure
}

function stepDelta(by) {
  delta += by;
  if (delta === 0) delta += by;
  delta = Math.max(-supRow.on_hand, Math.min(999, delta));
  if (delta === 0) delta = 1;
  renderAdjust();
}

function renderAdjust() {
  const signed = (delta > 0 ? "+" : "−") + Math.abs(delta);
  $("adj-delta").textContent = signed;
  $("adj-minus").disabled = !supRow || delta <= -supRow.on_hand || (delta === 1 && supRow.on_hand === 0);
  for (const b of $("adj-reasons").querySelectorAll("button")) b.classList.toggle("picked", b.dataset.reason === reason);
  $("adj-ok").disabled = !reason;
  $("adj-ok").textContent = reason ? "Adjust " + signed : "Choose a reason";
}

async function confirmAdjust() {
  const row = supRow;
  const answer = await api("POST", "/api/adjust", { location: row.location, delta, reason });
  if (supFailed(answer)) return;
  supDone(where(row) + ": adjusted " + (delta > 0 ? "+" : "−") + Math.abs(delta),
          "Reason: " + reason + ". " + (row.description || row.sku) + ": " + answer.on_hand + " on hand now.", true);
}

async function clearLane() {
  const row = supRow;
  $("busy-text").textContent = "Clearing lane " + row.unit + "…";
  show("busy");
  const answer = await api("POST", "/api/lane/clear", { location: row.location });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) {
    return supDone("Lane " + row.unit + " is back in service", "The jam alert is cleared.", true);
  }
  if (answer.status === 200) {
    return supDone("Lane " + row.unit + " was not cleared", "The cabinet said: " + (answer.outcome || "no answer") +
                   ". Free the spiral and try again.", false);
  }
  supFailed(answer);
}

function renderQuar() {
  if (!supRow) return;
  $("quar-held").textContent = supRow.quarantine + " in quarantine at " + where(supRow);
  $("quar-n").textContent = String(quarN);
  $("quar-minus").disabled = quarN <= 1;
  $("quar-plus").disabled = quarN >= supRow.quarantine;
  $("quar-restock").textContent = "Restock " + quarN;
  $("quar-scrap").textContent = "Scrap " + quarN;
}

async function release(disposition) {
  const row = supRow;
  const answer = await api("POST", "/api/quarantine", { location: row.location, quantity: quarN, disposition });
  if (supFailed(answer)) return;
  supDone((disposition === "restock" ? "Restocked " : "Scrapped ") + quarN + " × " + (row.description || row.sku),
          answer.quarantine + " left in quarantine at " + where(row) + ".", true);
}

// -- installer: the cabinet's health and the weigh-bin calibration wizard (the agent refuses anyone else) -------
function isInstaller() {
  return !!(state && state.session && INSTALLERS.includes(state.session.role));
}

const grams = (mg) => (mg / 1000).toFixed(1) + " g";

function tile(text, status, bad, element) {
  const t = twoLines(document.createElement(element || "div"), text, status, "state");
  t.className = "tile" + (bad ? " bad" : "");
  return t;
}

async function openHealth() {
  $("health-message").textContent = "";
  show("health");
  await loadHealth();
}

async function loadHealth() {
  const answer = await api("GET", "/api/health");
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("health-message").textContent = answer.message || "The cabinet did not answer.";
    $("health-message").className = "message";
    return;
  }
  const link = answer.link;
  $("health-link").textContent = link.online
    ? "Cabinet online · firmware " + link.firmware + " · boot " + link.boot_id
    : "Cabinet not answering: " + (link.message || "");
  const list = $("health-list");
  list.textContent = "";
  for (const d of answer.doors) {
    const t = list.appendChild(tile("Door " + d.door, d.state + (d.location ? " · test" : ""), false, "button"));
    t.dataset.door = d.door;
    t.disabled = !d.location;
    t.addEventListener("click", () => testDoor(d));
  }
  for (const l of answer.lanes) {
    const bad = l.state === "disabled";
    const t = list.appendChild(tile("Lane " + l.lane, l.state + (l.location && !bad ? " · test" : ""), bad, "button"));
    t.dataset.lane = l.lane;
    t.disabled = !l.location || bad;          // a jammed lane is cleared by a supervisor first
    t.addEventListener("click", () => testLane(l));
  }
  for (const b of answer.bins) {
    list.appendChild(tile("Bin " + b.bin, !b.calibrated ? "uncalibrated"
      : grams(b.weight_mg) + (b.stable ? "" : " · moving"), !b.calibrated));
  }
  const bins = $("health-bins");
  const located = answer.bins.filter((b) => b.location);
  if (bins.children.length !== located.length) {
    bins.textContent = "";
    for (const b of located) {
      const button = document.createElement("button");
      button.className = "secondary";
      button.dataset.bin = b.bin;
      button.textContent = "Calibrate bin " + b.bin;
      button.addEventListener("click", () => openCalib(b));
      bins.appendChild(button);
    }
  }
}

// A self-test: pulse the latch; the tile shows the door open (and closed again) as the firmware reports it.
async function testDoor(d) {
  $("health-message").textContent = "";
  const answer = await api("POST", "/api/selftest/door", { location: d.location });
  if (answer.status === 401) return show("idle");
  $("health-message").textContent = answer.status === 200 && answer.ok
    ? "Door " + d.door + " opened: close it" : answer.message || "Door " + d.door + " did not open.";
  $("health-message").className = "message" + (answer.status === 200 && answer.ok ? " good" : "");
  loadHealth();
}

async function testLane(l) {
  $("health-message").textContent = "";
  const answer = await api("POST", "/api/selftest/lane", { location: l.location });
  if (answer.status === 401) return show("idle");
  const outcome = (answer.outcomes || [])[0];
  const good = answer.status === 200 && (outcome === "vended" || outcome === "no_drop");
  $("health-message").textContent = outcome === "vended" ? "Lane " + l.lane + " turned: take the item from the tray"
    : outcome === "no_drop" ? "Lane " + l.lane + " turned home to home (empty)"
    : outcome === "jammed" ? "Lane " + l.lane + " jammed: free it, then a supervisor clears it"
    : answer.message || "Lane " + l.lane + " did not turn.";
  $("health-message").className = "message" + (good ? " good" : "");
  loadHealth();
}

function openCalib(b) {
  calibBin = b;
  fillKeypad($("calib-keypad"), DIGITS);
  knownG = "";
  showCalibStep(1);
  show("calib");
}

function showCalibStep(n) {
  calibStep = n;
  const bin = calibBin.bin;
  $("calib-progress").textContent = "Calibrate bin " + bin + " · step " + n + " of 3";
  $("calib-step").textContent = n === 1 ? "Empty bin " + bin + ", then press Tare"
    : n === 2 ? "Place the known weight in bin " + bin + ", type its grams, then press Calibrate"
    : "Remove the weight, then press Check";
  $("calib-known").hidden = n !== 2;
  $("calib-right").hidden = n !== 2;
  $("calib-reading").hidden = true;
  $("calib-message").textContent = "";
  $("calib-cancel").hidden = n === 3;
  $("calib-read").hidden = n !== 3;
  $("calib-read").textContent = "Check";
  $("calib-go").hidden = n === 3;
  $("calib-go").disabled = false;
  renderKnown();
}

function renderKnown() {
  $("calib-known").querySelector(".value").textContent = knownG;
  if (calibStep === 1) $("calib-go").textContent = "Tare";
  if (calibStep !== 2) return;
  $("calib-go").disabled = knownG === "";
  $("calib-go").textContent = knownG === "" ? "Type the weight" : "Calibrate " + knownG + " g";
}

function pressKnown(key) {
  knownG = typeNumber(knownG, key, 5);
  renderKnown();
}

async function calibGo() {
  const location = calibBin.location;
  const go = $("calib-go");
  go.disabled = true;
  $("calib-message").textContent = "";
  const answer = calibStep === 1
    ? await api("POST", "/api/bin/tare", { location })
    : await api("POST", "/api/bin/calibrate", { location, known_g: Number(knownG) });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) return showCalibStep(calibStep + 1);
  go.disabled = false;
  $("calib-message").textContent = answer.message || "The cabinet did not do it. Please try again.";
}

async function calibRead() {
  const read = $("calib-read");
  read.disabled = true;
  const answer = await api("GET", "/api/bin/read?location=" + encodeURIComponent(calibBin.location));
  read.disabled = false;
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("calib-message").textContent = answer.message || "No reading. Please try again.";
    return;
  }
  $("calib-message").textContent = "";
  $("calib-step").textContent = "Check the reading: it should match what is in the bin";
  $("calib-reading").textContent = "Bin " + calibBin.bin + " reads " + grams(answer.weight_mg);
  $("calib-reading").hidden = false;
  read.textContent = "Check again";
  $("calib-go").textContent = "Done";
  $("calib-go").hidden = false;
}

function calibNext() {
  if (calibStep === 3) return openHealth();
  calibGo();
}

async function logout() {
  await api("POST", "/api/logout");
  state = { ...(state || {}), session: null };
  chosen = null;
  $("who").textContent = "";
  show("idle");
}

// -- wiring ---------------------------------------------------------------------------------------------------
// A keyboard-wedge reader types the badge number and Enter into a field that keeps the focus.
function onWedgeEntry(input, handle) {
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const typed = input.value.trim();
    input.value = "";
    if (typed) handle(typed);
  });
  input.addEventListener("blur", () => setTimeout(focusWedge, 0));
}

function wire() {
  onWedgeEntry($("wedge"), badge);
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
  $("result-more").addEventListener("click", () => (resultMore || home)());
  $("supervise").addEventListener("click", () => show("sup"));
  $("sup-back").addEventListener("click", loadItems);
  for (const b of document.querySelectorAll(".sup-menu button")) {
    b.addEventListener("click", () => openMode(b.dataset.mode));
  }
  $("sup-home").addEventListener("click", () => show("sup"));
  $("sup-keypad").addEventListener("click", (e) => { if (e.target.dataset.key) pressCounted(e.target.dataset.key); });
  $("count-ok").addEventListener("click", confirmCount);
  $("adj-minus").addEventListener("click", () => stepDelta(-1));
  $("adj-plus").addEventListener("click", () => stepDelta(1));
  $("adj-reasons").addEventListener("click", (e) => {
    if (e.target.dataset.reason) { reason = e.target.dataset.reason; renderAdjust(); }
  });
  $("adj-ok").addEventListener("click", confirmAdjust);
  $("lane-clear").addEventListener("click", clearLane);
  $("install").addEventListener("click", openHealth);
  $("health-back").addEventListener("click", loadItems);
  $("calib-keypad").addEventListener("click", (e) => { if (e.target.dataset.key) pressKnown(e.target.dataset.key); });
  $("calib-go").addEventListener("click", calibNext);
  $("calib-read").addEventListener("click", calibRead);
  $("calib-cancel").addEventListener("click", openHealth);
  setInterval(() => { if (screen === "health") loadHealth(); }, 2000);    // the list stays current
  $("quar-minus").addEventListener("click", () => { quarN = Math.max(1, quarN - 1); renderQuar(); });
  $("quar-plus").addEventListener("click", () => { quarN = Math.min(supRow.quarantine, quarN + 1); renderQuar(); });
  $("quar-restock").addEventListener("click", () => release("restock"));
  $("quar-scrap").addEventListener("click", () => release("scrap"));
  onWedgeEntry($("approve-wedge"), approve);
  $("weigh-done").addEventListener("click", finishTake);
  $("return-tool").addEventListener("click", openLoans);
  $("loans-back").addEventListener("click", loadItems);
  $("return-good").addEventListener("click", () => giveBack("good"));
  $("return-damaged").addEventListener("click", () => giveBack("damaged"));
  $("refill-open").addEventListener("click", openForRefill);
  $("refill-weigh").addEventListener("click", weighIn);
  $("refill-keypad").addEventListener("click", (e) => { if (e.target.dataset.key) pressAdded(e.target.dataset.key); });
  $("refill-confirm").addEventListener("click", confirmRefill);
  $("refill-skip").addEventListener("click", nextLine);
  $("result-done").addEventListener("click", logout);
  $("logout").addEventListener("click", logout);
  document.addEventListener("contextmenu", (e) => e.preventDefault());
}

wire();
show("idle");
api("GET", "/api/state").then((s) => { if (s.status === 200) applyState(s); });
listen();
