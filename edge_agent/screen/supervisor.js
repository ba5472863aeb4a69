// The supervisor area (shown when state.may has "supervise"; the agent refuses anyone else): cycle count,
// adjustment with a reason, a jammed lane cleared, quarantine restocked or scrapped, the open count tasks
// (a lane suspected empty: counted here, which puts it back in service), the open alerts (alerts.js), the
// tools out (tools.js).
import { openAlerts } from "./alerts.js";
import { api } from "./api.js";
import { $, listEntry, listNote, markChosen, where } from "./dom.js";
import { loadItems } from "./items.js";
import { DIGITS, fillKeypad, onKey, typeNumber } from "./keypad.js";
import { busy, show } from "./nav.js";
import { offerMore, showResult } from "./result.js";
import { openTools } from "./tools.js";

const SUP_TITLES = { count: "Cycle count: choose a location", adjust: "Adjust: choose a location",
                     lanes: "Jammed lanes", quarantine: "In quarantine", tasks: "Count tasks: count these" };
const SUP_EMPTY = { count: "No locations.", adjust: "No locations.", lanes: "No lane is jammed.",
                    quarantine: "Nothing is in quarantine.", tasks: "No count tasks." };
let supMode = null;        // "count", "adjust", "lanes", "quarantine" or "tasks"; the location at hand; what is typed
let supRow = null;
let counted = "";
let delta = 1;
let reason = null;
let quarN = 1;

async function openMode(mode) {
  supMode = mode;
  const answer = await api("GET", mode === "tasks" ? "/api/count-tasks" : "/api/stock");
  if (answer.status === 401) return show("idle");
  let rows = (mode === "tasks" ? answer.count_tasks : answer.stock) || [];
  let jams = {};
  if (mode === "lanes") {
    const alerts = await api("GET", "/api/alerts");
    for (const a of alerts.alerts || []) if (a.kind === "lane_jammed") jams[a.location] = a.detail;
    rows = rows.filter((r) => r.location in jams);
  } else if (mode === "quarantine") {
    rows = rows.filter((r) => r.quarantine > 0);
  }
  $("sup-title").textContent = SUP_TITLES[mode];
  $("sup-message").textContent = answer.status === 200 ? "" : answer.message || "";
  const list = $("sup-list");
  list.textContent = "";
  if (!rows.length) listNote(list, SUP_EMPTY[mode]);
  for (const row of rows) {
    listEntry(list, row.location, row.description || row.sku || row.location, where(row) + " · " + (
      mode === "lanes" ? "jammed" : mode === "quarantine" ? row.quarantine + " in quarantine"
                                                          : row.on_hand + " on hand"), () => supPick(row));
  }
  supPick(rows.length === 1 ? rows[0] : null);
  fillKeypad($("sup-keypad"), DIGITS);
  show("supwork");
}

function supPick(row) {
  supRow = row;
  markChosen($("sup-list"), row);
  $("sup-none").hidden = !!row;
  $("sup-count").hidden = !row || (supMode !== "count" && supMode !== "tasks");
  $("sup-task-reason").hidden = !row || supMode !== "tasks";
  $("sup-adjust").hidden = !row || supMode !== "adjust";
  $("sup-lane").hidden = !row || supMode !== "lanes";
  $("sup-quar").hidden = !row || supMode !== "quarantine";
  if (!row) return;
  counted = "";
  delta = 1;
  reason = null;
  quarN = 1;
  $("sup-counted").querySelector(".label").textContent = "Counted at " + where(row);
  $("sup-task-reason").textContent = row.reason ? "Why: " + row.reason : "";
  $("lane-name").textContent = "Lane " + row.unit;
  $("lane-clear").textContent = "Clear lane " + row.unit;
  renderCounted();
  renderAdjust();
  renderQuar();
}

function supDone(heading, text, good) {
  showResult(heading, text, good);
  const mode = supMode;
  offerMore("Back to the list", mode ? () => openMode(mode) : () => show("sup"));
}

function supFailed(answer) {
  if (answer.status === 401) { show("idle"); return true; }
  if (answer.status === 200 && answer.ok !== false) return false;
  show("supwork");
  $("sup-message").textContent = answer.message || "Not done. Please try again.";
  return true;
}

function renderCounted() {
  $("sup-counted").querySelector(".value").textContent = counted;
  $("count-ok").disabled = counted === "";
  $("count-ok").textContent = counted === "" ? "Type the count" : "Confirm count " + counted;
}

function pressCounted(key) {
  counted = typeNumber(counted, key, 4);
  renderCounted();
}

async function confirmCount() {
  const row = supRow;
  const n = Number(counted);
  const answer = await api("POST", "/api/count", { location: row.location, counted: n });
  if (supFailed(answer)) return;
  const d = answer.difference;
  const name = row.description || row.sku || row.location;
  const task = supMode !== "tasks" ? "" : row.kind === "lane" ? " The count task is done: " + where(row) +
    " is back in service." : " The count task is done.";
  supDone(where(row) + ": counted " + n,
          (d === 0 ? "That matches the ledger. " + name + ": " + n + " on hand."
            : (d > 0 ? d + " more" : -d + " fewer") + " than the ledger said (" + row.on_hand + "). " +
              "The ledger now says " + n + ".") + task, true);   // recorded: a difference is news, not a failure
}

function stepDelta(by) {
  delta += by;
  if (delta === 0) delta += by;
  delta = Math.max(-supRow.on_hand, Math.min(999, delta));
  if (delta === 0) delta = 1;
  renderAdjust();
}

function renderAdjust() {
  const signed = (delta > 0 ? "+" : "−") + Math.abs(delta);
  $("adj-delta").textContent = signed;
  $("adj-minus").disabled = !supRow || delta <= -supRow.on_hand || (delta === 1 && supRow.on_hand === 0);
  for (const b of $("adj-reasons").querySelectorAll("button")) b.classList.toggle("picked", b.dataset.reason === reason);
  $("adj-ok").disabled = !reason;
  $("adj-ok").textContent = reason ? "Adjust " + signed : "Choose a reason";
}

async function confirmAdjust() {
  const row = supRow;
  const answer = await api("POST", "/api/adjust", { location: row.location, delta, reason });
  if (supFailed(answer)) return;
  supDone(where(row) + ": adjusted " + (delta > 0 ? "+" : "−") + Math.abs(delta),
          "Reason: " + reason + ". " + (row.description || row.sku) + ": " + answer.on_hand + " on hand now.", true);
}

async function clearLane() {
  const row = supRow;
  busy("Clearing lane " + row.unit + "…");
  const answer = await api("POST", "/api/lane/clear", { location: row.location });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) {
    return supDone("Lane " + row.unit + " is back in service", "The jam alert is cleared.", true);
  }
  if (answer.status === 200) {
    return supDone("Lane " + row.unit + " was not cleared", "The cabinet said: " + (answer.outcome || "no answer") +
                   ". Free the spiral and try again.", false);
  }
  supFailed(answer);
}

function renderQuar() {
  if (!supRow) return;
  $("quar-held").textContent = supRow.quarantine + " in quarantine at " + where(supRow);
  $("quar-n").textContent = String(quarN);
  $("quar-minus").disabled = quarN <= 1;
  $("quar-plus").disabled = quarN >= supRow.quarantine;
  $("quar-restock").textContent = "Restock " + quarN;
  $("quar-scrap").textContent = "Scrap " + quarN;
}

async function release(disposition) {
  const row = supRow;
  const answer = await api("POST", "/api/quarantine", { location: row.location, quantity: quarN, disposition });
  if (supFailed(answer)) return;
  supDone((disposition === "restock" ? "Restocked " : "Scrapped ") + quarN + " × " + (row.description || row.sku),
          answer.quarantine + " left in quarantine at " + where(row) + ".", true);
}

$("supervise").addEventListener("click", () => show("sup"));
$("sup-back").addEventListener("click", loadItems);
for (const b of document.querySelectorAll(".sup-menu button[data-mode]")) {
  b.addEventListener("click", () => openMode(b.dataset.mode));
}
$("sup-home").addEventListener("click", () => show("sup"));
$("sup-alerts").addEventListener("click", () => openAlerts());
$("sup-tools").addEventListener("click", () => openTools());
onKey($("sup-keypad"), pressCounted);
$("count-ok").addEventListener("click", confirmCount);
$("adj-minus").addEventListener("click", () => stepDelta(-1));
$("adj-plus").addEventListener("click", () => stepDelta(1));
$("adj-reasons").addEventListener("click", (e) => {
  if (e.target.dataset.reason) { reason = e.target.dataset.reason; renderAdjust(); }
});
$("adj-ok").addEventListener("click", confirmAdjust);
$("lane-clear").addEventListener("click", clearLane);
$("quar-minus").addEventListener("click", () => { quarN = Math.max(1, quarN - 1); renderQuar(); });
$("quar-plus").addEventListener("click", () => { quarN = Math.min(supRow.quarantine, quarN + 1); renderQuar(); });
$("quar-restock").addEventListener("click", () => release("restock"));
$("quar-scrap").addEventListener("click", () => release("scrap"));
