"""Model building's data helpers: class lists, npz arrays without pickles, time-blocked splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.modelbuild.data import DataError, load_classes, read_npz, split_frames

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_simulator_classes_load() -> None:
    classes = load_classes(ROOT / 'config' / 'classes_sim.yaml')
    assert classes.names == ('floor', 'obstacle', 'wall')
    assert classes.ignore_index == 255
    assert classes.traversable == (True, False, False)


@pytest.mark.parametrize(
    ('text', 'match'),
    [
        ('classes: [{name: a}]', 'not a class list'),
        ('classes: [{name: a, color: [1, 2, 3]}, {name: a, color: [1, 2, 3]}]', 'unique'),
        ('classes: [{name: a, color: [1, 2, 3]}]\nignore_index: 0', 'ignore_index'),
        (
            'classes: [{name: a, color: [1, 2, 3], traversable: true}, {name: b, color: [1, 2, 3]}]',
            'traversable',
        ),
    ],
)
def test_bad_class_lists_are_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / 'c.yaml'
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        load_classes(path)


def test_time_blocked_split_is_contiguous_and_refuses_tiny_data() -> None:
    train, val = split_frames(np.arange(100.0), 0.2, 2, guard=3.0)
    assert set(val) == set(range(40, 50)) | set(range(90, 100))  # the end of each half
    assert not set(train) & set(range(37, 53))  # guard frames dropped
    with pytest.raises(DataError, match='too few'):
        split_frames(np.arange(2.0), 0.2, 5, 0.0)


def test_read_npz_loads_the_named_arrays_only(tmp_path: Path) -> None:
    path = tmp_path / 'a.npz'
    np.savez(path, a=np.arange(3), b=np.ones(2))
    assert list(read_npz(path, ['a'])) == ['a']
    with pytest.raises(DataError, match=r"lacks the arrays \['c'\]"):
        read_npz(path, ['a', 'c'])
    np.savez(path, a=np.array([object()], dtype=object))
    with pytest.raises(DataError, match='not a readable'):
        read_npz(path, ['a'])
    (tmp_path / 'bad.npz').write_bytes(b'not a zip')
    with pytest.raises(DataError, match='not a readable'):
        read_npz(tmp_path / 'bad.npz', ['a'])
