"""The real Slurm samples against their known true energies (examples/profiles, README there)."""

from __future__ import annotations

import pytest

from tests.analysis.conftest import query

# True node energy from the emulator's own counter (shared/samples/slurm/README.md).
TRUE_ENERGY_J = {"job_4.h5": 2500.0, "job_5.h5": 3150.0}
TRUE_STEP_ENERGY_J = {"batch": 3150.0, "0": 1900.0, "1": 1250.0}


def test_left_rule_reproduces_the_true_energy_of_every_sample(runner_factory, examples_dir):
    # pm_counters holds each reading for the following second, so the left rule is exact.
    runner = runner_factory(rule="left")
    for name, true_j in TRUE_ENERGY_J.items():
        outcome = runner.analyse_file(examples_dir / name, source=str(examples_dir / name))
        assert outcome.status == "ok", outcome.error
        assert outcome.summary["energy_j"] == pytest.approx(true_j)


def test_job_5_counts_the_node_once_not_once_per_step(runner_factory, examples_dir, tmp_path):
    runner = runner_factory(rule="left")
    outcome = runner.analyse_file(examples_dir / "job_5.h5", source="job_5")
    s = outcome.summary
    assert s["energy_j"] == pytest.approx(3150.0)  # not 6300: batch and steps share the node
    assert (s["job_id"], s["n_steps"], s["n_nodes"], s["n_tasks"]) == ("5", 3, 1, 2)
    assert s["time_to_solution_s"] == 21.0
    assert s["avg_power_w"] == pytest.approx(3150.0 / 21.0)
    assert s["peak_power_w"] == 250.0
    assert s["edp_js"] == pytest.approx(3150.0 * 21.0)
    assert s["energy_kwh"] == pytest.approx(3150.0 / 3.6e6)
    assert s["coverage"] == 1.0
    assert (s["power_source"], s["energy_scope"]) == ("Power", "cpu_dram")
    steps = dict(
        query(
            runner,
            "SELECT step, energy_j FROM job_step_node WHERE source = 'job_5' AND level = 'step'",
        )
    )
    assert steps == pytest.approx(TRUE_STEP_ENERGY_J)


def test_trapezoid_default_differs_from_truth_by_half_the_end_step(runner_factory, examples_dir):
    # Trapezoid error over a window is (p_last - p_first) / 2: job 5 ends at 250 W, starts at 150.
    runner = runner_factory()
    outcome = runner.analyse_file(examples_dir / "job_5.h5", source="job_5")
    assert outcome.summary["integration"] == "trapezoid"
    assert outcome.summary["energy_j"] == pytest.approx(3150.0 + (250 - 150) / 2)


def test_merged_and_node_step_files_agree(runner_factory, examples_dir):
    runner = runner_factory(rule="left")
    merged = runner.analyse_file(examples_dir / "job_4.h5", source="merged").summary
    single = runner.analyse_file(examples_dir / "nodestep" / "4_0_vm.h5", source="nodestep").summary
    for column in ("energy_j", "time_to_solution_s", "cpu_time_s", "max_rss_mib", "peak_power_w"):
        assert merged[column] == pytest.approx(single[column]), column
    assert single["job_id"] == "4"
    step_1 = runner.analyse_file(examples_dir / "nodestep" / "5_1_vm.h5", source="s1").summary
    assert step_1["energy_j"] == pytest.approx(1250.0)


def test_task_figures_of_the_burn_job(runner_factory, examples_dir):
    s = runner_factory().analyse_file(examples_dir / "job_4.h5", source="j4").summary
    # sh5util Node:Totals of job_4: Sum_CPUTime 13.85 s, Max_RSS 315456 KiB.
    assert s["cpu_time_s"] == pytest.approx(13.85)
    assert s["max_rss_mib"] == pytest.approx(315456 / 1024)
    assert 90 < s["mean_cpu_util_pct"] <= 100  # one task burning a CPU for 15 s


def test_profile_without_energy_still_gets_task_figures(runner_factory, examples_dir):
    s = runner_factory().analyse_file(examples_dir / "job_2.h5", source="j2").summary
    assert s["status"] == "ok" and s["has_energy"] is False
    assert s["energy_j"] is None and s["cost_eur"] is None
    assert s["time_to_solution_s"] == 2.0 and s["n_tasks"] == 1


def test_job_table_has_one_row_per_step_node_and_time(runner_factory, examples_dir, tmp_path):
    runner = runner_factory(rule="left")
    outcome = runner.analyse_file(examples_dir / "job_5.h5", source=str(examples_dir / "job_5.h5"))
    db = runner
    table = outcome.table_name
    assert table == "job_5"
    duplicates = query(
        db,
        f"SELECT count(*) FROM (SELECT step, node, time FROM {table} "
        "GROUP BY ALL HAVING count(*) > 1)",
    )
    assert duplicates == [(0,)]
    # Cumulative energy restarts per step; the batch step's last value is the job's energy.
    last = dict(query(db, f"SELECT step, max(energy_j) FROM {table} GROUP BY step"))
    assert last == pytest.approx(TRUE_STEP_ENERGY_J)
    # Two tasks were sampled together in step 0; RSS is the sum over them in MiB.
    tasks = query(db, f"SELECT max(n_tasks_sampled), max(rss_mib) FROM {table} WHERE step = '0'")
    assert tasks[0][0] == 2 and tasks[0][1] > 0


def test_site_energy_plugin_sets_the_scope_of_power(tmp_path, examples_dir):
    from analysis_module.app.runner import build_runner
    from analysis_module.settings import AnalysisSettings

    settings = AnalysisSettings(DUCKDB_PATH=tmp_path / "r.duckdb", ENERGY_PLUGIN="pm_counters")
    runner = build_runner(settings)
    try:
        s = runner.analyse_file(examples_dir / "job_4.h5", source="j4").summary
    finally:
        runner.close()
    assert (s["power_source"], s["energy_scope"]) == ("Power", "node")
