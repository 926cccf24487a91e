"""``selfsup demo``: the closed loop on the embedded simulator, over real ROS 2 topics, with a report.

Phase 1 (drive): the simulated robot wanders in a world it has never seen (an evaluation seed); the
``sim_robot``, ``labeler``, ``trainer``, ``obstacle_detector`` and ``segmenter`` nodes run as processes
(as ``ros2 launch`` would start them) and talk over real ROS 2 topics; this process watches them. The
labeler labels, the trainer fine-tunes the head on the robot's own data and swaps it into the detector,
the segmenter runs. Phase 2 (evaluate): another run in the same world
(other random turns) is recorded and labelled; the shipped head and the head fine-tuned on the robot
are scored against the simulator's ground truth at every distance, the segmenter against its masks.
Phase 3 writes ``report.md``, the plots and ``metrics.json`` into the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.config import load_config
from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.resources import package_file, robot_config
from selfsup_perception.core.segmentation import IGNORE_INDEX, confusion_matrix, segmentation_scores

PHASES = ('drive', 'evaluate', 'report')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--minutes', type=float, default=5.0, help='simulated minutes of driving (phase 1)')
    parser.add_argument('--seed', type=int, default=1001, help='world seed (training used 0-99: unseen)')
    parser.add_argument('--out', type=Path, default=Path('demo_output'), help='output directory (replaced)')
    parser.add_argument('--models', type=Path, default=package_file('models'),
                        help='directory with embedding.tflite, head.npz, fcn8s.tflite')
    parser.add_argument('--backend', default='tflite', help='inference backend of the nodes (auto, tflite, ...)')
    parser.add_argument('--real-time-factor', type=float, default=1.0,
                        help='simulated seconds per wall second while driving')
    parser.add_argument('--retrain-after', type=int, default=300, help='trainer: new labelled frames per retraining')
    parser.add_argument('--eval-minutes', type=float, default=1.5, help='simulated minutes of the evaluation run')


class Monitor:
    """A node of the demo's own: clock, ground truth, detector and segmenter outputs, diagnostics."""

    def __init__(self, context: Any, distances: int, sensors: int, classes: int) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image, LaserScan
        from std_msgs.msg import Float32MultiArray, String

        from selfsup_perception.nodes.common import MODEL_QOS, SENSOR_QOS

        self.node = Node('demo_monitor', context=context)
        self.shape = (distances, sensors)
        self.classes = classes
        self.sim_time = 0.0
        self.truth: dict[float, np.ndarray] = {}
        self.truth_masks: dict[float, np.ndarray] = {}
        self.predictions: deque[tuple[float, np.ndarray]] = deque(maxlen=600)
        self._pending: np.ndarray | None = None
        self.confusion = np.zeros((classes, classes), np.int64)
        self.heads: list[str] = []
        self.status: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        n = self.node
        n.create_subscription(Clock, '/clock', self._on_clock, 10)
        n.create_subscription(Image, '/ground_truth/obstacles', self._on_truth, 50)
        n.create_subscription(Image, '/ground_truth/segmentation', self._on_truth_mask, 50)
        n.create_subscription(Float32MultiArray, '/obstacle_detector/probabilities', self._on_probabilities, 50)
        n.create_subscription(LaserScan, '/obstacle_detector/scan', self._on_scan, 50)
        n.create_subscription(Image, '/segmenter/class_mask', self._on_class_mask, SENSOR_QOS)
        n.create_subscription(String, '/trainer/model', lambda m: self.heads.append(m.data), MODEL_QOS)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)

    @staticmethod
    def _stamp(msg: Any) -> float:
        return round(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, 6)

    def _on_clock(self, msg: Any) -> None:
        self.sim_time = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _on_truth(self, msg: Any) -> None:
        self.truth[self._stamp(msg)] = np.asarray(msg.data, np.uint8).reshape(self.shape)

    def _on_truth_mask(self, msg: Any) -> None:
        with self._lock:
            self.truth_masks[self._stamp(msg)] = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width)
            while len(self.truth_masks) > 100:
                self.truth_masks.pop(next(iter(self.truth_masks)))

    def _on_probabilities(self, msg: Any) -> None:
        self._pending = np.asarray(msg.data, np.float32).reshape(self.shape)

    def _on_scan(self, msg: Any) -> None:
        # The detector publishes a frame's probabilities, then its scan (which carries the stamp).
        if self._pending is not None:
            self.predictions.append((self._stamp(msg), self._pending))
            self._pending = None

    def _on_class_mask(self, msg: Any) -> None:
        with self._lock:
            truth = self.truth_masks.get(self._stamp(msg))
        if truth is None or (msg.height, msg.width) != truth.shape:
            return
        predicted = np.asarray(msg.data, np.uint8).reshape(truth.shape)
        self.confusion += confusion_matrix(truth, predicted, self.classes, IGNORE_INDEX)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            self.status[status.name.split(': ')[-1]] = {kv.key: kv.value for kv in status.values}

    def live_auc(self) -> float | None:
        """Detector AUC against ground truth over the recent frames, all cells pooled."""
        pairs = [(p, self.truth[s]) for s, p in list(self.predictions) if s in self.truth]
        if len(pairs) < 20:
            return None
        scores = np.stack([p for p, _ in pairs]).ravel()
        truth = np.stack([t for _, t in pairs]).ravel()
        auc = roc_auc(scores, truth)
        return None if np.isnan(auc) else float(auc)

    def live_miou(self) -> float | None:
        return segmentation_scores(self.confusion)['mean_iou']


def _phase(name: str, text: str) -> None:
    print(f'[{name}] {text}', flush=True)


NODE_MODULES = {
    'sim_robot': 'selfsup_perception.nodes.sim_robot',
    'labeler': 'selfsup_perception.nodes.labeler',
    'trainer': 'selfsup_perception.nodes.trainer',
    'obstacle_detector': 'selfsup_perception.nodes.obstacle_detector',
    'segmenter': 'selfsup_perception.nodes.segmenter',
}


def _start_nodes(args: argparse.Namespace, out: Path, config_path: Path, domain: int) -> dict[str, subprocess.Popen]:
    """Every node in a process of its own (as ``ros2 launch`` would): no Python GIL shared between them."""
    models = args.models
    parameters = {
        'labeler': {'dataset_path': out / 'dataset.db'},
        'trainer': {'dataset_path': out / 'dataset.db', 'embedding_model': models / 'embedding.tflite',
                    'head_path': out / 'head_finetuned.npz', 'start_head': models / 'head.npz',
                    'backend': args.backend, 'retrain_after': args.retrain_after, 'poll_period': 5.0},
        'obstacle_detector': {'embedding_model': models / 'embedding.tflite', 'head_path': models / 'head.npz',
                              'backend': args.backend},
        'segmenter': {'model_path': models / 'fcn8s.tflite', 'backend': args.backend},
        'sim_robot': {'seed': args.seed, 'real_time_factor': args.real_time_factor, 'config_file': config_path},
    }
    environment = {**os.environ, 'ROS_DOMAIN_ID': str(domain), 'MUJOCO_GL': os.environ.get('MUJOCO_GL', 'egl')}
    processes = {}
    for name, values in parameters.items():
        command = [sys.executable, '-m', NODE_MODULES[name], '--ros-args', '--params-file', str(config_path),
                   '--log-level', 'warn']
        for key, value in values.items():
            command += ['-p', f'{key}:={value}']
        log = (out / 'logs' / f'{name}.log').open('w')
        processes[name] = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    return processes


def _stop_nodes(processes: dict[str, subprocess.Popen]) -> None:
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


def drive(args: argparse.Namespace, out: Path, config_path: Path) -> dict[str, Any]:
    """Phase 1: the simulated robot and the whole pipeline on real topics, until --minutes have passed."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    config = load_config(config_path)
    (out / 'logs').mkdir()
    domain = random.randint(1, 200)
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain)
    executor = SingleThreadedExecutor(context=context)
    processes: dict[str, subprocess.Popen] = {}
    try:
        monitor = Monitor(context, len(config.distances), len(config.sensors), 3)
        executor.add_node(monitor.node)
        threading.Thread(target=executor.spin, daemon=True).start()
        processes = _start_nodes(args, out, config_path, domain)
        start = time.monotonic()
        next_print = 0.0
        live_aucs: list[tuple[float, float]] = []
        end = args.minutes * 60.0
        while monitor.sim_time < end:
            time.sleep(0.2)
            failed = [name for name, process in processes.items() if process.poll() is not None]
            if failed:
                raise RuntimeError(f'{", ".join(failed)} stopped (see {out / "logs"})')
            if time.monotonic() - start > 60 + 3 * end / max(args.real_time_factor, 0.1):
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
        rclpy.try_shutdown(context=context)


def finetune(out: Path, models: Path, backend: str) -> Path:
    """The final head: the shipped head fine-tuned on everything the robot labelled (the trainer's code)."""
    from selfsup_perception.core.dataset import Dataset
    from selfsup_perception.core.head import HeadOptions
    from selfsup_perception.pipeline.learning import Embedder, fit_head, load_frames, load_head

    embedder = Embedder.open(models / 'embedding.tflite', backend=backend)
    with Dataset(out / 'dataset.db') as dataset:
        frames = load_frames(dataset, embedder, progress=True)
    shipped = load_head(models / 'head.npz', embedder, frames.distances, frames.sensors)
    head, history = fit_head(frames, HeadOptions(hidden=shipped.hidden), start=shipped)
    path = out / 'head_finetuned.npz'
    head.save(path, made_by={'trainer': 'selfsup demo (the trainer node\'s fit on every frame at the end)',
                             'dataset': str(out / 'dataset.db')}, metrics=history.summary())
    _phase('drive', f'fine-tuned head on {frames.labelled} labelled frames -> {path}')
    return path


def evaluate(args: argparse.Namespace, out: Path, config_path: Path, head: Path) -> dict[str, Any]:
    """Phase 2: a new run in the same world, scored against the simulator's ground truth."""
    from selfsup_perception.cli import evaluate as evaluate_cli
    from selfsup_perception.core.dataset import Dataset
    from selfsup_perception.rosio.bag2dataset import bag_to_dataset
    from selfsup_perception.sim.bagwriter import simulate_to_bag

    config = load_config(config_path)
    bag = out / 'evaluation_run'
    shutil.rmtree(bag, ignore_errors=True)
    _phase('evaluate', f'recording {args.eval_minutes} min of another run in world {args.seed}')
    simulate_to_bag(bag, args.seed, args.eval_minutes * 60.0, config_path=config_path, run=1)
    eval_db = out / 'evaluation.db'
    eval_db.unlink(missing_ok=True)
    bag_to_dataset(bag, config, eval_db)
    report_dir = out / 'evaluation'
    parser = argparse.ArgumentParser()
    evaluate_cli.add_arguments(parser)
    shipped = out / 'head_shipped.npz'
    shutil.copy(args.models / 'head.npz', shipped)
    shutil.copy(args.models / 'head.json', out / 'head_shipped.json')
    code = evaluate_cli.run(parser.parse_args([
        str(eval_db), '--embedding', str(args.models / 'embedding.tflite'), '--backend', args.backend,
        '--head', str(shipped), '--compare', str(head), '--report', str(report_dir), '--bootstrap', '300',
        '--title', f'Obstacle detection in world {args.seed} (never seen in training): ROC AUC vs ground truth']))
    if code:
        raise RuntimeError('selfsup evaluate failed (see above)')
    metrics = json.loads((report_dir / 'metrics.json').read_text())
    segmentation = evaluate_segmentation(args, out, eval_db)
    with Dataset(eval_db) as dataset:
        frames = len(dataset)
    return {'frames': frames, 'obstacles': metrics, 'segmentation': segmentation}


def evaluate_segmentation(args: argparse.Namespace, out: Path, eval_db: Path) -> dict[str, Any]:
    from selfsup_perception.cli import evaluate_seg as evaluate_seg_cli
    from selfsup_perception.core.dataset import Dataset

    npz = out / 'evaluation_segmentation.npz'
    with Dataset(eval_db) as dataset:
        dataset.export_npz(npz)
    parser = argparse.ArgumentParser()
    evaluate_seg_cli.add_arguments(parser)
    report_dir = out / 'segmentation'
    code = evaluate_seg_cli.run(parser.parse_args([
        '--models', str(args.models / 'fcn8s.tflite'), '--data', str(npz), '--report', str(report_dir),
        '--backend', args.backend]))
    npz.unlink(missing_ok=True)
    if code:
        raise RuntimeError('selfsup evaluate-seg failed (see above)')
    return json.loads((report_dir / 'metrics.json').read_text())


def run(args: argparse.Namespace) -> int:
    from selfsup_perception.reports.demo import write_demo_report

    for name in ('embedding.tflite', 'head.npz', 'fcn8s.tflite'):
        if not (args.models / name).exists():
            print(f'error: {args.models / name} is missing; build the models with `make models`')
            return 2
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config_path = robot_config()
    started = time.monotonic()
    _phase('drive', f'world {args.seed}, {args.minutes} simulated minutes at {args.real_time_factor}x real time')
    live = drive(args, out, config_path)
    head = finetune(out, args.models, args.backend)
    evaluation = evaluate(args, out, config_path, head)
    _phase('report', f'writing {out}')
    write_demo_report(out, args, live, evaluation, time.monotonic() - started)
    print((out / 'report.md').read_text())
    return 0
