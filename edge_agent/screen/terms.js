// What a take is for, when the item or the site asks: a work order, the machine, a cost center (the person's
// own is offered). Typed on an on-screen keyboard. The agent still refuses an issue that lacks one.
"use strict";

const TERM_KEYS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "-", "/", "⌫", "Clear"];
const TERM_NAMES = { work_order: "a work order", machine_id: "the machine", cost_center: "a cost center" };
let termsFor = null;       // {item, n}: the take waiting for its terms
let terms = {};
let termAsked = [];
let termField = null;

function needsTerms(item) {
  return item.needs_work_order || item.needs_machine_id || !!(state && state.ask_cost_center);
}

// reason: the agent's refusal (needs_work_order / needs_machine_id) when the list did not know.
function openTerms(item, n, reason) {
  termsFor = { item, n };
  termAsked = ["work_order", "machine_id", "cost_center"].filter((f) =>
    f === "cost_center" ? state && state.ask_cost_center : item["needs_" + f] || reason === "needs_" + f);
  const own = state && state.session && state.session.cost_center;
  terms = { work_order: "", machine_id: "", cost_center: own || "" };
  for (const f of ["work_order", "machine_id", "cost_center"]) $("f-" + f).hidden = !termAsked.includes(f);
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
  const value = terms[termField];
  if (key === "⌫") terms[termField] = value.slice(0, -1);
  else if (key === "Clear") terms[termField] = "";
  else if (value.length < 24) terms[termField] = value + key;
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

for (const f of ["work_order", "machine_id", "cost_center"]) {
  $("f-" + f).addEventListener("click", () => chooseTerm(f));
}
$("terms-keypad").addEventListener("click", (e) => { if (e.target.dataset.key) pressTerm(e.target.dataset.key); });
$("terms-ok").addEventListener("click", takeWithTerms);
$("terms-cancel").addEventListener("click", () => show("items"));
