"""End to end on the simulator: the labeler's labels agree with the ground truth where it gives one."""

from __future__ import annotations

import dataclasses

import pytest

from selfsup_perception.sim.agreement import label_agreement
from selfsup_perception.sim.bagwriter import simulate_to_bag


@pytest.mark.slow
def test_labels_agree_with_ground_truth_and_more_so_with_tight_tolerances(tmp_path, robot_config):
    simulate_to_bag(tmp_path / 'bag', seed=3, seconds=90.0)
    default = label_agreement(tmp_path / 'bag', robot_config)
    tight = label_agreement(tmp_path / 'bag', dataclasses.replace(
        robot_config, tolerance_forward=0.01, tolerance_lateral=0.01, tolerance_heading=0.05))
    assert default.known > 5000
    assert default.agreement > 0.96
    # The disagreements come from the tolerances: a tighter rule labels less but agrees more.
    assert tight.known < default.known
    assert tight.agreement > default.agreement
