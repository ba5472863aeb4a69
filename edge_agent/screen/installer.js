// The installer area (shown when state.may has "install"; the agent refuses anyone else): the cabinet's
// health, a door or lane self-test, and the weigh-bin calibration wizard.
import { api } from "./api.js";
import { $, twoLines } from "./dom.js";
import { loadItems } from "./items.js";
import { DIGITS, fillKeypad, onKey, typeNumber } from "./keypad.js";
import { current, show } from "./nav.js";

let calibBin = null;       // the bin being calibrated ({bin, location}), the step, the weight typed
let calibStep = 1;
let knownG = "";

const grams = (mg) => (mg / 1000).toFixed(1) + " g";

function tile(text, status, bad, element) {
  const t = twoLines(document.createElement(element || "div"), text, status, "state");
  t.className = "tile" + (bad ? " bad" : "");
  return t;
}

async function openHealth() {
  $("health-message").textContent = "";
  show("health");
  await loadHealth();
}

async function loadHealth() {
  const answer = await api("GET", "/api/health");
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("health-message").textContent = answer.message || "The cabinet did not answer.";
    $("health-message").className = "message";
    return;
  }
  const link = answer.link;
  $("health-link").textContent = link.online
    ? "Cabinet online · firmware " + link.firmware + " · boot " + link.boot_id
    : "Cabinet not answering: " + (link.message || "");
  const list = $("health-list");
  list.textContent = "";
  for (const d of answer.doors) {
    const t = list.appendChild(tile("Door " + d.door, d.state + (d.location ? " · test" : ""), false, "button"));
    t.dataset.door = d.door;
    t.disabled = !d.location;
    t.addEventListener("click", () => testDoor(d));
  }
  for (const l of answer.lanes) {
    const bad = l.state === "disabled";
    const t = list.appendChild(tile("Lane " + l.lane, l.state + (l.location && !bad ? " · test" : ""), bad, "button"));
    t.dataset.lane = l.lane;
    t.disabled = !l.location || bad;          // a jammed lane is cleared by a supervisor first
    t.addEventListener("click", () => testLane(l));
  }
  for (const b of answer.bins) {
    list.appendChild(tile("Bin " + b.bin, !b.calibrated ? "uncalibrated"
      : grams(b.weight_mg) + (b.stable ? "" : " · moving"), !b.calibrated));
  }
  const bins = $("health-bins");
  const located = answer.bins.filter((b) => b.location);
  if (bins.children.length !== located.length) {
    bins.textContent = "";
    for (const b of located) {
      const button = document.createElement("button");
      button.className = "secondary";
      button.dataset.bin = b.bin;
      button.textContent = "Calibrate bin " + b.bin;
      button.addEventListener("click", () => openCalib(b));
      bins.appendChild(button);
    }
  }
}

// A self-test: pulse the latch; the tile shows the door open (and closed again) as the firmware reports it.
async function testDoor(d) {
  $("health-message").textContent = "";
  const answer = await api("POST", "/api/selftest/door", { location: d.location });
  if (answer.status === 401) return show("idle");
  $("health-message").textContent = answer.status === 200 && answer.ok
    ? "Door " + d.door + " opened: close it" : answer.message || "Door " + d.door + " did not open.";
  $("health-message").className = "message" + (answer.status === 200 && answer.ok ? " good" : "");
  loadHealth();
}

async function testLane(l) {
  $("health-message").textContent = "";
  const answer = await api("POST", "/api/selftest/lane", { location: l.location });
  if (answer.status === 401) return show("idle");
  const outcome = (answer.outcomes || [])[0];
  const good = answer.status === 200 && (outcome === "vended" || outcome === "no_drop");
  $("health-message").textContent = outcome === "vended" ? "Lane " + l.lane + " turned: take the item from the tray"
    : outcome === "no_drop" ? "Lane " + l.lane + " turned home to home (empty)"
    : outcome === "jammed" ? "Lane " + l.lane + " jammed: free it, then a supervisor clears it"
    : answer.message || "Lane " + l.lane + " did not turn.";
  $("health-message").className = "message" + (good ? " good" : "");
  loadHealth();
}

// -- the calibration wizard: tare the empty bin, a known weight, check the reading ----------------------------
function openCalib(b) {
  calibBin = b;
  fillKeypad($("calib-keypad"), DIGITS);
  knownG = "";
  showCalibStep(1);
  show("calib");
}

function showCalibStep(n) {
  calibStep = n;
  const bin = calibBin.bin;
  $("calib-progress").textContent = "Calibrate bin " + bin + " · step " + n + " of 3";
  $("calib-step").textContent = n === 1 ? "Empty bin " + bin + ", then press Tare"
    : n === 2 ? "Place the known weight in bin " + bin + ", type its grams, then press Calibrate"
    : "Remove the weight, then press Check";
  $("calib-known").hidden = n !== 2;
  $("calib-right").hidden = n !== 2;
  $("calib-reading").hidden = true;
  $("calib-message").textContent = "";
  $("calib-cancel").hidden = n === 3;
  $("calib-read").hidden = n !== 3;
  $("calib-read").textContent = "Check";
  $("calib-go").hidden = n === 3;
  $("calib-go").disabled = false;
  renderKnown();
}

function renderKnown() {
  $("calib-known").querySelector(".value").textContent = knownG;
  if (calibStep === 1) $("calib-go").textContent = "Tare";
  if (calibStep !== 2) return;
  $("calib-go").disabled = knownG === "";
  $("calib-go").textContent = knownG === "" ? "Type the weight" : "Calibrate " + knownG + " g";
}

function pressKnown(key) {
  knownG = typeNumber(knownG, key, 5);
  renderKnown();
}

async function calibGo() {
  const location = calibBin.location;
  const go = $("calib-go");
  go.disabled = true;
  $("calib-message").textContent = "";
  const answer = calibStep === 1
    ? await api("POST", "/api/bin/tare", { location })
    : await api("POST", "/api/bin/calibrate", { location, known_g: Number(knownG) });
  if (answer.status === 401) return show("idle");
  if (answer.status === 200 && answer.ok) return showCalibStep(calibStep + 1);
  go.disabled = false;
  $("calib-message").textContent = answer.message || "The cabinet did not do it. Please try again.";
}

async function calibRead() {
  const read = $("calib-read");
  read.disabled = true;
  const answer = await api("GET", "/api/bin/read?location=" + encodeURIComponent(calibBin.location));
  read.disabled = false;
  if (answer.status === 401) return show("idle");
  if (answer.status !== 200) {
    $("calib-message").textContent = answer.message || "No reading. Please try again.";
    return;
  }
  $("calib-message").textContent = "";
  $("calib-step").textContent = "Check the reading: it should match what is in the bin";
  $("calib-reading").textContent = "Bin " + calibBin.bin + " reads " + grams(answer.weight_mg);
  $("calib-reading").hidden = false;
  read.textContent = "Check again";
  $("calib-go").textContent = "Done";
  $("calib-go").hidden = false;
}

function calibNext() {
  if (calibStep === 3) return openHealth();
  calibGo();
}

$("install").addEventListener("click", openHealth);
$("health-back").addEventListener("click", loadItems);
onKey($("calib-keypad"), pressKnown);
$("calib-go").addEventListener("click", calibNext);
$("calib-read").addEventListener("click", calibRead);
$("calib-cancel").addEventListener("click", openHealth);
setInterval(() => { if (current() === "health") loadHealth(); }, 2000);    // the list stays current
