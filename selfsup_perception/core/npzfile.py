"""Reading weights from ``.npz`` files that may be corrupt or hostile: array headers checked before loading."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from selfsup_perception.core.modelcard import ModelLoadError


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Array name -> (shape, dtype) of every member of an ``.npz``, from numpy's header parser (no data loaded).
    Raises OSError, ValueError, EOFError or zipfile.BadZipFile for what is not a readable archive."""
    with zipfile.ZipFile(path) as archive:
        headers = {}
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f'{info.filename}: .npy format version {version}')
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(member)
            headers[info.filename.removesuffix('.npy')] = (tuple(shape), dtype)
    return headers


def read_npz(path: Path, expected: dict[str, tuple[int, ...]],
             error: type[ModelLoadError] = ModelLoadError) -> dict[str, np.ndarray]:
    """The arrays of a weights .npz, once every array header says the name, shape and float dtype ``expected``;
    any problem raises ``error`` naming the file.

    The headers are read first (numpy's own parser, a few hundred bytes each), so an archive of a few MB
    that would expand to GBs, or holds arrays of other shapes or object dtype, is refused before loading.
    """
    try:
        headers = npz_headers(path)
        shapes = {name: shape for name, (shape, _) in headers.items()}
        if shapes != expected:
            raise error(f'{path}: arrays {shapes} do not match its card, which needs {expected}')
        if not all(dtype.kind == 'f' and dtype.itemsize in (4, 8) for _, dtype in headers.values()):
            raise error(f'{path}: weights must be float32 or float64 arrays, got '
                        f'{ {name: str(dtype) for name, (_, dtype) in headers.items()} }')
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise error(f'{path}: not a readable .npz of weights (corrupt or truncated): {exc}') from exc
