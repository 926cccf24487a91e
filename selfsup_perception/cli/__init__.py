"""The ``selfsup`` command: offline work on bags, datasets and models (``selfsup --help``)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from selfsup_perception.core.errors import InputError
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference.base import BackendUnavailable

# verb -> (the module of this package implementing add_arguments/run: selfsup_perception.cli.<name>, one-line
# help). Modules load only when used, so e.g. ``selfsup dataset`` works on a robot without TensorFlow or MuJoCo.
VERBS: dict[str, tuple[str, str]] = {
    'demo': ('demo', 'the closed loop on the embedded simulator, with a report (make demo)'),
    'simulate': ('simulate', 'simulate the robot in a procedural world; write a rosbag2'),
    'bag2dataset': ('bag2dataset', 'label a rosbag2 recording into a dataset'),
    'dataset': ('dataset', 'inspect or export a dataset'),
    'train': ('train', 'train the obstacle head on a dataset'),
    'evaluate': ('evaluate', 'score heads against labels and ground truth; write a report'),
    'evaluate-seg': ('evaluate_seg', 'score segmentation models side by side'),
    'pretrain': ('pretrain', 'train + export the embedding extractor (needs [build])'),
    'train-seg': ('train_seg', 'train an FCN-32s/16s/8s (needs [build])'),
    'export-seg': ('export_seg', 'export a trained FCN (needs [build])'),
    'split-seg': ('split_seg', 'split a trained FCN into an int8 backbone + numpy head (needs [build])'),
    'train-seg-head': ('train_seg_head', 'fine-tune a split FCN\'s head on a dataset\'s pixel self-labels'),
    'check-model': ('check_model', 'list a .tflite\'s ops; fail on non-Edge-TPU ones'),
    'make-models': ('make_models', 'rebuild the shipped models from simulated worlds (make models)'),
    'report': ('report', 'compare metrics.json files of earlier evaluations'),
    'benchmark': ('benchmark', 'the unseen-world benchmark: train and score in N new worlds (make benchmark)'),
}


def _functions(spec: str) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    module = importlib.import_module(f'{__name__}.{spec}')
    return module.add_arguments, module.run


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; only the chosen verb's module is imported (the others may need extras)."""
    parser = argparse.ArgumentParser(prog='selfsup', description=__doc__)
    verbs = parser.add_subparsers(dest='verb', required=True, metavar='VERB')
    for verb, (spec, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        sub.set_defaults(spec=spec)
        if verb in argv:
            _functions(spec)[0](sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; bad input ends in a one-line ``error:`` on stderr and exit status 2, never a traceback
    (``SELFSUP_DEBUG=1`` shows it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    debug = bool(os.environ.get('SELFSUP_DEBUG'))
    try:
        return int(_functions(args.spec)[1](args))
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        print(f'error: selfsup {args.verb} needs {exc.name}: install the package with the extra it needs '
              '(pip install .[build] for model building, .[sim] for the simulator, .[ros] for the nodes)',
              file=sys.stderr)
        return 2
    except (InputError, ModelLoadError, BackendUnavailable, ValueError, OSError, OverflowError) as exc:  # bad input
        if debug:
            raise
        print(f'error: {" ".join(str(exc).split()) or type(exc).__name__}', file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as exc:  # a hostile file: nested too deeply, or far too large
        if debug:
            raise
        what = 'nested too deeply' if isinstance(exc, RecursionError) else 'too large'
        inputs = ', '.join(a for a in argv if os.path.exists(a))
        print(f'error: selfsup {args.verb}: an input is {what} to read{f" ({inputs})" if inputs else ""}',
              file=sys.stderr)
        return 2
