"""``selfsup VERB`` with hostile input: one ``error:`` line naming the input, exit status 2, no traceback.

The model-building verbs (TensorFlow) are left to their own tests: TensorFlow and rclpy in one process crash.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from selfsup_perception.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / 'test' / 'data' / 'tiny_float.tflite')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp('inputs')
    files = {
        'text': 'hello\n' * 10,
        'deep.yaml': '/**:\n  ros__parameters:\n    labeling: ' + '[' * 50000 + ']' * 50000 + '\n',
        'big.yaml': (ROOT / 'config' / 'robot.yaml').read_text().replace('horizon: 10.0', 'horizon: 1' + '0' * 400),
        'deep.json': '[' * 100000 + ']' * 100000,
        'empty.db': '',
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    assert 'horizon: 1000' in files['big.yaml']
    return {name.replace('.', '_'): folder / name for name in files} | {'folder': folder}


CASES = [
    ('bag2dataset {folder} --config {deep_yaml} --out {folder}/x.db', '{deep_yaml}: nested too deeply'),
    ('bag2dataset {folder} --config {big_yaml} --out {folder}/x.db', '{big_yaml}: labeling.horizon: too large'),
    ('bag2dataset {text} --config config/robot.yaml --out {folder}/x.db', '{text}: cannot open as a recording'),
    ('bag2dataset {folder} --config config/robot.yaml --out {folder}/x.db', '{folder}: not a rosbag2 folder'),
    ('dataset info {text}', '{text}: not a readable dataset'),
    ('dataset info {empty_db}', '{empty_db}: not a readable dataset'),
    ('dataset export {folder} --npz {folder}/x.npz', '{folder}: not a dataset file'),
    ('simulate --out {folder}/bag --config {deep_yaml}', '{deep_yaml}: nested too deeply'),
    ('simulate --out {folder}/bag --config {big_yaml}', '{big_yaml}: labeling.horizon: too large'),
    ('train {text} --embedding ' + TINY + ' --out {folder}/h.npz', '{text}: not a readable dataset'),
    ('evaluate {empty_db} --embedding ' + TINY + ' --head {text} --report {folder}/r', '{empty_db}: not a readable'),
    ('evaluate-seg --models ' + TINY + ' --data {text} --report {folder}/r', '{text}: not a readable dataset'),
    ('check-model {text}', '{text} is not a TFLite flatbuffer'),
    ('report {text} --out {folder}/o', '{text} is not a metrics.json'),
    ('report {deep_json} --out {folder}/o', 'selfsup report: an input is nested too deeply to read ({deep_json})'),
]


@pytest.mark.parametrize(('command', 'message'), CASES, ids=[c[0].split(' {')[0] + f' {i}' for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_exit_2(inputs, capsys, monkeypatch, command, message):
    monkeypatch.delenv('SELFSUP_DEBUG', raising=False)
    names = {name: str(path) for name, path in inputs.items()}
    assert main(command.format(**names).split()) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert 'error: ' in lines[0]  # "error: ..." or argparse's "selfsup VERB: error: ..."
    assert message.format(**names) in lines[0]
    assert 'Traceback' not in captured.out + captured.err


def test_debug_shows_the_traceback(inputs, monkeypatch):
    monkeypatch.setenv('SELFSUP_DEBUG', '1')
    with pytest.raises(RecursionError):
        main(['report', str(inputs['deep_json']), '--out', str(inputs['folder'] / 'o')])


def test_a_model_that_cannot_load_is_one_line(monkeypatch, capsys):
    """As ``export-seg`` meets it (its own tests need TensorFlow): an uncaught ModelLoadError."""
    import selfsup_perception.cli as cli
    from selfsup_perception.core.modelcard import ModelLoadError

    def run(args):
        raise ModelLoadError(f'model file {args.models[0]} does not exist')

    add = cli._functions(cli.VERBS['check-model'][0])[0]
    monkeypatch.setattr(cli, '_functions', lambda spec: (add, run))
    monkeypatch.delenv('SELFSUP_DEBUG', raising=False)
    assert main(['check-model', 'nothing.tflite']) == 2
    assert capsys.readouterr().err == 'error: model file nothing.tflite does not exist\n'
