// A lent tool back (from the items screen's "Return a tool"): which one, good or damaged; its door opens.
import { api } from "./api.js";
import { $, listEntry, markChosen } from "./dom.js";
import { loadItems } from "./items.js";
import { busy, show } from "./nav.js";
import { showResult } from "./result.js";

let loans = [];
let loan = null;           // the loan being returned

// The person's tools out (items.js loads them with the items); returns them.
export function setLoans(list) {
  loans = list;
  return loans;
}

function loanName(l) {
  return l.description || l.sku || l.location;
}

function openLoans() {
  loan = null;
  const list = $("loan-list");
  list.textContent = "";
  for (const l of loans) {
    listEntry(list, l.location, loanName(l),
              "Door " + l.location.replace(/^D/, "") + " · due " + l.due_wall.slice(0, 16).replace("T", " "),
              () => chooseLoan(l));
  }
  chooseLoan(loans.length === 1 ? loans[0] : null);
  show("loans");
}

function chooseLoan(l) {
  loan = l;
  markChosen($("loan-list"), l);
  $("loan-name").textContent = l ? loanName(l) : "Which tool are you returning?";
  $("loan-where").textContent = l ? "Is it good, or damaged?" : "Choose it on the left.";
  $("loan-condition").hidden = !l;
}

async function giveBack(condition) {
  if (!loan) return;
  const l = loan;
  busy("Opening " + l.location.replace(/^D/, "door ") + "…");
  const answer = await api("POST", "/api/return", { location: l.location, condition });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) {
    showResult("Put the tool back", "Door " + l.location.replace(/^D/, "") + " is open. Put the " + loanName(l) +
               " in and close the door." + (condition === "damaged" ? " It goes to a supervisor to check." : ""),
               true);
    $("result-more").textContent = "Back to items";
  } else {
    showResult(answer.status === 403 ? "You cannot return this" : "Something went wrong",
               answer.message || "Please tell a supervisor.", false);
  }
}

$("return-tool").addEventListener("click", openLoans);
$("loans-back").addEventListener("click", loadItems);
$("return-good").addEventListener("click", () => giveBack("good"));
$("return-damaged").addEventListener("click", () => giveBack("damaged"));
