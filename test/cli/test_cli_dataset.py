"""``selfsup dataset``: readers that never change a file, one-line errors, an export that keeps what exists."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from selfsup_perception.cli import main
from selfsup_perception.testing.datasets import write_dataset


@pytest.fixture
def dataset(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    write_dataset(path, robot_config, 5)
    return path


def _one_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith('error: ')
    assert 'Traceback' not in captured.out + captured.err
    return lines[0]


def test_info_shows_frames_and_image_size(dataset, capsys):
    assert main(['dataset', 'info', str(dataset)]) == 0
    assert f'{dataset}: 5 frames of 32x32 pixels, sensors left, ' in capsys.readouterr().out


def test_info_never_creates_or_grows_a_file(tmp_path, capsys):
    empty = tmp_path / 'empty.db'
    empty.touch()
    assert main(['dataset', 'info', str(empty)]) == 2
    assert f'{empty}: not a readable dataset' in _one_error(capsys)
    assert empty.stat().st_size == 0
    assert main(['dataset', 'info', str(tmp_path / 'missing.db')]) == 2
    assert f'{tmp_path / "missing.db"}: no such dataset' in _one_error(capsys)
    assert not (tmp_path / 'missing.db').exists()


@pytest.mark.parametrize(('change', 'message'), [
    ("DELETE FROM meta WHERE key = 'config'", 'not a dataset this package wrote (no labeling config, meta.config)'),
    ("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'", "schema version 'abc', this code reads [1, 2]"),
    ('DROP TABLE meta', 'not a readable dataset (no such table: meta)'),
])
def test_info_on_broken_metadata_is_one_line(dataset, capsys, change, message):
    db = sqlite3.connect(dataset)
    db.execute(change)
    db.commit()
    db.close()
    assert main(['dataset', 'info', str(dataset)]) == 2
    assert _one_error(capsys) == f'error: {dataset}: {message}'


def test_export_keeps_an_existing_file_unless_forced(dataset, tmp_path, capsys):
    out = tmp_path / 'out.npz'
    out.write_bytes(b'mine')
    assert main(['dataset', 'export', str(dataset), '--npz', str(out)]) == 2
    assert _one_error(capsys) == f'error: {out}: already exists (--force overwrites it)'
    assert out.read_bytes() == b'mine'
    assert main(['dataset', 'export', str(dataset), '--npz', str(out), '--force']) == 0
    assert np.load(out, allow_pickle=False)['images'].shape == (5, 32, 32, 3)


def test_export_failure_names_the_given_path_and_leaves_no_temporary(dataset, tmp_path, capsys):
    folder = tmp_path / 'taken.npz'
    folder.mkdir()
    assert main(['dataset', 'export', str(dataset), '--npz', str(folder), '--force']) == 2
    assert _one_error(capsys) == f'error: {folder}: cannot write (Is a directory)'
    missing = tmp_path / 'nowhere' / 'x.npz'
    assert main(['dataset', 'export', str(dataset), '--npz', str(missing)]) == 2
    assert _one_error(capsys) == f'error: {missing}: cannot write (No such file or directory)'
    assert not list(tmp_path.rglob('*.tmp.npz'))
