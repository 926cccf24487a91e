"""The trainer node with real rclpy: trains on ~/train or after N new labelled frames, publishes better heads only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ros_probe import Probe, spin_until

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import load_frames
from selfsup_perception.pipeline.heads import load_head
from selfsup_perception.testing.datasets import write_dataset

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / 'test' / 'data' / 'tiny_float.tflite'


def start(ros, tmp_path: Path, *params: str):
    from selfsup_perception.nodes.trainer import TrainerNode

    args = ['--ros-args', '-p', f'dataset_path:={tmp_path / "d.db"}', '-p', f'embedding_model:={MODEL}',
            '-p', 'backend:=tflite', '-p', f'head_path:={tmp_path / "heads" / "head.npz"}',
            '-p', 'poll_period:=0.1', '-p', 'max_epochs:=60']
    for param in params:
        args += ['-p', param]
    node = TrainerNode(context=ros.context_, cli_args=args)
    ros.add_node(node)
    return node


def listen(ros, name: str = 'probe') -> tuple[Probe, list]:
    from std_msgs.msg import String

    from selfsup_perception.nodes.common import MODEL_QOS

    probe = Probe(ros, name)
    return probe, probe.subscribe('/trainer/model', String, MODEL_QOS)


def call_train(probe: Probe) -> str:
    from std_srvs.srv import Trigger

    client = probe.node.create_client(Trigger, '/trainer/train')
    assert spin_until(probe.executor, client.service_is_ready)
    future = client.call_async(Trigger.Request())
    assert spin_until(probe.executor, future.done)
    assert future.result().success
    return future.result().message


def test_trains_on_request_writes_atomically_and_announces(ros, tmp_path, robot_config):
    write_dataset(tmp_path / 'd.db', robot_config, 150)
    node = start(ros, tmp_path, 'retrain_after:=0', 'fine_tune:=false')  # retraining from scratch: same head
    probe, announced = listen(ros)
    assert 'queued' in call_train(probe)
    assert spin_until(ros, lambda: announced, 30.0)
    head_path = tmp_path / 'heads' / 'head.npz'
    assert announced[0].data == str(head_path)
    assert sorted(p.name for p in head_path.parent.iterdir()) == ['head.json', 'head.npz']  # no temp files
    embedder = Embedder.open(MODEL, 'tflite')
    head = load_head(head_path, embedder, robot_config.distances, robot_config.sensor_names)
    with Dataset(tmp_path / 'd.db') as dataset:
        frames = load_frames(dataset, embedder)
    assert frames.computed == 0  # the trainer cached every embedding
    probs = head.predict(frames.embeddings)
    assert roc_auc(probs[frames.mask], frames.labels[frames.mask]) > 0.9
    card = json.loads(head_path.with_suffix('.json').read_text())
    assert card['metrics']['validation_mean_auc'] > 0.9
    assert card['metrics']['replaced_head_auc'] is None
    counters = node.diagnostics.counters
    assert (counters['trainings'], counters['heads_published'], counters['embeddings_computed']) == (1, 1, 150)

    # Nothing new: the retrained head is the same, not better, so the head in use stays and nothing is announced.
    call_train(probe)
    assert spin_until(ros, lambda: node.diagnostics.counters['heads_kept'] == 1, 30.0)
    assert len(announced) == 1
    assert node.diagnostics.counters['heads_published'] == 1
    # A node that joins later still gets the last announcement (transient local).
    _, late = listen(ros, 'late_probe')
    assert spin_until(ros, lambda: late)
    assert late[0].data == str(head_path)
    node.destroy_node()


def test_retrains_after_enough_new_labelled_frames(ros, tmp_path, robot_config):
    node = start(ros, tmp_path, 'retrain_after:=60')
    _, announced = listen(ros)
    assert spin_until(ros, lambda: node.diagnostics.counters['no_dataset'] > 0)  # waits for the labeler
    write_dataset(tmp_path / 'd.db', robot_config, 40)
    assert spin_until(ros, lambda: node.diagnostics.counters['frames_seen'] == 40)
    assert node.diagnostics.counters['trainings'] == 0
    write_dataset(tmp_path / 'd.db', robot_config, 40, start=40, seed=1)
    assert spin_until(ros, lambda: announced, 30.0)
    assert node.diagnostics.counters['trainings'] == 1
    assert node.head.training['data']['last_id'] >= 60
    node.destroy_node()

    # Restarted, the trainer takes the head there as the head in use, announces it, and counts only the
    # labelled frames that head has not seen towards the next retraining.
    restarted = start(ros, tmp_path, 'retrain_after:=60')
    _, again = listen(ros, 'probe2')
    assert spin_until(ros, lambda: again)
    assert restarted.head is not None
    assert spin_until(ros, lambda: restarted.diagnostics.counters['frames_seen'] == 80)
    expected = 80 - restarted.head.training['data']['last_id']
    assert restarted.diagnostics.values['new_labelled_frames'] == str(expected)
    assert restarted.diagnostics.counters['trainings'] == 0
    restarted.destroy_node()


@pytest.mark.parametrize(('param', 'message'), [
    ('poll_period:=0.0', 'poll_period: must be > 0'),
    ('retrain_after:=-1', 'retrain_after'),
    ('head_path:=head.bin', 'must end in .npz'),
    ('hidden:=-2', 'hidden=-2'),
    ("embedding_model:=''", 'embedding_model: required'),
    ('nice:=-5', 'nice'),
    ('consistency_weight:=-1.0', 'consistency_weight=-1.0'),
    ('consistency_weight:=.inf', 'consistency_weight=inf'),
    ('teacher_decay:=1.0', 'teacher_decay=1.0'),
    ('replay_size:=99', 'replay_size: must be >= 100'),
])
def test_bad_parameters_stop_the_node_at_start(ros, tmp_path, param, message):
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match=message):
        start(ros, tmp_path, param)


def test_trains_with_consistency_on_a_bounded_replay_memory(ros, tmp_path, robot_config):
    write_dataset(tmp_path / 'd.db', robot_config, 260)
    node = start(ros, tmp_path, 'retrain_after:=0', 'replay_size:=100', 'consistency_weight:=0.5',
                 'teacher_decay:=0.9')
    probe, announced = listen(ros)
    call_train(probe)
    assert spin_until(ros, lambda: announced, 30.0)
    assert len(node.memory) == 100  # two clips of 50 held (and 10 frames waiting for theirs)
    assert node.memory.last_id == 260
    card = json.loads((tmp_path / 'heads' / 'head.json').read_text())
    assert (card['training']['options']['consistency_weight'], card['training']['options']['teacher_decay']) == \
        (0.5, 0.9)
    trained = sum(last - first + 1 for first, last in card['training']['data']['trained_id_ranges'])
    assert 0 < trained <= 110
    node.destroy_node()


def test_an_unusable_head_at_head_path_is_not_the_head_in_use(ros, tmp_path, robot_config):
    (tmp_path / 'heads').mkdir()
    (tmp_path / 'heads' / 'head.npz').write_bytes(b'not a head')
    node = start(ros, tmp_path, 'retrain_after:=0')
    assert node.head is None
    _, announced = listen(ros)
    spin_until(ros, lambda: False, 0.3)
    assert not announced
    node.destroy_node()


def test_fine_tunes_the_start_head_and_compares_against_it(ros, tmp_path, robot_config):
    write_dataset(tmp_path / 'd.db', robot_config, 150)
    first = start(ros, tmp_path, 'retrain_after:=0', 'max_epochs:=2')
    probe, announced = listen(ros)
    call_train(probe)
    assert spin_until(ros, lambda: announced, 30.0)
    first.destroy_node()
    shipped = tmp_path / 'shipped.npz'
    (tmp_path / 'heads' / 'head.npz').rename(shipped)
    (tmp_path / 'heads' / 'head.json').rename(shipped.with_suffix('.json'))
    tuned = start(ros, tmp_path, 'retrain_after:=0', f'start_head:={shipped}')
    probe2, announced2 = listen(ros, 'probe2')
    call_train(probe2)
    assert spin_until(ros, lambda: tuned.diagnostics.counters['trainings'] == 1 and (
        announced2 or tuned.diagnostics.counters['heads_kept']), 30.0)
    if announced2:  # published: it beat the start head on frames neither trained on
        card = json.loads((tmp_path / 'heads' / 'head.json').read_text())
        assert card['metrics']['replaced_head_auc'] is not None
        assert card['training']['best_epoch'] >= 0


def test_heads_whose_cards_cannot_be_used_never_stop_or_crash_the_trainer(ros, tmp_path, robot_config):
    """A head in use whose card says training: 5 is no head in use; such a start_head stops the node at start."""
    import numpy as np

    from selfsup_perception.core.head import Head
    from selfsup_perception.core.modelcard import file_sha256
    from selfsup_perception.nodes.parameters import ParameterError

    outputs = len(robot_config.distances) * len(robot_config.sensors)
    (tmp_path / 'heads').mkdir()
    Head(mean=np.zeros(16, np.float32), scale=np.ones(16, np.float32),
         layers=((np.zeros((16, outputs), np.float32), np.zeros(outputs, np.float32)),),
         distances=robot_config.distances, sensors=robot_config.sensor_names,
         embedding_sha256=file_sha256(MODEL)).save(tmp_path / 'heads' / 'head.npz')
    usable = start(ros, tmp_path, 'retrain_after:=0')
    assert usable.head is not None  # as written, the head is the head in use
    usable.destroy_node()
    card_file = tmp_path / 'heads' / 'head.json'
    card = json.loads(card_file.read_text())
    card_file.write_text(json.dumps({**card, 'training': 5}))
    node = start(ros, tmp_path, 'retrain_after:=0')
    assert node.head is None
    node.destroy_node()
    (tmp_path / 'nested.npz').write_bytes((tmp_path / 'heads' / 'head.npz').read_bytes())
    (tmp_path / 'nested.json').write_text('{"kind": "head", "x": ' + '[' * 50_000 + ']' * 50_000 + '}')
    (tmp_path / 'heads' / 'head.npz').unlink()
    with pytest.raises(ParameterError, match='start_head: .*nested too deeply'):
        start(ros, tmp_path, f'start_head:={tmp_path / "nested.npz"}')


def test_trains_the_segmentation_head_on_pixel_self_labels_and_announces_it(ros, tmp_path, robot_config):
    from std_msgs.msg import String

    from selfsup_perception.core.modelcard import read_card
    from selfsup_perception.core.seghead import SegHead
    from selfsup_perception.nodes.common import MODEL_QOS
    from selfsup_perception.testing.splitseg import write_red_floor_dataset

    models = ROOT / 'models'
    write_red_floor_dataset(tmp_path / 'd.db', robot_config, 80)
    out = tmp_path / 'heads' / 'seg.npz'
    node = start(ros, tmp_path, 'retrain_after:=0', f'seg_backbone:={models / "fcn8s_backbone.tflite"}',
                 f'seg_start_head:={models / "fcn8s_head.npz"}', f'seg_head_path:={out}', 'seg_retrain_after:=50')
    probe = Probe(ros, 'probe')
    announced = probe.subscribe('/trainer/seg_head', String, MODEL_QOS)
    assert spin_until(ros, lambda: announced or node.diagnostics.counters['seg_heads_kept'], 60.0)
    counters = node.diagnostics.counters
    assert counters['seg_trainings'] == 1
    assert counters['seg_training_failures'] == 0
    assert announced[0].data == str(out)  # a red floor is new to the shipped head: the adapted one is better
    head = SegHead.load(out, backbone=read_card(models / 'fcn8s_backbone.tflite'))
    assert head.training['val_loss'] < head.training['start_val_loss']
    node.destroy_node()

    # Restarted, the trainer takes the head it wrote as the one in use and announces it again.
    again = start(ros, tmp_path, 'retrain_after:=0', f'seg_backbone:={models / "fcn8s_backbone.tflite"}',
                  f'seg_start_head:={models / "fcn8s_head.npz"}', f'seg_head_path:={out}', 'seg_retrain_after:=0')
    late = Probe(ros, 'late').subscribe('/trainer/seg_head', String, MODEL_QOS)
    assert spin_until(ros, lambda: late, 10.0)
    assert again.seg is not None
    assert again.seg.in_use.scores[32][1].tolist() == head.scores[32][1].tolist()
    again.destroy_node()


def test_bad_segmentation_parameters_stop_the_trainer_at_start(ros, tmp_path):
    from selfsup_perception.nodes.parameters import ParameterError

    with pytest.raises(ParameterError, match='seg_backbone'):
        start(ros, tmp_path, f'seg_backbone:={ROOT / "models" / "fcn8s_backbone.tflite"}')  # no start head
