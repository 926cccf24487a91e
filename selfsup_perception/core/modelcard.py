"""Model cards: the JSON file beside a model that says what it is, how to feed it and its sha256.

One card describes one model in all its formats: ``x.tflite``, ``x.onnx`` and the Edge TPU compiled
``x_edgetpu.tflite`` all share ``x.json``; ``sha256`` maps each format (``tflite``, ``onnx``,
``edgetpu``, ``npz``) to the digest of that file, so renaming a model and its card keeps them valid.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CARD_KINDS = ('embedding', 'segmentation', 'obstacles', 'head', 'seg_backbone', 'seg_head')
EDGETPU_SUFFIX = '_edgetpu.tflite'
MAX_CARD_BYTES = 1 << 20  # a card is a few kB; a larger file is not read


class ModelLoadError(RuntimeError):
    """A model file or its card is missing, corrupt or does not match; the message says which file."""


class ModelCardError(ModelLoadError):
    """A model card is unreadable, invalid, or disagrees with the model file."""


@dataclass(frozen=True)
class Normalisation:
    """How uint8 RGB pixels become the model's real-valued input: ``(pixel - mean) / std`` per channel."""

    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ModelCardError(f'normalisation needs 3 means and 3 stds, got {self.mean}, {self.std}')
        if not all(math.isfinite(m) for m in self.mean) or not all(
            math.isfinite(s) and s > 0 for s in self.std
        ):
            raise ModelCardError(f'normalisation must be finite with std > 0, got {self.mean}, {self.std}')

    def to_dict(self) -> dict[str, list[float]]:
        return {'mean': list(self.mean), 'std': list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalisation:
        try:
            mean, std = (tuple(float(v) for v in data[key]) for key in ('mean', 'std'))
            if len(mean) != 3 or len(std) != 3:
                raise ValueError('three values each')
            return cls((mean[0], mean[1], mean[2]), (std[0], std[1], std[2]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f'normalisation must be {{"mean": [3], "std": [3]}}, got {data!r}') from exc


@dataclass(frozen=True)
class ModelCard:
    """What a model is (``kind``), its input contract, its outputs, provenance and quality.

    ``embedding_size`` (embedding models, heads), ``classes`` (segmentation), ``distances``/``sensors``
    (obstacle outputs) are set as they apply. Keys this class does not know are kept in ``extra``
    and written back unchanged.
    """

    kind: str
    architecture: str
    input_size: tuple[int, int] | None = None
    normalisation: Normalisation | None = None
    embedding_size: int | None = None
    classes: tuple[str, ...] | None = None
    distances: tuple[float, ...] | None = None
    sensors: tuple[str, ...] | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    made_by: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CARD_KINDS:
            raise ModelCardError(f'card kind must be one of {CARD_KINDS}, got {self.kind!r}')
        if self.input_size is not None and (
            len(self.input_size) != 2 or any(int(v) <= 0 for v in self.input_size)
        ):
            raise ModelCardError(f'input_size must be [height, width] > 0, got {self.input_size}')

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == 'extra' or value is None:
                continue
            if isinstance(value, Normalisation):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return {**self.extra, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)} - {'extra'}
        try:
            card = cls(
                kind=str(data['kind']),
                architecture=str(data['architecture']),
                input_size=_opt(_list(data, 'input_size'), lambda v: (int(v[0]), int(v[1]))),
                normalisation=_opt(data.get('normalisation'), Normalisation.from_dict),
                embedding_size=_opt(data.get('embedding_size'), int),
                classes=_opt(_list(data, 'classes'), lambda v: tuple(str(c) for c in v)),
                distances=_opt(_list(data, 'distances'), lambda v: tuple(float(d) for d in v)),
                sensors=_opt(_list(data, 'sensors'), lambda v: tuple(str(s) for s in v)),
                sha256={str(k): str(v) for k, v in _mapping(data, 'sha256').items()},
                made_by=_mapping(data, 'made_by'),
                metrics=_mapping(data, 'metrics'),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except KeyError as exc:
            raise ModelCardError(f'model card lacks the key {exc.args[0]!r}') from exc
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelCardError(f'model card has an invalid value: {exc}') from exc
        return card


def _opt(value: Any, convert: Any) -> Any:
    return None if value is None else convert(value)


def _list(data: Mapping[str, Any], key: str) -> list[Any] | None:
    """``data[key]`` when it is a JSON array (None when absent); anything else is an invalid card."""
    value = data.get(key)
    if value is not None and not isinstance(value, list):
        raise ModelCardError(f'model card field {key} must be a list, got {type(value).__name__}')
    return value


def _mapping(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` as a dict (empty when absent); anything but a JSON object is an invalid card."""
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ModelCardError(f'model card field {key} must be an object, got {type(value).__name__}')
    return dict(value)


def model_format(model_path: str | os.PathLike[str]) -> str:
    """The format key of a model file: ``edgetpu`` for ``*_edgetpu.tflite``, else its suffix (``tflite``)."""
    name = Path(model_path).name
    if name.endswith(EDGETPU_SUFFIX):
        return 'edgetpu'
    return Path(name).suffix.lstrip('.')


def model_base(model_path: str | os.PathLike[str]) -> Path:
    """The path all formats of a model share: ``d/x`` for ``d/x.tflite``, ``.onnx``, ``_edgetpu.tflite``."""
    path = Path(model_path)
    if path.name.endswith(EDGETPU_SUFFIX):
        return path.with_name(path.name[: -len(EDGETPU_SUFFIX)])
    return path.with_suffix('')


def card_path(model_path: str | os.PathLike[str]) -> Path:
    """Where the card of ``model_path`` lives: ``x.json`` for every format of model ``x``."""
    base = model_base(model_path)
    return base.with_name(base.name + '.json')


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks (models can be tens of MB)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place (no reader sees half)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_card(model_path: str | os.PathLike[str]) -> ModelCard:
    """Read the card of ``model_path`` (the model itself need not exist)."""
    path = card_path(model_path)
    try:
        with open(path, 'rb') as stream:
            text = stream.read(MAX_CARD_BYTES + 1)
        if len(text) > MAX_CARD_BYTES:
            raise ModelCardError(f'model card {path} is larger than {MAX_CARD_BYTES} bytes: not a model card')
        data = json.loads(text.decode('utf-8'))
    except FileNotFoundError as exc:
        raise ModelCardError(f'no model card {path} beside {model_path}') from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelCardError(f'model card {path} is not readable JSON: {exc}') from exc
    except RecursionError as exc:
        raise ModelCardError(f'model card {path} is nested too deeply to be a model card') from exc
    if not isinstance(data, dict):
        raise ModelCardError(f'model card {path} must hold a JSON object')
    try:
        return ModelCard.from_dict(data)
    except ModelCardError as exc:
        raise ModelCardError(f'{path}: {exc}') from exc


def write_card(model_path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``card`` beside ``model_path`` atomically; returns the card's path."""
    path = card_path(model_path)
    text = json.dumps(card.to_dict(), indent=2, sort_keys=True, allow_nan=False) + '\n'
    atomic_write_bytes(path, text.encode('utf-8'))
    return path


def with_sha256(card: ModelCard, *model_paths: str | os.PathLike[str]) -> ModelCard:
    """A copy of ``card`` that records the sha256 of each given model file under its format."""
    return replace(card, sha256={**card.sha256, **{model_format(p): file_sha256(p) for p in model_paths}})


def verify(model_path: str | os.PathLike[str], *, require: bool = True) -> ModelCard | None:
    """Check ``model_path`` against the sha256 in its card; return the card.

    Raises ``ModelCardError`` for a corrupt card or a digest mismatch (truncated or replaced file).
    ``require=False`` accepts a missing card (returns None) or a card without this format's digest.
    """
    model_path = Path(model_path)
    try:
        if not model_path.is_file():
            raise ModelLoadError(f'model file {model_path} does not exist')
        if not require and not card_path(model_path).exists():
            return None
    except OSError as exc:  # e.g. a name too long for the file system
        raise ModelLoadError(f'model file {str(model_path)[:200]}: {exc.strerror or exc}') from exc
    card = read_card(model_path)
    fmt = model_format(model_path)
    expected = card.sha256.get(fmt)
    if expected is None:
        if require:
            raise ModelCardError(f'model card {card_path(model_path)} has no sha256 for format {fmt!r}')
        return card
    try:
        actual = file_sha256(model_path)
    except OSError as exc:
        raise ModelLoadError(f'model file {model_path} is not readable: {exc}') from exc
    if actual != expected.lower():
        raise ModelCardError(
            f'{model_path} does not match its card {card_path(model_path)}: sha256 {actual[:12]}... '
            f'!= {expected[:12]}...; the file is corrupt, truncated or was replaced'
        )
    return card
