#!/usr/bin/env bash
# The touchscreen: Chromium in kiosk mode on the agent's local page, started by the desktop session's
# autostart (/etc/xdg/autostart/smart-locker-kiosk.desktop) for the auto-login user. It waits for the
# agent's API before opening the page and opens it again if the browser ever exits.
# Settings: /etc/smart-locker/kiosk.env (KIOSK_URL, KIOSK_BROWSER, KIOSK_WAIT_LOG_S). Logs: journald
# (journalctl -t smart-locker-kiosk).
set -uo pipefail

ENV_FILE=${KIOSK_ENV_FILE:-/etc/smart-locker/kiosk.env}
# shellcheck disable=SC1090
[ -r "$ENV_FILE" ] && . "$ENV_FILE"
URL=${KIOSK_URL:-http://127.0.0.1:8080/}
WAIT_LOG_S=${KIOSK_WAIT_LOG_S:-30}
PROFILE=${KIOSK_PROFILE:-$HOME/.cache/smart-locker-kiosk}

log() {
    if command -v systemd-cat >/dev/null 2>&1 && [ -z "${KIOSK_LOG_STDERR:-}" ]; then
        printf '%s\n' "$*" | systemd-cat -t smart-locker-kiosk
    else
        printf 'smart-locker-kiosk: %s\n' "$*" >&2
    fi
}

browser() {
    if [ -n "${KIOSK_BROWSER:-}" ]; then echo "$KIOSK_BROWSER"; return; fi
    for b in chromium-browser chromium; do   # Raspberry Pi OS names it chromium-browser, Debian chromium
        command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return; }
    done
    return 1
}

api_up() {
    # The agent answers its page once it is listening; it may still be settling with the cabinet, which
    # the page itself shows.
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$URL" 2>/dev/null
}

# No screen saver, no blanking, no power saving of the display (X11; on Wayland the installer turns
# blanking off with raspi-config).
if [ -n "${DISPLAY:-}" ] && command -v xset >/dev/null 2>&1; then
    xset s off s noblank -dpms 2>/dev/null || true
fi

waited=0
until api_up; do
    if [ $((waited % WAIT_LOG_S)) -eq 0 ]; then log "waiting for the agent at $URL (${waited}s)"; fi
    sleep 1
    waited=$((waited + 1))
done
log "the agent answers at $URL after ${waited}s"

BROWSER=$(browser) || { log "no chromium-browser or chromium installed"; exit 1; }
# The test rig's flags (no background traffic, no first-run or sync prompts) plus kiosk ones. Not the rig's
# --no-sandbox (it is for running as root; the kiosk user is not) nor --disable-gpu (the Pi's GPU helps).
FLAGS=(--kiosk --noerrdialogs --disable-infobars --disable-session-crashed-bubble --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --disable-features=Translate --overscroll-history-navigation=0 --disable-pinch
       --check-for-update-interval=31536000 --password-store=basic "--user-data-dir=$PROFILE")
while true; do
    log "opening $URL in $BROWSER"
    "$BROWSER" "${FLAGS[@]}" "$URL"
    status=$?
    [ -n "${KIOSK_ONCE:-}" ] && exit "$status"
    log "the browser exited ($status); opening the page again in 2 s"
    sleep 2
done
