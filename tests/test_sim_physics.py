# The simulated hardware on its own (no firmware): pins, physics and safety recording, in virtual time.
import pytest

from firmware.config import ConfigError, normalize
from firmware.hal import WDT_MAX_MS
from firmware.messages import RESET_POWER_ON, RESET_WATCHDOG
from sim.hardware import TICKS_PERIOD, Physics, Rng, SimClock, SimHAL, sim_settings

RAW = {
    "cabinet": {"board": "pico"},
    "door": [{"number": 1}, {"number": 2}],
    "lane_matrix": {"turn_ms": 2000},
    "lane": [{"number": n} for n in range(1, 7)],   # 2 rows x 4 cols used of the 3 x 4 default matrix
    "scale": {},
    "bin": [{"number": 1}, {"number": 2}],
}


class Rig:
    """Physics wired to a SimHAL, plus the pin objects a firmware driver would hold."""

    def __init__(self, sim=None, seed=1, raw=RAW, start_ms=0):
        self.config = normalize(raw)
        self.clock = SimClock(start_ms)
        self.hal = SimHAL(self.config, self.clock, seed=seed)
        self.logs = []
        self.physics = Physics(self.config, sim or {}, self.hal, seed=seed,
                               log=lambda ms, text: self.logs.append((ms, text)))
        lanes = self.config["lanes"]
        self.rows = [self.hal.output(p) for p in lanes["rows"]]
        self.cols = [self.hal.output(p) for p in lanes["cols"]]
        self.home = self.hal.input(lanes["home_sense"], True)
        self.drops = self.hal.edge_counter(lanes["drop_sensor"])
        self.coils = [self.hal.output(d["solenoid"]) for d in self.config["doors"]]
        self.sensors = [self.hal.input(d["sensor"], True) for d in self.config["doors"]]
        bins = self.config["bins"]
        self.sck = self.hal.output(bins["sck"])
        self.douts = [self.hal.input(u["dout"], False) for u in bins["units"]]

    def run(self, ms, until=None):
        """Step 1 ms at a time; with until, stop as soon as until() is true and return the ms it took."""
        for i in range(1, ms + 1):
            self.clock.advance(1)
            self.physics.step()
            if until is not None and until():
                return i
        return None if until is not None else ms

    def motor(self, lane, on):
        lane_model = self.physics.lane(lane)
        self.rows[lane_model.row].value(1 if on else 0)
        self.cols[lane_model.col].value(1 if on else 0)

    def turn(self, lane, timeout=5000):
        """Run a lane's motor as the firmware does: until the cam leaves home and presses it again."""
        self.motor(lane, True)
        left = self.run(timeout, lambda: self.home.value() == 1)
        assert left is not None, "never left home"
        back = self.run(timeout, lambda: self.home.value() == 0)
        self.motor(lane, False)
        assert back is not None, "never returned home"
        return left + back

    def read_hx711(self, extra_pulses=0):
        """Clock every HX711 at once, bit by bit, exactly as firmware/hx711.py does."""
        values = [0] * len(self.douts)
        for _ in range(24):
            state = self.hal.irq_off()
            self.sck.value(1)
            self.sck.value(0)
            self.hal.irq_on(state)
            for i, d in enumerate(self.douts):
                values[i] = (values[i] << 1) | d.value()
        for _ in range(1 + extra_pulses):
            self.sck.value(1)
            self.sck.value(0)
        return [v - (1 << 24) if v & 0x800000 else v for v in values]

    def wait_ready(self, timeout=1000):
        assert self.run(timeout, lambda: all(d.value() == 0 for d in self.douts)) is not None


# --- lanes -------------------------------------------------------------------------------------------


def test_motor_runs_only_while_both_row_and_col_are_on():
    rig = Rig()
    lane = rig.physics.lane(1)
    neighbour = rig.physics.lane(2)          # same row, next column
    rig.rows[lane.row].value(1)
    rig.run(300)
    assert lane.pos == 0
    rig.rows[lane.row].value(0)
    rig.cols[lane.col].value(1)
    rig.run(300)
    assert lane.pos == 0
    rig.rows[lane.row].value(1)
    rig.run(300)
    assert lane.pos == 300 and neighbour.pos == 0
    assert lane.angle_mdeg == 300 * 360000 // lane.period


def test_turn_takes_about_turn_ms_and_drops_one_item():
    rig = Rig({"lane_items": 3})
    lane = rig.physics.lane(4)
    took = rig.turn(4)
    # Starting at the centre of the home window, the turn ends when the cam reaches the window again.
    assert abs(took - (lane.period - lane.half_window)) <= 2
    assert 1900 * 0.95 <= took <= 2000 * 1.05
    assert lane.turns == 1 and lane.dropped == 1 and lane.items == 2
    rig.run(400)
    assert rig.drops.count == 1
    # A second turn starts just inside the window and takes a whole period.
    took = rig.turn(4)
    assert abs(took - lane.period) <= 3


def test_drop_beam_breaks_150_to_300_ms_after_the_turn_for_30_ms():
    rig = Rig({"lane_items": 20})
    for _ in range(10):
        rig.turn(1)
        done = rig.clock.ms
        start = rig.run(1000, lambda: rig.drops.value() == 1)
        assert start is not None and 150 <= start <= 301
        length = rig.run(1000, lambda: rig.drops.value() == 0)
        assert length == 30
        assert rig.clock.ms - done < 400
    assert rig.drops.count == 10


def test_every_turn_drops_while_stocked_then_none():
    rig = Rig({"lane_items": 2})
    for _ in range(4):
        rig.turn(3)
        rig.run(500)
    lane = rig.physics.lane(3)
    assert (lane.turns, lane.dropped, lane.items, rig.drops.count) == (4, 2, 0, 2)


def test_a_hung_item_drops_on_the_next_turn():
    rig = Rig({"lane_items": 5, "hang_rate": 1.0})
    lane = rig.physics.lane(2)
    rig.turn(2)
    rig.run(500)
    assert lane.hung and lane.dropped == 0 and rig.drops.count == 0
    assert any("hung" in text for _, text in rig.logs)
    rig.turn(2)
    rig.run(500)
    assert not lane.hung and lane.dropped == 1 and rig.drops.count == 1


def test_hang_rate_is_roughly_honoured():
    rig = Rig({"lane_items": 1000, "hang_rate": 0.25})
    lane = rig.physics.lane(1)
    rig.motor(1, True)
    for _ in range(200):                             # one coarse step per motor revolution
        rig.clock.advance(lane.period)
        rig.physics.step()
    rig.motor(1, False)
    assert 25 <= lane.hangs <= 75
    assert lane.dropped + lane.hangs == lane.turns == 200   # each turn drops or hangs


def test_a_jammed_motor_never_moves_and_stays_at_home():
    rig = Rig({"lane": [{"number": 5, "jammed": True}]})
    lane = rig.physics.lane(5)
    rig.motor(5, True)
    rig.run(4000)
    rig.motor(5, False)
    assert lane.pos == 0 and lane.turns == 0 and lane.stalled_ms == 4000
    assert any(text == "lane 5 motor stalled (jammed)" for _, text in rig.logs)
    lane.jammed = False
    rig.turn(5)
    assert lane.turns == 1


def test_home_sense_follows_the_selected_motor_at_once():
    rig = Rig()
    assert rig.home.value() == 1                     # nothing selected
    rig.motor(1, True)
    assert rig.home.value() == 0                     # selected and parked at home: no step needed
    rig.run(200)
    assert rig.home.value() == 1                     # cam left the switch
    rig.motor(1, False)
    rig.motor(2, True)
    assert rig.home.value() == 0                     # lane 2 is still at home


def test_motor_speeds_differ_within_spread_and_follow_the_seed():
    periods = [Rig(seed=9).physics.lane(n).period for n in range(1, 7)]
    assert periods == [Rig(seed=9).physics.lane(n).period for n in range(1, 7)]
    assert len(set(periods)) > 1
    assert all(1900 <= p <= 2100 for p in periods)
    assert periods != [Rig(seed=10).physics.lane(n).period for n in range(1, 7)]


def test_coarse_steps_still_give_every_drop_edge():
    rig = Rig({"lane_items": 10})
    rig.motor(1, True)
    rig.clock.advance(10 * 2000)                     # one physics step over ~10 turns
    rig.physics.step()
    rig.motor(1, False)
    rig.clock.advance(1000)
    rig.physics.step()
    lane = rig.physics.lane(1)
    assert lane.turns in (9, 10, 11) and rig.drops.count == lane.dropped == lane.turns


def test_blocked_beam_reads_broken():
    rig = Rig()
    rig.physics.matrix.block_beam(True)
    assert rig.drops.value() == 1 and rig.drops.count == 1
    rig.physics.matrix.block_beam(False)
    assert rig.drops.value() == 0


# --- doors -------------------------------------------------------------------------------------------


def test_door_stays_latched_on_a_short_pulse():
    rig = Rig({"door_bounce_ms": 0})
    rig.coils[0].value(1)
    rig.run(15)
    rig.coils[0].value(0)
    rig.run(2000)
    assert rig.sensors[0].value() == 0 and rig.physics.door(1).opens == 0


def test_door_springs_open_after_release_and_person_closes_it():
    rig = Rig({"door_bounce_ms": 0, "door_hold_open_ms": 3000})
    rig.coils[0].value(1)
    opened = rig.run(1000, lambda: rig.sensors[0].value() == 1)
    assert opened == 20 + 150                        # release_ms + spring_ms
    rig.coils[0].value(0)
    closed = rig.run(5000, lambda: rig.sensors[0].value() == 0)
    assert closed == 3000                            # hold_open_ms after it opened
    door = rig.physics.door(1)
    assert (door.opens, door.closes, door.forced_opens) == (1, 1, 0)
    assert [t for _, t in rig.logs] == ["door 1 opened", "door 1 closed after 3000 ms open"]
    assert rig.sensors[1].value() == 0               # the other door never moved


def test_door_opens_even_if_the_pulse_ends_after_release():
    rig = Rig({"door_bounce_ms": 0})
    rig.coils[1].value(1)
    rig.run(25)
    rig.coils[1].value(0)
    assert rig.run(1000, lambda: rig.sensors[1].value() == 1) is not None


def test_door_left_open_stays_open():
    rig = Rig({"door": [{"number": 2, "leave_open": True}]})
    rig.coils[1].value(1)
    rig.run(500)
    rig.coils[1].value(0)
    rig.clock.advance(600000)
    rig.physics.step()
    assert rig.sensors[1].value() == 1
    rig.physics.door(2).close()
    assert rig.sensors[1].value() == 0


def test_stuck_door_unlatches_but_does_not_open():
    rig = Rig({"door": [{"number": 1, "stuck": True}]})
    rig.coils[0].value(1)
    rig.run(1000)
    rig.coils[0].value(0)
    rig.run(1000)
    assert rig.sensors[0].value() == 0
    assert any(text == "door 1 unlatched but stuck shut" for _, text in rig.logs)
    rig.physics.door(1).stuck = False
    rig.run(1000)
    assert rig.sensors[0].value() == 0               # still latched: it needs a new pulse
    rig.coils[0].value(1)
    assert rig.run(1000, lambda: rig.physics.door(1).is_open) == 170


def test_forced_door_opens_without_a_pulse():
    rig = Rig({"door_hold_open_ms": 1000, "door_bounce_ms": 0})
    rig.physics.door(2).force_open()
    assert rig.sensors[1].value() == 1
    door = rig.physics.door(2)
    assert door.forced_opens == 1 and rig.physics.safety.times_on("door 2") == 0
    rig.run(1000)
    assert rig.sensors[1].value() == 0


def test_reed_contact_bounces_then_settles():
    rig = Rig({"door_bounce_ms": 8})
    rig.physics.door(1).force_open()
    seen = []
    for _ in range(8):
        rig.run(1)
        seen.append(rig.sensors[0].value())
    assert 0 in seen                                 # chatter a debouncer must ride out
    rig.run(5)
    assert rig.sensors[0].value() == 1


# --- HX711 and bins ----------------------------------------------------------------------------------


def test_hx711_bit_serial_read_matches_the_model():
    rig = Rig({"noise_counts": 0})
    cells = [rig.physics.hx711(1), rig.physics.hx711(2)]
    assert all(d.value() == 1 for d in rig.douts)   # not ready yet
    rig.wait_ready()
    values = rig.read_hx711()
    assert values == [c.expected() for c in cells] == [c.last_read for c in cells]
    assert all(d.value() == 1 for d in rig.douts)   # after the 25th pulse: high until the next conversion
    assert [c.gain_pulses for c in cells] == [25, 25]
    assert [c.stray_pulses for c in cells] == [0, 0]


def test_hx711_negative_readings_are_twos_complement():
    rig = Rig({"noise_counts": 0, "bin_pieces": 0, "bin": [{"number": 1, "zero_offset": -600000}]})
    rig.wait_ready()
    value = rig.read_hx711()[0]
    assert value == rig.physics.hx711(1).expected() < 0
    assert value == -600000 + rig.physics.hx711(1).counts_per_kg * 250000 // 1000000


def test_hx711_clips_to_24_bits():
    rig = Rig({"noise_counts": 0, "bin": [{"number": 1, "zero_offset": 4000000, "pieces": 10000}]})
    rig.wait_ready()
    assert rig.read_hx711()[0] == 0x7FFFFF


def test_hx711_converts_at_10_per_second_and_each_read_is_fresh():
    rig = Rig({"noise_counts": 40})
    reads = []
    for _ in range(1000):
        rig.run(1)
        if all(d.value() == 0 for d in rig.douts):
            reads.append(rig.read_hx711())
    assert 9 <= len(reads) <= 10
    assert len(set(r[0] for r in reads)) > 5        # noisy: new conversions, not one value again


def test_hx711_extra_pulses_select_another_gain():
    rig = Rig({"noise_counts": 0})
    cell = rig.physics.hx711(1)
    rig.wait_ready()
    rig.read_hx711(extra_pulses=2)                   # 27 pulses: channel A, gain 64
    rig.run(1)
    rig.wait_ready()
    assert cell.gain_pulses == 27
    assert rig.read_hx711()[0] == cell.expected() // 2
    rig.run(1)
    rig.wait_ready()
    assert cell.gain_pulses == 25 and rig.read_hx711()[0] == cell.expected()


def test_sck_held_high_powers_the_hx711s_down():
    rig = Rig({"noise_counts": 0})
    rig.sck.value(1)
    rig.run(5)
    assert all(d.value() == 1 for d in rig.douts) and not rig.physics.hx711(1).powered
    rig.run(500)
    assert all(d.value() == 1 for d in rig.douts)
    rig.sck.value(0)
    woke = rig.run(1000, lambda: all(d.value() == 0 for d in rig.douts))
    assert woke == 400
    assert any("powered down" in text for _, text in rig.logs)


def test_taking_and_putting_pieces_changes_the_reading_by_their_weight():
    rig = Rig({"noise_counts": 0, "piece_weight_g": 12.5, "bin_pieces": 40, "bin_tare_g": 300})
    b = rig.physics.bin(1)
    cell = rig.physics.hx711(1)
    assert b.load_mg() == 300000 + 40 * 12500
    before = cell.expected()
    assert b.take(3) == 3 and b.pieces == 37
    assert before - cell.expected() == pytest.approx(cell.counts_per_kg * 0.0375, abs=1)
    b.put(3)
    assert cell.expected() == before
    b.place(1000)                                    # a 1 kg calibration weight
    assert cell.expected() - before == pytest.approx(cell.counts_per_kg, abs=1)
    b.place(0)
    assert b.take(100) == 40 and b.pieces == 0


def test_a_hand_in_the_bin_makes_readings_swing():
    rig = Rig({"noise_counts": 20, "hand_ms": 1000})
    rig.physics.bin(1).take(1)
    during = []
    while rig.clock.ms < 900:
        rig.wait_ready()
        during.append(rig.read_hx711()[0])
    rig.run(200)
    after = []
    for _ in range(8):
        rig.wait_ready()
        after.append(rig.read_hx711()[0])
    assert max(during) - min(during) > 10000         # ~100 g of hand noise (sd ~21000 counts)
    assert max(after) - min(after) < 400            # settled: within the firmware's default stable_counts


def test_drift_moves_the_zero():
    rig = Rig({"noise_counts": 0, "drift_counts_per_hour": 360})
    cell = rig.physics.hx711(1)
    assert cell.expected(3600000 * 2) - cell.expected(0) == 720


def test_load_cell_noise_statistics_with_a_fixed_seed():
    def readings(seed):
        rig = Rig({"noise_counts": 50}, seed=seed)
        cell = rig.physics.hx711(1)
        out = []
        for _ in range(3000):
            rig.clock.advance(100)                   # a coarse step: one fresh conversion each time
            rig.physics.step()
            out.append(rig.read_hx711()[0] - cell.expected())
        return out

    a = readings(5)
    assert a == readings(5)                          # same seed, same numbers
    assert a != readings(6)
    n = len(a)
    mean = sum(a) / n
    sd = (sum((x - mean) ** 2 for x in a) / n) ** 0.5
    assert abs(mean) < 3 * 50 / n ** 0.5
    assert 45 < sd < 55
    assert max(abs(x) for x in a) < 6 * 50           # Irwin-Hall: bounded tails


def test_rng_is_deterministic_and_spread():
    a, b = Rng(0), Rng(0)
    xs = [a.next32() for _ in range(1000)]
    assert xs == [b.next32() for _ in range(1000)]
    assert len(set(xs)) == 1000 and all(0 < x < 2 ** 32 for x in xs)
    assert Rng(1).next32() != Rng(2).next32()
    r = Rng(7)
    counts = [0] * 10
    for _ in range(10000):
        counts[r.below(10)] += 1
    assert min(counts) > 850 and max(counts) < 1150
    assert all(-5 <= r.between(-5, 5) <= 5 for _ in range(100))


# --- edge counter and HAL ------------------------------------------------------------------------------


def test_edge_counter_counts_rising_edges_only():
    rig = Rig()
    pin = rig.config["lanes"]["drop_sensor"]
    late = None
    for i, level in enumerate([1, 1, 0, 0, 1, 0, 1, 1, 1, 0]):
        rig.hal.drive(pin, level)
        if i == 4:
            late = rig.hal.edge_counter(pin)
    assert rig.drops.count == 3
    assert late.count == 1                           # counts only after it was created
    assert rig.drops.value() == 0


def test_outputs_start_off_and_only_configured_pins_are_usable():
    rig = Rig()
    assert all(rig.hal.level(p) == 0 for p in rig.hal.output_pins)
    with pytest.raises(ValueError):
        rig.hal.output(rig.config["doors"][0]["sensor"])     # an input
    with pytest.raises(ValueError):
        rig.hal.input(rig.config["doors"][0]["solenoid"], True)
    with pytest.raises(ValueError):
        rig.hal.watchdog(WDT_MAX_MS + 1)


def test_hal_ticks_wrap_and_time_is_virtual():
    rig = Rig(start_ms=TICKS_PERIOD - 5)
    assert rig.hal.ticks_ms() == TICKS_PERIOD - 5
    rig.run(10)
    assert rig.hal.ticks_ms() == 5 and rig.clock.ms == TICKS_PERIOD + 5


def test_mcu_reset_drops_outputs_keeps_flash_and_physics():
    rig = Rig()
    hal = rig.hal
    hal.save("calibration", {1: {"offset": 5, "scale": [1, 2]}})
    wdt = hal.watchdog(1000)
    rig.run(500)
    wdt.feed()
    rig.run(1000)
    assert not hal.watchdog_expired()
    rig.run(1)
    assert hal.watchdog_expired()
    rig.motor(1, True)
    rig.coils[0].value(1)
    hal.uart.receive(b"abc")
    hal.reset()
    assert hal.reset_requested
    hal.mcu_reset(RESET_WATCHDOG)
    assert all(hal.level(p) == 0 for p in hal.output_pins)
    assert rig.physics.safety.energised() == []
    assert hal.reset_cause() == RESET_WATCHDOG and not hal.reset_requested and hal.wdt is None
    assert hal.uart.any() == 0
    # Flash survives, and comes back the way JSON on a board would give it.
    assert hal.load("calibration") == {"1": {"offset": 5, "scale": [1, 2]}}
    assert hal.load("missing") is None
    rig.hal.drive(rig.config["lanes"]["drop_sensor"], 1)
    assert rig.drops.count == 0                      # old counters are gone with the old firmware


def test_random30_and_reset_cause():
    rig = Rig()
    assert rig.hal.reset_cause() == RESET_POWER_ON
    ids = [rig.hal.random30() for _ in range(100)]
    assert all(0 <= i < 2 ** 30 for i in ids) and len(set(ids)) == 100


def test_uart_fifo_reads_and_overruns():
    hal = Rig().hal
    uart = hal.uart
    buf = bytearray(4)
    assert uart.any() == 0 and uart.readinto(buf) is None
    uart.receive(b"hello")
    assert uart.readinto(buf) == 4 and bytes(buf) == b"hell" and uart.any() == 1
    uart.receive(b"x" * 600)
    assert uart.any() == uart.rxbuf and uart.overruns == 600 - (uart.rxbuf - 1)
    assert uart.write(b"out") == 3 and uart.transmit(10) == b"out"


# --- safety recording ----------------------------------------------------------------------------------


def test_safety_recorder_counts_overlaps_and_on_times():
    rig = Rig()
    safety = rig.physics.safety
    lane1, lane2 = rig.physics.lane(1), rig.physics.lane(2)   # same row
    rig.rows[lane1.row].value(1)
    rig.cols[lane1.col].value(1)
    rig.run(300)
    rig.cols[lane2.col].value(1)                     # a second motor on before the first is off
    rig.cols[lane1.col].value(0)
    rig.run(200)
    rig.rows[lane1.row].value(0)
    rig.cols[lane2.col].value(0)
    assert safety.max_concurrent_of("motor") == 2 and safety.max_concurrent == 2
    assert safety.longest_on_ms("motor") == 300
    assert safety.longest_on_ms(name="lane 2") == 200
    rig.coils[0].value(1)
    rig.run(700)
    assert safety.longest_on_ms("solenoid") == 700   # still on: counted as it runs
    rig.coils[0].value(0)
    rig.run(100)
    assert safety.longest_on_ms("solenoid") == 700
    assert rig.physics.door(1).longest_on_ms(safety) == 700
    assert safety.summary() == {"max_concurrent": 2, "max_solenoids": 1, "max_motors": 2,
                                "longest_solenoid_ms": 700, "longest_motor_ms": 300}


def test_solenoid_and_motor_together_count_as_two():
    rig = Rig()
    rig.coils[1].value(1)
    rig.motor(6, True)
    assert rig.physics.safety.max_concurrent == 2
    assert sorted(rig.physics.safety.energised()) == ["door 2", "lane 6"]


# --- the [sim] table -------------------------------------------------------------------------------------


def test_sim_settings_defaults_and_overrides():
    config = normalize(RAW)
    s = sim_settings(config, {"lane_items": 4, "piece_weight_g": 12.5, "lane": [{"number": 3, "items": 0}]})
    assert s["lane"][1]["items"] == 4 and s["lane"][3]["items"] == 0
    assert s["bin"][2]["piece_weight_g"] == 12500
    assert s["door"][1]["hold_open_ms"] == 5000 and s["lane"][1]["hang_rate"] == 0
    assert sim_settings(config, None)["bin"][1]["pieces"] == 20


@pytest.mark.parametrize("sim, message", [
    ({"lane_itmes": 4}, "[sim]: unknown key 'lane_itmes'"),
    ({"hang_rate": 2}, "[sim]: hang_rate must be a number between 0 and 1, got 2"),
    ({"lane_items": 2.5}, "[sim]: lane_items must be a whole number"),
    ({"door_leave_open": 1}, "[sim]: door_leave_open must be true or false"),
    ({"lane": [{"number": 9}]}, "[[sim.lane]] number 9: there is no lane 9 in the cabinet"),
    ({"bin": [{"number": 1, "peices": 3}]}, "[[sim.bin]] number 1: unknown key 'peices'"),
    ({"door": {"number": 1}}, "[sim] door must be a list of tables"),
    ({"drop_delay_min_ms": 400}, "drop_delay_min_ms is more than drop_delay_max_ms"),
])
def test_sim_settings_errors_name_the_problem(sim, message):
    with pytest.raises(ConfigError) as e:
        sim_settings(normalize(RAW), sim)
    assert message in str(e.value)
