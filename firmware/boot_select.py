# Boot selector: which firmware slot to run. The board's /main.py is `import boot_select; boot_select.boot()`.
#
# tools/flash.py writes a new firmware into the slot that is not running (/fw/a or /fw/b), verifies it, and
# only then writes /fw/next naming it (one small file, written beside and renamed: atomic on littlefs). A
# slot named in /fw/next gets ONE trial boot: /fw/trial is written before it starts, and the firmware calls
# back once its loop has run healthy for HEALTHY_AFTER_MS (firmware/main.py), which makes it /fw/active.
# A boot that finds /fw/trial still there means the trial never got that far (an exception and reset, a
# watchdog reset, a power cut): it is dropped and the active slot runs. So a copy that was interrupted never
# runs (no /fw/next), and a new firmware that does not come up is replaced by the previous one by the next
# boot. Portable MicroPython: tests run it on the real interpreter.
import os
import sys

FW = "/fw"
ACTIVE = FW + "/active"   # the slot known good
NEXT = FW + "/next"       # the slot to try on the next boot
TRIAL = FW + "/trial"     # a trial boot is under way (removed when it reports healthy)
SLOTS = ("a", "b")


def _say(msg):
    print("boot_select: " + msg)    # on the USB console: tools/flash.py waits for these lines


def read_slot(path):
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError:
        return None
    return value if value in SLOTS else None


def write_slot(path, slot):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(slot)
    os.rename(tmp, path)          # replaces: the file is either the old or the new slot, never half


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _hold_watchdog():
    """The firmware armed the hardware watchdog; stopped at the REPL it would still reboot the board a few
    seconds into the person's session. machine.WDT cannot be stopped on an RP2040 (micropython#8600), its
    WATCHDOG_CTRL.ENABLE bit (bit 30; datasheet 4.7) can. The firmware arms it again when it next runs."""
    if sys.platform == "rp2":
        import machine
        machine.mem32[0x40058000] &= ~(1 << 30)


def choose():
    """(slot, trial): the slot to boot, True when it is a trial; slot None when there is no firmware."""
    active = read_slot(ACTIVE)
    nxt = read_slot(NEXT)
    if nxt is None or nxt == active:
        _remove(NEXT)
        _remove(TRIAL)
        return active, False
    if read_slot(TRIAL) == nxt:
        # The last boot tried it and it never reported healthy: drop it, run the one that worked.
        _remove(NEXT)
        _remove(TRIAL)
        _say("slot %s never reported healthy; falling back to slot %s" % (nxt, active))
        return active, False
    write_slot(TRIAL, nxt)
    return nxt, True


def confirm(slot):
    """The trial firmware reports healthy: it becomes the active slot."""
    write_slot(ACTIVE, slot)
    _remove(NEXT)
    _remove(TRIAL)
    _say("slot %s healthy" % slot)


def boot(run=None):
    """Choose a slot and run its firmware. run(slot_dir, on_healthy) is for tests; a board runs the slot's
    firmware.main.run."""
    slot, trial = choose()
    if slot is None:
        _say("no firmware installed")
        return
    slot_dir = "%s/%s" % (FW, slot)
    _say("running slot %s%s" % (slot, " (trial)" if trial else ""))
    on_healthy = (lambda: confirm(slot)) if trial else None
    sys.path.insert(0, slot_dir)        # `import firmware` now comes from the slot
    try:
        if run is None:
            from firmware.main import run as firmware_run
            firmware_run(config_path=slot_dir + "/cabinet.json", on_healthy=on_healthy)
        else:
            run(slot_dir, on_healthy)
    except KeyboardInterrupt:
        # Someone at the REPL (mpremote, flash.py) stopped it: not the firmware's fault; try it again next boot.
        _hold_watchdog()
        if trial:
            _remove(TRIAL)
        raise
    except Exception as e:
        sys.print_exception(e)
        if not trial:
            raise
        _remove(NEXT)
        _remove(TRIAL)
        _say("slot %s failed; falling back" % slot)
        import machine
        machine.reset()
