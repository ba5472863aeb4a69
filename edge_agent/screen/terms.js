// What a take is for, when the item or the site asks: a work order, the machine, a cost center (the person's
// own is offered). Typed on an on-screen keyboard. The agent still refuses an issue that lacks one.
import { $ } from "./dom.js";
import { issue } from "./items.js";
import { fillKeypad, onKey, typeText } from "./keypad.js";
import { show } from "./nav.js";
import { session, state } from "./store.js";

const TERM_KEYS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "-", "/", "⌫", "Clear"];
const TERM_NAMES = { work_order: "a work order", machine_id: "the machine", cost_center: "a cost center" };
const FIELDS = ["work_order", "machine_id", "cost_center"];
let termsFor = null;       // {item, n}: the take waiting for its terms
let terms = {};
let termAsked = [];
let termField = null;

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
}

function chooseTerm(field) {
  termField = field;
  for (const f of termAsked) $("f-" + f).classList.toggle("active", f === field);
  renderTerms();
}

function renderTerms() {
  for (const f of termAsked) $("f-" + f).querySelector(".value").textContent = terms[f];
}

function pressTerm(key) {
  terms[termField] = typeText(terms[termField], key, 24);
  renderTerms();
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
$("terms-ok").addEventListener("click", takeWithTerms);
$("terms-cancel").addEventListener("click", () => show("items"));
