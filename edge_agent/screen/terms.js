// What a take is for, when the item or the site asks: a work order, the machine, a cost center (the person's
// own is offered). Typed on an on-screen keyboard, or tapped from the site's lists when it has them (GET
// /api/charge_lists: cost centers and machines to pick, work-order patterns as a hint). The agent still
// refuses an issue that lacks one, or a value off a list: its words are shown here, what was typed is kept.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { issue } from "./items.js";
import { fillKeypad, onKey, typeText } from "./keypad.js";
import { show } from "./nav.js";
import { session, state } from "./store.js";

const TERM_KEYS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "-", "/", "⌫", "Clear"];
const TERM_NAMES = { work_order: "a work order", machine_id: "the machine", cost_center: "a cost center" };
const FIELDS = ["work_order", "machine_id", "cost_center"];
const LIST_OF = { work_order: "work_order", machine_id: "machine", cost_center: "cost_center" };
let termsFor = null;       // {item, n}: the take waiting for its terms
let terms = {};
let termAsked = [];
let termField = null;
let lists = {};            // the site's charge-to lists ({} while not known, or none)
let mayOverride = true;

const askCostCenter = () => !!(state() && state().ask_cost_center);

export function needsTerms(item) {
  return item.needs_work_order || item.needs_machine_id || askCostCenter();
}

// reason: the agent's refusal (needs_work_order / needs_machine_id) when the list did not know.
export function openTerms(item, n, reason) {
  termsFor = { item, n };
  termAsked = FIELDS.filter((f) =>
    f === "cost_center" ? askCostCenter() : item["needs_" + f] || reason === "needs_" + f);
  const own = session() && session().cost_center;
  terms = { work_order: "", machine_id: "", cost_center: own || "" };
  for (const f of FIELDS) $("f-" + f).hidden = !termAsked.includes(f);
  $("terms-title").textContent = (item.description || item.sku) + ": what is it for?";
  $("terms-message").textContent = "";
  $("terms-ok").textContent = "Take " + n;
  fillKeypad($("terms-keypad"), TERM_KEYS);
  chooseTerm(termAsked.find((f) => !terms[f]) || termAsked[0]);
  show("terms");
  loadLists();
}

// The agent refused the take for one of its terms (a value off the site's list, another cost center where
// the site does not allow it): back to the terms, what was typed kept, the agent's words shown.
export function termsRefused(item, n, answer) {
  const field = FIELDS.includes(answer.field) ? answer.field : null;
  if (!termsFor || termsFor.item !== item) openTerms(item, n);
  if (field && !termAsked.includes(field)) {
    termAsked.push(field);
    $("f-" + field).hidden = false;
  }
  show("terms");
  if (field) chooseTerm(field);
  $("terms-message").textContent = answer.message || "Check what you typed.";
}

async function loadLists() {
  const answer = await api("GET", "/api/charge_lists");
  if (answer.status !== 200 || !answer.ok) return;          // no lists: the keyboard alone, as before
  lists = answer.lists || {};
  mayOverride = answer.cost_center_override !== false;
  renderChoices();
}

function chooseTerm(field) {
  termField = field;
  for (const f of termAsked) $("f-" + f).classList.toggle("active", f === field);
  renderTerms();
  renderChoices();
}

function renderTerms() {
  for (const f of termAsked) $("f-" + f).querySelector(".value").textContent = terms[f];
}

// The active field's list: entries to tap (cost centers, machines), or the work-order forms as a hint.
function renderChoices() {
  const box = $("terms-choices");
  box.replaceChildren();
  const own = session() && session().cost_center;
  const fixed = termField === "cost_center" && own && !mayOverride;    // the agent would refuse another
  const entries = (!fixed && lists[LIST_OF[termField]]) || [];
  box.hidden = entries.length === 0;
  if (termField === "work_order") {
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = "Form: " + entries.map((e) => e.value).join(" or ") + "  (# a digit, * anything)";
    box.appendChild(hint);
    return;
  }
  for (const entry of entries) {
    const b = document.createElement("button");
    b.className = "chip" + (entry.value === terms[termField] ? " on" : "");
    b.dataset.choice = entry.value;
    b.textContent = entry.description ? entry.value + " · " + entry.description : entry.value;
    box.appendChild(b);
  }
}

function pressTerm(key) {
  terms[termField] = typeText(terms[termField], key, 24);
  renderTerms();
  renderChoices();
}

function pickChoice(e) {
  const b = e.target.closest("[data-choice]");
  if (!b) return;
  terms[termField] = b.dataset.choice;
  $("terms-message").textContent = "";
  renderTerms();
  renderChoices();
}

function takeWithTerms() {
  const missing = termAsked.find((f) => !terms[f].trim());
  if (missing) {
    $("terms-message").textContent = "Type " + TERM_NAMES[missing] + ".";
    return chooseTerm(missing);
  }
  const given = {};
  for (const f of termAsked) given[f] = terms[f].trim();
  issue(termsFor.item, termsFor.n, given);
}

for (const f of FIELDS) $("f-" + f).addEventListener("click", () => chooseTerm(f));
onKey($("terms-keypad"), pressTerm);
$("terms-choices").addEventListener("click", pickChoice);
$("terms-ok").addEventListener("click", takeWithTerms);
$("terms-cancel").addEventListener("click", () => show("items"));
