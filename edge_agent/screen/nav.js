// Which screen shows, what the cabinet is doing now (a door standing open, a weigh bin's count so far, pushed
// by the agent), and the badge field that keeps the focus.
import { $ } from "./dom.js";
import { session, state } from "./store.js";

const SCREENS = ["idle", "pin", "items", "finding", "terms", "weigh", "loans", "refill", "sup", "supwork", "alerts", "tools",
                 "health", "calib", "busy", "result"];
let screen = "idle";
let liveDoor = null;       // the door the result and refill screens watch ("Door 3 is open, close it when done")
let liveDoorOpen = false;  // seen open in the pushed state: only then does "closed" mean the person closed it

export const current = () => screen;

export function show(name) {
  if (!["result", "refill", "busy"].includes(name)) liveDoor = null;    // a door is watched where it was opened
  screen = name;
  for (const s of SCREENS) $(s).hidden = s !== name;
  renderLive();
  $("logout").hidden = !session() || name === "busy";
  focusWedge();
}

// The progress screen while the agent works ("Dispensing from lane 3…").
export function busy(text) {
  $("busy-text").textContent = text;
  show("busy");
}

export function watchDoor(door) {
  liveDoor = door;
  liveDoorOpen = false;
  renderLive();
}

export function forgetDoor() {
  liveDoor = null;
}

function doorWords() {
  const open = ((state() && state().doors_open) || []).includes(liveDoor);
  liveDoorOpen = liveDoorOpen || open;
  return liveDoorOpen && !open ? ["Door " + liveDoor + " is closed. Thank you.", "closed"]
                               : ["Door " + liveDoor + " is open: close it when done", "open"];
}

export function renderLive() {
  const line = screen === "refill" ? $("refill-key") : $("result-live");
  if (liveDoor !== null && (screen === "result" || screen === "refill")) {
    const [words, how] = doorWords();
    line.textContent = words;
    line.className = "live " + how;
    line.dataset.seenOpen = liveDoorOpen ? "yes" : "no";    // "closed" is only said once it was seen open
    line.hidden = false;
  } else {
    $("result-live").hidden = true;
  }
  const take = state() && state().take;
  const moved = take && take.pieces !== null ? Math.max(0, take.pieces) : null;
  $("weigh-live").textContent = moved === null ? "" : "Bin " + take.bin + ": " + moved +
    (take.purpose === "refill" ? " put in so far" : " taken so far");
}

// -- the badge field: a keyboard-wedge reader types the number and Enter into a field that keeps the focus ----
export function focusWedge() {
  if (screen === "idle") $("wedge").focus({ preventScroll: true });
  else if (screen === "result" && !$("approve-box").hidden) $("approve-wedge").focus({ preventScroll: true });
}

export function onWedgeEntry(input, handle) {
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const typed = input.value.trim();
    input.value = "";
    if (typed) handle(typed);
  });
  input.addEventListener("blur", () => setTimeout(focusWedge, 0));
}

document.addEventListener("pointerup", () => setTimeout(focusWedge, 0));
