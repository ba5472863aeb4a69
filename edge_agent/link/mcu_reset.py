"""Hard-reset a hung cabinet microcontroller from the Pi: pulse the Pico's RUN pin low.

The Pi's GPIO drives the gate of a small N-MOSFET whose drain is on RUN (hw/wiring.md, J6), so the line is
open-drain: GPIO high pulls RUN low (reset), GPIO low or floating lets the Pico's own pull-up hold it high.
The firmware boots with every output off, and the agent settles whatever the reset interrupted from the
new boot id, like after any MCU reset.

RPi.GPIO is an optional dependency (`pip install 'smart-locker[pi]'`; on a Pi 5 install `rpi-lgpio`, which
provides the same `RPi.GPIO` module). Off a Pi its import raises RuntimeError; this module turns that into
one clear McuResetError. Anything with RPi.GPIO's setmode/setup/output/cleanup can stand in for it.
"""
import time

GPIO_HINT = ("install it on the Pi with pip install 'smart-locker[pi]' (RPi.GPIO); on a Raspberry Pi 5 "
             "install rpi-lgpio instead, which provides the same module")


class McuResetError(RuntimeError):
    pass


def load_rpi_gpio():
    """The RPi.GPIO module, or McuResetError saying why it cannot be had here."""
    try:
        import RPi.GPIO as gpio
    except ImportError as e:
        raise McuResetError("RPi.GPIO is not installed (%s): %s" % (e, GPIO_HINT)) from None
    except RuntimeError as e:   # what RPi.GPIO raises when imported on anything but a Raspberry Pi
        raise McuResetError("RPi.GPIO cannot run here (%s): the reset line needs a Raspberry Pi" % e) from None
    return gpio


def pulse_reset(gpio, pin, pulse_ms, sleep=time.sleep):
    """Hold RUN low for pulse_ms through the MOSFET on BCM `pin`, then let it go.

    The pin is driven low again whatever happens during the pulse (Ctrl-C included): a pin left high
    would hold the microcontroller in reset for good."""
    gpio.setwarnings(False)           # the pin was set up by an earlier run: expected, not worth a warning
    gpio.setmode(gpio.BCM)
    gpio.setup(pin, gpio.OUT, initial=gpio.LOW)
    try:
        gpio.output(pin, gpio.HIGH)   # gate on: RUN pulled to ground
        sleep(pulse_ms / 1000)        # the pulse itself, not a wait for anything
    finally:
        gpio.output(pin, gpio.LOW)
        # Back to an input: the gate's pull-down keeps the MOSFET off, as when the Pi is off or booting.
        gpio.cleanup(pin)


def reset_mcu(config, gpio=None, sleep=time.sleep):
    """Reset the cabinet's microcontroller as the agent config says ([cabinet] reset_gpio, reset_pulse_ms).
    Returns what was done, for the installer."""
    if config.reset_gpio is None:
        raise McuResetError("%s: [cabinet] reset_gpio = -1: the Pico's RUN pin is not wired to the Pi "
                            "(hw/wiring.md, J6); power-cycle the cabinet instead" % config.source)
    if gpio is None:
        gpio = load_rpi_gpio()
    pulse_reset(gpio, config.reset_gpio, config.reset_pulse_ms, sleep)
    return "reset the cabinet's microcontroller: RUN held low for %d ms through GPIO%d" % (
        config.reset_pulse_ms, config.reset_gpio)


class SilenceWatch:
    """Resets the microcontroller when the cabinet link has heard nothing for `silent_s`.

    The link pings the firmware every heartbeat, so a live firmware is never silent that long; the firmware's
    own watchdog (5 s) handles a hung loop first, this is for what it cannot (a wedged UART, a board that
    did not come back). At most one reset per `silent_s`: the reset itself silences the link while it boots."""

    def __init__(self, reset, silent_s, now):
        self._reset = reset
        self.silent_s = silent_s
        self._quiet_since = now          # silence counts from the start too, before anything was heard

    def check(self, last_heard, now):
        """Call often with the link's last_heard and the same monotonic clock; True when it reset."""
        since = self._quiet_since if last_heard is None else max(last_heard, self._quiet_since)
        if now - since < self.silent_s:
            return False
        self._quiet_since = now
        self._reset()
        return True


def silence_watch(config, log, now):
    """The agent's SilenceWatch from its config, or None when [cabinet] reset_after_silent_s is 0 or RUN is
    not wired. A reset that cannot be done (no RPi.GPIO) is logged, and tried again next time."""
    if not config.reset_after_silent_s or config.reset_gpio is None:
        return None

    def reset():
        log.error("the cabinet link has heard nothing for %d s: hard-resetting the microcontroller",
                  config.reset_after_silent_s)
        try:
            log.warning(reset_mcu(config))
        except McuResetError as e:
            log.error("cannot reset the microcontroller: %s", e)

    return SilenceWatch(reset, config.reset_after_silent_s, now)
