// Refilling (where someone who may refill but not take lands): the pick list line by line, a door opened and
// watched, a count typed, or a weigh bin that counts what is put in.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { loadItems } from "./items.js";
import { DIGITS, fillKeypad, onKey, typeNumber } from "./keypad.js";
import { forgetDoor, show, watchDoor } from "./nav.js";
import { offerMore, showResult } from "./result.js";
import { may } from "./store.js";
import { weighRefill } from "./weigh.js";

let pickList = [];         // the refill lines, the one at hand, what was typed, and what was done
let line = 0;
let added = "";
let addedFresh = true;
let refilled = [];

export async function loadRefill() {
  const answer = await api("GET", "/api/refill");
  if (answer.status === 401) return show("idle");
  pickList = answer.pick_list || [];
  refilled = [];
  line = 0;
  fillKeypad($("refill-keypad"), DIGITS);
  if (!pickList.length) return refillDone("Nothing to refill", "There are no refill lines for you here.");
  showLine();
}

// The end of a refill. Someone who may not take but may use another area gets a way to it (the items
// screen holds the Supervisor and Installer buttons).
function refillDone(heading, text) {
  showResult(heading, text, true);
  if (!may("take") && (may("supervise") || may("install"))) offerMore("Other tasks", loadItems);
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
  forgetDoor();
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

// A weigh bin counts the refill itself: the weight before, the driver fills, Done weighs again (weigh.js).
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
  weighRefill(l);
}

// What the bin counted when the driver pressed Done (weigh.js).
export function weighedIn(answer) {
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
  refillDone("Refill done", refilled.length + " of " + pickList.length + " lines refilled, " + units + " units.");
}

$("refill-open").addEventListener("click", openForRefill);
$("refill-weigh").addEventListener("click", weighIn);
onKey($("refill-keypad"), pressAdded);
$("refill-confirm").addEventListener("click", confirmRefill);
$("refill-skip").addEventListener("click", nextLine);
