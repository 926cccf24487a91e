"""``selfsup train-seg-head`` and ``evaluate-seg --backbone``: the split FCN's head on a dataset's pixel self-labels."""

from __future__ import annotations

import json
from pathlib import Path

from selfsup_perception.cli import main
from selfsup_perception.core.modelcard import read_card
from selfsup_perception.core.seghead import SegHead
from selfsup_perception.testing.splitseg import write_red_floor_dataset

MODELS = Path(__file__).resolve().parents[2] / 'models'
BACKBONE, HEAD = MODELS / 'fcn8s_backbone.tflite', MODELS / 'fcn8s_head.npz'


def test_trains_writes_only_a_better_head_and_evaluates_it(tmp_path, robot_config, capsys):
    dataset, out = tmp_path / 'red.db', tmp_path / 'adapted.npz'
    write_red_floor_dataset(dataset, robot_config, 80)
    assert main(['train-seg-head', str(dataset), '--backbone', str(BACKBONE), '--head', str(HEAD),
                 '--out', str(out), '--epochs', '5']) == 0
    assert 'validation loss' in capsys.readouterr().out
    head = SegHead.load(out, backbone=read_card(BACKBONE))
    assert head.training['val_loss'] < head.training['start_val_loss']
    assert json.loads(out.with_suffix('.json').read_text())['made_by']['dataset'] == 'red.db'
    report = tmp_path / 'report'
    assert main(['evaluate-seg', '--models', str(HEAD), str(out), '--backbone', str(BACKBONE), '--data',
                 str(dataset), '--report', str(report)]) == 0
    document = json.loads((report / 'metrics.json').read_text())
    shipped, adapted = document['models'].values()
    assert adapted['iou'][0] > shipped['iou'][0]  # the red floor: the adapted head calls it floor


def test_user_errors_are_one_line_and_exit_2(tmp_path, robot_config, capsys):
    dataset = tmp_path / 'red.db'
    write_red_floor_dataset(dataset, robot_config, 10)
    for argv, says in (
        (['train-seg-head', str(dataset), '--out', str(tmp_path / 'x.onnx'), '--backbone', str(BACKBONE),
          '--head', str(HEAD)], 'written as .npz'),
        (['train-seg-head', str(dataset), '--out', str(tmp_path / 'x.npz'), '--backbone', str(HEAD),
          '--head', str(HEAD)], 'x'),
        (['train-seg-head', str(dataset), '--out', str(tmp_path / 'x.npz'), '--backbone', str(BACKBONE),
          '--head', str(tmp_path / 'missing.npz')], 'missing.npz'),
        (['evaluate-seg', '--models', str(HEAD), '--data', str(dataset), '--report', str(tmp_path / 'r')],
         '--backbone'),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith('error:')
        assert says in err
