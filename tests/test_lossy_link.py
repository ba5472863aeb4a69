"""1,000 vends over a line that drops or corrupts 2% of its bytes: every request gets a definite answer, and
every accepted request turns its motor exactly once, however often frames were retransmitted."""
from firmware import messages as M
from sim.cabinet import Faults
from tests.cabinets import cabinet

VENDS = 1000


def test_a_thousand_vends_on_a_noisy_line_turn_each_motor_exactly_once_per_request():
    sim, host = cabinet(seed=7, faults=Faults(drop_rate=0.01, flip_rate=0.01, seed=11), step_ms=4,
                        sim={"lane_items": 1000})
    lanes = [u["number"] for u in sim.config["lanes"]["units"]]
    asked = {n: 0 for n in lanes}
    results = []
    for i in range(VENDS):
        lane = lanes[i % len(lanes)]
        asked[lane] += 1
        results.append(host.actuate(M.VEND, 1000 + i, lane).result)
    assert results == [M.R_VENDED] * VENDS
    for n in lanes:
        model = sim.physics.lane(n)
        assert (model.turns, model.dropped) == (asked[n], asked[n]), "lane %d" % n
        assert sim.physics.safety.times_on("lane %d" % n) == asked[n]
    stats = host.core.stats
    # The noise really bit: frames were lost and resent, and the firmware saw damaged frames too.
    assert stats.retransmissions > 50 and stats.bad_frames > 20
    assert sim.cab.link.bad_frames > 20
    assert len(sim.boots) == 1
