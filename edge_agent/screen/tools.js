// The supervisor's tools out (shown from the supervisor menu; the agent refuses anyone else): every lent tool,
// who has it, since when, when it is due and whether it is overdue (the agent's clock decides), and Mark lost
// with a note: the loan closes as lost and a tool_lost alert opens (flows/loans.py mark_lost).
import { NOTE_KEYS, since, when } from "./alerts.js";
import { api } from "./api.js";
import { $, listEntry, listNote, markChosen } from "./dom.js";
import { fillKeypad, onKey, typeText } from "./keypad.js";
import { show } from "./nav.js";

const NOTE_MAX = 200;
let chosen = null;         // the loan at hand (its row, with `location` set to its id for the list marks)
let note = "";

const toolName = (row) => row.description || row.sku || "Tool";
const holder = (row) => (row.name ? row.name + " (" + row.user_id + ")" : row.user_id);
const due = (row) => (row.overdue ? "OVERDUE, was due " : "due ") + when(row.due_wall);

export async function openTools(message) {
  const answer = await api("GET", "/api/tools/out");
  if (answer.status === 401) return show("idle");
  const rows = (answer.loans || []).map((l) => ({ ...l, door: l.location, location: String(l.id) }));
  $("tool-message").textContent = message || (answer.status === 200 ? "" : answer.message || "");
  const list = $("tool-list");
  list.textContent = "";
  if (!rows.length) listNote(list, "No tool is out.");
  for (const row of rows) {
    listEntry(list, row.location, toolName(row) + (row.quantity > 1 ? " × " + row.quantity : ""),
              holder(row) + " · " + since(row.out_wall) + " · " + due(row), () => choose(row));
    if (row.overdue) list.lastChild.firstChild.classList.add("overdue");
  }
  choose(rows.length === 1 ? rows[0] : null);
  fillKeypad($("tool-keypad"), NOTE_KEYS);
  show("tools");
}

function choose(row) {
  chosen = row;
  note = "";
  markChosen($("tool-list"), row);
  $("tool-none").hidden = !!row;
  $("tool-lost").hidden = !row;
  if (!row) return;
  $("tool-name").textContent = toolName(row) + " · " + row.door;
  $("tool-who").textContent = "Out to " + holder(row) + " " + since(row.out_wall) + ", " + due(row) + ".";
  renderNote();
}

function renderNote() {
  $("tool-note").querySelector(".value").textContent = note;
  $("tool-ok").disabled = !note.trim();
  $("tool-ok").textContent = note.trim() ? "Mark lost" : "Write a note first";
}

async function markLost() {
  const row = chosen;
  const answer = await api("POST", "/api/tools/lost", { loan_id: row.id, reason: note });
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("tool-message").textContent = answer.message || "Not done. Please try again.";
    return;
  }
  await openTools(toolName(row) + " (loan #" + row.id + ") marked lost: the alert is open until it comes back " +
                  "or you acknowledge it.");
}

$("tools-home").addEventListener("click", () => show("sup"));
onKey($("tool-keypad"), (key) => { note = typeText(note, key, NOTE_MAX); renderNote(); });
$("tool-quick").addEventListener("click", (e) => {
  if (e.target.dataset.note) { note = e.target.dataset.note; renderNote(); }
});
$("tool-ok").addEventListener("click", markLost);
