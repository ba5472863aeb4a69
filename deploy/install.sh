#!/usr/bin/env bash
# Install or upgrade the smart-locker edge agent on Raspberry Pi OS (Bookworm), or roll the code back.
# docs/deployment.md is the installer's walk-through; decision 0014 says why the files are where they are.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: deploy/install.sh [--root DIR] [--no-system] [--wheelhouse DIR] [--python PY] [--keep N] [--reinstall]
       deploy/install.sh --rollback [--root DIR] [--no-system] [--python PY]

Installs this checkout's version of the agent into /opt/smart-locker/VERSION (a venv), backs up the
ledger with SQLite's online backup, then switches /opt/smart-locker/current to it last; the version it
replaces stays as /opt/smart-locker/previous. Config (/etc/smart-locker) and the ledger
(/var/lib/smart-locker) are never overwritten. Run as root on the Pi; safe to run again.

  --root DIR        install into DIR instead of / (a staging tree); implies --no-system
  --no-system       no apt, useradd, chown or systemctl: files only
  --wheelhouse DIR  install offline from a folder of wheels: the agent's own and the locked dependencies
                    (docs/deployment.md; default: this checkout, dependencies downloaded). Either way the
                    dependencies are exactly deploy/requirements.lock's, hash-checked
  --python PY       the Python that builds the venv (default /usr/bin/python3, else python3)
  --keep N          versions kept under /opt/smart-locker (default 3; current and previous always)
  --reinstall       rebuild this version's venv even if it is already there
  --rollback        point current back at previous, if that version can open the ledger as it is now
  -h, --help        this help

Exit status: 0 done, 1 failed (nothing switched), 2 bad arguments.
EOF
}

say() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }
bad_usage() { printf 'install: %s (see --help)\n' "$*" >&2; exit 2; }

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=""
SYSTEM=1
WHEELHOUSE=""
PYTHON=""
KEEP=3
REINSTALL=0
ACTION=install
while (($#)); do
    case "$1" in
        --root) [ $# -ge 2 ] || bad_usage "--root needs a folder"; ROOT=$(mkdir -p "$2" && cd "$2" && pwd); SYSTEM=0; shift 2 ;;
        --no-system) SYSTEM=0; shift ;;
        --wheelhouse) [ -d "${2:-}" ] || bad_usage "--wheelhouse needs an existing folder"; WHEELHOUSE=$(cd "$2" && pwd); shift 2 ;;
        --python) [ $# -ge 2 ] || bad_usage "--python needs a program"; PYTHON=$2; shift 2 ;;
        --keep) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || bad_usage "--keep needs a whole number of at least 1"; KEEP=$2; shift 2 ;;
        --reinstall) REINSTALL=1; shift ;;
        --rollback) ACTION=rollback; shift ;;
        -h|--help) usage; exit 0 ;;
        *) bad_usage "unknown argument: $1" ;;
    esac
done
if [ -z "$PYTHON" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is not Python 3.11 or newer (Raspberry Pi OS Bookworm has 3.11)"
if ((SYSTEM)) && [ "$(id -u)" -ne 0 ]; then die "run as root (sudo), or use --root DIR / --no-system"; fi

OPT=$ROOT/opt/smart-locker
ETC=$ROOT/etc/smart-locker
VAR=$ROOT/var/lib/smart-locker
CONFIG=$ETC/agent.toml
LOCK=$SOURCE/deploy/requirements.lock
UNIT=smart-locker-agent.service
SERVICE_USER=smart-locker

system() {  # a command that changes the running system: only without --root / --no-system
    if ((SYSTEM)); then "$@"; else say "skipped (no system changes): $*"; fi
}

ledger_tool() {  # deploy/ledger_backup.py with a given python
    local python=$1; shift
    "$python" "$SOURCE/deploy/ledger_backup.py" "$@" --config "$CONFIG" --root "${ROOT:-/}"
}

switch_link() {  # atomically point $OPT/$1 at $2 (a version folder's name: relative, so a staged tree works)
    ln -sfn "$2" "$OPT/.$1.new"
    mv -T "$OPT/.$1.new" "$OPT/$1"
}

# -- rollback -----------------------------------------------------------------------------------------------
if [ "$ACTION" = rollback ]; then
    current=$(readlink "$OPT/current" 2>/dev/null) || die "nothing installed under $OPT"
    previous=$(readlink "$OPT/previous" 2>/dev/null) || die "no previous version under $OPT to roll back to"
    [ -x "$OPT/$previous/bin/python" ] || die "the previous version's venv $OPT/$previous is gone"
    # The old code refuses a ledger its migrations do not know (a newer schema): rolling back the code
    # alone would leave a cabinet whose agent cannot start.
    if ! ledger_tool "$OPT/$previous/bin/python" schema-check >&2; then
        die "$previous cannot open the ledger as $current left it; not rolling back. The backups taken before
each upgrade are in $VAR/backups: restoring one loses every transaction since (docs/deployment.md)."
    fi
    system systemctl stop "$UNIT" 2>/dev/null || true   # not there yet on a first install
    switch_link previous "$current"
    switch_link current "$previous"
    system systemctl start "$UNIT"
    say "rolled back: current is $previous (previous is $current)"
    exit 0
fi

# -- install or upgrade ---------------------------------------------------------------------------------------
VERSION=$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
          "$SOURCE/pyproject.toml") || die "cannot read the version from $SOURCE/pyproject.toml"
[[ "$VERSION" =~ ^[0-9A-Za-z.+_-]+$ ]] || die "odd version in pyproject.toml: $VERSION"
current=$(readlink "$OPT/current" 2>/dev/null || true)
say "installing smart-locker $VERSION into ${ROOT:-/} (installed now: ${current:-nothing})"

if ((SYSTEM)); then
    # python3-pyscard and RPi.GPIO (rpi-lgpio: the same module, also on a Pi 5) come from apt, ready built,
    # and the venv sees them (--system-site-packages): nothing to compile on the Pi.
    gpio_pkg=python3-rpi-lgpio
    apt-cache show "$gpio_pkg" >/dev/null 2>&1 || gpio_pkg=python3-rpi.gpio
    browser_pkg=chromium-browser
    apt-cache show "$browser_pkg" >/dev/null 2>&1 || browser_pkg=chromium
    say "installing Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip python3-pyscard "$gpio_pkg" \
        pcscd sqlite3 "$browser_pkg" >/dev/null
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/smart-locker --no-create-home \
                --shell /usr/sbin/nologin --comment "smart-locker edge agent" "$SERVICE_USER"
    fi
    for group in dialout gpio; do
        if getent group "$group" >/dev/null; then usermod -aG "$group" "$SERVICE_USER"; fi
    done
fi

mkdir -p "$OPT" "$ETC" "$VAR/backups"
# The site's config is the installer's: written once from the template, never overwritten.
[ -e "$CONFIG" ] || install -m 0640 "$SOURCE/deploy/agent.toml" "$CONFIG"
[ -e "$ETC/kiosk.env" ] || install -m 0644 "$SOURCE/deploy/kiosk/kiosk.env" "$ETC/kiosk.env"
system chown root:"$SERVICE_USER" "$CONFIG"
chmod 0755 "$ETC"     # the kiosk (the desktop user) reads kiosk.env; agent.toml itself is 0640
system chown -R "$SERVICE_USER":"$SERVICE_USER" "$VAR"
system chmod 0750 "$VAR"

# The new version's venv, built beside the running one (the agent keeps running meanwhile). A folder
# without .complete is a build that was interrupted: it is thrown away and built again.
DEST=$OPT/$VERSION
if [ "$VERSION" = "$current" ] && ((REINSTALL)); then
    system systemctl stop "$UNIT" 2>/dev/null || true   # not there yet on a first install
fi
if [ -f "$DEST/.complete" ] && ! ((REINSTALL)); then
    say "$VERSION is already built in $DEST (--reinstall rebuilds it)"
else
    rm -rf "$DEST"
    say "building the venv in $DEST"
    "$PYTHON" -m venv --system-site-packages "$DEST" || die "python3 -m venv failed (apt-get install python3-venv)"
    # The dependencies exactly as deploy/requirements.lock pins them, each file checked against its hashes
    # (--require-hashes: a file that differs by a byte, or a dependency missing from the lock, stops the
    # install; a Debian package of the very same version counts as installed). Then the agent itself with
    # --no-deps, so nothing is resolved from the index at install time.
    [ -f "$LOCK" ] || die "no lock file $LOCK (docs/deployment.md, \"The lock file\")"
    if [ -n "$WHEELHOUSE" ]; then
        from=(--no-index --find-links "$WHEELHOUSE")
        agent=("smart-locker==$VERSION")
    else
        from=()
        agent=(--no-build-isolation "$SOURCE")    # built with the locked setuptools, not one fetched unchecked
    fi
    "$DEST/bin/pip" install -q "${from[@]}" --require-hashes --only-binary :all: -r "$LOCK" \
        || die "pip install of the locked dependencies ($LOCK) failed${WHEELHOUSE:+ from $WHEELHOUSE}"
    "$DEST/bin/pip" install -q "${from[@]}" --no-deps "${agent[@]}" \
        || die "pip install of smart-locker $VERSION failed${WHEELHOUSE:+ from $WHEELHOUSE}"
    "$DEST/bin/locker-agent" --help >/dev/null || die "the new venv's locker-agent does not run"
    mkdir -p "$DEST/share/smart-locker"
    cp "$SOURCE/docs/deployment.md" "$SOURCE/hw/wiring.md" "$DEST/share/smart-locker/"
    touch "$DEST/.complete"
fi

# Stop the old agent, then copy the ledger before the new version's migrations can run (they run when the
# new agent opens it). A backup that fails stops the upgrade with the old version still current. Whatever
# fails from here on, the agent is started again on the way out (with whichever version is current).
system systemctl stop "$UNIT" 2>/dev/null || true   # not there yet on a first install
if ((SYSTEM)) && [ -n "$current" ]; then
    trap 'systemctl start "$UNIT" || true' EXIT
fi
if ! ledger_tool "$PYTHON" backup --into "$VAR/backups" --label "${current:-none}-to-$VERSION" >&2; then
    die "the ledger backup failed: nothing switched, ${current:-nothing} still current"
fi
system chown -R "$SERVICE_USER":"$SERVICE_USER" "$VAR/backups"

# System files: the agent's unit, the kiosk's autostart, journald limits, pcscd's polkit rule.
install -D -m 0644 "$SOURCE/deploy/systemd/$UNIT" "$ROOT/etc/systemd/system/$UNIT"
install -D -m 0755 "$SOURCE/deploy/kiosk/smart-locker-kiosk.sh" "$ROOT/usr/local/lib/smart-locker/smart-locker-kiosk.sh"
install -D -m 0644 "$SOURCE/deploy/kiosk/smart-locker-kiosk.desktop" "$ROOT/etc/xdg/autostart/smart-locker-kiosk.desktop"
install -D -m 0644 "$SOURCE/deploy/system/journald-smart-locker.conf" "$ROOT/etc/systemd/journald.conf.d/smart-locker.conf"
install -D -m 0644 "$SOURCE/deploy/system/60-smart-locker-pcscd.rules" "$ROOT/etc/polkit-1/rules.d/60-smart-locker-pcscd.rules"
mkdir -p "$ROOT/usr/local/bin"
ln -sfn /opt/smart-locker/current/bin/locker-agent "$ROOT/usr/local/bin/locker-agent"

# The UART to the Pico (hw/wiring.md): on, on the PL011 (Bluetooth off), and no Linux console on it.
boot=$ROOT/boot/firmware
[ -d "$boot" ] || boot=$ROOT/boot
if [ -f "$boot/cmdline.txt" ]; then
    sed -i -E 's/(^| )console=(serial0|ttyAMA0|ttyS0),[0-9]+( |$)/\1/g; s/  +/ /g' "$boot/cmdline.txt"
else
    say "no cmdline.txt under $boot: the serial console is left as it is"
fi
if [ -f "$boot/config.txt" ]; then
    missing=()
    for line in enable_uart=1 dtoverlay=disable-bt; do
        grep -qxF "$line" "$boot/config.txt" || missing+=("$line")
    done
    if ((${#missing[@]})); then
        printf '\n[all]\n# smart-locker: the UART to the cabinet (hw/wiring.md)\n' >> "$boot/config.txt"
        printf '%s\n' "${missing[@]}" >> "$boot/config.txt"
    fi
else
    say "no config.txt under $boot: enable the UART by hand (raspi-config nonint do_serial_hw 0)"
fi
for tty in serial0 ttyAMA0 ttyS0; do
    system systemctl disable --now "serial-getty@$tty.service" 2>/dev/null || true
done

switch_link_done=0
if [ "$current" != "$VERSION" ]; then
    [ -n "$current" ] && switch_link previous "$current"
    switch_link current "$VERSION"
    switch_link_done=1
fi

if ((SYSTEM)); then
    systemctl daemon-reload
    systemctl restart systemd-journald
    systemctl enable "$UNIT"
    trap - EXIT
    systemctl start "$UNIT"
    if command -v raspi-config >/dev/null; then
        raspi-config nonint do_blanking 1 || true        # the screen never blanks
        raspi-config nonint do_boot_behaviour B4 || true # desktop with auto-login: the kiosk starts by itself
    fi
fi

# Old versions beyond --keep go, oldest first; current and previous always stay.
keep_previous=$(readlink "$OPT/previous" 2>/dev/null || true)
mapfile -t versions < <(cd "$OPT" && ls -1t --file-type | sed -n 's:/$::p')
kept=0
for v in "${versions[@]}"; do
    if [ "$v" = "$VERSION" ] || [ "$v" = "$keep_previous" ]; then continue; fi
    kept=$((kept + 1))
    if [ $((kept + 2)) -gt "$KEEP" ] && [ -f "$OPT/$v/.complete" ]; then
        say "removing old version $v"
        rm -rf "${OPT:?}/$v"
    fi
done

if ((switch_link_done)); then
    say "done: current is $VERSION${current:+ (previous: $current, roll back with --rollback)}"
else
    say "done: $VERSION was already current"
fi
say "reboot once after the first install (UART and console settings); then: journalctl -u $UNIT -f"
