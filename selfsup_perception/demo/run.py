"""The demo (``selfsup demo``): the closed loop on the embedded simulator, over real ROS 2 topics, with a report.

Phase 1 (drive): the simulated robot wanders in a world it has never seen (an evaluation seed); the
``sim_robot``, ``labeler``, ``trainer``, ``obstacle_detector`` and ``segmenter`` nodes run as processes
(as ``ros2 launch`` would start them) and talk over real ROS 2 topics; this process watches them. The
labeler labels (obstacle labels and pixel self-labels), the trainer fine-tunes the obstacle head and the
split FCN-8s's segmentation head on the robot's own data and swaps them into the detector and the segmenter.
Phase 2 (evaluate): another run in the same world (other random turns) is recorded and labelled; the
shipped heads and the heads fine-tuned on the robot are scored against the simulator's ground truth: the
obstacle heads at every distance, the segmentation heads against its masks (mIoU, free-space scan).
Phase 3 writes ``report.md``, the plots and ``metrics.json`` into the output directory.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfsup_perception.core.config import load_config
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.resources import package_file, robot_config
from selfsup_perception.demo.monitor import Monitor
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.nodes import NODES
from selfsup_perception.pipeline.heads import load_head, score_heads
from selfsup_perception.pipeline.robot_training import train_on_dataset
from selfsup_perception.pipeline.seg_heads import fit_on_dataset, open_split_model, save_fit
from selfsup_perception.pipeline.segmentation import SegEvaluationOptions, evaluate_models, load_data
from selfsup_perception.reports.demo import write_demo_report
from selfsup_perception.reports.heads import write_report as write_head_report
from selfsup_perception.reports.segmentation import write_report as write_seg_report
from selfsup_perception.sim import seeds

PHASES = ('drive', 'evaluate', 'report')
#: The demo's world: from the demo range (no model building touches it), with a visible appearance shift
#: (a violet floor and orange walls: the shipped models saw many worlds, none of the demo range).
DEMO_SEED = seeds.DEMO.start
#: The split FCN's files in the models folder, and the robot-adapted head the demo writes.
BACKBONE, SHIPPED_SEG_HEAD, ADAPTED_SEG_HEAD = 'fcn8s_backbone.tflite', 'fcn8s_head.npz', 'fcn8s_head_adapted.npz'


@dataclass(frozen=True)
class DemoOptions:
    """The demo's knobs (``selfsup demo --help`` documents each)."""

    minutes: float = 5.0
    seed: int = DEMO_SEED
    out: Path = Path('demo_output')
    models: Path = field(default_factory=lambda: package_file('models'))
    backend: str = 'tflite'
    real_time_factor: float = 1.0
    retrain_after: int = 300
    eval_minutes: float = 1.5


def _phase(name: str, text: str) -> None:
    print(f'[{name}] {text}', flush=True)


def _start_nodes(options: DemoOptions, out: Path, config_path: Path,
                 domain: int) -> dict[str, subprocess.Popen[bytes]]:
    """Every node in a process of its own (as ``ros2 launch`` would): no Python GIL shared between them."""
    models = options.models
    parameters: dict[str, dict[str, object]] = {
        'labeler': {'dataset_path': out / 'dataset.db'},
        'trainer': {'dataset_path': out / 'dataset.db', 'embedding_model': models / 'embedding.tflite',
                    'head_path': out / 'head_finetuned.npz', 'start_head': models / 'head.npz',
                    'backend': options.backend, 'retrain_after': options.retrain_after, 'poll_period': 5.0,
                    'seg_backbone': models / BACKBONE, 'seg_start_head': models / SHIPPED_SEG_HEAD,
                    'seg_head_path': out / 'fcn8s_head_robot.npz', 'seg_retrain_after': options.retrain_after},
        'obstacle_detector': {'embedding_model': models / 'embedding.tflite', 'head_path': models / 'head.npz',
                              'backend': options.backend},
        'segmenter': {'model_path': models / BACKBONE, 'head_path': models / SHIPPED_SEG_HEAD,
                      'backend': options.backend},
        'sim_robot': {'seed': options.seed, 'real_time_factor': options.real_time_factor, 'config_file': config_path},
    }
    environment = {**os.environ, 'ROS_DOMAIN_ID': str(domain), 'MUJOCO_GL': os.environ.get('MUJOCO_GL', 'egl')}
    processes = {}
    for name, values in parameters.items():
        command = [sys.executable, '-m', NODES[name], '--ros-args', '--params-file', str(config_path),
                   '--log-level', 'warn']
        for key, value in values.items():
            command += ['-p', f'{key}:={value}']
        log = (out / 'logs' / f'{name}.log').open('w')
        processes[name] = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    return processes


def _stop_nodes(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Ctrl-C to every node (the labeler stores its pending frames), then wait for them."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for name, process in processes.items():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _phase('drive', f'{name} did not stop; killing it')
            process.kill()


def drive(options: DemoOptions, out: Path, config_path: Path) -> dict[str, Any]:
    """Phase 1: the simulated robot and the whole pipeline on real topics, until --minutes have passed."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.utilities import try_shutdown

    config = load_config(config_path)
    (out / 'logs').mkdir()
    domain = random.randint(1, 200)
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain)
    executor = SingleThreadedExecutor(context=context)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        monitor = Monitor(context, len(config.distances), len(config.sensors), 3)
        executor.add_node(monitor.node)
        threading.Thread(target=executor.spin, daemon=True).start()
        processes = _start_nodes(options, out, config_path, domain)
        start = time.monotonic()
        next_print = 0.0
        live_aucs: list[tuple[float, float]] = []
        end = options.minutes * 60.0
        while monitor.sim_time < end:
            time.sleep(0.2)
            failed = [name for name, process in processes.items() if process.poll() is not None]
            if failed:
                raise RuntimeError(f'{", ".join(failed)} stopped (see {out / "logs"})')
            if time.monotonic() - start > 60 + 3 * end / max(options.real_time_factor, 0.1):
                _phase('drive', 'the simulation is far behind its clock; stopping early')
                break
            if time.monotonic() - start < next_print:
                continue
            next_print = time.monotonic() - start + 10.0
            auc = monitor.live_auc()
            if auc is not None:
                live_aucs.append((monitor.sim_time, auc))
            labeler = monitor.status.get('labeler', {})
            trainer = monitor.status.get('trainer', {})
            miou = monitor.live_miou()
            _phase('drive', (
                f'sim {monitor.sim_time:5.1f}/{end:.0f} s | frames stored {labeler.get("frames_out", "0")} '
                f'(pending {labeler.get("pending_frames", "0")}) | trainer: {trainer.get("trainings", "0")} '
                f'trainings, {len(monitor.heads)} heads published, val AUC {trainer.get("validation_auc") or "-"} | '
                f'detector AUC vs truth {"-" if auc is None else f"{auc:.3f}"} | '
                f'segmenter mIoU {"-" if miou is None else f"{miou:.3f}"}'))
        return {
            'sim_seconds': monitor.sim_time,
            'wall_seconds': time.monotonic() - start,
            'heads_published': list(monitor.heads),
            'live_detector_auc': live_aucs,
            'live_segmentation_miou': monitor.live_miou(),
            'diagnostics': dict(monitor.status),
        }
    finally:
        _stop_nodes(processes)
        executor.shutdown(timeout_sec=5.0)
        try_shutdown(context=context)


def finetune(out: Path, models: Path, backend: str) -> Path:
    """The final head: the shipped head fine-tuned on everything the robot labelled (the trainer's code)."""
    embedder = Embedder.open(models / 'embedding.tflite', backend=backend)
    with Dataset(out / 'dataset.db') as dataset:
        distances, sensors = dataset.distances, dataset.sensors
    shipped = load_head(models / 'head.npz', embedder, distances, sensors)
    result = train_on_dataset(out / 'dataset.db', embedder, HeadOptions(hidden=shipped.hidden), start=shipped,
                              progress=True)
    path = out / 'head_finetuned.npz'
    result.head.save(path, made_by={'trainer': 'selfsup demo (the trainer node\'s fit on every frame at the end)',
                                    'dataset': str(out / 'dataset.db')}, metrics=result.history.summary())
    _phase('drive', f'fine-tuned head on {result.frames.labelled} labelled frames -> {path}')
    return path


def adapt_segmentation(out: Path, models: Path, backend: str) -> Path:
    """The final segmentation head: the shipped one fine-tuned on the drive's pixel self-labels (the trainer's
    code); the shipped head itself when no epoch beat it."""
    fit = fit_on_dataset(out / 'dataset.db', open_split_model(models / BACKBONE, models / SHIPPED_SEG_HEAD, backend),
                         progress=True)
    path = out / ADAPTED_SEG_HEAD
    save_fit(fit, path, out / 'dataset.db')
    _phase('drive', f'segmentation head fine-tuned on {fit.frames} self-labelled frames '
                    f'({"better" if fit.improved else "no better than the shipped one"}) -> {path}')
    return path


def evaluate(options: DemoOptions, out: Path, config_path: Path, head: Path) -> dict[str, Any]:
    """Phase 2: a new run in the same world, scored against the simulator's ground truth."""
    from selfsup_perception.rosio.bag2dataset import bag_to_dataset
    from selfsup_perception.sim.bagwriter import simulate_to_bag

    config = load_config(config_path)
    bag = out / 'evaluation_run'
    shutil.rmtree(bag, ignore_errors=True)
    _phase('evaluate', f'recording {options.eval_minutes} min of another run in world {options.seed}')
    simulate_to_bag(bag, options.seed, options.eval_minutes * 60.0, config_path=config_path, run=1)
    eval_db = out / 'evaluation.db'
    eval_db.unlink(missing_ok=True)
    bag_to_dataset(bag, config, eval_db)
    shipped = out / 'head_shipped.npz'
    shutil.copy(options.models / 'head.npz', shipped)
    shutil.copy(options.models / 'head.json', out / 'head_shipped.json')
    embedder = Embedder.open(options.models / 'embedding.tflite', options.backend)
    scores = score_heads(eval_db, embedder, [shipped, head], n_bootstrap=300, progress=True)
    title = f'Obstacle detection in world {options.seed} (never seen in training): ROC AUC vs ground truth'
    write_head_report(out / 'evaluation', scores.labels, ground_truth=scores.ground_truth, title=title)
    metrics = {'title': title, 'runs': scores.labels, 'ground_truth': scores.ground_truth}
    with Dataset(eval_db) as dataset:
        frames = len(dataset)
    return {'frames': frames, 'obstacles': metrics, 'segmentation': evaluate_segmentation(options, out, eval_db)}


def evaluate_segmentation(options: DemoOptions, out: Path, eval_db: Path) -> dict[str, Any]:
    """The shipped FCN-8s and the split one with the robot-adapted head, scored on the evaluation run's frames
    against the simulator's masks (with the free-space scan)."""
    images, truth = load_data(eval_db)
    document = evaluate_models(SegEvaluationOptions(models=[options.models / 'fcn8s.tflite', out / ADAPTED_SEG_HEAD],
                                                    backbone=options.models / BACKBONE, backend=options.backend,
                                                    camera_config=robot_config()), images, truth, eval_db)
    write_seg_report(out / 'segmentation', document)
    return document


def run_demo(options: DemoOptions) -> int:
    """The three phases; 0 when the report is written, 2 when a shipped model is missing."""
    for name in ('embedding.tflite', 'head.npz', 'fcn8s.tflite', BACKBONE, SHIPPED_SEG_HEAD):
        if not (options.models / name).exists():
            print(f'error: {options.models / name} is missing; build the models with `make models`')
            return 2
    out = options.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config_path = robot_config()
    started = time.monotonic()
    _phase('drive', f'world {options.seed}, {options.minutes} simulated minutes at {options.real_time_factor}x '
                    'real time')
    live = drive(options, out, config_path)
    head = finetune(out, options.models, options.backend)
    adapt_segmentation(out, options.models, options.backend)
    evaluation = evaluate(options, out, config_path, head)
    _phase('report', f'writing {out}')
    write_demo_report(out, options, live, evaluation, time.monotonic() - started)
    print((out / 'report.md').read_text())
    return 0
