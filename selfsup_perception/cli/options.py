"""Options several verbs share (argparse only): the embedding model and the backend that runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.inference import BACKEND_NAMES
from selfsup_perception.inference.embedder import Embedder


def add_embedder_arguments(parser: argparse.ArgumentParser) -> None:
    """``--embedding``, ``--backend``, ``--threads``, ``--device``: the options of ``open_embedder``."""
    parser.add_argument('--embedding', type=Path, required=True,
                        help='embedding model (.tflite, .onnx or _edgetpu.tflite; its other formats beside it '
                             'are used by the backends that need them)')
    parser.add_argument('--backend', choices=BACKEND_NAMES, default='auto', help='inference backend')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for inference')
    parser.add_argument('--device', default=None, help='Edge TPU device (usb, usb:N, pci:N)')


def open_embedder(args: argparse.Namespace) -> Embedder:
    return Embedder.open(args.embedding, args.backend, threads=args.threads, device=args.device)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse reports anything else as a one-line usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} must be >= 1')
    return value
