# The hardware boundary. Firmware logic holds one HAL object and reaches pins, the UART, the watchdog and
# the clock only through it; firmware/board.py implements it over `machine`, sim/hardware/ over
# simulated physics. Pins are board GPIO numbers.
#
#   hal.output(pin)            -> obj.value(v); created driven to 0 (off: every actuator is active-high)
#   hal.input(pin, pull_up)    -> obj.value() -> 0 or 1
#   hal.edge_counter(pin)      -> obj.count: rising edges counted in an interrupt, so short pulses
#                                 (an item falling through the drop beam) are never missed between polls
#   hal.uart                   -> obj.any() -> int, obj.readinto(buf) -> n or None, obj.write(bytes)
#   hal.ticks_ms()             -> wrapping ms (see firmware/ticks.py)
#   hal.irq_off() -> state, hal.irq_on(state)   around each HX711 clock pulse
#   hal.watchdog(timeout_ms)   -> obj.feed()
#   hal.reset_cause()          -> messages.RESET_*
#   hal.random30()             -> random int below 2**30 (boot id)
#   hal.load(name) -> dict or None, hal.save(name, dict)   small persistent records (calibration)
#   hal.flush()                   wait until the UART has sent what was written (before a reset)
#   hal.reset()                   hard reset of the microcontroller
#   hal.idle()                    yield a moment to the port (sleep_ms(1) on a board, nothing in sim)
#   hal.hx711_reader(sck, douts)  optional: -> fn(values) that clocks one whole HX711 read and fills in each
#                                 chip's 24 bits, or None; without it the firmware bit-bangs (firmware/hx711.py)

WDT_MAX_MS = 8388  # RP2040's hardware limit; ESP32 allows more, but one value keeps behaviour the same
