// DOM helpers every screen uses: an element by id, the two-line list entries and tiles, the words for where
// an item is.

export const $ = (id) => document.getElementById(id);

const KINDS = { lane: "Lane", door: "Door", bin: "Bin", scan: "Bin" };

export function where(item) {
  return item.kind === "scan" ? "Bin " + item.location : KINDS[item.kind] + " " + item.unit;
}

// A name over a second line (list entries, health tiles): two spans in the element.
export function twoLines(element, nameText, lineText, lineClass) {
  for (const [cls, text] of [["name", nameText], [lineClass, lineText]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    element.appendChild(span);
  }
  return element;
}

// One entry of a scrolling list (items, tools, supervisor rows): a big name and a dim line under it.
export function listEntry(list, location, nameText, whereText, onClick) {
  const li = document.createElement("li");
  const b = twoLines(document.createElement("button"), nameText, whereText, "where");
  b.dataset.location = location;
  b.addEventListener("click", onClick);
  li.appendChild(b);
  list.appendChild(li);
}

// A list's one line of words when it has nothing to show.
export function listNote(list, text) {
  const li = document.createElement("li");
  li.className = "sub";
  li.textContent = text;
  list.appendChild(li);
}

// Marks the list entry of the chosen row (anything with a location; null: none).
export function markChosen(list, row) {
  for (const b of list.querySelectorAll("button")) {
    b.classList.toggle("chosen", !!row && b.dataset.location === row.location);
  }
}
