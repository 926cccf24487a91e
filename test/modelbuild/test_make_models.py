"""``make-models``' options: the training budget and backbone are checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfsup_perception.cli import main
from selfsup_perception.pipeline.models import MakeModelsOptions, seeds_text
from selfsup_perception.sim import seeds


def test_the_budget_names_the_training_worlds() -> None:
    options = MakeModelsOptions(worlds=3, backbone='shufflenet_v2_0.5')
    assert options.train_seeds == (0, 1, 2)
    assert all(seed in seeds.TRAINING for seed in MakeModelsOptions().train_seeds)
    assert seeds_text(options.train_seeds) == '0..2'
    assert seeds_text((20000, 20001)) == '20000, 20001'


@pytest.mark.parametrize(('change', 'message'), [
    ({'worlds': 0}, 'worlds'), ({'worlds': len(seeds.TRAINING) + 1}, 'worlds'),
    ({'backbone': 'resnet50'}, 'unknown backbone'), ({'variants': ('fcn16s',)}, 'fcn8s'), ({'epochs': 0}, 'epochs'),
])
def test_bad_options_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MakeModelsOptions(**change)  # type: ignore[arg-type]


def test_an_unknown_backbone_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:  # argparse's own exit
        main(['make-models', '--backbone', 'resnet50', '--work', str(tmp_path / 'w')])
    assert usage.value.code == 2
    assert "unknown backbone 'resnet50'" in capsys.readouterr().err
    assert not (tmp_path / 'w').exists()
    assert main(['make-models', '--worlds', '0', '--work', str(tmp_path / 'w')]) == 2
    assert 'worlds' in capsys.readouterr().err
    assert not (tmp_path / 'w').exists()


@pytest.mark.slow
def test_a_tiny_build_carries_the_backbone_into_every_shipped_file(tmp_path: Path) -> None:
    from selfsup_perception.core.modelcard import read_card
    from selfsup_perception.modelbuild.ops import check_edgetpu
    from selfsup_perception.pipeline.benchmark import MODEL_FILES
    from selfsup_perception.pipeline.models import make_models

    out = tmp_path / 'models'
    options = MakeModelsOptions(out=out, work=tmp_path / 'work', worlds=2, minutes=0.25, eval_minutes=0.25,
                                epochs=1, seg_epochs=1, seg_every=2, variants=('fcn8s',), backbone='shufflenet_v2_0.5')
    assert make_models(options) == 0
    assert all((out / name).is_file() for name in MODEL_FILES)
    for name in ('embedding', 'fcn8s', 'fcn8s_240x320', 'fcn8s_backbone', 'fcn8s_backbone_240x320'):
        card = read_card(out / f'{name}.tflite')
        assert card.extra['architecture_params']['backbone'] == 'shufflenet_v2_0.5', name
        assert check_edgetpu(out / f'{name}.tflite').problems() == [], name
    readme = (out / 'README.md').read_text()
    assert 'worlds 0, 1 (0.25 simulated minutes each; 1 pretraining epochs' in readme
    assert 'backbone `shufflenet_v2_0.5`' in readme
    # Each step's output is kept: asking again trains nothing.
    stamp = (options.work / 'embedding.tflite').stat().st_mtime_ns
    assert make_models(options) == 0
    assert (options.work / 'embedding.tflite').stat().st_mtime_ns == stamp
