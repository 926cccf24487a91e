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
