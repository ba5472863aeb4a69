"""1,000 vends over a line that drops or corrupts 2% of its bytes: every request gets a definite answer, and
every request turns its motor at most once, however often frames were retransmitted."""
from edge_agent.link.core import REQUEST_BUDGET_MS
from edge_agent.link.errors import CabinetError
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
        try:
            results.append((lane, host.actuate(M.VEND, 1000 + i, lane).result))
        except CabinetError as e:
            results.append((lane, e.name))
    # On a line this noisy every frame the host sends for 2 s is now and then lost (4 sends at the 500 ms
    # retransmission cap), and the firmware then turns everything off, as docs/protocol.md's link-loss rule
    # says: that vend ends R_ABORTED and EV_FAULT link lost tells why. An item still falling from it can make
    # the next vend find the beam broken (E_SENSOR, nothing done). Nothing else may happen, and rarely.
    # (That is the design, not bad luck: before EV_DROP shifted the line's random stream this seed cut none,
    # but 7 of the line seeds 0-7 cut at least one vend so.)
    cut = [(lane, r) for lane, r in results if r != M.R_VENDED]
    assert {r for _, r in cut} <= {M.R_ABORTED, "E_SENSOR"} and len(cut) <= VENDS // 200
    aborted = sum(r == M.R_ABORTED for _, r in cut)
    link_lost = [e for e in host.events_of(M.EV_FAULT) if e["code"] == M.F_LINK_LOST]
    assert len(link_lost) >= aborted and len(link_lost) == len(host.events_of(M.EV_FAULT))
    for n in lanes:
        model = sim.physics.lane(n)
        refused = sum(1 for lane, r in cut if lane == n and r == "E_SENSOR")
        cut_here = sum(1 for lane, r in cut if lane == n and r == M.R_ABORTED)
        accepted = asked[n] - refused
        assert sim.physics.safety.times_on("lane %d" % n) == accepted, "lane %d" % n   # once, never twice
        assert accepted - cut_here <= model.turns <= accepted, "lane %d" % n
        assert accepted - cut_here <= model.dropped <= accepted, "lane %d" % n
    stats = host.core.stats
    # The noise really bit: frames were lost and resent, and the firmware saw damaged frames too.
    assert stats.retransmissions > 50 and stats.bad_frames > 20
    assert sim.cab.link.bad_frames > 20
    assert len(sim.boots) == 1


STATUS_TRIES = 1000


def test_status_on_a_two_percent_noisy_line_is_always_answered_within_its_budget():
    # The example cabinet's STATUS answer is a 48-byte frame: on this line about two in three copies of it
    # arrive damaged. The host resends at its measured timeout while the firmware is heard (docs/decisions/
    # 0034), so every STATUS is answered, well inside its 5 s budget. Virtual time: the figures are exact.
    sim, host = cabinet(seed=3, faults=Faults(drop_rate=0.01, flip_rate=0.01, seed=5), step_ms=2)
    took = []
    for i in range(STATUS_TRIES):
        start = sim.now
        status = host.call(M.STATUS)                    # a LinkTimeout here is the budget blown
        took.append(sim.now - start)
        assert len(status.lanes) == 12
        host.tick(50 + (i * 337) % 2000)                 # idle between, as in the agent: heartbeats go on
    assert max(took) < REQUEST_BUDGET_MS / 2
    stats = host.core.stats
    assert stats.request_timeouts == 0 and stats.retransmissions > STATUS_TRIES // 2 and stats.bad_frames > 300
