// The items screen: what the person may take (their usual items first, find.js filters), the quantity, Take;
// the issue itself, retried once when a supervisor approves. The buttons to the other areas show as the
// agent's state.may says.
import { api } from "./api.js";
import { $, listEntry, markChosen, where } from "./dom.js";
import { renderFinder } from "./find.js";
import { setLoans } from "./loans.js";
import { busy, forgetDoor, show, current } from "./nav.js";
import { issueResult } from "./result.js";
import { may, session } from "./store.js";
import { needsTerms, openTerms } from "./terms.js";
import { beginTake } from "./weigh.js";

let items = [];
let itemsMessage = "";     // what the agent said when it offers nothing
let chosen = null;         // the chosen item
let quantity = 1;
let last = null;           // the last issue tried ({item, n, terms}): retried once a supervisor approves

export const offered = () => items;
export const chosenItem = () => chosen;
export const itemsNote = () => itemsMessage;
export const lastIssue = () => last;

export function forgetChoice() {
  chosen = null;
}

export async function loadItems() {
  const from = current();    // a second, late load (login and the pushed state both ask) must not pull the
  const who = session() && session().user_id;           // person back from where they went meanwhile,
  const answer = await api("GET", "/api/items");        // nor a load for someone who has gone show their items
  if (answer.status === 401) return show("idle");
  if (!(session() && session().user_id === who)) return;
  items = answer.items || [];
  itemsMessage = answer.message || "There is nothing here for you to take.";
  renderFinder();           // find.js: the chips, the search and the list
  pick(items.find((i) => chosen && i.location === chosen.location) || null);
  const out = await api("GET", "/api/loans");
  if (!(session() && session().user_id === who)) return;
  $("return-tool").hidden = !setLoans(out.loans || []).length;
  $("supervise").hidden = !may("supervise");
  $("install").hidden = !may("install");
  if (current() === from || current() === "items") show("items");
}

export function itemEntry(list, item) {
  listEntry(list, item.location, item.description || item.sku,
            where(item) + " · " + (item.jammed ? "jammed: a supervisor clears it"
              : item.suspected_empty ? "out of service: may be empty, back once counted"
              : item.on_hand + " on hand" + (item.usual ? " · ★ yours" : "")),
            () => pick(item));
}

export function pick(item) {
  chosen = item;
  quantity = 1;
  markChosen($("item-list"), item);
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

function take() {
  if (!chosen) return;
  if (needsTerms(chosen)) return openTerms(chosen, quantity);     // terms.js: work order, cost center
  issue(chosen, quantity, {});
}

export async function issue(item, n, terms) {
  last = { item, n, terms };
  forgetDoor();
  if (item.kind === "bin") return beginTake(item, n, terms);      // weigh.js: the scale counts the take
  busy(item.kind === "lane" ? "Dispensing from lane " + item.unit + "…"
    : item.kind === "door" ? "Opening door " + item.unit + "…" : "Recording…");
  const answer = await api("POST", "/api/issue", { location: item.location, quantity: n, ...terms });
  if (answer.status === 401) return show("idle");
  issueResult(item, n, answer);
}

$("minus").addEventListener("click", () => step(-1));
$("plus").addEventListener("click", () => step(1));
$("take").addEventListener("click", take);
