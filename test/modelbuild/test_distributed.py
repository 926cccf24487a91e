"""``--distribute``: two local worker processes of a MultiWorkerMirroredStrategy job (TF_CONFIG on
127.0.0.1) pretrain a tiny embedding on two dataset files and end with identical weights; only the
chief exports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import labelled_dataset

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name('distributed_worker.py')


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_identical_weights(tmp_path: Path) -> None:
    datasets = [str(labelled_dataset(tmp_path / f'robot_{i}.db', 40, seed=i)) for i in range(2)]
    cluster = {'worker': [f'127.0.0.1:{port}' for port in _free_ports(2)]}
    outs = [tmp_path / f'worker_{i}' for i in range(2)]
    processes = []
    for index, out in enumerate(outs):
        out.mkdir()
        env = {**os.environ, 'PYTHONPATH': str(ROOT), 'TF_CONFIG': json.dumps({'cluster': cluster, 'task': {
            'type': 'worker', 'index': index}})}
        log = (out / 'log.txt').open('w')
        processes.append(subprocess.Popen([sys.executable, str(WORKER), str(out), *datasets], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=900) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0], [(out / 'log.txt').read_text()[-3000:] for out in outs]
    first, second = (np.load(out / f'weights_{i}.npz') for i, out in enumerate(outs))
    assert len(first.files) == len(second.files) > 50  # MobileNetV2 up to block 6 and the head
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    chief, other = (json.loads((out / f'result_{i}.json').read_text()) for i, out in enumerate(outs))
    assert chief['loss'] == other['loss']
    assert chief['val_loss'] == other['val_loss']  # summed over both workers: both stop alike
    assert chief['paths'] == ['keras']
    assert chief['workers'] == 2
    assert other['paths'] == []
    assert (outs[0] / 'models' / 'embedding.keras').exists()
    assert not (outs[1] / 'models').exists()
