"""The unseen-world benchmark (``selfsup benchmark``, ``make benchmark``): the project's quality scoreboard.

For each world of the benchmark seed range (worlds no model building ever touches): simulate the robot's
own drive (run 0) and a second scoring run (run 1) in the same world, as fast as the simulator runs, and
label both (``simulate_to_bag`` + ``bag_to_dataset``; the datasets are cached in the work folder, keyed by
the code that makes them, so a rerun only scores). Then every scored entry is made and scored against the
simulator's ground truth on the scoring run: the obstacle heads of :data:`HEADS` (the shipped head, and
the shipped head fine-tuned on the drive as the trainer node does) by ROC AUC per distance, the
segmentation models of :data:`SEGMENTERS` by 3-class mIoU, traversable-vs-not mIoU and the free-space
scan's agreement. Worlds run in parallel spawned processes, each single-threaded. The median and the
worst world per metric summarise the benchmark worlds; the legacy evaluation worlds are scored beside.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import DEFAULT_VARIANT, variant_options
from selfsup_perception.core.modelcard import file_sha256
from selfsup_perception.core.resources import package_file, robot_config, sim_classes
from selfsup_perception.core.segmentation import load_classes, segmentation_scores
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.heads import load_head, score_heads
from selfsup_perception.pipeline.robot_training import train_on_dataset
from selfsup_perception.pipeline.seg_heads import fit_on_dataset, open_split_model, save_fit
from selfsup_perception.pipeline.segmentation import SegEvaluationOptions, evaluate_models, load_data
from selfsup_perception.pipeline.worlds import in_workers, simulated_dataset
from selfsup_perception.sim import seeds

#: Worlds no model building touches (the simulator's BENCHMARK range; the photographic textures appear only there).
BENCHMARK_SEEDS = seeds.BENCHMARK
#: The evaluation worlds of the earlier results (inside the training range): scored beside, never in the median.
LEGACY_SEEDS = seeds.LEGACY_EVALUATION
DEFAULT_WORLDS = seeds.DEFAULT_BENCHMARK_WORLDS
#: Distances (m) at which the heads' AUC is reported (sensors pooled).
REPORTED_DISTANCES = (0.2, 0.5, 1.0)
#: Files of the models folder the benchmark reads.
MODEL_FILES = ('embedding.tflite', 'head.npz', 'fcn8s.tflite', 'fcn8s_backbone.tflite', 'fcn8s_head.npz')
SPLIT_BACKBONE = 'fcn8s_backbone.tflite'  # the heads (.npz) among SEGMENTERS run on it
#: The code that turns a seed into a labelled dataset (package-relative): its digest keys the dataset cache.
DATASET_CODE = ('sim', 'rosio', 'core/labeling.py', 'core/pixel_labels.py', 'core/geometry.py', 'core/config.py',
                'core/dataset.py', 'core/images.py')
Scores = dict[str, dict[str, float | None]]  # entry -> metric -> value (None: undefined in this world)


def default_workers() -> int:
    """One worker per core, at most 2 (the 2-core machine the benchmark is sized for)."""
    return min(os.cpu_count() or 1, 2)


@dataclass(frozen=True)
class BenchmarkOptions:
    """What to run (``selfsup benchmark --help`` documents each); raises ValueError naming a bad option."""

    worlds: int = DEFAULT_WORLDS
    first_seed: int = BENCHMARK_SEEDS.start
    minutes: float = 4.5
    eval_minutes: float = 1.5
    models: Path = field(default_factory=lambda: package_file('models'))
    work: Path = Path('build/benchmark')
    workers: int = field(default_factory=default_workers)
    backend: str = 'tflite'
    legacy: bool = True
    allow_any_seed: bool = False
    entries: tuple[str, ...] = ()  # the scored entries of HEADS and SEGMENTERS; empty: all of them

    def __post_init__(self) -> None:
        unknown = [name for name in self.entries if name not in ENTRIES]
        if unknown:
            raise ValueError(f'entries: unknown {", ".join(map(repr, unknown))}; one of {", ".join(ENTRIES)}')
        if self.worlds < 1:
            raise ValueError(f'worlds: need at least 1, got {self.worlds}')
        if self.workers < 1:
            raise ValueError(f'workers: need at least 1, got {self.workers}')
        for name in ('minutes', 'eval_minutes'):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f'{name}: must be a positive number of simulated minutes, got {value}')
        last = self.first_seed + self.worlds - 1
        if self.first_seed < 0:
            raise ValueError(f'first_seed: seeds are >= 0, got {self.first_seed}')
        if not self.allow_any_seed and not (self.first_seed in BENCHMARK_SEEDS and last in BENCHMARK_SEEDS):
            raise ValueError(
                f'seeds {self.first_seed}..{last} are not all benchmark worlds ({BENCHMARK_SEEDS.start}..'
                f'{BENCHMARK_SEEDS.stop - 1}): benchmark numbers come only from worlds no model building '
                'touched (--allow-any-seed to score other worlds, reported as not a benchmark result)')

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.worlds))

    @property
    def scored_entries(self) -> tuple[str, ...]:
        """The entries this run scores: ``entries``, or every one of :data:`ENTRIES` when it is empty."""
        return self.entries or ENTRIES

    @property
    def outside_range(self) -> bool:
        """Whether some scored seed is not a benchmark world (the report then says it is no benchmark result)."""
        return any(seed not in BENCHMARK_SEEDS for seed in self.seeds)


@dataclass(frozen=True)
class WorldJob:
    """One world for a worker process (picklable)."""

    seed: int
    legacy: bool
    minutes: float
    eval_minutes: float
    models: Path
    datasets: Path
    backend: str
    entries: tuple[str, ...]  # the scored ones (never empty)


@dataclass(frozen=True)
class World:
    """One world's inputs for the scored entries: its drive and scoring datasets, models, embedder, a scratch folder."""

    seed: int
    drive: Path
    scoring: Path
    models: Path
    backend: str
    embedder: Embedder
    scratch: Path
    entries: tuple[str, ...]  # the scored ones

    def chosen(self, makers: Mapping[str, Callable[[World], Model]]) -> dict[str, Model]:
        """The scored entries of ``makers`` made in this world, by name."""
        return {name: make(self) for name, make in makers.items() if name in self.entries}


@dataclass(frozen=True)
class Model:
    """A model file to score, and what is known of how it was made (JSON-ready; e.g. its training summary)."""

    path: Path
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageResult:
    """A stage's scores in one world (entry -> metric -> value) and details for metrics.json."""

    scores: Scores
    details: dict[str, Any]


def shipped_head(world: World) -> Model:
    return Model(world.models / 'head.npz')


def robot_trained_head(world: World, variant: str) -> Model:
    """The shipped head fine-tuned on the robot's own drive, as the trainer node does, with training ``variant``
    (``core.head.TRAINING_VARIANTS``; consistency pairs found with the drive's labeling tolerances)."""
    with Dataset(world.drive) as dataset:
        distances, sensors = [float(d) for d in dataset.distances], dataset.sensors
    shipped = load_head(world.models / 'head.npz', world.embedder, distances, sensors)
    options = variant_options(variant, hidden=shipped.hidden)
    result = train_on_dataset(world.drive, world.embedder, options, start=shipped)
    path = world.scratch / f'head_robot_trained_{"_".join(variant.replace("+", " ").split())}.npz'
    result.head.save(path, made_by={'trainer': 'selfsup benchmark (the trainer node\'s fit on the drive)',
                                    'dataset': str(world.drive), 'variant': variant})
    notes = {'variant': variant, 'consistency_weight': options.consistency_weight,
             'teacher_decay': options.teacher_decay, 'pairs_found': result.fit.pairs.found,
             'drive_frames': int(result.frames.ids.size), 'labelled_frames': result.frames.labelled,
             'validation_auc': result.validation_auc, **result.history.summary()}
    return Model(path, notes)


def shipped_fcn(world: World) -> Model:
    return Model(world.models / 'fcn8s.tflite')


def robot_adapted_fcn(world: World) -> Model:
    """The split FCN-8s's head fine-tuned on the drive's pixel self-labels, as the trainer node does."""
    runner = open_split_model(world.models / SPLIT_BACKBONE, world.models / 'fcn8s_head.npz', world.backend)
    fit = fit_on_dataset(world.drive, runner)
    path = world.scratch / 'fcn8s_head_robot_adapted.npz'
    save_fit(fit, path, world.drive)
    return Model(path, {'improved': fit.improved, **fit.history.summary()})


#: The robot-trained head entries, one per training variant (the ablation): entry name -> variant. The names
#: stay whichever variant is the default (``core.head.DEFAULT_VARIANT``); 'robot-trained' is labels only.
ROBOT_TRAINED: dict[str, str] = {
    'robot-trained': 'labels only',
    'robot-trained + consistency': 'consistency',
    'robot-trained + consistency, mean teacher': 'consistency + mean teacher',
}
#: The entry of the variant the trainer node and ``selfsup train`` use by default (the issues' goals are its).
DEFAULT_ENTRY = next(entry for entry, variant in ROBOT_TRAINED.items() if variant == DEFAULT_VARIANT)
#: Obstacle heads scored in every world (ROC AUC against ground truth on the scoring run): name -> maker.
HEADS: dict[str, Callable[[World], Model]] = {
    'shipped': shipped_head,
    **{entry: partial(robot_trained_head, variant=variant) for entry, variant in ROBOT_TRAINED.items()},
}
#: Segmentation models scored in every world (mIoU, traversable mIoU, free-space scan): name -> maker.
SEGMENTERS: dict[str, Callable[[World], Model]] = {'FCN-8s': shipped_fcn, 'FCN-8s robot-adapted': robot_adapted_fcn}
#: Every entry name (``BenchmarkOptions.entries`` picks among them).
ENTRIES = (*HEADS, *SEGMENTERS)


def score_detector(world: World) -> StageResult:
    """Every head of :data:`HEADS` on every scoring-run frame against the ground truth: AUC per distance."""
    heads = world.chosen(HEADS)
    result = score_heads(world.scoring, world.embedder, [model.path for model in heads.values()], n_bootstrap=0)
    if not result.ground_truth:
        raise ValueError(f'{world.scoring}: the scoring run has no obstacle ground truth')
    distances = np.asarray(result.frames.distances)
    columns = {}
    for distance in REPORTED_DISTANCES:
        close = np.flatnonzero(np.isclose(distances, distance, atol=1e-6))
        if not close.size:
            raise ValueError(f'{world.scoring}: no labels at {distance} m (distances {distances.tolist()})')
        columns[f'AUC {distance:.1f} m'] = int(close[0])
    scores: Scores = {}
    details: dict[str, Any] = {}
    for (name, model), truth in zip(heads.items(), result.ground_truth.values(), strict=True):
        auc = truth['per_distance']['auc']
        scores[name] = {column: auc[index] for column, index in columns.items()}
        details[name] = {'distances': distances.tolist(), 'auc_per_distance': auc, 'mean_auc': truth['mean_auc'],
                         **model.notes}
    return StageResult(scores, {'frames': result.frames_scored, 'heads': details})


def traversable_confusion(confusion: np.ndarray, traversable: Sequence[bool]) -> np.ndarray:
    """The 2x2 confusion matrix (not traversable, traversable) of a per-class one (rows true, columns predicted)."""
    confusion = np.asarray(confusion, np.int64)
    if confusion.shape != (len(traversable), len(traversable)):
        raise ValueError(f'a confusion matrix of {len(traversable)} classes is needed, got {confusion.shape}')
    groups = np.eye(2, dtype=np.int64)[np.asarray(traversable, bool).astype(int)]
    return np.asarray(groups.T @ confusion @ groups)


def score_segmentation(world: World) -> StageResult:
    """Every model of :data:`SEGMENTERS` on every scoring-run frame against the simulator's masks."""
    models = world.chosen(SEGMENTERS)
    classes = load_classes(sim_classes())
    images, truth = load_data(world.scoring)
    options = SegEvaluationOptions(models=[model.path for model in models.values()], backend=world.backend,
                                   backbone=world.models / SPLIT_BACKBONE, classes=sim_classes(),
                                   camera_config=robot_config())
    document = evaluate_models(options, images, truth, world.scoring)
    scores: Scores = {}
    details: dict[str, Any] = {}
    for (name, model), result in zip(models.items(), document['models'].values(), strict=True):
        binary = segmentation_scores(traversable_confusion(np.asarray(result['confusion']), classes.traversable),
                                     ['not traversable', 'traversable'])
        free = result['free_space']
        scores[name] = {'mIoU': result['mean_iou'], 'traversable mIoU': binary['mean_iou'],
                        'free space within 10%': free['fraction_within_10_percent']}
        details[name] = {'classes': result['classes'], 'iou': result['iou'], 'traversable_iou': binary['iou'],
                         'beams_judged': free['beams_judged'], 'pixel_accuracy': result['pixel_accuracy'],
                         **model.notes}
    return StageResult(scores, {'frames': len(images), 'models': details})


#: What is scored in every world, in table order: stage name -> (scorer, its entries). A new scored model is
#: one entry in HEADS or SEGMENTERS; a new kind of score is one entry here.
STAGES: dict[str, tuple[Callable[[World], StageResult], Mapping[str, Callable[[World], Model]]]] = {
    'detector': (score_detector, HEADS), 'segmentation': (score_segmentation, SEGMENTERS)}


def dataset_code_digest() -> str:
    """sha256 (12 hex digits) of the code of :data:`DATASET_CODE` and the robot config: the dataset cache key."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in DATASET_CODE:
        root = package / part
        for path in sorted(root.rglob('*.py')) if root.is_dir() else [root]:
            digest.update(str(path.relative_to(package)).encode() + b'\0' + path.read_bytes() + b'\0')
    digest.update(robot_config().read_bytes())
    return digest.hexdigest()[:12]


def describe_world(seed: int) -> str:
    """A short description of world ``seed`` for the table: room, clutter, floor, walls, light."""
    from selfsup_perception.sim.describe import describe_arena
    from selfsup_perception.sim.params import SimParams
    from selfsup_perception.sim.world import generate_arena

    d = describe_arena(generate_arena(SimParams(seed=seed)))
    text = (f'{d["room_size"]:g} m room, {d["obstacles"]} obstacles ({d["clutter"]}), {d["floor_colour"]} '
            f'{d["floor"]} floor, {d["wall_colour"]} {d["wall"]} walls, {d["light"]} {d["light_colour"]} light')
    looks = int(d['like_wall']) + int(d['like_floor'])
    return text + (f', {looks} look-alike obstacles' if looks else '')


def benchmark_world(job: WorldJob) -> dict[str, Any]:
    """Simulate (or reuse), make and score every entry in one world; a failure is returned as ``error``."""
    row: dict[str, Any] = {'seed': job.seed, 'legacy': job.legacy, 'world': None, 'frames': {}, 'datasets': {},
                           'scores': {}, 'details': {}, 'seconds': {}, 'error': None}
    clock = time.perf_counter()
    try:
        row['world'] = describe_world(job.seed)
        drive, row['datasets']['drive'] = simulated_dataset(job.datasets, job.seed, 0, job.minutes)
        scoring, row['datasets']['scoring'] = simulated_dataset(job.datasets, job.seed, 1, job.eval_minutes)
        row['seconds']['datasets'] = round(time.perf_counter() - clock, 1)
        for name, path in (('drive', drive), ('scoring', scoring)):
            with Dataset(path) as dataset:
                row['frames'][name] = len(dataset)
        embedder = Embedder.open(job.models / 'embedding.tflite', job.backend, threads=1)
        with tempfile.TemporaryDirectory(prefix=f'world_{job.seed}_', dir=job.datasets) as scratch:
            world = World(job.seed, drive, scoring, job.models, job.backend, embedder, Path(scratch), job.entries)
            for name, (stage, makers) in STAGES.items():
                if not set(makers) & set(job.entries):
                    continue
                clock = time.perf_counter()
                result = stage(world)
                row['scores'][name], row['details'][name] = result.scores, result.details
                row['seconds'][name] = round(time.perf_counter() - clock, 1)
    except (ValueError, OSError, RuntimeError) as exc:  # this world is reported as failed; the others run on
        row['error'] = f'{type(exc).__name__}: {exc}'
    row['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # of the worker so far
    return row


def world_jobs(options: BenchmarkOptions) -> list[WorldJob]:
    """The benchmark worlds, then the legacy evaluation worlds unless ``options.legacy`` is off."""
    datasets = options.work / f'datasets-{dataset_code_digest()}'
    seeds = [(seed, False) for seed in options.seeds]
    if options.legacy:
        seeds += [(seed, True) for seed in LEGACY_SEEDS if seed not in options.seeds]
    return [WorldJob(seed, legacy, options.minutes, options.eval_minutes, options.models, datasets, options.backend,
                     options.scored_entries) for seed, legacy in seeds]


def run_worlds(jobs: Sequence[WorldJob], workers: int, progress: bool = True) -> list[dict[str, Any]]:
    """Every job in ``workers`` spawned single-threaded processes; the rows in job order."""
    return in_workers(benchmark_world, jobs, workers, progress=progress,
                      label=lambda row: f'world {row["seed"]} {"failed" if row["error"] else "done"}')


def columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(stage, entry, metric) of every score, in stage, entry and metric order of the first scored world."""
    scored = next((row for row in rows if not row['error']), None)
    if scored is None:
        return []
    return [(stage, entry, metric) for stage, entries in scored['scores'].items()
            for entry, metrics in entries.items() for metric in metrics]


def score_of(row: Mapping[str, Any], column: tuple[str, str, str]) -> float | None:
    """A world's score in ``column`` (None: undefined there, or the world failed)."""
    stage, entry, metric = column
    value = row['scores'].get(stage, {}).get(entry, {}).get(metric)
    return None if value is None else float(value)


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per column: median and worst (lowest: every score is better when higher) over the scored worlds
    where the score is defined, and how many those are."""
    scored = [row for row in rows if not row['error']]
    summary = []
    for column in columns(scored):
        values = [v for v in (score_of(row, column) for row in scored) if v is not None]
        stage, entry, metric = column
        low, high = median_interval(values)
        summary.append({'stage': stage, 'entry': entry, 'metric': metric, 'worlds': len(values),
                        'median': statistics.median(values) if values else None,
                        'median_95': [low, high], 'worst': min(values) if values else None})
    return summary


#: (entry, baseline) pairs per stage and metric whose per-world comparison the report gives.
COMPARISONS = (('segmentation', 'FCN-8s robot-adapted', 'FCN-8s', 'traversable mIoU'),
               ('segmentation', 'FCN-8s robot-adapted', 'FCN-8s', 'free space within 10%'),
               ('detector', 'robot-trained', 'shipped', 'AUC 1.0 m'),
               ('detector', 'robot-trained + consistency', 'robot-trained', 'AUC 0.2 m'),
               ('detector', 'robot-trained + consistency', 'robot-trained', 'AUC 1.0 m'),
               ('detector', 'robot-trained + consistency, mean teacher', 'robot-trained', 'AUC 1.0 m'))


def compare(rows: Sequence[Mapping[str, Any]], entries: Sequence[str] = ENTRIES) -> list[dict[str, Any]]:
    """For each of :data:`COMPARISONS` between scored ``entries``: in how many worlds (where both are defined)
    the entry beats its baseline, and the median of the per-world differences."""
    scored = [row for row in rows if not row['error']]
    out = []
    for stage, entry, baseline, metric in COMPARISONS:
        if not {entry, baseline} <= set(entries):
            continue
        pairs = [(a, b) for a, b in ((score_of(r, (stage, entry, metric)), score_of(r, (stage, baseline, metric)))
                                     for r in scored) if a is not None and b is not None]
        out.append({'stage': stage, 'entry': entry, 'baseline': baseline, 'metric': metric, 'worlds': len(pairs),
                    'better': sum(a > b for a, b in pairs),
                    'median_difference': statistics.median(a - b for a, b in pairs) if pairs else None})
    return out


def median_interval(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float | None, float | None]:
    """95 % bootstrap interval of the median over worlds (worlds resampled with replacement, fixed seed)."""
    if len(values) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(np.asarray(values, float), (resamples, len(values))), axis=1)
    return float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))


#: The goals of the generalisation issue (median, worst) where it sets one.
GOALS: dict[tuple[str, str, str], tuple[float, float]] = {
    ('segmentation', 'FCN-8s', 'mIoU'): (0.85, 0.70),
    ('detector', DEFAULT_ENTRY, 'AUC 0.2 m'): (0.95, 0.90),
    ('detector', DEFAULT_ENTRY, 'AUC 0.5 m'): (0.90, 0.80),
    ('detector', DEFAULT_ENTRY, 'AUC 1.0 m'): (0.80, 0.65),
    ('segmentation', 'FCN-8s robot-adapted', 'traversable mIoU'): (0.90, 0.80),
    ('detector', 'robot-trained + consistency', 'AUC 1.0 m'): (0.85, 0.75),
}


def dataset_making(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many worlds' datasets this run made (the others came from the cache) and the median wall seconds
    of simulating and labelling one world's drive and scoring run, over the worlds where that is known."""
    worlds = [row['datasets'] for row in rows if len(row['datasets']) == 2]
    known = [sum(d['simulate_seconds'] + d['label_seconds'] for d in datasets.values()) for datasets in worlds
             if all('simulate_seconds' in d for d in datasets.values())]
    return {'worlds': len(worlds), 'made_now': sum(not any(d['cached'] for d in w.values()) for w in worlds),
            'median_seconds_per_world': statistics.median(known) if known else None}


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies inside it (reports move between machines)."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def run_benchmark(options: BenchmarkOptions, progress: bool = True) -> dict[str, Any]:
    """Every world scored; the document ``reports.benchmark.write_report`` writes (and metrics.json holds)."""
    missing = [name for name in MODEL_FILES if not (options.models / name).is_file()]
    if missing:
        raise FileNotFoundError(f'{options.models}: {", ".join(missing)} missing (build the models with make models)')
    jobs = world_jobs(options)
    load, started = os.getloadavg(), time.monotonic()
    rows = run_worlds(jobs, options.workers, progress)
    benchmark = [row for row in rows if not row['legacy']]
    seeds = options.seeds
    return {
        'title': f'Unseen-world benchmark: {len(seeds)} worlds (seeds {seeds[0]}..{seeds[-1]})'
                 + (' - NOT a benchmark result: seeds outside the benchmark range' if options.outside_range else ''),
        'benchmark_range': [BENCHMARK_SEEDS.start, BENCHMARK_SEEDS.stop - 1],
        'outside_range': options.outside_range,
        'settings': {'worlds': options.worlds, 'first_seed': options.first_seed, 'minutes': options.minutes,
                     'eval_minutes': options.eval_minutes, 'workers': options.workers, 'backend': options.backend,
                     'legacy': options.legacy, 'entries': list(options.scored_entries)},
        'models': {'folder': _shown(options.models),
                   'sha256': {name: file_sha256(options.models / name) for name in MODEL_FILES}},
        'wall_seconds': round(time.monotonic() - started, 1),
        'load_average': {'start': [round(v, 2) for v in load], 'end': [round(v, 2) for v in os.getloadavg()]},
        'cpus': os.cpu_count(),
        'dataset_making': dataset_making(rows),
        'summary': summarize(benchmark),
        'comparisons': compare(benchmark, options.scored_entries),
        'goals': [{'stage': s, 'entry': e, 'metric': m, 'median': g[0], 'worst': g[1]}
                  for (s, e, m), g in GOALS.items() if e in options.scored_entries],
        'worlds': benchmark,
        'legacy_worlds': [row for row in rows if row['legacy']],
        'failed': [row['seed'] for row in rows if row['error']],
    }
