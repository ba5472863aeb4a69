"""`locker-sim fleet`: pilot cabinets as separate processes, each with the agent's real cloud sync, against a
real Mosquitto and the reference cloud receiver; every cabinet's ledger ends up in the cloud, acked."""
import contextlib
import os
import sqlite3

import pytest

from edge_agent.ledger import open_ledger
from sim import cli
from sim.pilot.fleet import run_fleet, summary_lines
from tests.mqtt_broker import MOSQUITTO

pytestmark = pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="Mosquitto is not installed (scripts/setup)")


def test_two_cabinets_sync_their_whole_ledgers_to_the_cloud(tmp_path):
    result = run_fleet(tmp_path, cabinets=2, days=1, locations=12, speed=20000)
    assert [c["cabinet"] for c in result.cabinets] == ["FLEET-001", "FLEET-002"]
    with contextlib.closing(sqlite3.connect(tmp_path / "cloud.db")) as cloud:
        check_cabinets(result, tmp_path, cloud)
    assert result.receiver["rejected"] == 0
    f = result.figures
    assert f["broker_msgs_per_s"] > 0 and f["cpu_s_per_cabinet"]["mean"] > 0
    assert f["peak_rss_mb_per_cabinet"]["max"] > 0 and f["cabinets_per_core_realtime"] > 0
    assert "cabinets per core" in summary_lines(result)[-1]


def check_cabinets(result, tmp_path, cloud):
    """Each cabinet's ledger verifies and the cloud holds it row for row, acked."""
    for c in result.cabinets:
        assert c["takes"] > 0 and c["acked"] == c["heads"]
        with open_ledger(tmp_path / c["cabinet"] / "ledger.db", count_boot=False) as ledger:
            assert ledger.verify().ok
            mine = [(r["seq"], r["hash"]) for r in ledger.transactions()]
        theirs = cloud.execute("SELECT seq, json_extract(row_json, '$.hash') FROM tx_rows WHERE cabinet = ? "
                               "ORDER BY seq", [c["cabinet"]]).fetchall()
        assert [tuple(r) for r in theirs] == mine and len(mine) > 10


def test_the_fleet_command_refuses_bad_input(capsys, tmp_path):
    assert cli.main(["fleet", "--cabinets", "0", "--out", str(tmp_path)]) == 2
    assert "--cabinets and --days must be at least 1" in capsys.readouterr().err
