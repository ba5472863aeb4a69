"""Debian's Chromium driven by Playwright, as the touchscreen and report tests use it (the flags are the
test rig's: ../shared/design/test-rig.md). A missing browser is a failure, not a skip: scripts/setup
installs it, and without it the pages would go untested."""
import contextlib
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is not installed at %s: run scripts/setup" % CHROMIUM)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
