"""The numpy head: learning, masked loss, determinism, time-blocked split, save/load and refusals."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfsup_perception.core import head as head_module
from selfsup_perception.core.consistency import ConsistencyPairs
from selfsup_perception.core.head import Head, HeadLoadError, HeadOptions, time_blocked_split, train_head
from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.modelcard import ModelCard, card_path, file_sha256

DISTANCES = (0.0, 0.5, 1.0)
SENSORS = ('left', 'right')
OUTPUTS = {'distances': DISTANCES, 'sensors': SENSORS}
FAST = HeadOptions(max_epochs=3)


def problem(frames: int = 1200, size: int = 24, seed: int = 0, known: float = 0.6) -> tuple[np.ndarray, ...]:
    """Linearly separable labels from embeddings, part of them unknown, frames 0.1 s apart."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((frames, size)) * rng.uniform(0.5, 20, size) + rng.uniform(-5, 5, size)).astype(
        np.float32
    )
    w = rng.standard_normal((size, len(DISTANCES) * len(SENSORS)))
    scores = ((x - x.mean(0)) / x.std(0)) @ w
    labels = (scores > 0).reshape(frames, len(DISTANCES), len(SENSORS)).astype(np.uint8)
    mask = rng.random(labels.shape) < known
    return x, labels, mask, np.arange(frames) * 0.1


@pytest.mark.parametrize('hidden', [0, 16])
def test_learns_a_separable_problem(hidden: int) -> None:
    x, y, m, t = problem(frames=1500)
    train = slice(None, 1200)
    head, history = train_head(x[train], y[train], m[train], t[train], HeadOptions(hidden=hidden), **OUTPUTS)
    probs = head.predict(x[1200:])
    assert probs.shape == (300, 3, 2)
    assert probs.dtype == np.float32
    assert ((probs >= 0) & (probs <= 1)).all()
    known = m[1200:]
    assert roc_auc(probs[known], y[1200:][known]) > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert head.hidden == hidden


def test_returns_the_weights_of_the_best_validation_epoch() -> None:
    x, _, m, t = problem(frames=600)
    noise = np.random.default_rng(1).integers(0, 2, m.shape, dtype=np.uint8)  # nothing to learn: overfits
    head, history = train_head(
        x, noise, m, t, HeadOptions(hidden=32, patience=3, learning_rate=0.01), **OUTPUTS
    )
    assert history.stopped_early
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert len(history.val_loss) == history.best_epoch + 4
    _, val = time_blocked_split(t, 0.2, 5, 1.0)
    val = val[m[val].reshape(len(val), -1).any(1)]
    logits = head_module._forward(head.layers, (x[val] - head.mean) / head.scale)[-1]
    y, mask = noise[val].reshape(len(val), -1), m[val].reshape(len(val), -1)
    assert head_module._masked_bce(logits, y, mask) == pytest.approx(min(history.val_loss), rel=1e-5)
    assert head.training['best_epoch'] == history.best_epoch


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), hidden=st.sampled_from([0, 5]))
def test_unknown_labels_do_not_change_the_gradient(seed: int, hidden: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    m = (rng.random((7, 6)) < 0.5).astype(np.float32)
    y = (rng.random((7, 6)) < 0.5).astype(np.float32)
    flipped = np.where(m > 0, y, 1 - y)
    layers = head_module._initial_layers(rng, 4, hidden, y, m)
    if hidden:
        layers = (layers[0], (rng.standard_normal(layers[1][0].shape).astype(np.float32), layers[1][1]))
    loss, grads = head_module._loss_and_grads(layers, x, y, m)
    loss2, grads2 = head_module._loss_and_grads(layers, x, flipped, m)
    assert loss == loss2
    for (gw, gb), (gw2, gb2) in zip(grads, grads2, strict=True):
        np.testing.assert_array_equal(gw, gw2)
        np.testing.assert_array_equal(gb, gb2)


def test_labels_under_the_mask_are_ignored_whatever_they_hold() -> None:
    x, y, m, t = problem(frames=300)
    garbage = np.where(m, y, np.uint8(255))
    a, _ = train_head(x, y, m, t, FAST, **OUTPUTS)
    b, _ = train_head(x, garbage, m, t, FAST, **OUTPUTS)
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    y = (rng.random((9, 3)) < 0.5).astype(np.float32)
    m = (rng.random((9, 3)) < 0.7).astype(np.float32)
    w0, b0 = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    w1, b1 = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    layers = ((w0, b0), (w1, b1))
    _, grads = head_module._loss_and_grads(layers, x, y, m)

    def loss(changed: list[list[np.ndarray]]) -> float:
        return head_module._masked_bce(head_module._forward(changed, x.astype(np.float64))[-1], y, m)

    eps = 1e-4
    for layer, index in ((0, 0), (0, 1), (1, 0), (1, 1)):
        for flat in range(layers[layer][index].size):
            changed = [[p.astype(np.float64) for p in pair] for pair in layers]
            changed[layer][index].flat[flat] += eps
            up = loss(changed)
            changed[layer][index].flat[flat] -= 2 * eps
            numeric = (up - loss(changed)) / (2 * eps)
            assert grads[layer][index].flat[flat] == pytest.approx(numeric, abs=1e-4)


def test_training_is_deterministic_for_a_seed() -> None:
    x, y, m, t = problem(frames=300)
    options = replace(FAST, hidden=8)
    a, history_a = train_head(x, y, m, t, options, **OUTPUTS)
    b, history_b = train_head(x, y, m, t, options, **OUTPUTS)
    c, _ = train_head(x, y, m, t, replace(options, seed=1), **OUTPUTS)
    assert history_a.train_loss == history_b.train_loss
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert not np.array_equal(a.predict(x), c.predict(x))


def test_time_blocked_split_takes_contiguous_blocks_in_time_order() -> None:
    stamps = np.arange(100) * 0.1
    shuffled = np.random.default_rng(0).permutation(100)
    train, val = time_blocked_split(stamps[shuffled], fraction=0.2, blocks=5, guard=0.0)
    times = np.sort(stamps[shuffled][val])
    assert len(val) == 20
    assert np.count_nonzero(np.diff(times) > 0.15) == 4  # five runs of consecutive frames
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    guarded, val2 = time_blocked_split(stamps, fraction=0.2, blocks=5, guard=0.25)
    assert val2.tolist() == sorted(val2.tolist())
    assert np.abs(stamps[guarded][:, None] - stamps[val2][None]).min() > 0.25
    assert len(guarded) == 80 - 4 * 4 - 2  # two frames each side of a block, one side for the last
    all_train, none = time_blocked_split(stamps, fraction=0.0)
    assert len(all_train) == 100
    assert len(none) == 0


def test_without_validation_it_trains_every_epoch() -> None:
    x, y, m, t = problem(frames=200)
    head, history = train_head(x, y, m, t, replace(FAST, validation_fraction=0.0), **OUTPUTS)
    assert history.n_val == 0
    assert history.best_epoch == 2
    assert history.val_loss == []
    assert head.training['val_loss'] is None


def test_save_load_round_trip(tmp_path: Path) -> None:
    x, y, m, t = problem(frames=300)
    head, _ = train_head(x, y, m, t, replace(FAST, hidden=8), embedding_sha256='ab' * 32, **OUTPUTS)
    path = tmp_path / 'head.npz'
    head.save(path, metrics={'mean_auc': 0.9})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['head.json', 'head.npz']  # no temp files left
    embedder = ModelCard(kind='embedding', architecture='e', embedding_size=24, sha256={'tflite': 'ab' * 32})
    loaded = Head.load(path, embedder=embedder)
    np.testing.assert_array_equal(loaded.predict(x), head.predict(x))
    assert loaded.distances == DISTANCES
    assert loaded.sensors == SENSORS
    assert loaded.hidden == 8
    assert loaded.embedding_sha256 == 'ab' * 32
    assert loaded.training == json.loads(json.dumps(head.training))
    card = json.loads(card_path(path).read_text())
    assert card['kind'] == 'head'
    assert card['metrics'] == {'mean_auc': 0.9}


def rewrite_npz(path: Path, original: bytes, **arrays: np.ndarray) -> None:
    """Replace arrays of the ``original`` npz and re-sign it in the card: the content check must refuse it."""
    with np.load(io.BytesIO(original)) as npz:
        content = {**{k: npz[k] for k in npz.files}, **arrays}
    with open(path, 'wb') as stream:
        np.savez(stream, **content)
    resign(path)


def resign(path: Path) -> None:
    card = json.loads(card_path(path).read_text())
    card['sha256']['npz'] = file_sha256(path)
    card_path(path).write_text(json.dumps(card))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    x, y, m, t = problem(frames=200)
    head, _ = train_head(x, y, m, t, FAST, embedding_sha256='cd' * 32, **OUTPUTS)
    head.save(tmp_path / 'head.npz')
    return tmp_path / 'head.npz'


def test_corrupt_heads_are_refused(saved: Path) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(HeadLoadError, match='corrupt, truncated or was replaced'):
        Head.load(saved)
    resign(saved)
    with pytest.raises(HeadLoadError, match='not a readable .npz'):
        Head.load(saved)
    rewrite_npz(saved, data, w0=np.zeros((3, 3), np.float32))
    with pytest.raises(HeadLoadError, match='do not match its card'):
        Head.load(saved)
    rewrite_npz(saved, data, w0=np.zeros((24, 6), object))
    with pytest.raises(HeadLoadError, match='float32 or float64'):  # object arrays (pickles) refused by header
        Head.load(saved)
    rewrite_npz(saved, data, w0=np.full((24, 6), np.nan, np.float32))
    with pytest.raises(HeadLoadError, match='finite'):
        Head.load(saved)


def test_an_npz_that_would_expand_to_gigabytes_is_refused_from_its_headers(saved: Path) -> None:
    """A few kB on disk whose headers declare 1.6 GB arrays (numpy allocates them before reading a byte)."""
    card = json.loads(card_path(saved).read_text())
    huge = 400_000_000
    with zipfile.ZipFile(saved, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name in ('mean', 'scale'):
            with archive.open(f'{name}.npy', 'w') as member:
                np.lib.format.write_array_header_1_0(member, {'descr': '<f4', 'fortran_order': False,
                                                              'shape': (huge,)})
                member.write(bytes(1 << 20))
    assert saved.stat().st_size < 100_000
    resign(saved)
    with pytest.raises(HeadLoadError, match='do not match its card'):  # the card's head is small
        Head.load(saved)
    card_path(saved).write_text(json.dumps({**card, 'embedding_size': huge, 'sha256': {'npz': file_sha256(saved)}}))
    with pytest.raises(HeadLoadError, match='a head has 1 to'):
        Head.load(saved)
    tracemalloc.start()
    with pytest.raises(HeadLoadError):
        Head.load(saved)
    assert tracemalloc.get_traced_memory()[1] < 50_000_000  # refused before any array was read
    tracemalloc.stop()


@pytest.mark.parametrize(('field', 'value', 'message'), [
    ('training', 5, 'training'),
    ('training', [1, 2], 'training'),
    ('embedding_sha256', 7, 'embedding_sha256'),
    ('hidden', True, 'hidden'),
    ('made_by', 'me', 'made_by must be an object'),
    ('sensors', 'abcde', 'sensors must be a list'),
])
def test_card_fields_of_other_types_are_refused(saved: Path, field: str, value: object, message: str) -> None:
    card = json.loads(card_path(saved).read_text())
    card_path(saved).write_text(json.dumps({**card, field: value}))
    with pytest.raises(HeadLoadError, match=message):
        Head.load(saved)


def test_deeply_nested_or_huge_cards_and_overlong_paths_are_refused(saved: Path) -> None:
    card_path(saved).write_text('{"kind": "head", "x": ' + '[' * 100_000 + ']' * 100_000 + '}')
    with pytest.raises(HeadLoadError, match='nested too deeply'):
        Head.load(saved)
    card_path(saved).write_text(' ' * (2 << 20) + '{}')
    with pytest.raises(HeadLoadError, match='larger than'):
        Head.load(saved)
    with pytest.raises(HeadLoadError, match='cannot load head'):
        Head.load(saved.parent / ('h' * 5000 + '.npz'))


def test_mismatched_heads_are_refused(saved: Path) -> None:
    other = ModelCard(kind='embedding', architecture='e', embedding_size=24, sha256={'tflite': 'ef' * 32})
    with pytest.raises(HeadLoadError, match='retrain it'):
        Head.load(saved, embedder=other)
    with pytest.raises(HeadLoadError, match='size 24, the embedder gives 1280'):
        Head.load(saved, embedder=replace(other, embedding_size=1280))
    card = json.loads(card_path(saved).read_text())
    card_path(saved).write_text(json.dumps({**card, 'kind': 'embedding'}))
    with pytest.raises(HeadLoadError, match='not a head card'):
        Head.load(saved)
    card_path(saved).write_text(json.dumps({**card, 'hidden': 'x'}))
    with pytest.raises(HeadLoadError, match='hidden'):
        Head.load(saved)
    card_path(saved).unlink()
    with pytest.raises(HeadLoadError, match='no model card'):
        Head.load(saved)


def test_bad_training_input_is_refused() -> None:
    x, y, m, t = problem(frames=100)
    with pytest.raises(ValueError, match='expected embeddings'):
        train_head(x[:50], y, m, t, FAST, **OUTPUTS)
    with pytest.raises(ValueError, match='3 distances, 1 sensors'):
        train_head(x, y, m, t, FAST, distances=DISTANCES, sensors=('left',))
    with pytest.raises(ValueError, match='0 or 1'):
        train_head(x, np.where(m, 2, y).astype(np.uint8), m, t, FAST, **OUTPUTS)
    with pytest.raises(ValueError, match='no training frame'):
        train_head(x, y, np.zeros_like(m), t, FAST, **OUTPUTS)
    with pytest.raises(ValueError, match='NaN'):
        train_head(np.full_like(x, np.nan), y, m, t, FAST, **OUTPUTS)
    with pytest.raises(ValueError, match='learning_rate=0'):
        HeadOptions(learning_rate=0)
    with pytest.raises(ValueError, match=r'expected embeddings \(N, 24\)'):
        train_head(x, y, m, t, FAST, **OUTPUTS)[0].predict(x[:, :3])


def test_fine_tuning_starts_from_the_given_head_and_keeps_it_when_nothing_improves():
    rng = np.random.default_rng(3)
    n, e, k, s = 600, 8, 2, 2
    x = rng.normal(size=(n, e)).astype(np.float32)
    labels = (x[:, :1, None] + 0.1 * rng.normal(size=(n, k, s)) > 0).astype(np.uint8)
    mask = np.ones((n, k, s), bool)
    stamps = np.arange(n, dtype=float)
    options = HeadOptions(max_epochs=30, guard=0.0)
    base, _ = train_head(x, labels, mask, stamps, options, distances=(0.0, 0.5), sensors=('a', 'b'))
    frozen = replace(options, fine_tune_learning_rate=1e-12, max_epochs=3)
    kept, history = train_head(x, labels, mask, stamps, frozen, distances=(0.0, 0.5), sensors=('a', 'b'),
                               start=base)
    assert history.best_epoch == -1
    assert history.summary()['val_loss'] == pytest.approx(history.start_val_loss)
    np.testing.assert_array_equal(kept.layers[0][0], base.layers[0][0])
    np.testing.assert_array_equal(kept.mean, base.mean)
    # On data where the other feature decides, fine-tuning moves the weights away from the start.
    shifted = (x[:, 1:2, None] > 0).repeat(k, 1).repeat(s, 2).astype(np.uint8)
    tuned, history = train_head(x, shifted, mask, stamps, options, distances=(0.0, 0.5), sensors=('a', 'b'),
                                start=base)
    assert history.best_epoch >= 0
    assert not np.allclose(tuned.layers[0][0], base.layers[0][0])
    with pytest.raises(ValueError, match='cannot fine-tune'):
        train_head(x[:, :4], labels, mask, stamps, options, distances=(0.0, 0.5), sensors=('a', 'b'), start=base)


# -- state consistency ---------------------------------------------------------------------------------------------


def far_problem(frames: int = 1500, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Frame i+1's near output (distance 0) is what frame i's far output (distance 2) predicts, and only near
    labels are ever known; the far outputs can learn only through the pairs (i, 2) <-> (i + 1, 0)."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((frames + 1, len(SENSORS))) < 0.4).astype(np.uint8)  # what stands at each place
    code = rng.standard_normal((2, len(SENSORS), 16))
    # Frame i sees place i at distance 0 and place i + 1 at distance 2 (fainter), through other features.
    x = np.einsum('ns,se->ne', truth[:-1] * 2.0 - 1, code[0]) + 0.5 * np.einsum('ns,se->ne', truth[1:] * 2.0 - 1,
                                                                              code[1])
    x = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    labels = np.zeros((frames, len(DISTANCES), len(SENSORS)), np.uint8)
    labels[:, 0], labels[:, 2] = truth[:-1], truth[1:]
    mask = np.zeros(labels.shape, bool)
    mask[:, 0] = True
    pairs = ConsistencyPairs(np.arange(frames - 1, dtype=np.int32), np.full(frames - 1, 2, np.int16),
                             np.arange(1, frames, dtype=np.int32), np.zeros(frames - 1, np.int16), frames - 1)
    return x, labels, mask, np.arange(frames) * 0.1, pairs


@pytest.mark.parametrize(('hidden', 'decay'), [(0, 0.0), (8, 0.0), (0, 0.9)])
def test_consistency_teaches_the_far_outputs_what_no_label_says(hidden: int, decay: float) -> None:
    x, y, m, t, pairs = far_problem()
    options = HeadOptions(hidden=hidden, consistency_weight=1.0, teacher_decay=decay, guard=0.0)
    alone, _ = train_head(x, y, m, t, replace(options, consistency_weight=0.0), pairs=pairs, **OUTPUTS)
    taught, history = train_head(x, y, m, t, options, pairs=pairs, **OUTPUTS)
    far_alone, far_taught = alone.predict(x)[:, 2], taught.predict(x)[:, 2]
    assert roc_auc(far_taught, y[:, 2]) > 0.95
    assert np.ptp(far_alone) < 1e-6 if not hidden else roc_auc(far_alone, y[:, 2]) < 0.75
    assert roc_auc(taught.predict(x)[:, 0], y[:, 0]) > 0.95  # the near outputs keep what the labels say
    assert history.consistency_pairs < len(pairs)  # pairs touching validation frames are left out
    assert history.consistency_loss[-1] < history.consistency_loss[0]
    assert taught.training['consistency_pairs'] == history.consistency_pairs


def test_consistency_weight_zero_ignores_pairs_and_float16_trains_like_its_float32_values() -> None:
    x, y, m, t, pairs = far_problem(frames=400)
    plain, _ = train_head(x, y, m, t, FAST, **OUTPUTS)
    ignored, history = train_head(x, y, m, t, FAST, pairs=pairs, **OUTPUTS)
    assert history.consistency_pairs == 0
    np.testing.assert_array_equal(plain.predict(x), ignored.predict(x))
    options = replace(FAST, consistency_weight=1.0, hidden=4)
    half, _ = train_head(x.astype(np.float16), y, m, t, options, pairs=pairs, **OUTPUTS)
    full, _ = train_head(x.astype(np.float16).astype(np.float32), y, m, t, options, pairs=pairs, **OUTPUTS)
    np.testing.assert_array_equal(half.predict(x), full.predict(x))
    again, _ = train_head(x.astype(np.float16), y, m, t, options, pairs=pairs, **OUTPUTS)
    other, _ = train_head(x.astype(np.float16), y, m, t, replace(options, seed=5), pairs=pairs, **OUTPUTS)
    np.testing.assert_array_equal(half.predict(x), again.predict(x))
    assert not np.array_equal(half.predict(x), other.predict(x))


@pytest.mark.parametrize('hidden', [0, 5])
def test_consistency_gradient_matches_finite_differences(hidden: int) -> None:
    rng = np.random.default_rng(hidden)
    n, e, k, s = 6, 4, 3, 2
    x = rng.standard_normal((n, e)).astype(np.float32)
    y = (rng.random((n, k * s)) < 0.5).astype(np.float32)
    m = (rng.random((n, k * s)) < 0.5).astype(np.float32)
    # Frames 0-3 have one pair each (so each draw is that pair); 4 and 5 only serve as near sides.
    pairs = ConsistencyPairs(np.array([0, 1, 2, 3], np.int32), np.array([2, 1, 2, 2], np.int16),
                             np.array([4, 5, 5, 4], np.int32), np.array([0, 0, 1, 0], np.int16), 4)
    options = HeadOptions(hidden=hidden, consistency_weight=0.7)
    shapes = [(e, hidden), (hidden,), (hidden, k * s), (k * s,)] if hidden else [(e, k * s), (k * s,)]
    flat = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    layers = tuple(zip(flat[::2], flat[1::2], strict=True))
    teacher = tuple((w + 0.5, b - 0.5) for w, b in layers)  # a fixed target: no gradient flows through it
    term = head_module._Consistency(pairs, n, options, s, teacher)
    inputs = head_module._Inputs(x, np.zeros(e, np.float32), np.ones(e, np.float32))
    batch = np.arange(n)
    _, _, grads = term.loss_and_grads(layers, inputs, batch, y, m)

    def loss(changed: list[list[np.ndarray]]) -> float:
        logits = head_module._forward(changed, x.astype(np.float64))[-1]
        near = head_module._forward(teacher, x.astype(np.float64))[-1]
        p = 1 / (1 + np.exp(-near[pairs.near[:, None], pairs.near_k[:, None] * s + np.arange(s)]))
        far = logits[pairs.far[:, None], pairs.far_k[:, None] * s + np.arange(s)]
        consistency = (np.logaddexp(0, far) - p * far).mean()
        return head_module._masked_bce(logits, y, m) + 0.7 * consistency

    eps = 1e-3
    for layer in range(len(layers)):
        for index in range(2):
            for position in range(layers[layer][index].size):
                changed = [[p.astype(np.float64) for p in pair] for pair in layers]
                changed[layer][index].flat[position] += eps
                up = loss(changed)
                changed[layer][index].flat[position] -= 2 * eps
                numeric = (up - loss(changed)) / (2 * eps)
                assert grads[layer][index].flat[position] == pytest.approx(numeric, abs=2e-4)


def test_bad_pairs_are_refused() -> None:
    x, y, m, t, pairs = far_problem(frames=100)
    beyond = replace(pairs, near=pairs.near + 100)
    with pytest.raises(ValueError, match='consistency pairs refer to frames'):
        train_head(x, y, m, t, replace(FAST, consistency_weight=1.0), pairs=beyond, **OUTPUTS)
    with pytest.raises(ValueError, match='teacher_decay=1'):
        HeadOptions(teacher_decay=1)
