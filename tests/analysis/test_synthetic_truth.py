"""Synthetic Slurm files with a known truth: multi-node, IPMI, GPU, xcc, sentinels, gaps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.analysis.conftest import one_node_job, query
from tests.support.slurm_synth import (
    NodeSpec,
    StepSpec,
    TaskSeries,
    power_pattern,
    true_energy_left,
    write_job_file,
    write_node_step_file,
)

T0 = 1_795_000_000
NO_VAL = 4294967294


def epochs(n: int, step: int = 1, start: int = T0) -> np.ndarray:
    return start + step * np.arange(n, dtype=np.int64)


def test_multi_node_energy_is_the_sum_of_nodes_and_peak_is_simultaneous(runner_factory, tmp_path):
    t = epochs(61)
    ramp = (100 + np.arange(61)).astype(np.uint64)  # trapezoid is exact on a ramp
    flat = np.full(61, 200, dtype=np.uint64)
    path = tmp_path / "job_9.h5"
    write_job_file(
        path,
        job_id=9,
        steps=[
            StepSpec(
                "0",
                [
                    NodeSpec("n1", 0, T0, energy={"NodePower": ramp}, energy_epochs=t),
                    NodeSpec("n2", 1, T0, energy={"NodePower": flat}, energy_epochs=t),
                ],
            )
        ],
    )
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["energy_j"] == pytest.approx((100 + 160) / 2 * 60 + 200 * 60)
    assert s["n_nodes"] == 2 and s["power_source"] == "NodePower"
    assert s["energy_scope"] == "node"
    assert s["peak_power_w"] == 360.0 and s["peak_power_epoch"] == T0 + 60
    assert s["coverage"] == 1.0


def test_ipmi_components_are_reported_apart_and_sentinels_are_gaps(runner_factory, tmp_path):
    t = epochs(31)
    node = np.full(31, 300, dtype=np.uint64)
    node[10] = NO_VAL  # a failed sensor read: a gap, not 4 GW
    socket = np.full(31, 120, dtype=np.uint64)
    path = one_node_job(
        tmp_path / "job_ipmi.h5", epochs=t, energy={"NodePower": node, "Socket0Power": socket}
    )
    s = runner_factory().analyse_file(path, source=str(path)).summary
    # Intervals touching the missing sample are not integrated: 28 of 30 seconds remain.
    assert s["energy_j"] == pytest.approx(300 * 28)
    assert s["gap_samples"] == 1 and s["gap_intervals"] == 2
    assert s["coverage"] == pytest.approx(28 / 30)
    assert s["peak_power_w"] == 300.0
    # The socket sensor read fine throughout: its own 30 s count, never added to the node.
    assert json.loads(s["component_energy_json"]) == pytest.approx({"Socket0Power": 120 * 30})


def test_gpu_only_node_sums_its_gpus(runner_factory, tmp_path):
    t = epochs(11)
    gpus = {f"GPU{i}Power": np.full(11, 50 * (i + 1), dtype=np.uint64) for i in range(3)}
    path = one_node_job(tmp_path / "job_gpu.h5", epochs=t, energy=gpus)
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["energy_scope"] == "gpu"
    assert s["energy_j"] == pytest.approx((50 + 100 + 150) * 10)


def test_xcc_sums_interval_joules(runner_factory, tmp_path):
    t = epochs(21, step=2)
    joules = np.full(21, 400, dtype=np.uint64)  # 200 W over 2 s intervals
    watts = np.full(21, 200, dtype=np.uint64)
    path = one_node_job(
        tmp_path / "job_xcc.h5", epochs=t, energy={"Energy": joules, "CurrPower": watts}
    )
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["power_source"] == "Energy" and s["energy_scope"] == "node"
    # The first sample's joules belong to an interval before the series: 20 intervals remain.
    assert s["energy_j"] == pytest.approx(400 * 20)
    assert s["peak_power_w"] == 200.0
    assert s["integration"] == "sum"  # the rule recorded: summed, whatever the setting


def test_a_long_gap_is_not_integrated(runner_factory, tmp_path):
    t = np.concatenate([epochs(11), epochs(11, start=T0 + 100)])  # suspended for 90 s
    path = one_node_job(
        tmp_path / "job_gap.h5", epochs=t, energy={"NodePower": np.full(22, 100, np.uint64)}
    )
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["energy_j"] == pytest.approx(100 * 20)
    assert s["time_to_solution_s"] == 110.0
    assert s["coverage"] == pytest.approx(20 / 110)


def test_emulated_pattern_over_many_minutes_matches_truth(runner_factory, tmp_path):
    t = epochs(1200)
    power = power_pattern(t).astype(np.uint64)
    path = one_node_job(tmp_path / "job_long.h5", epochs=t, energy={"Power": power})
    s = runner_factory(rule="left").analyse_file(path, source=str(path)).summary
    assert s["energy_j"] == pytest.approx(true_energy_left(t, power))


def test_gpu_task_fields_and_wrapped_elapsed_times(runner_factory, tmp_path):
    t = epochs(10, step=10)
    tasks = {
        0: TaskSeries(epochs=t, gpu=True),
        1: TaskSeries(epochs=t, gpu=True),
    }
    node = NodeSpec(
        "g1",
        0,
        T0 + 5,
        energy={"NodePower": np.full(10, 500, np.uint64)},
        energy_epochs=t,
        tasks=tasks,
    )
    path = tmp_path / "31_0_g1.h5"
    write_node_step_file(path, node=node, job_id=31, step="0")
    runner = runner_factory()
    outcome = runner.analyse_file(path, source=str(path))
    assert outcome.status == "ok", outcome.error
    assert outcome.summary["job_id"] == "31" and outcome.summary["n_tasks"] == 2
    # The step started 5 s after the first sample: Slurm wraps that to a huge u64.
    elapsed = query(runner, f"SELECT min(elapsed_s) FROM {outcome.table_name}")
    assert elapsed == [(-5,)]
    gpu = query(runner, f"SELECT count(gpu_util_pct) FROM {outcome.table_name}")
    assert gpu[0][0] > 0


def test_a_node_without_energy_lowers_coverage(runner_factory, tmp_path):
    t = epochs(11)
    path = tmp_path / "job_half.h5"
    write_job_file(
        path,
        job_id=12,
        steps=[
            StepSpec(
                "0",
                [
                    NodeSpec(
                        "n1",
                        0,
                        T0,
                        energy={"NodePower": np.full(11, 100, np.uint64)},
                        energy_epochs=t,
                    ),
                    NodeSpec("n2", 1, T0, tasks={0: TaskSeries(epochs=t)}),
                ],
            )
        ],
    )
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["n_nodes"] == 2 and s["energy_j"] == pytest.approx(1000)
    assert s["coverage"] == pytest.approx(0.5)


def test_time_to_solution_spans_network_and_filesystem_samples(runner_factory, tmp_path):
    t = epochs(11)
    late = epochs(3, step=10, start=T0 + 10)  # the last Lustre sample comes 10 s after power
    node = NodeSpec(
        "n1",
        0,
        T0,
        energy={"NodePower": np.full(11, 100, np.uint64)},
        energy_epochs=t,
        filesystem={
            "Reads": np.zeros(3, np.uint64),
            "ReadMB": np.zeros(3),
            "Writes": np.zeros(3, np.uint64),
            "WriteMB": np.zeros(3),
        },
        filesystem_epochs=late,
    )
    path = tmp_path / "job_fs.h5"
    write_job_file(path, job_id=13, steps=[StepSpec("0", [node])])
    s = runner_factory().analyse_file(path, source=str(path)).summary
    assert s["time_to_solution_s"] == 30.0
    assert s["energy_j"] == pytest.approx(1000)
