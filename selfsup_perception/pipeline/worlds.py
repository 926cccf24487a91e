"""Simulated, labelled worlds made once and cached, and work spread over spawned single-threaded processes.

The benchmark and ``make-models`` both turn seeds into datasets here. Simulating happens in spawned worker
processes, never in the caller's: MuJoCo's EGL renderer crashes in a process that has loaded TensorFlow
(``make-models`` has) or rclpy, and the worlds are the parallelism (one thread per library in a worker).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from selfsup_perception.core.config import load_config
from selfsup_perception.core.modelcard import atomic_write_bytes
from selfsup_perception.core.resources import robot_config

#: What a worker process is started with: one thread per library (the jobs are the parallelism), no
#: per-job progress bars (the parent shows one over the jobs).
WORKER_ENVIRONMENT = {'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
                      'TQDM_DISABLE': '1'}

Job = TypeVar('Job')
Result = TypeVar('Result')


def simulated_dataset(folder: Path, seed: int, run: int, minutes: float) -> tuple[Path, dict[str, Any]]:
    """The labelled dataset of ``minutes`` simulated minutes of run ``run`` in world ``seed``, made once and kept
    in ``folder`` (moved into place when complete, so an interrupted run leaves no half dataset), and how it
    was made (``making_of``) with ``cached``: whether this call found it made."""
    from selfsup_perception.rosio.bag2dataset import bag_to_dataset
    from selfsup_perception.sim.bagwriter import simulate_to_bag

    path = folder / f'world_{seed}_run{run}_{minutes * 60:g}s.db'
    if path.exists():
        return path, {**making_of(path), 'cached': True}
    folder.mkdir(parents=True, exist_ok=True)
    partial, bag = path.with_name(f'.{path.name}.partial'), path.with_name(f'.{path.stem}_bag')
    try:
        remove_partial(partial, bag)
        summary = simulate_to_bag(bag, seed, minutes * 60.0, config_path=robot_config(), run=run)
        clock = time.perf_counter()
        bag_to_dataset(bag, load_config(robot_config()), partial)
        making = {'sim_seconds': summary.sim_seconds, 'simulate_seconds': round(summary.wall_seconds, 1),
                  'label_seconds': round(time.perf_counter() - clock, 1),
                  'load_average': round(os.getloadavg()[0], 2)}
        atomic_write_bytes(path.with_suffix('.json'), (json.dumps(making) + '\n').encode())
        partial.replace(path)
    finally:
        remove_partial(partial, bag)
    return path, {**making, 'cached': False}


def making_of(path: Path) -> dict[str, Any]:
    """How a cached dataset was made: simulated seconds, wall seconds of simulating and of labelling, the load
    average then (written beside it, ``.json``); empty when that record is missing."""
    try:
        return dict(json.loads(path.with_suffix('.json').read_text()))
    except (OSError, ValueError):
        return {}


def remove_partial(dataset: Path, bag: Path) -> None:
    """Remove a partial dataset (with its SQLite side files and writer lock) and a bag folder, where they exist."""
    for path in (dataset, *(dataset.with_name(dataset.name + side) for side in ('-wal', '-shm', '.lock'))):
        path.unlink(missing_ok=True)
    shutil.rmtree(bag, ignore_errors=True)


def in_workers(function: Callable[[Job], Result], jobs: Sequence[Job], workers: int, *, desc: str = 'worlds',
               label: Callable[[Result], str] = str, progress: bool = True) -> list[Result]:
    """``function`` of every job in ``workers`` spawned single-threaded processes; the results in job order.

    ``function`` must be importable (a module-level function or a ``functools.partial`` of one); ``label``
    says what each finished job was on the progress bar.
    """
    results: dict[int, Result] = {}
    environment = {**WORKER_ENVIRONMENT, 'MUJOCO_GL': os.environ.get('MUJOCO_GL', 'egl')}
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))),
                               mp_context=multiprocessing.get_context('spawn'), initializer=_start_worker)
    try:
        with _environment(environment):  # workers start while the jobs are submitted
            futures: dict[Future[Result], int] = {pool.submit(function, job): i for i, job in enumerate(jobs)}
        with tqdm(total=len(jobs), desc=desc, unit='job', disable=not progress) as bar:
            for future in as_completed(futures):
                result = results[futures[future]] = future.result()
                bar.set_postfix_str(label(result))
                bar.update()
    finally:
        pool.shutdown(cancel_futures=True)
    return [results[i] for i in range(len(jobs))]


def _start_worker() -> None:
    """In each worker: OpenCV single-threaded too (the environment variables cover the other libraries)."""
    import cv2

    cv2.setNumThreads(1)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set while the worker processes are started (they inherit it), then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
