// Refilling (where someone who may refill but not take lands): the pick list line by line (below min first,
// then top-offs to max, then counts), a door opened and watched, what was put in and the count after it
// typed (the agent requires the count), or a weigh bin that counts what is put in; Finish visit (or the end
// of the list) closes the visit and shows its summary: what was loaded, counted, and any difference.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { loadItems } from "./items.js";
import { DIGITS, fillKeypad, onKey, typeNumber } from "./keypad.js";
import { forgetDoor, show, watchDoor } from "./nav.js";
import { offerMore, showResult } from "./result.js";
import { may } from "./store.js";
import { weighRefill } from "./weigh.js";

let pickList = [];         // the refill lines, the one at hand, and what was typed: nothing is pre-filled
let line = 0;
let typed = { added: "", counted: "" };
let field = "added";       // the field the keypad types into

export async function loadRefill() {
  const answer = await api("GET", "/api/refill");
  if (answer.status === 401) return show("idle");
  pickList = answer.pick_list || [];
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

function lineWords(l) {
  if (l.line === "count") return "Count only: " + (l.reason || "the ledger may be wrong here");
  const bring = (l.line === "top_off" ? "Top off: bring " : "Bring ") + l.quantity;
  return bring + " · " + l.on_hand + " of " + l.maximum + " there now";
}

function showLine() {
  const l = pickList[line];
  const kind = l.kind;
  const tag = l.line === "top_off" ? " · top-off" : l.line === "count" ? " · count" : "";
  $("refill-progress").textContent = "Line " + (line + 1) + " of " + pickList.length + " · " + l.location + tag;
  $("refill-name").textContent = l.description;
  $("refill-where").textContent = lineWords(l);
  $("refill-open").hidden = kind !== "door";
  $("refill-open").disabled = false;
  $("refill-weigh").hidden = kind !== "bin" || l.line === "count";
  $("refill-weigh").disabled = false;
  $("refill-key").hidden = kind === "door";
  $("refill-key").className = "sub";
  $("refill-key").textContent = kind === "bin" && l.line !== "count"
    ? "Open the front with your key, then press Weigh in: the bin counts what you put in."
    : "Open the front with your key.";
  $("refill-added").hidden = l.line === "count";
  forgetDoor();
  $("refill-message").textContent = "";
  typed = { added: l.line === "count" ? "0" : "", counted: "" };
  choose(l.line === "count" ? "counted" : "added");
  show("refill");
}

function choose(name) {
  field = name;
  $("refill-added").classList.toggle("active", name === "added");
  $("refill-count").classList.toggle("active", name === "counted");
  render();
}

// Confirm needs what went in and the count after it (a weigh bin's count is its scale's: Weigh in).
function render() {
  const l = pickList[line];
  $("refill-added").querySelector(".value").textContent = typed.added;
  $("refill-count").querySelector(".value").textContent = typed.counted;
  const needsCount = l.kind !== "bin" || l.line === "count";
  $("refill-confirm").disabled = typed.added === "" || (typed.counted === "" && needsCount);
}

function press(key) {
  typed[field] = typeNumber(typed[field], key, 4);
  render();
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
  const body = { location: l.location, added: Number(typed.added) };
  if (typed.counted !== "") body.counted = Number(typed.counted);
  const answer = await api("POST", "/api/refill", body);
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("refill-message").textContent = answer.message || "Not recorded. Please try again.";
    return;
  }
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
  if (answer.action === "refill") return nextLine();
  const said = answer.action === "none" ? "The bin counted nothing put in." :
    answer.action === "adjustment" ? "The bin counted " + -answer.quantity + " taken out: a supervisor has been told." :
    "The weight did not make sense: a supervisor has been told.";
  showLine();
  $("refill-message").textContent = said;
}

function nextLine() {
  line += 1;
  if (line < pickList.length) return showLine();
  finishVisit();
}

// The visit's summary from the agent (it also goes to the cloud): what was loaded, counted, and each difference.
const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");

export function summaryWords(s) {
  const lines = s.lines || [];
  const words = ["Loaded " + plural(s.loaded, "unit") + " on " + plural(lines.filter((l) => l.loaded > 0).length,
                 "line") + "; counted " + plural(s.counted, "line") + "."];
  for (const l of lines) {
    if (l.difference) {
      words.push(l.location + ": counted " + l.counted + ", expected " + l.expected + " (" +
                 (l.difference > 0 ? "+" : "") + l.difference + ")");
    }
  }
  if (s.counted && !s.differences) words.push("Every count agreed with the ledger.");
  return words.join("\n");
}

async function finishVisit() {
  const answer = await api("POST", "/api/refill/finish");
  if (answer.status === 401) return show("idle");
  const summary = answer.summary;
  if (answer.status !== 200 || !summary) return refillDone("Visit done", "Nothing was recorded on this visit.");
  refillDone(summary.differences ? "Visit done: " + plural(summary.differences, "difference") : "Visit done",
             summaryWords(summary));
}

$("refill-open").addEventListener("click", openForRefill);
$("refill-weigh").addEventListener("click", weighIn);
$("refill-added").addEventListener("click", () => choose("added"));
$("refill-count").addEventListener("click", () => choose("counted"));
onKey($("refill-keypad"), press);
$("refill-confirm").addEventListener("click", confirmRefill);
$("refill-skip").addEventListener("click", nextLine);
$("refill-finish").addEventListener("click", finishVisit);
