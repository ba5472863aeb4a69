// The idle screen (a badge on the reader or typed by a keyboard-wedge reader), sign in with a PIN on the
// keypad, and log out.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { home } from "./home.js";
import { forgetChoice } from "./items.js";
import { DIGITS, LETTERS, keyButton, onKey, typeText } from "./keypad.js";
import { current, onWedgeEntry, show } from "./nav.js";
import { session, setState, updateState } from "./store.js";

let pinFor = null;         // user id whose badge needs a PIN too
let fields = { user: "", pin: "" };
let activeField = "user";
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

// Signed in: the agent's state says what they may use (state.may), and so where they land.
async function signedIn(answer, say) {
  if (answer.status === 200 && answer.person) {
    if (!(session() && session().user_id === answer.person.user_id)) {    // not pushed yet
      const now = await api("GET", "/api/state");
      if (now.status === 200 && now.session) setState(now);
      else updateState({ session: answer.person, need_pin_for: null });
    }
    $("who").textContent = answer.person.name;
    if (current() === "idle" || current() === "pin") home();     // unless the pushed state has landed them
    return;
  }
  if (answer.status === 200 && answer.need_pin_for) return openPin(answer.need_pin_for);
  say(answer.message || "Not recognised. Please try again.");
}

// -- PIN, with an on-screen keypad -------------------------------------------------------------------------
export function openPin(userId) {
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
  for (const key of field === "user" ? [...LETTERS, "⌫", "Next"] : DIGITS) {
    const b = pad.appendChild(keyButton(key));
    if (key === "Next") b.className = "primary wide";
  }
  renderFields();
}

function renderFields() {
  $("f-user").querySelector(".value").textContent = fields.user;
  $("f-pin").querySelector(".value").textContent = "●".repeat(fields.pin.length);
}

function press(key) {
  if (key === "Next") return choose("pin");
  fields[activeField] = typeText(fields[activeField], key, 16);
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

export async function logout() {
  await api("POST", "/api/logout");
  updateState({ session: null, may: [] });
  forgetChoice();
  $("who").textContent = "";
  show("idle");
}

onWedgeEntry($("wedge"), badge);
$("use-pin").addEventListener("click", () => openPin(null));
$("f-user").addEventListener("click", () => choose("user"));
$("f-pin").addEventListener("click", () => choose("pin"));
onKey($("keypad"), press);
$("pin-cancel").addEventListener("click", () => {
  if (pinFor) api("POST", "/api/logout");
  show("idle");
});
$("pin-ok").addEventListener("click", submitPin);
$("logout").addEventListener("click", logout);
