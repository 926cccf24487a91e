"""Rebuild (``selfsup make-models``, ``make models``) every shipped model from simulated data.

Steps, each skipped when its output already exists in ``--work`` (so an interrupted run resumes):
simulate the training worlds, label them (``bag2dataset``), pretrain and export the embedding
extractor, fit the numpy head on its embeddings (the on-device trainer's code), train FCN-32s/16s/8s
on the simulator's masks and export them, and score everything on evaluation worlds. The results are
copied into ``--out`` (``models/``) with ``models/README.md`` saying how they were made and how good
they are. Needs the ``build`` and ``sim`` extras.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.resources import robot_config, sim_classes
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.backbones import get_backbone
from selfsup_perception.modelbuild.pretrain import PretrainOptions, pretrain_embedding
from selfsup_perception.modelbuild.segtrain import (
    SegmentationExportOptions,
    SegmentationOptions,
    export_segmentation,
    train_segmentation,
)
from selfsup_perception.modelbuild.split import SplitOptions, split_fcn
from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions
from selfsup_perception.pipeline.heads import score_heads
from selfsup_perception.pipeline.segmentation import SegEvaluationOptions, evaluate_models, load_data
from selfsup_perception.pipeline.worlds import in_workers, simulated_dataset
from selfsup_perception.reports.heads import write_report as write_head_report
from selfsup_perception.reports.segmentation import write_report as write_seg_report
from selfsup_perception.sim import seeds

#: Domain randomisation: how many worlds of the training range (the appearance suite draws each one anew).
TRAIN_WORLDS = 60
#: The shipped models' backbone: the backbone study's pick (benchmarks/backbones_study.md).
SHIPPED_BACKBONE = 'mobilenet_v3_small_minimalistic'
#: Model-building validation worlds (the tuning range): never the benchmark's.
EVAL_SEEDS = tuple(seeds.TUNING.first(2))
VARIANTS = ('fcn32s', 'fcn16s', 'fcn8s')
CAMERA = (120, 160)
BENCHMARK_SIZE = (240, 320)


@dataclass(frozen=True)
class MakeModelsOptions:
    """Where the models go, where the intermediate files are kept, and the training budget.

    The defaults fit about an hour on 2 cores: 60 worlds x 1 simulated minute (36,000 frames), 3 epochs of
    embedding pretraining, every ``seg_every``-th frame for 4 epochs per FCN variant. ``variants`` must
    hold ``fcn8s`` (the shipped one); the others are trained for the comparison in ``models/README.md``.
    ``backbone`` (``modelbuild.backbones``) serves both networks; ``worlds_cache`` (default ``work/worlds``)
    lets several builds share their simulated worlds.
    """

    def __post_init__(self) -> None:
        if 'fcn8s' not in self.variants or not set(self.variants) <= set(VARIANTS):
            raise ValueError(f'variants must include fcn8s and be among {VARIANTS}, got {self.variants}')
        if min(self.epochs, self.seg_epochs, self.seg_every) < 1 or min(self.minutes, self.eval_minutes) <= 0:
            raise ValueError('epochs, seg_epochs and seg_every must be >= 1 and minutes > 0')
        if not 1 <= self.worlds <= len(seeds.TRAINING):
            raise ValueError(f'worlds: 1 to {len(seeds.TRAINING)} training worlds, got {self.worlds}')
        get_backbone(self.backbone)  # ValueError naming the known backbones

    out: Path = Path('models')
    work: Path = Path('build/models')
    minutes: float = 1.0
    eval_minutes: float = 2.0
    epochs: int = 3
    seg_epochs: int = 4
    seg_every: int = 3
    variants: tuple[str, ...] = VARIANTS
    backbone: str = SHIPPED_BACKBONE
    worlds: int = TRAIN_WORLDS
    worlds_cache: Path | None = None

    @property
    def train_seeds(self) -> tuple[int, ...]:
        return tuple(seeds.TRAINING.first(self.worlds))


def _step(name: str, output: Path) -> bool:
    """True if the step must run; prints what happens."""
    if output.exists():
        print(f'[make-models] {name}: {output} exists, skipped')
        return False
    print(f'[make-models] {name} -> {output}', flush=True)
    return True


def simulated_datasets(cache: Path, world_seeds: tuple[int, ...], minutes: float, workers: int = 2) -> list[Path]:
    """The labelled datasets of ``minutes`` simulated minutes in each world (cached in ``cache``),
    simulated in ``workers`` spawned processes (never in this one, which holds TensorFlow)."""
    print(f'[make-models] {len(world_seeds)} worlds of {minutes:g} simulated minutes -> {cache}', flush=True)
    made = in_workers(partial(simulated_dataset, cache, run=0, minutes=minutes), world_seeds, workers,
                      label=lambda result: result[0].name)
    return [path for path, _ in made]


def segmentation_npz(datasets: list[Path], out: Path, every: int = 1) -> Path:
    """Images and the simulator's masks of several datasets in one .npz (train-seg's input), every
    ``every``-th frame (neighbouring frames are near-duplicates)."""
    if _step('segmentation data', out):
        images, masks = [], []
        for path in datasets:
            with Dataset(path) as dataset:
                data = dataset.read_all()
            assert data.images is not None
            if data.segmentation is None:
                raise ValueError(f'{path} has no segmentation ground truth')
            images.append(data.images[::every])
            masks.append(data.segmentation[::every])
        tmp = out.with_name(out.name + '.tmp.npz')
        np.savez(tmp, images=np.concatenate(images), segmentation=np.concatenate(masks))
        tmp.replace(out)
    return out


def fit_shipped_head(work: Path, datasets: list[Path]) -> Path:
    """The numpy head on the pretrained embeddings of all training worlds (time-blocked validation)."""
    from selfsup_perception.core.head import HeadOptions, train_head
    from selfsup_perception.pipeline.frames import load_frames

    path = work / 'head.npz'
    if not _step('head (numpy trainer)', path):
        return path
    embedder = Embedder.open(work / 'embedding.tflite', backend='tflite')
    parts = []
    for i, db in enumerate(datasets):
        with Dataset(db) as dataset:
            parts.append((i, load_frames(dataset, embedder, progress=True)))
    first = parts[0][1]
    # Worlds follow each other in time (1e6 s apart), so validation blocks never straddle two worlds.
    head, history = train_head(
        np.concatenate([p.embeddings for _, p in parts]), np.concatenate([p.labels for _, p in parts]),
        np.concatenate([p.mask for _, p in parts]), np.concatenate([p.stamps + 1e6 * i for i, p in parts]),
        HeadOptions(), distances=first.distances, sensors=first.sensors, embedding_sha256=embedder.sha256)
    head.save(path, made_by={'trainer': 'selfsup make-models (numpy head on the pretrained embedding)',
                             'datasets': [p.name for p in datasets]}, metrics=history.summary())
    return path


def make_models(options: MakeModelsOptions) -> int:
    """Every step (each skipped when its output exists); the shipped files are copied into ``options.out``."""
    work = options.work
    work.mkdir(parents=True, exist_ok=True)
    cache = options.worlds_cache or work / 'worlds'
    train = simulated_datasets(cache, options.train_seeds, options.minutes)
    evaluation = simulated_datasets(cache, EVAL_SEEDS, options.eval_minutes)
    if _step(f'pretrain embedding ({options.backbone})', work / 'embedding.tflite'):
        pretrain_embedding(PretrainOptions(
            datasets=tuple(train), export=ExportOptions(work), name='embedding', input_size=CAMERA,
            training=TrainingOptions(epochs=options.epochs, patience=3, augmentation=Augmentation(flip=True),
                                     backbone=options.backbone)))
    fit_shipped_head(work, train)
    seg_train = segmentation_npz(train, work / 'segmentation_train.npz', every=options.seg_every)
    seg_eval = segmentation_npz(evaluation, work / 'segmentation_eval.npz')
    classes = sim_classes()
    for variant in options.variants:
        if _step(f'train {variant} ({options.backbone})', work / f'{variant}.tflite'):
            train_segmentation(SegmentationOptions(
                sources=(seg_train,), classes=classes, variant=variant, export=ExportOptions(work), input_size=CAMERA,
                training=TrainingOptions(epochs=options.seg_epochs, batch_size=8, patience=3,
                                         augmentation=Augmentation(flip=True), backbone=options.backbone)))
        sized = f'{variant}_{BENCHMARK_SIZE[0]}x{BENCHMARK_SIZE[1]}'
        if _step(f'export {variant} at {BENCHMARK_SIZE}', work / f'{sized}.tflite'):
            export_segmentation(SegmentationExportOptions(work / f'{variant}.keras', seg_train, ExportOptions(work),
                                                          BENCHMARK_SIZE, sized))
    for size, name in ((CAMERA, 'fcn8s_backbone'), (BENCHMARK_SIZE, f'fcn8s_backbone_{BENCHMARK_SIZE[0]}x'
                                                                      f'{BENCHMARK_SIZE[1]}')):
        if _step(f'split fcn8s at {size} (int8 backbone + numpy head)', work / f'{name}.tflite'):
            split_fcn(SplitOptions(work / 'fcn8s.keras', seg_train, ExportOptions(work, formats=('int8', 'onnx')),
                                   size, name, write_head=size == CAMERA))
    segmentation = evaluate_segmentation(work, seg_eval, options.variants)
    embedder = Embedder.open(work / 'embedding.tflite', 'tflite')
    scores = score_heads(evaluation[0], embedder, [work / 'head.npz'], progress=True)
    write_head_report(work / 'obstacle_report', scores.labels, ground_truth=scores.ground_truth,
                      title=f'Shipped head on evaluation world {EVAL_SEEDS[0]}: ROC AUC')
    ship(work, options, segmentation, scores.ground_truth)
    return 0


def evaluate_segmentation(work: Path, data: Path, variants: tuple[str, ...]) -> dict[str, Any]:
    """The FCN variants side by side on the evaluation worlds, with the free-space scan; report in ``work``."""
    images, truth = load_data(data)
    options = SegEvaluationOptions(models=[*(work / f'{v}.tflite' for v in variants), work / 'fcn8s_head.npz'],
                                   backbone=work / 'fcn8s_backbone.tflite', backend='tflite',
                                   camera_config=robot_config(),
                                   title=f'FCN variants on evaluation worlds {", ".join(map(str, EVAL_SEEDS))}')
    document = evaluate_models(options, images, truth, data)
    write_seg_report(work / 'segmentation_report', document)
    return document


def seeds_text(world_seeds: tuple[int, ...]) -> str:
    """``a..b`` for consecutive seeds, else the list."""
    if len(world_seeds) > 2 and world_seeds == tuple(range(world_seeds[0], world_seeds[-1] + 1)):
        return f'{world_seeds[0]}..{world_seeds[-1]}'
    return ', '.join(map(str, world_seeds))


def ship(work: Path, options: MakeModelsOptions, segmentation: dict[str, Any], obstacles_truth: dict[str, Any]) -> None:
    """Copy the shipped files into ``options.out`` and write its README from the reports and the budget."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    names = ['embedding.tflite', 'embedding.onnx', 'embedding.json', 'head.npz', 'head.json',
             'fcn8s.tflite', 'fcn8s.onnx', 'fcn8s.json', 'fcn8s_240x320.tflite', 'fcn8s_240x320.onnx',
             'fcn8s_240x320.json', 'fcn8s_backbone.tflite', 'fcn8s_backbone.onnx', 'fcn8s_backbone.json',
             'fcn8s_head.npz', 'fcn8s_head.json', 'fcn8s_backbone_240x320.tflite',
             'fcn8s_backbone_240x320.onnx', 'fcn8s_backbone_240x320.json']
    for name in names:
        shutil.copy(work / name, out / name)
    gt = next(iter(obstacles_truth.values()), None)
    lines = [
        '# Shipped models',
        '',
        'Made by `make models` (`selfsup make-models`) from simulated worlds '
        f'{seeds_text(options.train_seeds)} ({options.minutes:g} simulated minutes each; {options.epochs} '
        f'pretraining epochs at most, FCNs {options.seg_epochs} epochs on every {options.seg_every}. frame); '
        f'scored on worlds {seeds_text(EVAL_SEEDS)}, never seen in training.',
        '',
        '| file | what |',
        '| --- | --- |',
        f'| `embedding.tflite` / `.onnx` | backbone `{options.backbone}` + spatial pyramid pooling; int8 / float '
        'ONNX |',
        '| `head.npz` | the obstacle head (numpy, logistic) over distance x sensor, for that embedding |',
        '| `fcn8s.tflite` / `.onnx` | FCN-8s segmentation (floor / obstacle / wall), int8 / float ONNX |',
        '| `fcn8s_backbone.tflite` / `.onnx` (+ `_240x320`) | the same FCN-8s split: its backbone, '
        'outputting the stride-8/16/32 skip features (int8, Edge-TPU-mappable) |',
        '| `fcn8s_head.npz` | the split FCN-8s\'s numpy head (score layers + upsampling): the robot '
        'retrains it on its pixel self-labels; fits both backbone sizes |',
        '',
        '## Segmentation on the evaluation worlds',
        '',
        '| model | mIoU | pixel accuracy | IoU floor / obstacle / wall | ms per frame |',
        '| --- | --- | --- | --- | --- |',
    ]
    for name, result in segmentation['models'].items():
        iou = ' / '.join('–' if v is None else f'{v:.3f}' for v in result['iou'])
        lines.append(f'| {name} | {result["mean_iou"]:.3f} | {result["pixel_accuracy"]:.3f} | {iou} | '
                     f'{result["ms_per_frame"]:.2f} |')
    if gt is not None:
        lines += ['', f'## Obstacle head, ROC AUC against ground truth on world {EVAL_SEEDS[0]}', '',
                  '| distance (m) | AUC |', '| --- | --- |']
        lines += [f'| {d:.2f} | {"–" if a is None else f"{a:.3f}"} |'
                  for d, a in zip(gt['distances'], gt['per_distance']['auc'], strict=True)]
    (out / 'README.md').write_text('\n'.join(lines) + '\n')
