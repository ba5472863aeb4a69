// A weigh bin: the weight before, the person takes (or a driver puts in), Done weighs again and the agent
// counts the difference. The count so far is pushed in the state (nav.js renderLive).
import { api } from "./api.js";
import { $ } from "./dom.js";
import { busy, show } from "./nav.js";
import { weighedIn } from "./refill.js";
import { issueResult, showResult } from "./result.js";

let weighing = null;       // the bin's item (a refill line has refill: true)

function openWeigh(item, title) {
  weighing = item;
  $("weigh-title").textContent = title;
  $("weigh-message").textContent = "";
  show("weigh");
}

export async function beginTake(item, n, terms) {
  busy("Weighing bin " + item.unit + "…");
  const answer = await api("POST", "/api/take/begin", { location: item.location, quantity: n, ...terms });
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) return issueResult(item, n, answer);
  openWeigh(item, "Bin " + item.unit + " is open: take what you need, then press Done");
}

// A refill line's bin (POST /api/refill/bin has weighed it before): the driver puts the parts in.
export function weighRefill(line) {
  openWeigh({ ...line, kind: "bin", refill: true }, "Bin " + line.unit + ": put the parts in, then press Done");
}

async function finishTake() {
  const item = weighing;
  $("weigh-done").disabled = true;
  const answer = await api("POST", "/api/take/finish");
  $("weigh-done").disabled = false;
  if (answer.status === 401) return show("idle");
  if (answer.status === 409) {
    $("weigh-message").textContent = "Take your hand out and press Done again";
    return;
  }
  if (answer.status !== 200) return issueResult(item, 0, answer);
  if (item.refill) return weighedIn(answer);
  const bin = "Bin " + item.unit + ": ";
  const k = answer.quantity;
  if (answer.action === "issue" && !answer.alert) showResult(bin + "you took " + k, "Recorded. Thank you.", true);
  else if (answer.action === "issue") showResult(bin + "you took " + k, "That is more than you may take: " +
                                                 "a supervisor has been told.", false);
  else if (answer.action === "return") showResult(bin + "you put back " + k, "Recorded. Thank you.", true);
  else if (answer.action === "none") showResult(bin + "you took nothing", "Nothing was recorded.", true);
  else showResult(bin + "the weight did not make sense", "It was recorded for a supervisor to check.", false);
}

$("weigh-done").addEventListener("click", finishTake);
