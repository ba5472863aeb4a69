"""Firmware events are acknowledged only once the agent has stored them (docs/protocol.md, "Events"): the
link hands each on unacknowledged, the agent records it, then acknowledges it. The firmware resends its
oldest unacknowledged event every 250 ms, so an agent that dies or fails in between gets it again.
The link core sans-IO against the real codec, then the agent over the simulated cabinet's real firmware."""
import struct

from firmware import messages as M
from firmware.codec import encode_frame
from edge_agent.flows import cabinet_events
from edge_agent.flows.cabinet_events import take_events
from edge_agent.ledger.alerts import open_alerts
from edge_agent.link.core import LinkCore
from sim.virtual_host import VirtualCabinet, VirtualHost
from sim.cabinet import SimCabinet
from tests.cabinets import example_config
from tests.ledgers import ledger_from_csv
from tests.test_link_core import acks_in, event_frame

BOOT_A, BOOT_B = 0x0ACE1234, 0x01020304


def boot_frame(seq, boot_id):
    return encode_frame(seq, M.EVENT, bytes((M.EV_BOOT,)) + struct.pack(">IB", boot_id, 0))


def test_an_event_is_acknowledged_once_stored_and_its_resends_meanwhile_are_neither_acked_nor_delivered():
    core = LinkCore(0, heartbeat_ms=None, ack_when_stored=True)
    core.receive(event_frame(5, 1), 0)
    [forced] = core.take_events()
    assert acks_in(core.poll(0)) == []                         # delivered, not stored: no acknowledgement
    core.receive(event_frame(5, 1), 250)                       # the firmware's resend while it is being stored
    assert acks_in(core.poll(250)) == [] and core.take_events() == []
    core.event_stored(forced)
    assert core.next_deadline() == 250 and acks_in(core.poll(260)) == [5]
    core.receive(event_frame(5, 1), 500)                       # that acknowledgement was lost: ack it again
    assert acks_in(core.poll(500)) == [5] and core.take_events() == []
    core.receive(event_frame(6, 2), 510)
    assert [e.seq for e in core.take_events()] == [6] and acks_in(core.poll(510)) == []


def test_an_event_that_could_not_be_stored_is_delivered_again_when_the_firmware_resends_it():
    core = LinkCore(0, heartbeat_ms=None, ack_when_stored=True)
    core.receive(boot_frame(0, BOOT_A), 0)
    [boot] = core.take_events()
    core.event_not_stored(boot)
    core.receive(boot_frame(0, BOOT_A), 250)
    [again] = core.take_events()
    assert again.seq == 0 and acks_in(core.poll(250)) == []
    core.event_stored(again)
    core.receive(event_frame(1, 3), 260)
    [forced] = core.take_events()
    core.event_not_stored(forced)
    core.receive(event_frame(1, 3), 510)
    assert [e.seq for e in core.take_events()] == [1]
    assert acks_in(core.poll(510)) == [0]
    assert core.boot_id == BOOT_A and core.stats.reboots_seen == 0


def test_an_event_of_a_boot_since_restarted_is_not_acknowledged_when_stored_late():
    core = LinkCore(0, heartbeat_ms=None, ack_when_stored=True)
    core.receive(boot_frame(0, BOOT_A), 0)
    core.event_stored(core.take_events()[0])
    core.receive(event_frame(1, 3), 10)
    [old] = core.take_events()                                 # delivered, then the board restarts
    core.poll(10)
    core.receive(boot_frame(0, BOOT_B) + event_frame(1, 4), 20)  # impossible without an ack; the seq is reused
    core.event_stored(old)
    assert acks_in(core.poll(20)) == []                        # seq 1 is now the new boot's event
    assert [e.seq for e in core.take_events()] == [0, 1]


def test_only_the_event_types_the_agent_stores_wait_for_it_so_a_vends_drop_does_not_hold_up_its_result():
    # The firmware sends EV_CMD_DONE only after EV_DROP is acknowledged, while the agent's worker is busy with
    # the vend: a drop held until stored would leave the vend to the 1 s QUERY backstop.
    core = LinkCore(0, heartbeat_ms=None, ack_when_stored=cabinet_events.STORED)
    drop = encode_frame(5, M.EVENT, bytes((M.EV_DROP,)) + struct.pack(">BI", 3, 77))
    core.receive(drop, 0)
    assert acks_in(core.poll(0)) == [5] and core.drop_seen(77)
    core.receive(event_frame(6, 1), 10)                        # a forced door: held until stored
    [_, forced] = core.take_events()
    assert acks_in(core.poll(10)) == []
    assert core.event_stored(forced) is True and acks_in(core.poll(20)) == [6]


def test_without_ack_when_stored_a_watching_tool_acknowledges_on_delivery_as_before():
    core = LinkCore(0, heartbeat_ms=None)
    core.receive(event_frame(5, 1), 0)
    assert acks_in(core.poll(0)) == [5] and len(core.take_events()) == 1


def test_an_agent_that_fails_to_store_an_event_gets_it_again_and_stores_it(tmp_path):
    ledger = ledger_from_csv(tmp_path, skus="part_number,description,category\nTRQ,Torque wrench,tools\n",
                             locations="id,kind,unit,sku,on_hand,min,max\nD2,door,2,TRQ,1,0,1\n")
    sim = SimCabinet(example_config(), seed=0, firmware_errors="raise")
    host = VirtualHost(sim, ack_when_stored=True)
    cab = VirtualCabinet(host)
    cab.hello()
    take_events(ledger, cab)                                   # the boot event, stored and acknowledged
    sim.physics.door(2).force_open()
    host.tick(300)
    take_events(ledger, cab)                                   # EV_DOOR_OPENED (not authorised): no alert
    host.tick(300)                                             # then EV_DOOR_FORCED
    ledger.db.execute("CREATE TRIGGER full BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    try:
        take_events(ledger, cab)
    except Exception as e:                                     # noqa: BLE001 - the store failed, as a full disk does
        assert "disk full" in str(e)
    else:
        raise AssertionError("the store did not fail")
    ledger.db.execute("DROP TRIGGER full")
    assert open_alerts(ledger.db) == []
    host.tick(600)                                             # the firmware resends what was never acknowledged
    take_events(ledger, cab)
    assert [(a[0], a[1]) for a in open_alerts(ledger.db)] == [("D2", "door_forced")]
    host.tick(600)
    take_events(ledger, cab)
    assert len(host.events_of(M.EV_DOOR_FORCED)) == 2          # delivered twice, stored once, then acknowledged
    assert [(a[0], a[1]) for a in open_alerts(ledger.db)] == [("D2", "door_forced")]
    ledger.close()
