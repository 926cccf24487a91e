"""Ctrl-C, as a user presses it: real node processes, real SIGINTs, during slow work; quiet and consistent.

One Ctrl-C lets the work in progress finish; a second one cuts the waiting short. Neither may print a
traceback (KeyboardInterrupt from destroy_node, RCLError from a publisher whose context is gone).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.testing.datasets import write_dataset

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / 'test' / 'data' / 'tiny_float.tflite'
NOISE = ('Traceback', 'KeyboardInterrupt', 'RCLError', 'context is invalid', 'processing_errors', 'failed')


class NodeProcess:
    """A node in a process of its own (test/nodes/slow_node.py), its output read line by line."""

    def __init__(self, name: str, *params: str, config: bool = False) -> None:
        env = {**os.environ, 'ROS_DOMAIN_ID': str(random.randint(1, 200)), 'PYTHONPATH': str(ROOT),
               'PYTHONUNBUFFERED': '1'}
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name('slow_node.py')), name, '--ros-args',
             *(['--params-file', str(ROOT / 'config/robot.yaml')] if config else []),
             *[arg for param in params for arg in ('-p', param)]],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        while not any(text in line for line in self.lines):
            line = self._queue.get(timeout=timeout)
            assert line is not None, f'the node ended before printing {text!r}:\n{"".join(self.lines)}'
            self.lines.append(line)

    def interrupt(self, again_after: float | None = None) -> None:
        """Ctrl-C; pressed again ``again_after`` s later (two signals at once would arrive as one)."""
        self.process.send_signal(signal.SIGINT)
        if again_after is not None:
            time.sleep(again_after)
            self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        code = self.process.wait(timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code, ''.join(self.lines)


@pytest.fixture
def run():
    started: list[NodeProcess] = []

    def start(name: str, *params: str, config: bool = False) -> NodeProcess:
        started.append(NodeProcess(name, *params, config=config))
        return started[-1]

    yield start
    for node in started:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait()


def assert_quiet(output: str) -> None:
    noisy = [line for line in output.splitlines() if any(word in line for word in NOISE)]
    assert not noisy, output


def test_ctrl_c_during_a_slow_frame_lets_the_detector_finish_it_quietly(run, tmp_path, robot_config):
    from test_obstacle_detector import save_head

    head = save_head(tmp_path / 'head.npz', robot_config, 0.0)
    node = run('obstacle_detector', f'embedding_model:={MODEL}', 'backend:=tflite', f'head_path:={head}',
               config=True)
    node.wait_for('frame started')
    node.interrupt()  # the context goes while the frame is in the model; its outputs have nowhere to go
    code, output = node.finish()
    assert code == 0
    assert_quiet(output)


def test_two_quick_ctrl_c_stop_the_trainer_mid_step_quietly(run, tmp_path, robot_config):
    write_dataset(tmp_path / 'd.db', robot_config, 20)
    node = run('trainer', f'dataset_path:={tmp_path / "d.db"}', f'embedding_model:={MODEL}', 'backend:=tflite',
               f'head_path:={tmp_path / "head.npz"}', 'poll_period:=0.1')
    node.wait_for('step started')
    node.interrupt(again_after=0.3)
    code, output = node.finish()
    assert code == 0
    assert_quiet(output)
    assert 'abandoning the training in progress' in output


def test_two_quick_ctrl_c_stop_the_labeler_storing_and_the_dataset_stays_whole(run, tmp_path):
    node = run('labeler', f'dataset_path:={tmp_path / "d.db"}', config=True)
    node.wait_for('labelling')
    time.sleep(0.5)  # spinning by now (a Ctrl-C inside that very log call would fail its /rosout copy)
    node.interrupt()
    node.wait_for('storing')  # the first pending frame goes in
    node.interrupt()
    code, output = node.finish()
    assert code == 0
    assert_quiet(output)
    assert 'labelled frames not stored' in output
    with Dataset(tmp_path / 'd.db') as dataset:
        data = dataset.read_all()
        assert 1 <= len(dataset) < 5
        assert data.stamps.tolist() == [float(i) for i in range(len(dataset))]  # whole frames, in order



def test_start_errors_exit_2_with_the_reason_and_no_traceback(run, tmp_path):
    (tmp_path / 'horizon.yaml').write_text('/**:\n  ros__parameters:\n    labeling: {horizon: ten}\n')
    without_config = run('labeler', f'dataset_path:={tmp_path / "d.db"}')
    code, output = without_config.finish()
    assert code == 2
    assert 'sensors.names: no sensors are configured' in output
    assert '--params-file' in output
    assert 'Traceback' not in output
    (tmp_path / 'not.db').write_text('no SQLite here' * 50)
    bad_dataset = run('labeler', f'dataset_path:={tmp_path / "not.db"}', config=True)
    code, output = bad_dataset.finish()
    assert code == 2
    assert f'dataset_path: {tmp_path / "not.db"} cannot be used as a dataset' in output
    assert 'Traceback' not in output
    process = subprocess.run([sys.executable, '-m', 'selfsup_perception.nodes.labeler', '--ros-args', '--params-file',
                              str(tmp_path / 'horizon.yaml')], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, 'ROS_DOMAIN_ID': str(random.randint(1, 200))}, check=False)
    assert process.returncode == 2
    assert "labeling.horizon: Trying to set parameter 'labeling.horizon' to 'ten'" in process.stderr
    assert 'Traceback' not in process.stderr
