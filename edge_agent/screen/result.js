// The result screen: what came out (or why not) in plain words, a supervisor's approval asked for on the same
// screen, then "Take something else" (only for someone who may take) or Done.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { home } from "./home.js";
import { issue, lastIssue } from "./items.js";
import { logout } from "./login.js";
import { current, onWedgeEntry, show, watchDoor } from "./nav.js";
import { may } from "./store.js";
import { openTerms, termsRefused } from "./terms.js";

let more = null;           // what "result-more" does (home unless another screen set it)

// An issue's answer from the agent (a lane, a door, a scan-only bin; a weigh bin's refusal).
export function issueResult(item, n, answer) {
  const name = item.description || item.sku;
  let heading, text, good;
  if (answer.status === 200 && answer.ok) {
    good = true;
    heading = "Take your item";
    if (item.kind === "lane") text = n + " × " + name + " dropped into the tray below.";
    else if (item.kind === "door") {
      text = "Take " + n + " × " + name + " from door " + item.unit + ".";
      watchDoor(item.unit);
    }
    else text = "Recorded " + n + " × " + name + ". Take them from bin " + item.location + ".";
  } else if (answer.reason === "needs_work_order" || answer.reason === "needs_machine_id") {
    return openTerms(item, n, answer.reason);       // the agent asks for what the list did not know
  } else if (answer.reason === "not_on_list" || answer.reason === "cost_center_override") {
    return termsRefused(item, n, answer);          // a term the site's lists or rules refuse: fix it there
  } else if (answer.status === 200 && answer.unknown && answer.message) {
    good = false;                                   // the outcome could not be written: the agent's words
    heading = "Not recorded yet";
    text = answer.message;
  } else if (answer.status === 200) {
    good = false;
    const given = answer.given || 0;
    heading = given ? "Only " + given + " of " + n + " came out" : "Nothing came out";
    text = "You are charged only for what came out. Please tell a supervisor.";
  } else {
    good = false;
    heading = answer.status === 403 ? "You cannot take this" : "Something went wrong";
    text = answer.message || "Please try again.";
  }
  showResult(heading, text, good, answer.reason === "needs_approval");
}

export function showResult(heading, text, good, askApproval) {
  const title = $("result-title");
  title.textContent = heading;
  title.className = good ? "ok" : "bad";
  $("result-text").textContent = text;
  $("approve-box").hidden = !askApproval;
  $("approve-message").textContent = "";
  $("result-more").hidden = !may("take");
  $("result-more").textContent = "Take something else";
  more = home;
  show("result");
}

// The result's second button, for a screen that goes on elsewhere ("Back to the list").
export function offerMore(text, action) {
  $("result-more").hidden = false;
  $("result-more").textContent = text;
  more = action;
}

// -- a supervisor approves on the same screen ----------------------------------------------------------------
async function approve(typed) {
  const answer = await api("POST", "/api/approve", { badge: typed });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.person) return approved();
  $("approve-message").textContent = answer.message || "Not an approver. Please try again.";
}

// The approval came (typed here, or a badge tapped on the reader and pushed in the state): the issue again,
// once, whichever way told the page first.
export function approved() {
  const again = lastIssue();
  if ($("approve-box").hidden || !again || current() !== "result") return;
  $("approve-box").hidden = true;
  issue(again.item, again.n, again.terms);
}

onWedgeEntry($("approve-wedge"), approve);
$("result-more").addEventListener("click", () => (more || home)());
$("result-done").addEventListener("click", logout);
