"""The training loop: the loss goes down, early stopping keeps the best epoch's weights, and the
distribution options fail clearly without a cluster."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip('tensorflow')

import keras
import tensorflow as tf

from selfsup_perception.modelbuild.stream import ReadErrors
from selfsup_perception.modelbuild.training import TrainingOptions, make_strategy, train_model, worker

X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
W = np.array([[1.0], [-2.0], [0.5]], np.float32)


def _squared_error(targets: tf.Tensor, predictions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.reduce_sum(tf.square(targets - predictions)), tf.cast(tf.size(targets), tf.float32)


def _build() -> keras.Model:
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])


def _train(val_sign: float, epochs: int, patience: int) -> tuple[keras.Model, object]:
    keras.utils.set_random_seed(0)
    validation = tf.data.Dataset.from_tensor_slices((X, val_sign * X @ W)).batch(16)
    return train_model(
        _build,
        _squared_error,
        lambda shard, batch: tf.data.Dataset.from_tensor_slices((X, X @ W)).repeat().batch(batch),
        validation,
        4,
        TrainingOptions(epochs=epochs, batch_size=16, learning_rate=0.05, patience=patience),
        make_strategy(False),
        ReadErrors(),
        'test',
    )


def test_the_loss_goes_down_and_the_weights_are_learnt() -> None:
    model, history = _train(1.0, 30, 30)
    assert history.epochs == 30
    assert history.loss[-1] < 0.05 * history.loss[0]
    assert history.best_epoch == int(np.argmin(history.val_loss))
    np.testing.assert_allclose(model.get_weights()[0], W, atol=0.1)


def test_early_stopping_keeps_the_best_epoch() -> None:
    # validation wants the opposite of training: it only gets worse after the first epoch
    model, history = _train(-1.0, 20, 2)
    assert history.best_epoch == 0
    assert history.epochs == 3
    assert history.val_loss[1] > history.val_loss[0]
    kept = float(np.mean(np.square(model.predict(X, verbose=0) + X @ W)))
    assert kept == pytest.approx(history.val_loss[0], rel=1e-4)


def test_one_process_is_worker_0_of_1_and_distribution_needs_a_cluster(monkeypatch) -> None:
    assert worker(make_strategy(False)) == (0, 1)
    monkeypatch.delenv('TF_CONFIG', raising=False)
    with pytest.raises(ValueError, match='TF_CONFIG'):
        make_strategy(True)
    monkeypatch.setenv('TF_CONFIG', '{not json')
    with pytest.raises(ValueError, match='not JSON'):
        make_strategy(True)
