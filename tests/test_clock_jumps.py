"""The wall clock jumps (issue 14, item 8): a PIN lockout lasts `lockout_s` of running time whatever the wall
clock does, across agent restarts and reboots; an expired contractor is not let in again by a clock set
back. A real ledger file and the injected clock (ManualClock: set_wall steps the wall clock only, reboot
starts a new run of the monotonic clock)."""
import datetime

import pytest

from edge_agent.ledger import ManualClock, lockouts, open_ledger
from edge_agent.ledger.migrations import MIGRATIONS
from edge_agent.rules.pin_hashing import hash_pin
from edge_agent.rules.access import Access, Person
from tests.ledgers import ledger_from_csv
from tests.refusals import refused

USERS = """id,name,role,department,cost_center,supplier,valid_from,valid_to,pin,badges
tech-1,Ana Ruiz,technician,Maintenance,CC-410,,,,90817263,04A1B2C3
con-1,Cy Park,contractor,Projects,CC-900,,2026-03-01,2026-03-31,55554444,04A1B2C5
"""
RIGHT, WRONG = "90817263", "00000000"


@pytest.fixture
def clock():
    return ManualClock(start="2026-03-15T08:00:00+00:00")


@pytest.fixture
def site(tmp_path, clock):
    ledger_from_csv(tmp_path, users=USERS, clock=clock).close()
    return tmp_path / "ledger.db"


def lock_out(access):
    for _ in range(3):
        refused(access.by_pin, "tech-1", WRONG, after_badge=True)
    assert refused(access.by_pin, "tech-1", RIGHT, after_badge=True).reason == "locked_out"


def test_a_lockout_made_while_the_clock_read_2035_ends_on_time_after_the_clock_is_corrected(site, clock):
    clock.set_wall("2035-06-01T00:00:00+00:00")               # a Pi that booted with a wild clock
    with open_ledger(site, clock=clock) as ledger:
        lock_out(Access(ledger, max_tries=3, lockout_s=300))
    clock.set_wall("2026-03-15T08:00:10+00:00")               # NTP corrects it; the agent restarts
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger, max_tries=3, lockout_s=300)
        clock.advance(290_000)
        assert refused(access.by_pin, "tech-1", RIGHT, after_badge=True).reason == "locked_out"
        clock.advance(10_000)                                  # 300 s after the lockout began
        assert access.by_pin("tech-1", RIGHT, after_badge=True) == access.by_badge("04A1B2C3")


def test_a_clock_set_forward_does_not_end_a_lockout(site, clock):
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger, max_tries=3, lockout_s=300)
        lock_out(access)
        clock.set_wall("2027-01-01T00:00:00+00:00")
        assert refused(access.by_pin, "tech-1", RIGHT, after_badge=True).reason == "locked_out"


def test_a_reboot_neither_ends_nor_stretches_a_lockout(site, clock):
    with open_ledger(site, clock=clock) as ledger:
        lock_out(Access(ledger, max_tries=3, lockout_s=300))
        clock.advance(100_000)
    clock.reboot(off_ms=60_000)           # off for a minute; the clock synchronised before and after
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger, max_tries=3, lockout_s=300)
        clock.advance(139_000)             # 100 + 60 + 139 s: one second left
        assert refused(access.by_pin, "tech-1", RIGHT, after_badge=True).reason == "locked_out"
        clock.advance(1_000)
        assert isinstance(access.by_pin("tech-1", RIGHT, after_badge=True), Person)
    # Back with an unsynchronised clock: the time off cannot be known, so the lockout goes on from what was left
    # when the running agent last measured it (it does every lockouts.CHECKPOINT_S).
    with open_ledger(site, clock=clock) as ledger:
        lock_out(Access(ledger, max_tries=3, lockout_s=300))
        clock.advance(200_000)
        lockouts.checkpoint(ledger)
        clock.advance(lockouts.CHECKPOINT_S * 1000 - 1)        # not measured: the most a reboot can add
    clock.reboot(off_ms=3_600_000)
    clock.set_wall("2020-01-01T00:00:00+00:00", synced=False)
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger, max_tries=3, lockout_s=300)
        clock.advance(99_000)
        assert refused(access.by_pin, "tech-1", RIGHT, after_badge=True).reason == "locked_out"
        clock.advance(1_000)
        assert isinstance(access.by_pin("tech-1", RIGHT, after_badge=True), Person)


def test_setting_the_clock_back_does_not_let_an_expired_contractor_in(site, clock):
    clock.set_wall("2026-04-02T09:00:00+00:00")
    with open_ledger(site, clock=clock) as ledger:
        access = Access(ledger)
        assert refused(access.by_badge, "04A1B2C5").reason == "expired"
        clock.set_wall("2026-03-20T09:00:00+00:00", synced=False)   # `date -s`: the kernel marks it unsynchronised
        answer = refused(access.by_badge, "04A1B2C5")
        assert answer.reason == "clock_unsynced" and "clock is not set" in answer.words
        assert refused(access.by_pin, "con-1", "55554444").reason == "login_failed"
        assert isinstance(access.by_badge("04A1B2C3"), Person)        # no dates: the clock does not matter
        clock.set_wall("2026-03-20T09:00:00+00:00", synced=True)    # inside the window by a synchronised clock
        assert isinstance(access.by_badge("04A1B2C5"), Person)


def test_a_lockout_running_at_the_upgrade_goes_on_for_what_its_wall_time_left(tmp_path, clock):
    old = open_ledger(tmp_path / "ledger.db", clock=clock, migrations=MIGRATIONS[:4])      # before schema_v5
    old.db.execute("INSERT INTO users (id, role, pin_hash) VALUES ('tech-1', 'technician', ?)", [hash_pin("9081")])
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=600)
    old.db.execute("UPDATE users SET locked_until = ? WHERE id = 'tech-1'", [until.isoformat()])
    old.close()
    with open_ledger(tmp_path / "ledger.db", clock=clock) as ledger:
        access = Access(ledger)
        assert 590 <= access.locked_for_s("tech-1") <= 600
        assert "locked_until" not in ledger.db["users"].columns_dict
        clock.advance(600_000)
        assert isinstance(access.by_pin("tech-1", "9081"), Person)
