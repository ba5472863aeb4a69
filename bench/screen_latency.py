"""Touchscreen latency: the time from a badge to the next screen drawn, p50 and p99, and the bytes of the first
screen. The real agent and its API in-process over the simulated cabinet in virtual time (as tests/test_screen.py),
Debian's Chromium driven by Playwright at 800x480.

  wedge  a keyboard-wedge reader's Enter in the badge field (page clock at the keydown) -> the items screen shown
         and the next animation frame run: POST /api/badge, GET /api/items, GET /api/loans, the list drawn.
  tap    a badge tap by a reader the agent owns (agent.call(agent.tap, badge), wall clock just before) -> the
         same items screen: the state reaches the page by the Server-Sent Events push, which the agent's
         worker sends as soon as the tap's job has changed the state (nothing polls), then the same two GETs.
  card   the whole thing on the real stack: a virtual card put on a virtual reader in a private pcscd, the
         agent as its own process (`locker-agent run`, [readers] pcsc) over the simulated cabinet behind a
         pty (wall clock just before the card goes on) -> the same items screen. This adds pcscd's polling
         of the virtual reader (every 400 ms, bench/tap_to_command.py) to the push: each card waits a random
         0..0.4 s first, as a person's tap comes at any point of that poll (back to back, every tap would
         land at the same point of it). Split: pcscd reports the card (a second pcscd client) -> items drawn,
         the agent's and the screen's part.

Between rounds the agent logs the person out and the push brings the page back to idle. Bytes: the initial load
(the page, its CSS and JS, GET /api/state) from the Performance resource timing, the event stream left out.
The last line is JSON. Usage: .venv/bin/python bench/screen_latency.py [--count N] [--card-count N] [--seed S]
[--dir DIR]"""
import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.agent_process import AgentProcess, simulated_cabinet, write_agent_config  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402
from tests.pcsc_rig import PcscRig  # noqa: E402
from tap_to_command import TAP_JITTER_S, PcscWatch  # noqa: E402  (bench/ is this script's own folder)
from tests.chromium import browser  # noqa: E402
from tests.test_screen import BADGE, LOCATIONS, SKUS, USERS, open_screen, screen_rig  # noqa: E402

# In the page: the wall-clock time (ms, high resolution) of a wedge Enter, and of the first animation frame
# after the items screen is shown.
PROBE = """() => {
  const wall = () => performance.timeOrigin + performance.now();
  window.__bench = { enter: null, shown: null, drawn: null };
  document.getElementById("wedge").addEventListener("keydown", (e) => {
    if (e.key === "Enter") window.__bench.enter = wall();
  }, true);
  new MutationObserver(() => {
    if (!document.getElementById("items").hidden && window.__bench.shown === null) {
      window.__bench.shown = wall();
      requestAnimationFrame(() => { window.__bench.drawn = wall(); });
    }
  }).observe(document.getElementById("items"), { attributes: true, attributeFilter: ["hidden"] });
}"""
RESET = """() => { Object.assign(window.__bench, { enter: null, shown: null, drawn: null });
                   performance.clearResourceTimings(); }"""

# Where a wedge round's time goes, in ms after the Enter: when the page asked for each API answer (fetch called)
# and when it had fully arrived in the browser (Resource Timing's startTime, responseEnd). Between the badge's
# answer and the items asked: the response's way from Chromium's network service to the page's thread, which
# a trace shows waiting for the frame after the key press (docs/touchscreen.md).
ANSWERS = """(enter) => {
  const at = {};
  for (const e of performance.getEntriesByType("resource")) {
    const name = new URL(e.name).pathname;
    if (!["/api/badge", "/api/state", "/api/items", "/api/loans"].includes(name)) continue;
    at[name] = Math.max(at[name] || 0, performance.timeOrigin + e.responseEnd - enter);
    at["asked " + name] = Math.min(at["asked " + name] || Infinity, performance.timeOrigin + e.startTime - enter);
  }
  return at;
}"""
SPLIT = (("/api/badge", "POST /api/badge answered"), ("asked /api/items", "GET /api/items asked"),
         ("/api/items", "answered"), ("/api/loans", "GET /api/loans answered"), ("shown", "items screen shown"),
         ("drawn", "next frame run"))

FIRST_SCREEN = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .filter((e) => !e.name.endsWith("/api/events"));
  return entries.map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize,
                               body: e.encodedBodySize }));
}"""


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(ms):
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


def to_idle(page, rig):
    rig.agent.call(rig.agent.logout)
    page.wait_for_selector("#idle:not([hidden])")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'wedge'")
    page.evaluate(RESET)


def drawn(page):
    page.wait_for_selector("#items:not([hidden])")
    page.wait_for_function("() => window.__bench.drawn !== null")
    return page.evaluate("() => window.__bench")


def card_rounds(chromium, count, folder, rng):
    """Tap -> items drawn with a virtual card in the real pcscd and the agent process (see the docstring):
    ([tap -> drawn], [pcscd reports the card -> drawn]) in ms."""
    ledger = ledger_from_csv(folder, skus=SKUS, locations=LOCATIONS, users=USERS)
    ledger.db["role_allows"].insert({"role": "technician", "category": "ppe"})
    ledger.close()
    pcsc = PcscRig()
    pcsc.start()
    sim, port = simulated_cabinet()
    agent = AgentProcess(write_agent_config(folder, port, readers={"pcsc": True, "pcsc_reader": "Virtual PCD 00 00"}))
    try:
        agent.start()
        agent.wait_ready()
        page = open_screen(chromium, agent)
        page.evaluate(PROBE)
        card = pcsc.card(0)
        watch = PcscWatch("Virtual PCD 00 00")
        times, from_pcscd = [], []
        wall_minus_monotonic = time.time() - time.monotonic()     # PcscWatch times are monotonic
        for _ in range(count):
            time.sleep(rng.uniform(0, TAP_JITTER_S))
            started = time.time() * 1000
            card.tap(bytes.fromhex(BADGE))
            t = drawn(page)
            seen = (watch.wait(True) + wall_minus_monotonic) * 1000
            times.append(t["drawn"] - started)
            from_pcscd.append(t["drawn"] - seen)
            card.remove()
            watch.wait(False)                 # seen gone by pcscd: the next tap is a new card
            agent.request("POST", "/api/logout")
            page.wait_for_selector("#idle:not([hidden])")
            page.evaluate(RESET)
        page.close()
        watch.stop()
        return times, from_pcscd
    finally:
        agent.kill()
        sim.bridge.stop()
        pcsc.stop()
        shutil.rmtree(pcsc.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=30, help="rounds of each kind (default 30)")
    ap.add_argument("--card-count", type=int, default=20, help="rounds with a card in pcscd (default 20)")
    ap.add_argument("--seed", type=int, default=1, help="for the random wait before each card")
    ap.add_argument("--dir", default=None, help="where the temporary ledger goes (removed afterwards)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="screen_latency-", dir=args.dir))
    try:
        with screen_rig(tmp) as rig, browser() as chromium:
            page = open_screen(chromium, rig)
            files = page.evaluate(FIRST_SCREEN)
            page.evaluate(PROBE)
            wedge, tap, split = [], [], {key: [] for key, _ in SPLIT}
            for _ in range(args.count):
                to_idle(page, rig)
                page.keyboard.type(BADGE)
                page.keyboard.press("Enter")
                t = drawn(page)
                wedge.append(t["drawn"] - t["enter"])
                at = dict(page.evaluate(ANSWERS, t["enter"]), shown=t["shown"] - t["enter"],
                          drawn=t["drawn"] - t["enter"])
                for key in split:
                    split[key].append(at.get(key, 0.0))
                to_idle(page, rig)
                started = time.time() * 1000
                rig.agent.call(rig.agent.tap, BADGE)
                t = drawn(page)
                tap.append(t["drawn"] - started)
            page.close()
            card, card_seen = card_rounds(chromium, args.card_count, Path(tempfile.mkdtemp(dir=tmp)),
                                          random.Random(args.seed))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"bench": "screen_latency", "rounds": args.count, "viewport": "800x480",
           "events": "pushed by the worker", "wedge_to_items": summary(wedge),
           "wedge_split_p50_ms": {key: round(pct(split[key], 50), 2) for key in split},
           "tap_to_items": summary(tap), "card_to_items": summary(card),
           "pcscd_card_to_items": summary(card_seen), "card_jitter_s": TAP_JITTER_S,
           "first_screen": {"bytes_body": sum(f["body"] for f in files),
                            "bytes_transferred": sum(f["transfer"] for f in files), "files": files}}
    for name, label in (("wedge_to_items", "wedge Enter -> items drawn"), ("tap_to_items", "reader tap -> items drawn"),
                        ("card_to_items", "card on pcscd -> items drawn"),
                        ("pcscd_card_to_items", "  pcscd reports it -> drawn")):
        print("%-27s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms" % ((label,) + tuple(
            out[name][k] for k in ("p50_ms", "p99_ms", "max_ms"))))
    print("  wedge round, p50 ms after the Enter: " + ", ".join(
        "%s %.1f" % (label, out["wedge_split_p50_ms"][key]) for key, label in SPLIT))
    print("  (a tap reaches the page by the event stream, pushed by the agent's worker on the change; "
          "tap p99 - wedge p99 = %.1f ms)" % (out["tap_to_items"]["p99_ms"] - out["wedge_to_items"]["p99_ms"]))
    first = out["first_screen"]
    print("first screen: %d bytes transferred (%d bytes of bodies) in %d requests: %s" % (
        first["bytes_transferred"], first["bytes_body"], len(first["files"]),
        ", ".join("%s %d" % (f["name"], f["body"]) for f in first["files"])))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
