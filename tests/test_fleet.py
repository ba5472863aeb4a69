"""`locker-sim fleet`: pilot cabinets as separate processes, each with the agent's real cloud sync, against a
real Mosquitto and the hub on PostgreSQL; every cabinet's ledger ends up in the hub, acked."""
import os

import pytest

from edge_agent.ledger import open_ledger
from hub import db, queries
from sim import cli
from sim.pilot.fleet import run_fleet, summary_lines
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="Mosquitto is not installed (scripts/setup)")


def test_two_cabinets_sync_their_whole_ledgers_to_the_hub(tmp_path, hub_dsn):
    result = run_fleet(tmp_path, cabinets=2, days=1, locations=12, speed=20000, dsn=hub_dsn)
    assert [c["cabinet"] for c in result.cabinets] == ["FLEET-001", "FLEET-002"]
    with db.connect(hub_dsn) as conn:
        check_cabinets(result, tmp_path, conn)
    assert result.hub["rejected"] == 0 and result.hub["stored"] > 0
    f = result.figures
    assert f["broker_msgs_per_s"] > 0 and f["cpu_s_per_cabinet"]["mean"] > 0
    assert f["peak_rss_mb_per_cabinet"]["max"] > 0 and f["cabinets_per_core_realtime"] > 0
    assert "cabinets per core" in summary_lines(result)[-1]
    assert "the hub stored %d" % result.hub["stored"] in summary_lines(result)[2]


def check_cabinets(result, tmp_path, conn):
    """Each cabinet's ledger verifies and the hub holds it row for row, acked."""
    for c in result.cabinets:
        assert c["takes"] > 0 and c["acked"] == c["heads"]
        with open_ledger(tmp_path / c["cabinet"] / "ledger.db", count_boot=False) as ledger:
            assert ledger.verify().ok
            mine = [(r["seq"], r["hash"]) for r in ledger.transactions()]
        theirs = [(r["seq"], r["hash"]) for r in queries.rows(conn, c["cabinet"])]
        assert theirs == mine and len(mine) > 10


def test_the_fleet_command_refuses_bad_input(capsys, tmp_path):
    assert cli.main(["fleet", "--cabinets", "0", "--out", str(tmp_path)]) == 2
    assert "--cabinets and --days must be at least 1" in capsys.readouterr().err


def test_a_hub_database_that_cannot_be_had_is_said_in_words(tmp_path):
    from sim.cloud.hub_db import hub_database
    for dsn, words in (("nonsense", 'missing "="'), ("host=127.0.0.1 port=1 dbname=x", "cannot connect to PostgreSQL")):
        with pytest.raises(RuntimeError, match=words):
            with hub_database(dsn):
                pass
