"""Benchmark: every backbone of ``modelbuild/backbones.py`` measured on the target in one run (issue 14).

Speed (default, ~5 min): for each backbone the SPP embedding extractor at 120x160 and FCN-8s (3 classes) at
120x160 and 240x320 with random weights (``weights=None``; batch-norm statistics recalibrated on smooth
synthetic images, so the int8 ranges are an untrained net's, not garbage), exported int8 TFLite and ONNX.

Quality (``--quality``, ``make backbones``; about 75 minutes for all eight on 2 cores): for each backbone
the shipped models are rebuilt by ``make-models`` with one stated training budget (``--train-worlds``
training worlds, ``--epochs`` / ``--seg-epochs``, the same for every backbone; the simulated worlds are
shared), scored on the first ``--worlds`` unseen benchmark worlds (``selfsup benchmark`` with the entries
the issue asks for: the robot-trained head's AUC and FCN-8s's mIoU) and timed as trained and exported.
Every step's result is kept in ``--work`` so an interrupted study resumes. The report adds a Pareto table
(latency against quality, per network) and ``--plot`` (latency vs quality), and the pick by
:func:`pick`'s rule.

Measured in both: int8 LiteRT (XNNPACK) and ONNX Runtime CPU latency on one thread (each repeat times
``--runs`` inferences and keeps the median; the table gives the median of the repeats), the Edge TPU op
check of each int8 file (``modelbuild/ops.py``: Coral's op table, static shapes, fully integer; not the
Edge TPU compiler, which is not installed here), int8 file size and parameter count, and ratios against
mobilenet_v2_0.35 measured in the same run.

    python benchmarks/bench_backbones.py [--runs 20] [--repeats 3] [--backbones NAME ...]
    python benchmarks/bench_backbones.py --quality [--work build/backbones] [--plot benchmarks/backbones_study.png]
"""

from __future__ import annotations

import os

THREAD_VARS = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
for _var in THREAD_VARS:
    os.environ[_var] = '1'  # one core for the timings, set before numpy loads its BLAS
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import onnx_runner, tflite_runner, time_runs  # noqa: E402
from run import machine  # noqa: E402

BASELINE = 'mobilenet_v2_0.35'
SMALL, LARGE = (120, 160), (240, 320)
# (key, what, input size, file stem of the trained export): the three models each backbone is timed as.
MODELS = (('emb', 'embedding', SMALL, 'embedding'), ('fcn', 'FCN-8s', SMALL, 'fcn8s'),
          ('fcn_l', 'FCN-8s', LARGE, 'fcn8s_240x320'))
# The split backbones (the segmenter's accelerator part) are checked for the Edge TPU too, not timed.
SPLIT_FILES = ('fcn8s_backbone.tflite', 'fcn8s_backbone_240x320.tflite')
# The quality columns: (stage, entry, metric) of the benchmark, and their short names.
QUALITY = {('detector', 'robot-trained', 'AUC 0.5 m'): 'AUC 0.5 m', ('detector', 'robot-trained', 'AUC 1.0 m'):
           'AUC 1.0 m', ('segmentation', 'FCN-8s', 'mIoU'): 'FCN-8s mIoU'}
ENTRIES = tuple(dict.fromkeys(entry for _, entry, _ in QUALITY))  # the benchmark entries those need
GOALS_MS = {'emb': 1000 / 200, 'fcn_l': 1000 / 30}  # embedding >= 200/s, FCN-8s 240x320 >= 30/s
SAME = 0.005  # median quality differences below this are ties (the benchmark's intervals are wider)


def smooth_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurry random RGB images (N, h, w, 3) uint8, like the tests' calibration images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coarse])


@dataclass
class Measured:
    """One model of one backbone: parameters, int8 size, latencies (ms) and the Edge TPU check."""

    params: int = 0
    int8_bytes: int = 0
    litert_ms: float = float('nan')
    ort_ms: float = float('nan')
    edgetpu: list[str] = field(default_factory=list)  # problems; empty: every op mapped
    embedding: int = 0


@dataclass
class Backbone:
    """Everything measured of one backbone: its three timed models, and in the quality study the benchmark's
    median / worst / interval per quality column, the split backbones' Edge TPU problems and the build time."""

    models: dict[str, Measured]
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_world: dict[str, dict[str, float]] = field(default_factory=dict)  # column -> seed -> score (where defined)
    split_edgetpu: list[str] = field(default_factory=list)
    build_minutes: float | None = None
    benchmark_minutes: float | None = None


def build_model(name: str, key: str, size: tuple[int, int]) -> Any:
    """The Keras model of ``key`` for backbone ``name`` at ``size`` (random weights)."""
    import keras

    from selfsup_perception.modelbuild.embedding import build_embedding_extractor
    from selfsup_perception.modelbuild.fcn import build_fcn

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    return build_embedding_extractor(size, name) if key == 'emb' else build_fcn('fcn8s', 3, size, name)


def time_files(result: Measured, tflite: Path, onnx: Path, args: argparse.Namespace) -> Measured:
    """Fill in size, Edge TPU check and the two latencies of an exported pair."""
    from selfsup_perception.modelbuild.ops import check_edgetpu

    result.int8_bytes = tflite.stat().st_size
    result.edgetpu = check_edgetpu(tflite).problems()
    for path, factory, attribute in ((tflite, tflite_runner, 'litert_ms'), (onnx, onnx_runner, 'ort_ms')):
        run = factory(path, 1)[0]
        setattr(result, attribute, statistics.median(time_runs(run, args.runs, args.repeats, args.warmup)))
    return result


def described(model: Any, key: str) -> Measured:
    """A Measured with the model's parameter count (and embedding size for ``emb``), not yet timed."""
    return Measured(params=int(model.count_params()), embedding=int(model.output_shape[-1]) if key == 'emb' else 0)


def measure_random(name: str, key: str, size: tuple[int, int], args: argparse.Namespace, out: Path) -> Measured:
    """A random-weights model exported to int8 TFLite and ONNX, then timed."""
    from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
    from selfsup_perception.modelbuild.export import convert_int8_tflite, convert_onnx

    model = build_model(name, key, size)
    images = smooth_images(args.calibration, *size, seed=1)
    recalibrate_batch_norm(model, images, batch_size=8)
    result = described(model, key)
    tflite, onnx = out / f'{name}_{key}.tflite', out / f'{name}_{key}.onnx'
    tflite.write_bytes(convert_int8_tflite(model, images))
    onnx.write_bytes(convert_onnx(model))
    return time_files(result, tflite, onnx, args)


def measure_trained(name: str, key: str, size: tuple[int, int], stem: str, models: Path,
                    args: argparse.Namespace) -> Measured:
    """The exports ``make-models`` wrote for backbone ``name``, timed."""
    model = described(build_model(name, key, size), key)
    return time_files(model, models / f'{stem}.tflite', models / f'{stem}.onnx', args)


def selfsup(*arguments: str) -> None:
    """Run a ``selfsup`` verb in a process of its own, with every core (the timings here use one)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    print('$ selfsup ' + ' '.join(arguments), file=sys.stderr, flush=True)
    subprocess.run([sys.executable, '-m', 'selfsup_perception', *arguments], env=env, check=True,
                   stdout=sys.stderr)  # stdout is the report's


def build_and_score(name: str, args: argparse.Namespace) -> Backbone:
    """Rebuild the models with backbone ``name`` and the study's budget (``selfsup make-models``), benchmark
    them (``selfsup benchmark``), time their exports; each step's output kept under ``--work/<name>`` (a
    rerun resumes)."""
    from selfsup_perception.modelbuild.ops import check_edgetpu

    work = args.work / name
    models, scored = work / 'models', work / 'benchmark'
    minutes_file = work / 'minutes.json'
    minutes = json.loads(minutes_file.read_text()) if minutes_file.is_file() else {}
    steps = (('build', models / 'README.md',
              ['make-models', '--backbone', name, '--out', str(models), '--work', str(work / 'build'),
               '--worlds-cache', str(args.work / 'worlds'), '--worlds', str(args.train_worlds), '--epochs',
               str(args.epochs), '--seg-epochs', str(args.seg_epochs), '--seg-every', str(args.seg_every),
               '--variants', 'fcn8s']),
             ('benchmark', scored / 'metrics.json',
              ['benchmark', '--models', str(models), '--out', str(scored), '--work', str(args.work / 'benchmark'),
               '--worlds', str(args.worlds), '--no-legacy', '--entries', *ENTRIES]))
    for step, output, arguments in steps:
        if not output.is_file():
            start = time.monotonic()
            selfsup(*arguments)
            minutes[step] = (time.monotonic() - start) / 60
            minutes_file.write_text(json.dumps(minutes))
    document = json.loads((scored / 'metrics.json').read_text())
    summary = {(s['stage'], s['entry'], s['metric']): s for s in document['summary']}
    return Backbone(
        models={key: measure_trained(name, key, size, stem, models, args) for key, _, size, stem in MODELS},
        quality={column: {k: summary[key][k] for k in ('median', 'worst', 'median_95', 'worlds')}
                 for key, column in QUALITY.items()},
        per_world={column: {str(row['seed']): row['scores'][stage][entry][metric] for row in document['worlds']
                            if row['scores'][stage][entry][metric] is not None}
                   for (stage, entry, metric), column in QUALITY.items()},
        split_edgetpu=sorted({p for f in SPLIT_FILES for p in check_edgetpu(models / f).problems()}),
        build_minutes=minutes.get('build'), benchmark_minutes=minutes.get('benchmark'))


def fps(ms: float) -> str:
    return f'{1000 / ms:.0f}'


def edgetpu_text(backbone: Backbone) -> str:
    problems = sorted({p for m in backbone.models.values() for p in m.edgetpu} | set(backbone.split_edgetpu))
    count = len(backbone.models) + (len(SPLIT_FILES) if backbone.quality else 0)
    return f'all mapped ({count} models)' if not problems else '; '.join(problems)


def meets_goals(backbone: Backbone) -> bool:
    return all(backbone.models[key].litert_ms <= ms for key, ms in GOALS_MS.items()) and edgetpu_text(
        backbone).startswith('all mapped')


def speed_table(results: dict[str, Backbone]) -> list[str]:
    lines = ['| backbone | params emb / FCN-8s | embedding | int8 KiB emb / FCN-8s 120x160 / 240x320 | '
             'LiteRT ms emb 120x160 | LiteRT ms FCN-8s 120x160 | LiteRT ms FCN-8s 240x320 | '
             'ORT ms emb / FCN-8s 120x160 / 240x320 | Edge TPU op check |', '| --- |' + ' --- |' * 8]
    for name, backbone in results.items():
        emb, fcn, fcn_l = (backbone.models[k] for k in ('emb', 'fcn', 'fcn_l'))
        sizes = ' / '.join(f'{m.int8_bytes / 1024:.0f}' for m in (emb, fcn, fcn_l))
        ort = ' / '.join(f'{m.ort_ms:.2f}' for m in (emb, fcn, fcn_l))
        lines.append(f'| {name} | {emb.params / 1e6:.2f} M / {fcn.params / 1e6:.2f} M | {emb.embedding} | {sizes} | '
                     f'{emb.litert_ms:.2f} ({fps(emb.litert_ms)}/s) | {fcn.litert_ms:.2f} ({fps(fcn.litert_ms)}/s) | '
                     f'{fcn_l.litert_ms:.2f} ({fps(fcn_l.litert_ms)}/s) | {ort} | {edgetpu_text(backbone)} |')
    return lines


def ratio_table(results: dict[str, Backbone]) -> list[str]:
    base = results[BASELINE].models
    lines = ['| backbone | LiteRT emb | LiteRT FCN-8s 120x160 | LiteRT FCN-8s 240x320 | ORT FCN-8s 240x320 | '
             'params FCN-8s | int8 size FCN-8s | goals |', '| --- |' + ' --- |' * 7]
    for name, backbone in results.items():
        m = backbone.models
        ratios = [m['emb'].litert_ms / base['emb'].litert_ms, m['fcn'].litert_ms / base['fcn'].litert_ms,
                  m['fcn_l'].litert_ms / base['fcn_l'].litert_ms, m['fcn_l'].ort_ms / base['fcn_l'].ort_ms,
                  m['fcn'].params / base['fcn'].params, m['fcn'].int8_bytes / base['fcn'].int8_bytes]
        lines.append(f'| {name} | ' + ' | '.join(f'{r:.2f}' for r in ratios)
                     + f' | {"met" if meets_goals(backbone) else "missed"} |')
    return lines


def pareto(points: dict[str, tuple[float, float]]) -> set[str]:
    """Names no other point beats on both (latency lower or equal, quality higher or equal, one strictly)."""
    return {name for name, (ms, q) in points.items()
            if not any(o_ms <= ms and o_q >= q and (o_ms, o_q) != (ms, q) for o_ms, o_q in points.values())}


def fronts(results: dict[str, Backbone]) -> dict[str, set[str]]:
    """The Pareto front per network: the embedding's latency against the detector's median AUC at 1.0 m,
    FCN-8s 240x320's latency against its median mIoU."""
    return {'detector': pareto({n: (b.models['emb'].litert_ms, b.quality['AUC 1.0 m']['median'])
                                for n, b in results.items()}),
            'segmentation': pareto({n: (b.models['fcn_l'].litert_ms, b.quality['FCN-8s mIoU']['median'])
                                    for n, b in results.items()})}


def quality_score(backbone: Backbone) -> float:
    """The mean of the three median quality columns (both networks count; one backbone serves both)."""
    return float(np.mean([backbone.quality[column]['median'] for column in QUALITY.values()]))


def pick(results: dict[str, Backbone]) -> tuple[str, str]:
    """The rule, fixed before the run: among the backbones that meet the speed goals, map every op to the Edge
    TPU and cost at most 2x the baseline's LiteRT latency on both networks, the highest mean median quality;
    within SAME of it, the fastest (FCN-8s 240x320, the costlier network). Returns (name, why)."""
    base = results[BASELINE].models
    allowed = {n: b for n, b in results.items() if meets_goals(b)
               and all(b.models[k].litert_ms <= 2 * base[k].litert_ms for k in ('emb', 'fcn_l'))}
    if not allowed:
        return BASELINE, 'no backbone meets the goals within 2x the baseline; the baseline stays'
    best = max(quality_score(b) for b in allowed.values())
    near = {n: b for n, b in allowed.items() if quality_score(b) >= best - SAME}
    name = min(near, key=lambda n: near[n].models['fcn_l'].litert_ms)
    others = sorted(set(near) - {name})
    return name, (f'mean median quality {quality_score(results[name]):.3f} (best {best:.3f}), '
                  f'{results[name].models["fcn_l"].litert_ms:.1f} ms FCN-8s 240x320'
                  + (f'; within {SAME} of it but slower: {", ".join(others)}' if others else ''))


def better_in(backbone: Backbone, baseline: Backbone, column: str) -> str:
    """In how many worlds (where both are defined) ``backbone`` scores higher than ``baseline`` on ``column``."""
    mine, theirs = backbone.per_world[column], baseline.per_world[column]
    shared = set(mine) & set(theirs)
    return f'{sum(mine[seed] > theirs[seed] for seed in shared)}/{len(shared)}'


def quality_table(results: dict[str, Backbone]) -> list[str]:
    front = fronts(results)
    base = results[BASELINE]
    lines = ['| backbone | ' + ' | '.join(f'{c} median [95 %] (worst)' for c in QUALITY.values())
             + ' | mean median vs baseline | better than baseline in worlds (AUC 0.5 / 1.0 / mIoU) '
             '| LiteRT ms emb / FCN-8s 240x320 | Pareto detector / segmentation | build min | benchmark min |',
             '| --- |' + ' --- |' * (len(QUALITY) + 6)]
    for name, backbone in results.items():
        cells = []
        for column in QUALITY.values():
            q = backbone.quality[column]
            low, high = q['median_95'] or (None, None)
            interval = f' [{low:.3f}, {high:.3f}]' if low is not None else ''
            cells.append(f'{q["median"]:.3f}{interval} ({q["worst"]:.3f})')
        on = ' / '.join('yes' if name in front[network] else 'no' for network in ('detector', 'segmentation'))
        build = '–' if backbone.build_minutes is None else f'{backbone.build_minutes:.0f}'
        bench = '–' if backbone.benchmark_minutes is None else f'{backbone.benchmark_minutes:.0f}'
        lines.append(f'| {name} | ' + ' | '.join(cells)
                     + f' | {quality_score(backbone) - quality_score(base):+.3f} | '
                     + ' / '.join(better_in(backbone, base, column) for column in QUALITY.values()) + ' | '
                     f'{backbone.models["emb"].litert_ms:.2f} / {backbone.models["fcn_l"].litert_ms:.1f} | {on} | '
                     f'{build} | {bench} |')
    return lines


def plot(results: dict[str, Backbone], path: Path) -> None:
    """Latency against median quality, one panel per network, the Pareto front joined by a line."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    front = fronts(results)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (('detector', 'emb', 'AUC 1.0 m', 'embedding 120x160, int8 LiteRT ms (1 core)'),
              ('segmentation', 'fcn_l', 'FCN-8s mIoU', 'FCN-8s 240x320, int8 LiteRT ms (1 core)'))
    for ax, (network, key, column, xlabel) in zip(axes, panels, strict=True):
        points = {n: (b.models[key].litert_ms, b.quality[column]) for n, b in results.items()}
        for index, (name, (ms, q)) in enumerate(sorted(points.items(), key=lambda item: item[1][1]['median'])):
            low, high = q['median_95'] or (q['median'], q['median'])
            ax.errorbar(ms, q['median'], yerr=[[q['median'] - low], [high - q['median']]], fmt='o',
                        color='tab:red' if name in front[network] else 'tab:gray', capsize=3)
            ax.annotate(name.replace('_minimalistic', ''), (ms, q['median']), fontsize=7,
                        xytext=(5, -9 if index % 2 else 3), textcoords='offset points')
        line = sorted((points[n][0], points[n][1]['median']) for n in front[network])
        ax.plot([p[0] for p in line], [p[1] for p in line], color='tab:red', linewidth=1)
        ax.set_xlim(0, 1.15 * max(ms for ms, _ in points.values()))  # every point is far inside its goal
        ax.set_xlabel(f'{xlabel}; goal <= {GOALS_MS[key]:.1f} ms')
        ax.set_ylabel(f'median {column} (95 % interval)')
        ax.set_title(f'{network}: latency vs quality (red: Pareto front)', fontsize=10)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def report(results: dict[str, Backbone], args: argparse.Namespace, seconds: float) -> None:
    timing = (f'int8 LiteRT (XNNPACK) and ONNX Runtime CPU on one thread; each latency is the median of '
              f'{args.repeats} repeats of the median of {args.runs} inferences')
    if args.quality:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                                check=False).stdout.strip() or 'unknown'
        print(f'<!-- benchmarks/bench_backbones.py --quality, {datetime.date.today().isoformat()} at commit {commit}, '
              f'on: {machine()} -->')
        print()
        print('## Backbones by measurement: latency and quality on unseen worlds (issue 14)')
        print()
        spent = sum((b.build_minutes or 0) + (b.benchmark_minutes or 0) for b in results.values()) + seconds / 60
        print(f'{len(results)} backbones in one run ({spent:.0f} min of building and scoring, which a rerun reuses; '
              f'the timings below are this pass\'s, {seconds / 60:.1f} min). Each trained with the same budget by '
              f'`make-models --backbone NAME --worlds {args.train_worlds} --epochs {args.epochs} --seg-epochs '
              f'{args.seg_epochs} --seg-every {args.seg_every} --variants fcn8s` (training worlds '
              f'0..{args.train_worlds - 1}, 1 simulated minute each, no pretrained weights), then scored by '
              f'`selfsup benchmark --worlds {args.worlds} --entries robot-trained FCN-8s` on benchmark worlds '
              f'100000..{100000 + args.worlds - 1} (no model building touched them; the robot-trained head is '
              f'each backbone\'s shipped head fine-tuned on the drive). Timed as trained and exported: {timing}. '
              'Goals for the shipped pick: embedding >= 200 frames/s at 120x160, FCN-8s >= 30 frames/s at '
              '240x320, one core, every int8 model (embedding, FCN-8s at both sizes, split backbone at both '
              'sizes) Edge-TPU mappable.')
        print()
        print('\n'.join(quality_table(results)))
        name, why = pick(results)
        print()
        print(f'Pick (rule in `pick()`: goals met, every op mapped, <= 2x the baseline\'s latency on both networks, '
              f'highest mean median quality, ties within {SAME} to the faster): **{name}**: {why}.')
        print()
    else:
        print('## Backbones on the target: speed, size, Edge TPU mapping (issue 14; random weights)')
        print()
        print(f'{len(results)} backbones, random weights (quality: `--quality`), {timing} ({args.calibration} '
              f'calibration images; {seconds / 60:.1f} min for the whole run).')
        print()
    print('\n'.join(speed_table(results)))
    if BASELINE in results:
        print()
        print(f'Against {BASELINE} in the same run (ratio > 1: slower / bigger); "goals" says whether the '
              'embedding reaches 200/s, FCN-8s 240x320 30/s and every op maps to the Edge TPU.')
        print()
        print('\n'.join(ratio_table(results)))


def main() -> None:
    from selfsup_perception.modelbuild.backbones import BACKBONE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backbones', nargs='+', default=list(BACKBONE_NAMES), choices=BACKBONE_NAMES)
    parser.add_argument('--runs', type=int, default=20, help='inferences per repeat')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--calibration', type=int, default=16, help='images for BN statistics and int8 calibration')
    parser.add_argument('--quality', action='store_true', help='train each backbone and score it on unseen worlds')
    parser.add_argument('--work', type=Path, default=Path('build/backbones'), help='the quality study\'s files')
    parser.add_argument('--train-worlds', type=int, default=20, help='training worlds (the budget, every backbone)')
    parser.add_argument('--epochs', type=int, default=2, help='embedding pretraining epochs (the budget)')
    parser.add_argument('--seg-epochs', type=int, default=2, help='FCN-8s epochs (the budget)')
    parser.add_argument('--seg-every', type=int, default=3, help='FCN-8s trains on every n-th frame')
    parser.add_argument('--worlds', type=int, default=10, help='benchmark worlds scored per backbone')
    parser.add_argument('--plot', type=Path, default=None, help='latency-vs-quality figure (with --quality)')
    parser.add_argument('--json', type=Path, default=None, help='every measured number, as JSON')
    args = parser.parse_args()
    names = [BASELINE, *[n for n in args.backbones if n != BASELINE]]
    start = time.monotonic()
    results: dict[str, Backbone] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if args.quality:
                results[name] = build_and_score(name, args)
            else:
                results[name] = Backbone({key: measure_random(name, key, size, args, Path(tmp))
                                          for key, _, size, _ in MODELS})
            m = results[name].models
            print(f'{name}: LiteRT emb {m["emb"].litert_ms:.2f} ms, FCN-8s 240x320 {m["fcn_l"].litert_ms:.2f} ms, '
                  + (f'quality {quality_score(results[name]):.3f} ' if args.quality else '')
                  + f'({time.monotonic() - start:.0f} s)', file=sys.stderr, flush=True)
    report(results, args, time.monotonic() - start)
    if args.quality and args.plot:
        plot(results, args.plot)
    if args.json:
        args.json.write_text(json.dumps({n: asdict(b) for n, b in results.items()}, indent=1))


if __name__ == '__main__':
    main()
