// The supervisor's alerts (shown from the supervisor menu; the agent refuses anyone else): every open alert,
// what it is in words, where, since when, and Acknowledge with a note. A kind that ends by acknowledgement
// (a forced door, a cabinet fault) leaves the list; any other stays until its cause ends (docs/alerts.md).
import { api } from "./api.js";
import { $, listEntry, listNote, markChosen } from "./dom.js";
import { fillKeypad, onKey, typeText } from "./keypad.js";
import { show } from "./nav.js";

const KIND_WORDS = {
  low_stock: "Low stock", stockout: "Out of stock", lane_jammed: "Lane jammed",
  unknown_outcome: "Outcome unknown: count it", door_forced: "Door forced open", door_left_open: "Door left open",
  cabinet_exception: "Cabinet controller restarted", cabinet_output_capped: "Output cut at its limit",
  cabinet_events_lost: "Cabinet events lost", cabinet_fault: "Cabinet fault", tool_overdue: "Tool overdue",
  tool_damaged: "Tool returned damaged", tool_lost: "Tool lost", tool_scrapped: "Tool scrapped",
  suspected_empty: "Lane may be empty: count it", bin_weight_mismatch: "Bin weight does not match",
  bin_over_allowed: "More taken than allowed", bin_unexplained_change: "Bin changed with nobody there",
  bin_removed_at_refill: "Taken out during a refill", bin_take_interrupted: "Bin take cut short", disk_low: "Storage nearly full",
  chain_break: "Cloud found the records broken",
};
const ENDS_WORDS = { condition: "when its cause ends", count: "with a count of the location",
                     acknowledged: "with your acknowledgement" };
export const NOTE_KEYS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "-", "Space", "⌫", "Clear"];
const NOTE_MAX = 200;
let chosen = null;         // the alert at hand (its row, with `location` set to its id for the list marks)
let note = "";

export function kindWords(kind) {
  return KIND_WORDS[kind] || kind.replace(/_/g, " ");
}

// A ledger time as a person reads it on the screen: "05/12 14:30" (day/month, local time).
export function when(wall) {
  const t = new Date(wall);
  if (isNaN(t)) return wall || "";
  const pad = (n) => String(n).padStart(2, "0");
  return pad(t.getDate()) + "/" + pad(t.getMonth() + 1) + " " + pad(t.getHours()) + ":" + pad(t.getMinutes());
}

export const since = (wall) => "since " + when(wall);

export async function openAlerts(message) {
  const answer = await api("GET", "/api/alerts");
  if (answer.status === 401) return show("idle");
  const rows = (answer.alerts || []).map((a) => ({ ...a, where: a.location, location: String(a.id) }));
  $("alert-message").textContent = message || (answer.status === 200 ? "" : answer.message || "");
  const list = $("alert-list");
  list.textContent = "";
  if (!rows.length) listNote(list, "No open alerts.");
  for (const row of rows) {
    listEntry(list, row.location, kindWords(row.kind), (row.where || "Cabinet") + " · " + (row.detail || "") +
              " · " + since(row.raised_wall) + (row.acked_by ? " · acknowledged" : ""), () => choose(row));
  }
  choose(null);
  fillKeypad($("alert-keypad"), NOTE_KEYS);
  show("alerts");
}

function choose(row) {
  chosen = row;
  note = "";
  markChosen($("alert-list"), row);
  $("alert-none").hidden = !!row;
  $("alert-ack").hidden = !row;
  if (!row) return;
  $("alert-kind").textContent = kindWords(row.kind) + " · " + (row.where || "Cabinet");
  $("alert-detail").textContent = row.detail || "";
  $("alert-ends").textContent = "Ends " + row.ends.map((e) => ENDS_WORDS[e] || e).join(" or ") +
    (row.acked_by ? ". Acknowledged by " + row.acked_by + ": " + row.ack_note : "");
  renderNote();
}

function renderNote() {
  $("alert-note").querySelector(".value").textContent = note;
  const done = !!chosen && !!chosen.acked_by;
  $("alert-ok").disabled = done || !note.trim();
  $("alert-ok").textContent = done ? "Already acknowledged" : note.trim() ? "Acknowledge" : "Write a note first";
}

async function acknowledge() {
  const row = chosen;
  const answer = await api("POST", "/api/alerts/ack", { alert_id: row.id, note });
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("alert-message").textContent = answer.message || "Not done. Please try again.";
    return;
  }
  await openAlerts(kindWords(row.kind) + (answer.ended ? ": acknowledged and closed." :
                                          ": acknowledged; it stays open until its cause ends."));
}

$("alerts-home").addEventListener("click", () => show("sup"));
onKey($("alert-keypad"), (key) => { note = typeText(note, key, NOTE_MAX); renderNote(); });
$("alert-quick").addEventListener("click", (e) => {
  if (e.target.dataset.note) { note = e.target.dataset.note; renderNote(); }
});
$("alert-ok").addEventListener("click", acknowledge);
