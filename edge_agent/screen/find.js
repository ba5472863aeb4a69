// Finding an item fast, with gloves on: the person's usual items come first (the agent orders them), chips
// browse by category, and Search filters by part number or words typed on an on-screen keyboard.
import { $, listNote, markChosen } from "./dom.js";
import { chosenItem, itemEntry, itemsNote, offered, pick } from "./items.js";
import { fillKeypad, onKey, typeText } from "./keypad.js";
import { show } from "./nav.js";

const FIND_KEYS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "-", "Space", "⌫", "Clear"];
let category = null;       // null: everything; "usual": the person's own items; else a category
let query = "";

function searchable(item) {
  return [item.sku, item.description, item.category].join(" ").toUpperCase();
}

// Every typed word must appear somewhere in the part number, the description or the category.
function matching() {
  const words = query.toUpperCase().split(/\s+/).filter(Boolean);
  return offered().filter((i) => (category === null || (category === "usual" ? i.usual : i.category === category))
                                 && words.every((w) => searchable(i).includes(w)));
}

export function renderFinder() {
  const items = offered();
  const categories = [...new Set(items.map((i) => i.category).filter(Boolean))].sort();
  if (category === "usual" ? !items.some((i) => i.usual) : category !== null && !categories.includes(category)) {
    category = null;
  }
  const chips = $("chips");
  chips.textContent = "";
  const chip = (label, value) => {
    const b = document.createElement("button");
    b.className = "chip" + (category === value ? " on" : "");
    b.textContent = label;
    b.dataset.category = value === null ? "" : value;
    b.addEventListener("click", () => {
      category = value;
      if (value === null) query = "";          // All: everything, the search too
      renderFinder();
    });
    chips.appendChild(b);
  };
  chip("All", null);
  if (items.some((i) => i.usual)) chip("★ Yours", "usual");
  for (const c of categories) chip(c, c);
  $("find").textContent = query ? "“" + query + "”" : "Search";
  $("find").classList.toggle("on", !!query);
  const list = $("item-list");
  list.textContent = "";
  const shown = matching();
  if (!items.length) listNote(list, itemsNote());
  else if (!shown.length) listNote(list, "Nothing here matches. Tap All, or search again.");
  for (const item of shown) itemEntry(list, item);
  markChosen(list, chosenItem());
}

function openFind() {
  fillKeypad($("find-keypad"), FIND_KEYS);
  renderQuery();
  show("finding");
}

function renderQuery() {
  $("find-query").querySelector(".value").textContent = query;
  const n = matching().length;
  $("find-show").textContent = n === 1 ? "Show 1 item" : "Show " + n + " items";
}

function pressFind(key) {
  query = typeText(query, key, 24);
  renderQuery();
}

function showFound() {
  renderFinder();
  const shown = matching();
  if (shown.length === 1) pick(shown[0]);     // one match: it is the one they want
  show("items");
}

$("find").addEventListener("click", openFind);
onKey($("find-keypad"), pressFind);
$("find-show").addEventListener("click", showFound);
