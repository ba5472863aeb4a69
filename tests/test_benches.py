"""The benchmarks still run: each one at a tiny size, as a subprocess, finishing with its JSON line.
No timing is asserted here: speed targets belong to the benches, run on demand, never to unit tests."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(tmp_path, script, *args):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) > 1, "the bench prints its figures before the JSON line"
    return json.loads(lines[-1])


def test_issue_rate_runs_the_whole_flow_on_both_cabinets(tmp_path):
    out = run_bench(tmp_path, "issue_rate.py", "--count", "20")
    assert out["bench"] == "issue_rate"
    for run in ("sim", "instant"):
        assert out[run]["issues"] == 20 and out[run]["commits"] == 40      # intent + outcome, each committed
    for key in ("issues_per_s", "sim_cpu_s", "agent_issues_per_s", "per_issue", "per_issue_agent_only", "virtual_s"):
        assert key in out["sim"]
    for key in ("transactions_per_s", "commits_per_s", "p50_ms", "p99_ms"):
        assert out["instant"][key] > 0
    assert {"p50_ms", "p99_ms"} <= set(out["fsync"])
    assert out["raw_sqlite_full"]["commits_per_s"] > 0                      # SQLite's ceiling, in the same run
    anchor = out["anchor"]
    assert abs(anchor["ratio"] - anchor["issues_per_s"] / anchor["raw_commits_per_s_over_2"]) < 0.01
    assert list(tmp_path.iterdir()) == []                                   # its temp dir is gone


def test_verify_speed_times_the_full_check_and_the_tail_since_the_verified_head(tmp_path):
    out = run_bench(tmp_path, "verify_speed.py", "--rows", "3000", "--tail", "400", "--reps", "2")
    assert out["bench"] == "verify_speed" and out["rows"] >= 3000
    assert out["full"]["rows"] + out["incremental"]["rows_walked"] - 1 == out["rows"]   # the head's row twice
    assert out["incremental"]["rows_walked"] >= 401 and out["incremental"]["min_s"] > 0
    assert list(tmp_path.iterdir()) == []


def test_minmax_million_builds_a_ledger_that_verifies_and_times_it(tmp_path):
    out = run_bench(tmp_path, "minmax_million.py", "--rows", "2000", "--reps", "5")
    assert out["bench"] == "minmax_million"
    assert out["verify_ok"] is True and out["rows_built"] >= 2000
    assert out["verify_checked"] >= out["rows_built"]
    assert {"intent", "outcome", "issue", "refusal"} <= set(out["kinds"])
    for key in ("append_issue", "evaluate"):
        assert out[key]["n"] == 5 and "p50_ms" in out[key] and "p99_ms" in out[key]
    assert set(out["issue_refusal"]) == {"typical_user", "heaviest_user"}
    for key in ("build_s", "db_bytes", "wal_bytes", "bytes_per_row", "verify_s", "pending_intents_s", "plans"):
        assert key in out
    assert out["db_bytes"] > 0
    assert list(tmp_path.iterdir()) == []


def test_screen_latency_times_a_badge_to_the_items_screen_and_weighs_the_first_screen(tmp_path):
    out = run_bench(tmp_path, "screen_latency.py", "--count", "2", "--card-count", "2")
    assert out["bench"] == "screen_latency" and out["rounds"] == 2
    for run in ("wedge_to_items", "tap_to_items", "card_to_items", "pcscd_card_to_items"):
        assert out[run]["n"] == 2 and {"p50_ms", "p99_ms", "max_ms"} <= set(out[run])
    assert set(out["wedge_split_p50_ms"]) == {"/api/badge", "asked /api/items", "/api/items", "/api/loans", "shown",
                                              "drawn"}
    assert out["first_screen"]["bytes_body"] > 0
    assert {"/", "/screen/screen.js", "/screen/screen.css"} <= {f["name"] for f in out["first_screen"]["files"]}
    assert list(tmp_path.iterdir()) == []


def test_pilot_speed_runs_a_short_pilot_and_reports_days_per_second_and_memory(tmp_path):
    out = run_bench(tmp_path, "pilot_speed.py", "--days", "2", "--locations", "12", "--split")
    assert out["bench"] == "pilot_speed" and out["days"] == 2 and out["locations"] == 12
    assert out["takes"] > 0 and out["vends"] > 0 and out["ledger_rows"] > out["takes"]
    for key in ("sim_days_per_s", "sim_days_per_cpu_s", "peak_rss_mb", "run_wall_s"):
        assert out[key] > 0
    # --split: the pilot arm's time in three parts that add up to it, and the ceiling a free simulation leaves
    parts = ("firmware_step_s", "simulation_s", "agent_and_pilot_s")
    assert all(out[key] > 0 for key in parts)
    assert abs(sum(out[key] for key in parts) - out["run_wall_s"]) < 0.01
    assert out["sim_days_per_s_if_simulation_free"] > out["sim_days_per_s"]
    assert list(tmp_path.iterdir()) == []


def test_pilot_speed_refuses_a_pilot_of_no_days():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "pilot_speed.py"), "--days", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--days and --locations must be at least 1" in proc.stderr


def test_fleet_runs_cabinets_against_a_real_broker_and_reports_cpu_memory_and_messages(tmp_path):
    import pytest
    from tests.mqtt_broker import MOSQUITTO
    if not Path(MOSQUITTO).exists():
        pytest.skip("Mosquitto is not installed (scripts/setup installs it)")
    out = run_bench(tmp_path, "fleet.py", "--cabinets", "2", "--days", "1", "--locations", "12", "--speed", "20000")
    assert out["bench"] == "fleet" and out["cabinets"] == 2 and len(out["per_cabinet"]) == 2
    assert out["hub"]["rejected"] == 0 and out["hub"]["stored"] > 0
    for key in ("broker_msgs_per_s", "cabinets_per_core_realtime", "rate_ledger_rows_per_day"):
        assert out[key] > 0
    assert out["peak_rss_mb_per_cabinet"]["max"] > 0
    assert list(tmp_path.iterdir()) == []


def test_disk_check_times_the_free_space_check_against_the_intent_it_guards(tmp_path):
    out = run_bench(tmp_path, "disk_check.py", "--reps", "200")
    assert out["bench"] == "disk_check" and out["reps"] == 200
    assert out["check_us"] > 0 and out["intent_us"] > 0


def test_refusal_flood_floods_the_real_agent_and_counts_what_reaches_the_ledger(tmp_path):
    out = run_bench(tmp_path, "refusal_flood.py", "--seconds", "1", "--clients", "1")
    assert out["bench"] == "refusal_flood"
    badges, location = out["unknown_badges"], out["oversized_location"]
    assert set(badges["statuses"]) == {"403"} and badges["requests"] > 0
    assert 1 <= badges["refusal_rows"] <= 5                        # a few rows, the rest counted
    assert set(location["statuses"]) == {"400"} and location["refusal_rows"] == 0
    assert out["after_stop"]["coalesced_events"] == (1 if badges["refusal_rows"] < badges["requests"] else 0)
    for phase in (badges, location):
        assert {"rows_per_s", "ledger_mb_per_min", "disk_mb_per_min", "requests_per_s"} <= set(phase)
    assert list(tmp_path.iterdir()) == []


def test_cloud_refusals_counts_the_rows_a_flood_of_bad_down_messages_writes(tmp_path):
    out = run_bench(tmp_path, "cloud_refusals.py", "--rate", "50", "--seconds", "2")
    assert out["bench"] == "cloud_refusals" and out["mode"] == "flood" and out["messages"] > 10
    assert out["rows"] < out["messages"] and out["refusals_accounted"] == out["messages"]   # coalesced, all counted
    assert list(tmp_path.iterdir()) == []


def test_status_noise_times_status_on_a_noisy_line_for_both_cabinets(tmp_path):
    out = run_bench(tmp_path, "status_noise.py", "--tries", "20", "--seeds", "1")
    assert out["bench"] == "status_noise" and out["noise"] == 0.02 and out["budget_ms"] == 5000
    for name in ("example", "pilot"):
        fig = out["cabinets"][name]
        assert fig["n"] == 20 and fig["frame_bytes"] > 40
        assert {"p50_ms", "p90_ms", "p99_ms", "max_ms", "over_half_budget", "failed"} <= set(fig)


def test_the_hub_bench_runs_a_small_fleet_with_one_and_two_workers_every_run_acked_whole(tmp_path):
    """bench/hub.py (issue 16's scale proof) at a small size: live and backlog runs with 1 and 2 locker-hub
    serve workers, and the drain ratio. The figures are the bench's business; here every run must be valid."""
    out = run_bench(tmp_path, "hub.py", "--cabinets", "10", "--workers", "1,2", "--seconds", "2", "--rate", "1",
                    "--backlog", "20", "--drain-rows", "500", "--raw-count", "500")
    assert out["bench"] == "hub" and [f["workers"] for f in out["live"]] == [1, 2]
    assert all(f["valid"] and f["rows_stored"] == f["rows_written"] for f in out["live"] + out["backlog"])
    assert set(out["scaling"]) == {"1", "2"} and out["drain"]["stored"] == out["drain"]["rows"] >= 500
    assert out["drain"]["ratio"] > 0


def test_drain_measures_a_small_backlog_against_raw_paho_and_the_hub_alone(tmp_path):
    out = run_bench(tmp_path, "drain.py", "--rows", "300", "--raw-messages", "300")
    assert out["bench"] == "drain" and out["stored"] == out["rows"] >= 300
    for key in ("rows_per_s", "raw_msgs_per_s", "ratio", "hub_only_rows_per_s"):
        assert out[key] > 0
    assert out["peak_inflight"] > 1
    assert list(tmp_path.iterdir()) == []


def test_desired_size_measures_a_catalog_and_the_users_against_the_limit(tmp_path):
    out = run_bench(tmp_path, "desired_size.py", "--skus", "50", "--users", "20")
    assert out["bench"] == "desired_size" and out["limit"] == 1024 * 1024
    assert out["fits"] == {"catalog": True, "users": True, "catalog_without_rules": True}
    assert out["bytes_per_sku"] > 0 and out["skus_that_fit"] > 0 and out["apply_ms"]["catalog"] > 0


def test_hub_ingest_stores_synthetic_batches_in_postgres_and_counts_round_trips(tmp_path):
    out = run_bench(tmp_path, "hub_ingest.py", "--cabinets", "3", "--batches", "4", "--rows", "5")
    assert out["bench"] == "hub_ingest" and out["messages"] == 12 and out["rows"] == 60
    assert out["acks_published"] == 12 and out["round_trips_per_message"] > 0
    assert list(tmp_path.iterdir()) == []


def test_link_rtt_measures_the_default_rate_and_115200_in_one_run():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "link_rtt.py"), "--pings", "20", "--replays", "20",
                           "--vends", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bench"] == "link_rtt" and out["baud"] == 921600 and out["goal_p99_ms"] == 5.0
    assert [r["baud"] for r in out["rates"]] == [921600, 115200]
    for r in out["rates"]:
        assert r["ping"]["n"] == r["vend_replay"]["n"] == 20 and r["motor_turns"] == 1 and r["bad_frames"] == 0
